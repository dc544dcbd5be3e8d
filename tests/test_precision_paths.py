"""`--precision auto` on CPUs with and without native bf16: both code paths run on every machine."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from styleverse.devices import cpu_has_native_bf16, resolve_precision

CPU = torch.device("cpu")


def test_switch_decides_auto(native_bf16: bool) -> None:
    assert cpu_has_native_bf16() is native_bf16
    assert resolve_precision("auto", CPU) == ("bf16" if native_bf16 else "fp32")
    assert resolve_precision("fp32", CPU) == "fp32"


def test_stylize_auto_follows_the_hardware(cli, images, tmp_path: Path, native_bf16: bool) -> None:  # type: ignore[no-untyped-def]
    """Adam and L-BFGS run in bf16 where bf16 is native (Grams and losses stay float32), float32 elsewhere."""
    common = ["--size", "32", "--steps", "2", "--backbone", "random", "--quiet"]
    for opt in ("adam", "lbfgs"):
        out = tmp_path / f"{opt}.png"
        code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", out, "--optimizer", opt,
                           *common)  # fmt: skip
        assert code == 0, err
        used = json.loads(out.with_name(out.name + ".json").read_text())["precision_used"]
        assert used == ("bf16" if native_bf16 else "fp32")


def test_bank_auto_is_float32_and_serves_every_run(cli, images, tmp_path: Path, native_bf16: bool) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / "u.style.safetensors"
    code, _, err = cli("styles", "bank", images["style_a"], "-o", bank, "--backbone", "random", "--size", "32",
                       "--quiet")  # fmt: skip
    assert code == 0, err
    from styleverse.styles.bank import load_bank

    assert load_bank(bank).settings["precision"] == "fp32"
    code, _, err = cli("stylize", images["content"], "--style-bank", bank, "-o", tmp_path / "o.png", "--optimizer",
                       "adam", "--size", "32", "--steps", "2", "--quiet")  # fmt: skip
    assert code == 0, err
