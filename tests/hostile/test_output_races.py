"""Two runs on one output: every network trainer holds the output's lock (a second run is refused naming the
first), and every command that locks checks its outputs again once the lock is held, so a run that wrote
the output between this run's first check and its lock is never replaced without ``--overwrite``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fixtures.cli import one_error_line
from fixtures.clips import pan_frames, write_clip
from fixtures.fast import make_photos
from fixtures.images import image_folder, make_image
from fixtures.networks import WIDTH
from styleverse.io.lock import output_lock

Cli = Callable[..., tuple[int, str, str]]
FP32 = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--quiet"]
THEIRS = b"the other run's result"


def train_args(command: str, root: Path, out: Path) -> list[str | Path]:
    """A seconds-long ``fast train`` or ``adain train`` writing ``out``."""
    photos = make_photos(root / "photos", 2)
    if command == "fast":
        style: list[str | Path] = ["--style", make_image(root / "s.png"), "--width", "4", "--blocks", "1"]
    else:
        style = ["--style", image_folder(root / "styles", 2, (48, 40)), "--load-size", "40", "--width", str(WIDTH)]
    return [command, "train", "--content", photos, *style, "-o", out, "--size", "32", "--steps", "2", *FP32]


@pytest.mark.parametrize("command", ["fast", "adain"])
def test_second_trainer_on_a_locked_model_is_refused(cli: Cli, tmp_path: Path, command: str) -> None:
    out = tmp_path / "m.safetensors"
    args = train_args(command, tmp_path, out)
    with output_lock(out, command=f"styleverse {command} train -o m.safetensors (first)"):
        code, _, err = cli(*args)
    line = one_error_line(err)
    assert code == 2 and "in use by another styleverse run" in line and "(first)" in line
    assert sorted(p.name for p in tmp_path.glob("*m.*")) == []  # no model, state, plot or lock file written


def race(monkeypatch: pytest.MonkeyPatch, module: ModuleType, theirs: Path) -> None:
    """Let another run write ``theirs`` after this run's first check, just before it takes its lock."""
    real = module.output_lock

    @contextlib.contextmanager
    def lock(target: Any, *args: Any, **kw: Any) -> Iterator[Path]:
        if not theirs.exists():
            theirs.parent.mkdir(parents=True, exist_ok=True)
            theirs.write_bytes(THEIRS)
        with real(target, *args, **kw) as held:
            yield held

    monkeypatch.setattr(module, "output_lock", lock)


def refused_theirs_kept(cli: Cli, theirs: Path, *args: str | Path) -> None:
    code, _, err = cli(*args)
    line = one_error_line(err)
    assert code == 2 and ("already exists" in line or "already holds" in line), err
    assert theirs.read_bytes() == THEIRS
    assert not list(theirs.parent.glob("*.lock")) and not list(theirs.parent.glob(".*.lock"))


def test_stylize(cli: Cli, images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import styleverse.transfer.job

    out = tmp_path / "out.png"
    race(monkeypatch, styleverse.transfer.job, out)
    refused_theirs_kept(cli, out, "stylize", images["content"], "--style", images["style_a"], "-o", out,
                        "--size", "32", "--steps", "2", *FP32)  # fmt: skip


def test_video(cli: Cli, images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import styleverse.video.job

    clip, out = write_clip(tmp_path / "clip.mp4", pan_frames(3)), tmp_path / "out.mp4"
    race(monkeypatch, styleverse.video.job, out)
    refused_theirs_kept(cli, out, "video", clip, "--style", images["style_a"], "-o", out, "--steps", "1", *FP32)


@pytest.mark.parametrize("command", ["bank", "analyze"])
def test_styles(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    import styleverse.styles.job

    bank, styles = tmp_path / "b.safetensors", image_folder(tmp_path / "styles", 3, (40, 32))
    race(monkeypatch, styleverse.styles.job, bank)
    outs: list[str | Path] = ["-o", bank] if command == "bank" else ["-o", tmp_path / "r", "--write-bank", bank]
    refused_theirs_kept(cli, bank, "styles", command, styles, *outs, "--size", "32", *FP32)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["fast", "adain"])
def test_trainers(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    import styleverse.io.lock

    out = tmp_path / "m.safetensors"
    race(monkeypatch, styleverse.io.lock, out)  # the trainers' shared outputs take it from there
    refused_theirs_kept(cli, out, *train_args(command, tmp_path, out))
    assert not (tmp_path / "m.safetensors.resume.safetensors").exists()


def test_classifier(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import styleverse.classifier.train
    from fixtures.classifier import make_universes

    run = tmp_path / "run"
    race(monkeypatch, styleverse.classifier.train, run / "best.safetensors")
    refused_theirs_kept(cli, run / "best.safetensors", "classifier", "train", make_universes(tmp_path / "ds", 2),
                        "--out", run, "--init", "scratch", "--width", str(WIDTH), "--size", "32",
                        "--precision", "fp32", "--device", "cpu", "--quiet")  # fmt: skip


def test_evaluate(cli: Cli, images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import styleverse.cli.evaluate

    report = tmp_path / "rep" / "report.json"
    race(monkeypatch, styleverse.cli.evaluate, report)
    refused_theirs_kept(cli, report, "evaluate", images["style_a"], "--content", images["content"],
                        "--style", images["style_b"], "-o", report.parent, *FP32)  # fmt: skip
