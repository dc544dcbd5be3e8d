"""``styles bank`` and ``styles analyze``: outputs checked together before work, locks, bounds, leftovers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixtures.cli import one_error_line
from fixtures.images import image_folder
from styleverse import devices
from styleverse.io.lock import output_lock

RANDOM = ["--backbone", "random", "--precision", "fp32", "--quiet", "--size", "32"]


@pytest.fixture
def styles(tmp_path: Path) -> Path:
    return image_folder(tmp_path / "styles", 3, (40, 32), "s{i}.png")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refusal here must come before the feature network is built."""
    import styleverse.nn.vgg

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("network built before the checks")

    monkeypatch.setattr(styleverse.nn.vgg, "load_backbone", boom)  # looked up when a network is built


def test_analyze_report_folder_equal_to_or_inside_an_input_folder(styles: Path, cli, no_network) -> None:  # type: ignore[no-untyped-def]
    before = sorted(p.name for p in styles.iterdir())
    code, _, err = cli("styles", "analyze", styles, "-o", styles, *RANDOM)
    assert code == 2 and "is also an input" in one_error_line(err)
    code, _, err = cli("styles", "analyze", styles, "-o", styles / "report", *RANDOM)
    assert code == 2 and f"lies inside the input folder {styles}" in one_error_line(err)
    assert sorted(p.name for p in styles.iterdir()) == before  # no report images joined the style set


def test_analyze_report_folder_holding_an_input(styles: Path, tmp_path: Path, cli, no_network) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("styles", "analyze", styles / "s0.png", styles / "s1.png", "-o", tmp_path, *RANDOM)
    assert code == 2 and "holds the input" in one_error_line(err)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["bank", "{styles}", "-o", "{tmp}/bank.pt"], "extension must be .safetensors"),
        (["bank", "{styles}", "-o", "{styles}/s0.png"], "is also an input"),
        (["bank", "{styles}", "-o", "{tmp}/b.safetensors", "--size", "20000"], "--size must be at most 16384"),
        (["analyze", "{styles}", "-o", "{tmp}/r", "--write-bank", "{tmp}/b.json"], "--write-bank .*extension must be"),
        (["analyze", "{styles}", "-o", "{tmp}/r", "--size", "99999"], "--size must be at most"),
    ],
)
def test_bad_outputs_and_sizes_refused_up_front(styles: Path, tmp_path: Path, cli, no_network, argv, match) -> None:  # type: ignore[no-untyped-def]
    args = [a.format(styles=styles, tmp=tmp_path) for a in argv]
    code, _, err = cli("styles", *args[:2], *RANDOM, *args[2:])  # a --size in argv comes last and wins
    assert code == 2
    assert re.search(match, one_error_line(err)), err
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob("b.*")) and not list(tmp_path.glob("bank.*"))


def test_memory_estimate_refused_before_the_network(styles: Path, tmp_path: Path, cli, no_network, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(devices, "available_memory", lambda d: 100_000)  # a 32 px pass needs about 1 MB
    code, _, err = cli("styles", "bank", styles, "-o", tmp_path / "b.safetensors", *RANDOM)
    assert code == 2 and "--size 32 needs about" in one_error_line(err) and "lower --size" in err
    code, _, err = cli("styles", "analyze", styles, "-o", tmp_path / "r", *RANDOM)
    assert code == 2 and "needs about" in one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_locked_bank_and_report_refused(styles: Path, tmp_path: Path, cli, no_network) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / "b.safetensors"
    with output_lock(bank, command="styleverse styles bank (first)"):
        code, _, err = cli("styles", "bank", styles, "-o", bank, *RANDOM)
        assert code == 2 and "in use by another styleverse run" in one_error_line(err) and "(first)" in err
    report = tmp_path / "r"
    report.mkdir()
    with output_lock(report, folder=True):
        code, _, err = cli("styles", "analyze", styles, "-o", report, *RANDOM)
        assert code == 2 and "in use" in one_error_line(err)
    with output_lock(bank):
        code, _, err = cli("styles", "analyze", styles, "-o", tmp_path / "r2", "--write-bank", bank, *RANDOM)
        assert code == 2 and "in use" in one_error_line(err)
    assert not bank.exists() and not (tmp_path / "r2").exists()


def test_build_removes_what_a_killed_build_left(styles: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    left = [tmp_path / ".b.safetensors.tmpabcd1234.safetensors", tmp_path / "r" / ".report.json.tmpabcd1234.json"]
    left[1].parent.mkdir()
    for p in left:
        p.write_bytes(b"half written")
    other = tmp_path / ".other.png.tmpabcd1234.png"  # not ours: another output's in-flight file
    other.write_bytes(b"x")
    assert cli("styles", "bank", styles, "-o", tmp_path / "b.safetensors", *RANDOM)[0] == 0
    assert cli("styles", "analyze", styles, "-o", tmp_path / "r", *RANDOM)[0] == 0
    assert not any(p.exists() for p in left) and other.exists()
    assert (tmp_path / "r" / "report.json").is_file() and not (tmp_path / "r" / ".styleverse.lock").exists()
