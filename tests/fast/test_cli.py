"""``styleverse fast train|apply|export`` end to end on tiny inputs, and their one-line errors (exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.fast import make_banks, make_photos
from fixtures.images import make_image
from styleverse.fast.model import load_model

Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.usefixtures("one_thread")


def train_args(root: Path, *extra: str | Path, other_bank: Path | None = None) -> list[str | Path]:
    a, b = root / "banks" / "stripes.style.safetensors", root / "banks" / "checker.style.safetensors"
    banks = [a, f"chk={b}", *([other_bank] if other_bank else [])]
    return [
        "fast", "train", "--content", root / "photos", "--style-bank", *banks, "--style", root / "extra.png",
        "-o", root / "m.safetensors", "--size", "32", "--batch-size", "3", "--steps", "3", "--width", "4",
        "--blocks", "1", "--precision", "fp32", "--device", "cpu", "--sample-every", "3", "--quiet", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_train_apply_export_apply_onnx(tmp_path: Path, cli: Cli) -> None:
    make_banks(tmp_path / "banks")
    make_photos(tmp_path / "photos", 3)
    make_image(tmp_path / "extra.png", (40, 40), 5)
    code, out, err = cli(*train_args(tmp_path))
    assert code == 0, err
    assert "universes: stripes, chk, extra" in out
    assert load_model(tmp_path / "m.safetensors").universes == ("stripes", "chk", "extra")
    assert (tmp_path / "m.losses.png").is_file() and (tmp_path / "m.samples" / "step_000003.png").is_file()
    code, _, err = cli(*train_args(tmp_path))
    assert code == 2 and "--resume" in one_error_line(err)
    code, _, err = cli(*train_args(tmp_path, "--resume", "--steps", "4"))  # a finished run trains on
    assert code == 0, err
    assert load_model(tmp_path / "m.safetensors").step == 4

    (tmp_path / "in").mkdir()
    photo = make_image(tmp_path / "in" / "a.jpg", (50, 37), 7)
    make_image(tmp_path / "in" / "b.png", (33, 41), 8)
    model = tmp_path / "m.safetensors"
    code, out, err = cli("fast", "apply", model, photo, "-o", tmp_path / "one.png", "--universe", "chk",
                         "--strength", "0.5", "--preserve-color", "--precision", "fp32")  # fmt: skip
    assert code == 0, err
    assert Image.open(tmp_path / "one.png").size == (50, 37)
    code, out, err = cli("fast", "apply", tmp_path / "m.safetensors", tmp_path / "in", "-o", tmp_path / "many",
                         "--mix", "stripes:1", "extra:2", "--size", "24")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["a.jpg", "b.png"]
    assert max(Image.open(tmp_path / "many" / "a.jpg").size) == 24

    code, out, err = cli("fast", "export", tmp_path / "m.safetensors", "-o", tmp_path / "m.onnx")
    assert code == 0 and "inputs" in out, err
    code, out, err = cli("fast", "apply", tmp_path / "m.onnx", photo, "-o", tmp_path / "onnx.png", "--universe", "chk",
                         "--strength", "0.5", "--preserve-color")  # fmt: skip
    assert code == 0, err
    a = torch.tensor(list(Image.open(tmp_path / "one.png").getdata()), dtype=torch.float32)
    b = torch.tensor(list(Image.open(tmp_path / "onnx.png").getdata()), dtype=torch.float32)
    assert (a - b).abs().max() <= 1  # the same image up to 8-bit rounding

    code, _, err = cli("fast", "apply", tmp_path / "m.safetensors", photo, "-o", tmp_path / "x.png", "--universe", "x")
    assert code == 2 and "unknown universe 'x'" in one_error_line(err)
    code, _, err = cli(
        "fast", "apply", tmp_path / "banks" / "stripes.style.safetensors", photo, "-o", tmp_path / "y.png"
    )
    assert code == 2 and "not a styleverse fast model" in one_error_line(err)
    make_image(tmp_path / "tiny.png", (10, 30), 9)
    code, _, err = cli("fast", "apply", tmp_path / "m.safetensors", tmp_path / "tiny.png", "-o", tmp_path / "z.png")
    assert code == 2 and "too small" in one_error_line(err)
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "z.png").exists()


def test_train_errors_are_one_line(tmp_path: Path, cli: Cli) -> None:
    make_banks(tmp_path / "banks")
    other = make_banks(tmp_path / "other", seed=3)[0]
    (tmp_path / "photos").mkdir()
    make_image(tmp_path / "extra.png", (40, 40), 5)
    code, _, err = cli(*train_args(tmp_path))
    assert code == 2 and "holds no images" in one_error_line(err)
    make_photos(tmp_path / "photos", 1, (20, 40))
    code, _, err = cli(*train_args(tmp_path))
    assert code == 2 and "too small to train at --size 32" in one_error_line(err)
    make_photos(tmp_path / "photos", 1)
    code, _, err = cli(*train_args(tmp_path, other_bank=other))
    assert code == 2 and "made with backbone" in one_error_line(err)
    code, _, err = cli("fast", "apply", tmp_path / "extra.png", tmp_path / "extra.png", "-o", tmp_path / "o.png")
    assert code == 2 and "not a readable model file" in one_error_line(err)
    code, _, err = cli("fast", "export", tmp_path / "missing.safetensors", "-o", tmp_path / "m.onnx")
    assert code == 2 and "no such model file" in one_error_line(err)


@pytest.mark.parametrize("kind", ["fast", "adain"])
def test_a_size_that_cannot_fit_in_memory_is_refused_before_the_model_loads(
    tmp_path: Path, cli: Cli, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 GiB free and 4096 px asked (about 16 GiB at ~1 KB a pixel): one line naming the setting, nothing
    written; it used to end in a MemoryError (or the kernel's kill) mid-run."""
    from fixtures.networks import adain_model, fast_model

    monkeypatch.setattr("styleverse.devices.available_memory", lambda device: 4 * 2**30)
    photo, out = make_image(tmp_path / "p.png", (48, 40), 1), tmp_path / "out.png"
    if kind == "fast":
        args = ["fast", "apply", fast_model(tmp_path / "m.safetensors"), photo, "-o", out, "--size", "4096"]
    else:
        style = make_image(tmp_path / "s.png", (40, 40), 2)
        args = ["adain", "apply", adain_model(tmp_path / "d.safetensors"), photo, "--style", style, "-o", out,
                "--size", "64", "--style-size", "4096"]  # fmt: skip
    code, _, err = cli(*args)
    line = one_error_line(err)
    flag = "--size" if kind == "fast" else "--style-size"
    assert code == 2 and "GiB" in line and f"lower {flag}" in line, err
    assert not out.exists()
