"""An output may never be an input, ``--overwrite`` or not: every command refuses, with one line naming both, an
output that is the feature network (``--backbone``), the starting weights (``--init``) or a style bank it reads,
before any work, and leaves that input as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fixtures.cli import one_error_line
from fixtures.fast import make_banks, make_photos
from fixtures.images import image_folder, make_image
from fixtures.networks import WIDTH
from styleverse.nn.vgg import load_backbone

Cli = Callable[..., tuple[int, str, str]]
FP32 = ["--precision", "fp32", "--device", "cpu", "--quiet"]


def vgg_weights(path: Path) -> Path:
    """A tiny VGG weights file at ``path`` (safetensors for that suffix, else a torch state dict)."""
    state = {k: v.contiguous() for k, v in load_backbone("random", width=WIDTH, seed=3)[0].state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, path, metadata={"width": str(WIDTH)})
    else:
        torch.save(state, path)
    return path


def refused_and_kept(cli: Cli, kept: Path, *args: str | Path) -> str:
    """Run the command; it must exit 2 with one line saying an output is an input, ``kept`` unchanged."""
    before = kept.read_bytes()
    code, _, err = cli(*args)
    line = one_error_line(err)
    assert code == 2 and ("is also an input" in line or "holds the input" in line), err
    assert kept.read_bytes() == before
    return line


def test_styles_bank_onto_its_backbone(cli: Cli, tmp_path: Path) -> None:
    net = vgg_weights(tmp_path / "vgg.safetensors")
    styles = image_folder(tmp_path / "styles", 2, (40, 32))
    line = refused_and_kept(cli, net, "styles", "bank", styles, "-o", net, "--backbone", net, "--overwrite",
                            "--size", "32", *FP32)  # fmt: skip
    assert f"-o {net}: is also an input ({net})" in line


def test_styles_analyze_write_bank_onto_its_backbone(cli: Cli, tmp_path: Path) -> None:
    net = vgg_weights(tmp_path / "vgg.safetensors")
    styles = image_folder(tmp_path / "styles", 3, (40, 32))
    line = refused_and_kept(cli, net, "styles", "analyze", styles, "-o", tmp_path / "report", "--write-bank", net,
                            "--backbone", net, "--overwrite", "--size", "32", *FP32)  # fmt: skip
    assert f"--write-bank {net}: is also an input" in line
    assert not (tmp_path / "report").exists()


def test_fast_train_onto_a_named_style_bank(cli: Cli, tmp_path: Path) -> None:
    """``--style-bank gwen=B -o B`` replaced bank B with the model."""
    bank, _ = make_banks(tmp_path / "banks")
    photos = make_photos(tmp_path / "photos", 4)
    line = refused_and_kept(cli, bank, "fast", "train", "--content", photos, "--style-bank", f"gwen={bank}",
                            "-o", bank, "--overwrite", "--size", "32", "--steps", "2", "--width", "4",
                            "--blocks", "1", *FP32)  # fmt: skip
    assert f"-o {bank}" in line


def test_fast_train_onto_its_backbone(cli: Cli, tmp_path: Path) -> None:
    net = vgg_weights(tmp_path / "vgg.safetensors")
    photos = make_photos(tmp_path / "photos", 4)
    refused_and_kept(cli, net, "fast", "train", "--content", photos, "--style", make_image(tmp_path / "s.png"),
                     "-o", net, "--backbone", net, "--overwrite", "--size", "32", "--steps", "2", "--width", "4",
                     "--blocks", "1", *FP32)  # fmt: skip


def test_adain_train_onto_its_encoder(cli: Cli, tmp_path: Path) -> None:
    net = vgg_weights(tmp_path / "vgg.safetensors")
    photos, styles = make_photos(tmp_path / "photos", 2), image_folder(tmp_path / "styles", 2, (48, 40))
    refused_and_kept(cli, net, "adain", "train", "--content", photos, "--style", styles, "-o", net,
                     "--backbone", net, "--overwrite", "--size", "32", "--load-size", "40", "--steps", "2",
                     "--width", str(WIDTH), *FP32)  # fmt: skip


def test_classifier_train_from_a_checkpoint_in_its_run_folder(cli: Cli, tmp_path: Path) -> None:
    """``--init RUN/best.safetensors --out RUN --overwrite`` read the checkpoint, then deleted it."""
    from fixtures.classifier import make_universes

    data = make_universes(tmp_path / "ds", 2)
    init = vgg_weights(tmp_path / "run" / "best.safetensors")
    line = refused_and_kept(cli, init, "classifier", "train", data, "--out", tmp_path / "run", "--init", init,
                            "--overwrite", "--arch", "vgg19", "--width", str(WIDTH), "--size", "32", "--epochs", "1",
                            "--precision", "fp32", "--device", "cpu")  # fmt: skip
    assert f"holds the input {init}" in line


def test_stylize_onto_its_backbone(cli: Cli, images: dict[str, Path], tmp_path: Path) -> None:
    net = vgg_weights(tmp_path / "net.png")  # a torch state dict, whatever its name
    refused_and_kept(cli, net, "stylize", images["content"], "--style", images["style_a"], "-o", net,
                     "--backbone", net, "--overwrite", "--size", "32", "--steps", "2", *FP32)  # fmt: skip


def test_a_hard_link_to_an_input_is_that_input(cli: Cli, tmp_path: Path) -> None:
    bank, _ = make_banks(tmp_path / "banks")
    link = tmp_path / "link.safetensors"
    try:
        link.hardlink_to(bank)
    except OSError:
        pytest.skip("no hard links here")
    photos = make_photos(tmp_path / "photos", 4)
    line = refused_and_kept(cli, bank, "fast", "train", "--content", photos, "--style-bank", f"gwen={bank}",
                            "-o", link, "--overwrite", "--size", "32", *FP32)  # fmt: skip
    assert f"-o {link}: is also an input ({bank})" in line
