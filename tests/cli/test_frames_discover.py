"""``styleverse frames discover`` end to end: propose, edit, harvest the proposal; one-line errors; help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.cli import one_error_line
from fixtures.films import cut_film

Cli = Callable[..., tuple[int, str, str]]
QUICK = ("--size", "64", "--precision", "fp32", "--device", "cpu", "--quiet")


@pytest.fixture(scope="module")
def short_film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_film(tmp_path_factory.mktemp("film") / "short.mp4", shots=14, seed=3)[0]


def test_discover_then_name_then_harvest(cli: Cli, short_film: Path, tmp_path: Path) -> None:
    out = tmp_path / "disc"
    code, stdout, stderr = cli("frames", "discover", short_film, "--out", out, "--backbone", "random", *QUICK)
    assert code == 0, stderr
    assert "u1" in stdout and "proposal.csv" in stdout and "separation" in stdout
    code, stdout, stderr = cli("frames", "discover", "--out", out, "--rename", "u1=miles", "--drop", "unsure")
    assert code == 0, stderr
    text = (out / "proposal.csv").read_text()
    assert "miles" in text and ",u1\n" not in text and "unsure" not in text
    code, stdout, stderr = cli("frames", "harvest", "--segments", out / "proposal.csv", "--out", tmp_path / "ds")
    assert code == 0, stderr
    assert (tmp_path / "ds" / "miles").is_dir()


def test_pixel_statistics_only_needs_no_network(cli: Cli, short_film: Path, tmp_path: Path) -> None:
    code, _, stderr = cli("frames", "discover", short_film, "--out", tmp_path / "d", "--pixel-weight", "1", *QUICK)
    assert code == 0, stderr
    assert "pixel statistics only" in (tmp_path / "d" / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("{bad}",), "bad.mp4: not a video"),
        (("{missing}",), "no such video file"),
        (("{film}", "--pixel-weight", "2"), "--pixel-weight must be within 0..1"),
        (("{film}", "--rename", "u1"), "--rename: 'u1' is not OLD=NEW"),
        (("--rename", "u1=x"), "holds no proposal"),
        (("{film}", "--backbone", "imagenet"), "--backbone"),
    ],
)
def test_refused_in_one_line_with_nothing_written(
    cli: Cli, short_film: Path, tmp_path: Path, args: tuple[str, ...], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def offline(*a: object, **k: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # no ImageNet weights, and no network to fetch them
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 512)
    given = [a.format(bad=bad, missing=tmp_path / "missing.mp4", film=short_film) for a in args]
    code, _, stderr = cli("frames", "discover", *given, "--out", tmp_path / "out", *QUICK)
    assert code == 2 and says in one_error_line(stderr)
    assert not (tmp_path / "out").exists()


def test_help_explains_every_flag_with_its_default(cli: Cli) -> None:
    code, stdout, _ = cli("frames", "discover", "--help")
    assert code == 0
    for text in ("--universes", "--every", "(default: 0.25)", "--pixel-weight", "--rename", "--merge", "--drop"):
        assert text in stdout
