"""The transform network: conditional instance norm maths, any frame size, strength, the file format, ONNX."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fixtures.networks import tiny_fast
from styleverse.errors import ConfigError, InputError
from styleverse.fast.apply import FastStylizer
from styleverse.fast.export import export_onnx
from styleverse.fast.model import (
    CondInstanceNorm,
    FastModel,
    FastSpec,
    load_model,
    mix_weights,
    save_model,
)
from styleverse.fast.open import StylizerSpec, open_stylizer

UNIVERSES = ("gwen", "miles", "punk")


def model(seed: int = 0) -> FastModel:
    """A small network whose per-universe (γ, β) differ (fresh ones are all equal)."""
    return tiny_fast(UNIVERSES, seed)


def test_conditional_norm_picks_and_mixes_gamma_beta() -> None:
    norm = CondInstanceNorm(3, 2)
    with torch.no_grad():
        norm.gamma.copy_(torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]))
        norm.beta.copy_(torch.tensor([[0.0, 1.0, 0.0], [2.0, 2.0, 2.0]]))
    x = torch.randn(2, 3, 5, 6)
    y = nn.functional.instance_norm(x, eps=1e-5)
    one = norm(x, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(one, y * torch.tensor([-1.0, 0.5, 0.0]).view(1, 3, 1, 1) + 2.0)
    half = norm(x, torch.tensor([[0.5, 0.5], [1.0, 0.0]]))  # per-sample weights
    g0, b0 = torch.tensor([0.0, 1.25, 1.5]), torch.tensor([1.0, 1.5, 1.0])
    torch.testing.assert_close(half[0], y[0] * g0.view(3, 1, 1) + b0.view(3, 1, 1))
    torch.testing.assert_close(half[1], norm(x[1:], torch.tensor([1.0, 0.0]))[0])


def test_network_has_no_transposed_convolutions_and_keeps_pixels_in_range() -> None:
    net = model().net
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())
    with torch.no_grad():
        y = net(torch.rand(2, 3, 32, 36), torch.eye(3)[:2])
    assert y.shape == (2, 3, 32, 36) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_stylizer_takes_any_frame_size_and_strength_blends_toward_the_frame() -> None:
    m = model()
    frame = torch.rand(1, 3, 37, 50)
    full = FastStylizer(m, mix="miles", precision="fp32")(frame)
    assert full.shape == frame.shape and full.dtype == torch.float32
    zero = FastStylizer(m, mix="miles", strength=0.0, precision="fp32")(frame)
    torch.testing.assert_close(zero, frame)
    half = FastStylizer(m, mix="miles", strength=0.5, precision="fp32")(frame)
    torch.testing.assert_close(half, 0.5 * full + 0.5 * frame)
    other = FastStylizer(m, mix="punk", precision="fp32")(frame)
    assert (other - full).abs().max() > 1e-3, "universes must differ"
    with pytest.raises(InputError, match="too small"):
        FastStylizer(m)(torch.rand(1, 3, 12, 40))


def test_bf16_stylizer_stays_close_to_fp32() -> None:
    m, frame = model(), torch.rand(1, 3, 32, 32)
    a = FastStylizer(m, precision="fp32")(frame)
    b = FastStylizer(m, precision="bf16")(frame)
    assert b.dtype == torch.float32 and (a - b).abs().mean() < 0.05


def test_mix_weights_validate_names_and_values() -> None:
    torch.testing.assert_close(mix_weights(UNIVERSES, {"gwen": 3, "punk": 1}), torch.tensor([0.75, 0.0, 0.25]))
    torch.testing.assert_close(mix_weights(UNIVERSES, None), torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="unknown universe 'spot'; this model has gwen, miles, punk"):
        mix_weights(UNIVERSES, "spot")
    for bad in ({"gwen": -1.0}, {"gwen": 0.0}, {"gwen": float("nan")}):
        with pytest.raises(ConfigError, match="mix weights"):
            mix_weights(UNIVERSES, bad)


def test_model_file_round_trip_and_refusals(tmp_path: Path) -> None:
    m = model()
    path = save_model(m, tmp_path / "m.safetensors")
    back = load_model(path)
    assert back.universes == UNIVERSES and back.net.spec == m.net.spec and back.content_layers == ("relu4_2",)
    for k, v in m.net.state_dict().items():
        assert torch.equal(back.net.state_dict()[k], v)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a readable model file"):
        load_model(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "foreign.safetensors", metadata={"styleverse_kind": "style_bank"})
    with pytest.raises(InputError, match="not a styleverse fast model"):
        load_model(tmp_path / "foreign.safetensors")
    with pytest.raises(InputError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")


def test_onnx_matches_torch_with_inputs_and_baked_in(tmp_path: Path) -> None:
    m, frame = model(), torch.rand(1, 3, 42, 30)
    free = export_onnx(m, tmp_path / "free.onnx")
    baked = export_onnx(m, tmp_path / "baked.onnx", mix={"gwen": 1, "punk": 3}, strength=0.8)
    for mix, strength in (("miles", 1.0), ({"gwen": 1.0, "punk": 3.0}, 0.8)):
        ref = FastStylizer(m, mix=mix, strength=strength, precision="fp32")(frame)
        out = open_stylizer(StylizerSpec(str(free), mix=mix, strength=strength))(frame)
        assert (out - ref).abs().max() < 1e-3
    ref = FastStylizer(m, mix={"gwen": 1, "punk": 3}, strength=0.8, precision="fp32")(frame)
    assert (open_stylizer(baked)(frame) - ref).abs().max() < 1e-3
    assert (open_stylizer(baked)(frame) - FastStylizer(m, precision="fp32")(frame)).abs().max() > 1e-2
    with pytest.raises(ConfigError, match=r"mix is baked in \(gwen:0.25 punk:0.75, strength 0.8\)"):
        open_stylizer(StylizerSpec(str(baked), mix="miles"))
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        open_stylizer(tmp_path / "junk.onnx")


def test_separable_network_is_smaller_round_trips_and_exports(tmp_path: Path) -> None:
    """Depthwise-separable residual blocks: fewer weights, the spec survives the file, ONNX matches torch,
    and a file written before the field existed opens as a plain network."""
    plain, sep = tiny_fast(UNIVERSES, width=8), tiny_fast(UNIVERSES, width=8, separable=True)
    count = [sum(p.numel() for p in m.net.res.parameters()) for m in (plain, sep)]
    assert count[1] < count[0] / 3
    assert any(isinstance(c, nn.Conv2d) and c.groups > 1 for c in sep.net.modules())
    back = load_model(save_model(sep, tmp_path / "s.safetensors"))
    assert back.net.spec.separable and back.net.spec == sep.net.spec
    frame = torch.rand(1, 3, 36, 44)
    ref = FastStylizer(sep, mix="punk", precision="fp32")(frame)
    assert torch.equal(FastStylizer(back, mix="punk", precision="fp32")(frame), ref)
    onnx = open_stylizer(StylizerSpec(str(export_onnx(sep, tmp_path / "s.onnx")), mix="punk"))
    assert (onnx(frame) - ref).abs().max() < 1e-3
    old = {k: v for k, v in plain.net.spec.to_dict().items() if k != "separable"}
    assert FastSpec.from_dict(old) == plain.net.spec
