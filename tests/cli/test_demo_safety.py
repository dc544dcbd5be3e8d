"""``styleverse demo`` refuses bad settings and unusable folders before writing anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fixtures.cli import one_error_line

Cli = Callable[..., tuple[int, str, str]]


def test_demo_size_checked_before_anything_is_written(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, _, err = cli("demo", "--out", out, "--size", "8", "--steps", "2", "--backbone", "random")
    assert code == 2 and "16" in one_error_line(err)
    assert not out.exists()  # so the corrected rerun is not refused as "not an empty folder"


def test_demo_into_an_unusable_folder_is_one_line(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_bytes(b"a file where a folder should be")
    code, _, err = cli("demo", "--out", tmp_path / "blocker" / "demo", "--steps", "2", "--backbone", "random")
    line = one_error_line(err)
    assert code == 2 and "cannot write there" in line and "internal error" not in err


def test_demo_backbone_that_cannot_be_had_is_refused_before_anything_is_written(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, _, err = cli("demo", "--out", out, "--steps", "2", "--backbone", str(tmp_path / "nonsense"))
    assert code == 2 and "weights file not found" in one_error_line(err)
    assert not out.exists()
