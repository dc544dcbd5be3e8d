"""open_stylizer: one opener for every real-time model kind, one identity per model and settings, the kind
read from the file, settings checked before the file is loaded, one opened model per file version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from fixtures.images import make_image
from styleverse.errors import ConfigError, InputError
from styleverse.fast.export import export_onnx
from styleverse.fast.model import load_model
from styleverse.fast.open import (
    ADAIN_KINDS,
    FAST_KINDS,
    ModelCache,
    StylizerSpec,
    model_kind,
    open_model,
    open_stylizer,
)

FRAME = torch.rand(1, 3, 32, 40)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A fast model, its ONNX export, an AdaIN decoder, a style image and a file of another kind."""
    from safetensors.torch import save_file

    from fixtures.networks import tiny_adain as tiny_model
    from styleverse.fast.adain.model import save_adain
    from styleverse.fast.model import CondInstanceNorm, FastModel, FastSpec, TransformNet, save_model

    torch.manual_seed(0)
    net = TransformNet(FastSpec(("gwen", "miles", "punk"), width=4, blocks=1))
    with torch.no_grad():  # universes that differ
        for m in net.modules():
            if isinstance(m, CondInstanceNorm):
                m.gamma.add_(torch.randn_like(m.gamma) * 0.5)
    fast = save_model(FastModel(net.eval(), {"identity": "test"}), tmp_path / "comic.safetensors")
    save_file({"w": torch.zeros(2)}, tmp_path / "bank.safetensors", metadata={"styleverse_kind": "style_bank"})
    return {
        "fast": fast,
        "onnx": export_onnx(load_model(fast), tmp_path / "comic.onnx"),
        "adain": save_adain(tiny_model(), tmp_path / "dec.safetensors"),
        "style": make_image(tmp_path / "s.png", (32, 32), 3),
        "foreign": tmp_path / "bank.safetensors",
    }


def test_the_kind_comes_from_the_file_and_callers_may_take_only_some(files: dict[str, Path]) -> None:
    assert [model_kind(files[k]).name for k in ("fast", "onnx", "adain")] == [
        "fast_model",
        "fast_onnx",
        "adain_decoder",
    ]
    with pytest.raises(InputError, match=r"bank\.safetensors: not a real-time model \(it holds a style_bank\)"):
        model_kind(files["foreign"])
    with pytest.raises(InputError, match=r"s\.png: not a model file \(a \.safetensors from fast train or adain "):
        model_kind(files["style"])
    # a caller taking fast models only: an AdaIN decoder is reported by the fast model loader
    with pytest.raises(InputError, match="not a styleverse fast model"):
        open_stylizer(files["adain"], FAST_KINDS)
    with pytest.raises(InputError, match="not a styleverse AdaIN decoder"):
        open_stylizer(StylizerSpec(str(files["fast"]), styles=(str(files["style"]),)), ADAIN_KINDS)


def test_every_kind_opens_to_a_frame_stylizer_with_its_identity(files: dict[str, Path]) -> None:
    fp32 = {"precision": "fp32", "device": "cpu"}
    fast = open_stylizer(StylizerSpec(str(files["fast"]), mix="miles", **fp32))
    onnx = open_stylizer(StylizerSpec(str(files["onnx"]), mix="miles", **fp32))
    adain = open_stylizer(StylizerSpec(str(files["adain"]), styles=(str(files["style"]),), alpha=0.5, **fp32))
    for s in (fast, onnx, adain):
        out = s(FRAME)
        assert (
            out.shape == FRAME.shape and out.dtype == torch.float32 and 0 <= float(out.min()) <= float(out.max()) <= 1
        )
    assert (fast(FRAME) - onnx(FRAME)).abs().max() < 1e-3
    assert fast.universes == onnx.universes == ("gwen", "miles", "punk") and adain.universes == ()
    assert fast.identity["kind"] == "fast_model" and fast.identity["mix"] == "miles"
    assert fast.identity["model"] == "comic.safetensors" and "styles" not in fast.identity
    assert adain.identity["kind"] == "adain_decoder" and adain.identity["alpha"] == 0.5
    assert adain.identity["styles"] == (str(files["style"]),) and "mix" not in adain.identity


def test_one_identity_whichever_way_a_model_is_opened(files: dict[str, Path], tmp_path: Path) -> None:
    spec = StylizerSpec(str(files["fast"]), mix={"gwen": 1.0, "miles": 1.0}, strength=0.5, device="cpu")
    relative = StylizerSpec(os.path.relpath(files["fast"]), mix={"gwen": 1.0, "miles": 1.0}, strength=0.5)
    a = open_stylizer(spec).identity
    assert open_model(spec.model, "cpu").stylizer(spec).identity == a
    assert ModelCache().open(files["fast"], "cpu").stylizer(spec).identity == a
    assert open_stylizer(relative).identity == a
    assert open_stylizer(StylizerSpec(str(files["fast"]), mix={"gwen": 1.0, "miles": 1.0})).identity != a
    os.utime(files["fast"], ns=(1, 1))  # the same name, another file version
    assert open_stylizer(spec).identity != a


def test_settings_are_checked_before_the_file_is_read(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError, match="alpha must be between 0 and 1"):
        open_stylizer(StylizerSpec(missing, styles=("s.png",), alpha=2.0), ADAIN_KINDS)
    with pytest.raises(ConfigError, match="strength must be between 0 and 1"):
        open_stylizer(StylizerSpec(missing, strength=1.5), FAST_KINDS)
    with pytest.raises(ConfigError, match="preserve_color histogram needs style images"):
        open_stylizer(StylizerSpec(missing, preserve_color="histogram"), FAST_KINDS)
    with pytest.raises(InputError, match="no such model file"):
        open_stylizer(missing, FAST_KINDS)


def test_the_cache_opens_a_file_version_once_and_keeps_its_styles(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import styleverse.fast.open as opener

    calls = []
    real = opener.image_style
    monkeypatch.setattr(opener, "image_style", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    cache = ModelCache()
    opened = cache.open(files["adain"], "cpu")
    assert cache.open(files["adain"], "cpu") is opened
    spec = StylizerSpec(str(files["adain"]), styles=(str(files["style"]),), device="cpu")
    first, again = opened.stylizer(spec)(FRAME), opened.stylizer(spec)(FRAME)
    torch.testing.assert_close(first, again)
    assert len(calls) == 1, "the style image was read twice"
    make_image(files["style"], (32, 32), 9)
    os.utime(files["style"], ns=(5, 5))
    opened.stylizer(spec)
    assert len(calls) == 2, "an edited style image must be read again"
    os.utime(files["adain"], ns=(7, 7))
    assert cache.open(files["adain"], "cpu") is not opened
