"""``styleverse gan train|apply|export`` end to end on tiny inputs, the model in ``video --model`` and ``fast
apply``, and one-line refusals (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.gan import make_data
from fixtures.images import make_image
from fixtures.videos import make_video
from styleverse.fast.gan.model import load_gan

Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.usefixtures("one_thread")


def data(tmp_path: Path) -> Path:
    """Photos and two universes, gwen and night (the miles frames, renamed)."""
    root = make_data(tmp_path)
    (root / "frames" / "miles").rename(root / "frames" / "night")
    return root


def train_args(root: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "gan", "train", "--content", root / "photos", "--style", root / "frames" / "gwen",
        root / "frames" / "night", "-o", root / "m.safetensors", "--size", "32", "--load-size", "32",
        "--batch-size", "2", "--steps", "2", "--width", "4", "--blocks", "1", "--disc-width", "2",
        "--precision", "fp32", "--device", "cpu", "--quiet", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_train_apply_export_and_the_model_in_other_commands(cli: Cli, tmp_path: Path) -> None:
    root = data(tmp_path)
    code, out, err = cli(*train_args(root))
    assert code == 0, err
    assert "universes: gwen, night" in out and "discriminator accuracy on frames" in out
    assert load_gan(root / "m.safetensors").step == 2
    code, _, err = cli(*train_args(root))
    assert code == 2 and "--resume" in one_error_line(err)
    code, _, err = cli(*train_args(root, "--resume", "--steps", "3"))
    assert code == 0, err
    assert load_gan(root / "m.safetensors").step == 3

    photo = make_image(tmp_path / "a.jpg", (50, 37), 7)
    code, _, err = cli("gan", "apply", root / "m.safetensors", photo, "-o", tmp_path / "one.png", "--universe",
                       "night", "--strength", "0.5", "--preserve-color", "--precision", "fp32")  # fmt: skip
    assert code == 0, err
    assert Image.open(tmp_path / "one.png").size == (50, 37)
    code, _, err = cli("fast", "apply", root / "m.safetensors", photo, "-o", tmp_path / "fast.png", "--mix",
                       "gwen:1", "night:1", "--size", "24")  # fmt: skip
    assert code == 0, err
    assert max(Image.open(tmp_path / "fast.png").size) == 24

    code, out, err = cli("gan", "export", root / "m.safetensors", "-o", tmp_path / "m.onnx")
    assert code == 0, err
    assert "weights and strength are inputs" in out
    code, _, err = cli("gan", "apply", tmp_path / "m.onnx", photo, "-o", tmp_path / "onnx.png", "--universe", "night")
    assert code == 0, err

    clip = make_video(tmp_path / "clip.mp4", "miles", seconds=1.0, size=(64, 48))
    out_video = tmp_path / "v.mp4"
    code, _, err = cli("video", clip, "--model", root / "m.safetensors", "--universe", "gwen", "-o", out_video,
                       "--device", "cpu", "--precision", "fp32", "--quiet")  # fmt: skip
    assert code == 0, err
    side = json.loads((tmp_path / "v.mp4.json").read_text())
    assert side["stylizer"]["kind"] == "gan_model" and side["stylizer"]["mix"] == "gwen"


def test_refusals_are_one_line(cli: Cli, tmp_path: Path) -> None:
    root = data(tmp_path)
    code, _, err = cli(*train_args(root, "--win-rate", "2"))
    assert code == 2 and "win-rate" in one_error_line(err)
    code, _, err = cli(*train_args(root, "--label", "gwen"))  # labels filter manifests; these are folders
    assert code == 2 and "manifest" in one_error_line(err)
    code, _, err = cli("gan", "apply", root / "photos" / "photo0.png", root / "photos", "-o", tmp_path / "x")
    assert code == 2 and "error" in one_error_line(err)
    code, _, err = cli("gan", "export", root / "none.safetensors", "-o", tmp_path / "m.onnx")
    assert code == 2 and "no such" in one_error_line(err)


def test_help_names_the_papers_defaults(cli: Cli) -> None:
    code, out, _ = cli("gan", "train", "--help")
    assert code == 0
    flat = " ".join(out.split()).split("options:", 1)[1]
    for flag, default in (("--lr", "0.0002"), ("--size", "768"), ("--content-weight", "100.0"),
                          ("--transformed-weight", "100.0"), ("--adversarial-weight", "1.0"), ("--win-rate", "0.8"),
                          ("--pool", "10"), ("--steps", "300000")):  # fmt: skip
        assert f"default: {default})" in flat.split(f"{flag} ", 1)[1][:200], flag
