"""The style-aware generator and the multi-scale discriminator: shapes at any frame size, universes and mixes,
the file format, opening as a frame stylizer and ONNX export (within 2 levels of torch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from styleverse.errors import InputError
from styleverse.fast.gan.model import DISC_HEADS, Discriminator, GanModel, GanSpec, Generator, load_gan, save_gan
from styleverse.fast.open import FAST_KINDS, open_stylizer

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(universes: tuple[str, ...] = ("gwen", "miles"), seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(GanSpec(universes, width=4, blocks=1)).eval()


@pytest.mark.parametrize("size", [(32, 32), (40, 52), (17, 99), (16, 16), (9, 5)])
def test_generator_keeps_any_frame_size_in_range(size: tuple[int, int]) -> None:
    g = tiny()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = g(x, torch.eye(2))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1


def test_latent_is_a_sixteenth_per_side_and_universes_differ() -> None:
    g = tiny()
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        y0, z = g.stylise(x, torch.tensor([1.0, 0.0]))
        g.decoder.up[-1].norm.beta[1] += 0.5  # the second universe's own normalisation
        y1 = g(x, torch.tensor([0.0, 1.0]))
        half = g(x, torch.tensor([0.5, 0.5]))
    assert z.shape == (1, 32, 4, 3)
    assert (y0 - y1).abs().max() > 1e-3, "each universe has its own (γ, β)"
    assert not torch.allclose(half, y0) and not torch.allclose(half, y1)


def test_discriminator_has_five_scales_at_full_size_and_judges_by_the_samples_universe() -> None:
    torch.manual_seed(0)
    d = Discriminator(universes=3, width=2)
    assert len(d(torch.rand(1, 3, 256, 256), torch.tensor([0]))) == len(DISC_HEADS)
    x = torch.rand(2, 3, 64, 64)
    out = d(x, torch.tensor([0, 2]))
    assert [p.shape[1] for p in out] == [1, 1, 1] and out[0].shape[-2:] == (32, 32)  # 64 px: three scales
    with torch.no_grad():
        d.heads["0"][1].weight[1] += 1.0  # universe 1's head: neither sample reads it
    assert torch.equal(d(x, torch.tensor([0, 2]))[0], out[0])


def test_file_round_trip_and_damaged_or_foreign_files(tmp_path: Path) -> None:
    g = tiny()
    path = save_gan(GanModel(g, {"lr": 2e-4}, 7, {"warnings": []}), tmp_path / "m.safetensors")
    back = load_gan(path)
    x = torch.rand(1, 3, 40, 40)
    assert back.universes == ("gwen", "miles") and back.step == 7 and back.settings == {"lr": 2e-4}
    with torch.no_grad():
        assert torch.equal(back.net(x, torch.eye(2)[1]), g(x, torch.eye(2)[1]))
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    (tmp_path / "bad.safetensors").write_bytes(bytes(raw))
    with pytest.raises(InputError):
        load_gan(tmp_path / "bad.safetensors")
    with pytest.raises(InputError, match="no such"):
        load_gan(tmp_path / "none.safetensors")


def test_opens_as_a_frame_stylizer_and_exports_to_onnx_within_two_levels(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from styleverse.fast.export import export_onnx
    from styleverse.fast.open import StylizerSpec

    model = GanModel(tiny())
    path = save_gan(model, tmp_path / "m.safetensors")
    torch_stylizer = open_stylizer(StylizerSpec(str(path), mix="miles", precision="fp32", device="cpu"), FAST_KINDS)
    assert torch_stylizer.kind == "gan_model" and torch_stylizer.universes == ("gwen", "miles")
    export_onnx(load_gan(path), tmp_path / "m.onnx")  # type: ignore[arg-type]  # a fast network's interface
    onnx_stylizer = open_stylizer(StylizerSpec(str(tmp_path / "m.onnx"), mix="miles"), FAST_KINDS)
    assert onnx_stylizer.kind == "fast_onnx"
    for size in [(32, 32), (37, 50), (100, 24)]:  # the graph follows the frame's size
        x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(size[0]))
        a, b = torch_stylizer(x), onnx_stylizer(x)
        assert a.shape == b.shape == x.shape
        assert float((a - b).abs().max()) * 255 <= 2.0
    export_onnx(load_gan(path), tmp_path / "baked.onnx", mix="gwen", strength=0.5)  # type: ignore[arg-type]
    baked = open_stylizer(str(tmp_path / "baked.onnx"), FAST_KINDS)
    half = open_stylizer(StylizerSpec(str(path), mix="gwen", strength=0.5, precision="fp32", device="cpu"))
    x = torch.rand(1, 3, 48, 48)
    assert float((baked(x) - half(x)).abs().max()) * 255 <= 2.0
