"""AdaIN (Huang & Belongie 2017): the layer's statistics, α, style mixing and masks, the decoder file, style
banks' channel statistics, apply/export on the command line, torch vs onnxruntime. Tiny random networks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.images import make_image
from fixtures.images import noise_image as noise
from fixtures.networks import WIDTH, random_vgg
from fixtures.networks import tiny_adain as tiny_model
from styleverse.errors import ConfigError, InputError, WeightsError
from styleverse.fast.adain.apply import AdaINStylizer, Style, bank_style, image_style, load_mask
from styleverse.fast.adain.model import (
    ENCODER_LAYER,
    Decoder,
    DecoderSpec,
    adain,
    load_adain,
    masked_adain,
    mix_stats,
    save_adain,
)
from styleverse.io.images import load_tensor
from styleverse.nn.features import build_model
from styleverse.styles.bank import adain_stats, bank_targets, build_bank, load_bank, save_bank
from styleverse.styles.resume import BankCheckpoint, BankInterrupted
from styleverse.styles.targets import ChannelStats, RunningSums, StyleImage, channel_stats

CPU = torch.device("cpu")


def stats(c: int, seed: int) -> ChannelStats:
    g = torch.Generator().manual_seed(seed)
    return ChannelStats(torch.randn(c, generator=g), torch.rand(c, generator=g) + 0.5)


# -- the layer ------------------------------------------------------------------------------------------


def test_adain_output_has_exactly_the_style_channel_mean_and_std() -> None:
    x = torch.randn(2, 8, 6, 9) * 3 + 1
    s = stats(8, 1)
    mean, std = channel_stats(adain(x, s.mean, s.std))
    torch.testing.assert_close(mean, s.mean.expand(2, 8), atol=1e-5, rtol=0)
    torch.testing.assert_close(std, s.std.expand(2, 8), atol=0, rtol=1e-4)
    per_sample = torch.stack([stats(8, 2).mean, stats(8, 3).mean]), torch.stack([stats(8, 2).std, stats(8, 3).std])
    torch.testing.assert_close(channel_stats(adain(x, *per_sample))[1], per_sample[1], atol=0, rtol=1e-4)
    assert not torch.allclose(channel_stats(x)[1], s.std.expand(2, 8), rtol=0.1)  # the input's were different


def test_masked_adain_gives_each_region_its_own_style() -> None:
    x = torch.randn(1, 4, 8, 10) * 2
    a, b = stats(4, 4), stats(4, 5)
    left = torch.zeros(1, 1, 8, 10)
    left[..., :6] = 1
    y = masked_adain(x, [a, b], torch.cat([left, 1 - left], 1))
    for region, st in ((y[..., :6], a), (y[..., 6:], b)):
        mean, std = channel_stats(region)
        torch.testing.assert_close(mean[0], st.mean, atol=1e-5, rtol=0)
        torch.testing.assert_close(std[0], st.std, atol=0, rtol=1e-4)


def test_mixing_styles_is_the_papers_interpolation_of_outputs() -> None:
    """AdaIN is affine in (μ, σ): AdaIN with the weighted mean statistics = weighted mean of the outputs."""
    x = torch.randn(1, 6, 5, 5)
    a, b = stats(6, 6), stats(6, 7)
    mixed = mix_stats([a, b], [3.0, 1.0])
    want = 0.75 * adain(x, a.mean, a.std) + 0.25 * adain(x, b.mean, b.std)
    torch.testing.assert_close(adain(x, mixed.mean, mixed.std), want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="one weight per style"):
        mix_stats([a, b], [1.0])


def test_decoder_mirrors_the_encoder() -> None:
    net = tiny_model().net
    convs = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 4 + 2 + 2  # conv4_1, block 3 (4 convs in VGG19), blocks 2 and 1
    assert convs[0].in_channels == 32 and convs[-1].out_channels == 3
    assert sum(isinstance(m, torch.nn.Upsample) for m in net.decoder.modules()) == 3
    assert not any(isinstance(m, torch.nn.ConvTranspose2d | torch.nn.InstanceNorm2d) for m in net.decoder.modules())
    assert len([m for m in Decoder(DecoderSpec("vgg16", 32, WIDTH)).modules() if isinstance(m, torch.nn.Conv2d)]) == 8


# -- the stylizer ---------------------------------------------------------------------------------------


def test_alpha_zero_gives_the_decoded_content_features_and_any_frame_size_works() -> None:
    model = tiny_model()
    frame = torch.rand(1, 3, 32, 40)
    style = Style("s", stats(32, 8))
    plain = AdaINStylizer(model, [style], alpha=0.0, precision="fp32")(frame)
    with torch.no_grad():
        want = model.net.decoder(model.net.encode(frame)).clamp(0, 1)
    torch.testing.assert_close(plain, want, atol=1e-6, rtol=1e-5)
    full = AdaINStylizer(model, [style], alpha=1.0, precision="fp32")(frame)
    assert not torch.allclose(full, plain, atol=1e-5)
    odd = AdaINStylizer(model, [style], alpha=0.5, precision="fp32")(torch.rand(1, 3, 27, 35))
    assert odd.shape == (1, 3, 27, 35) and float(odd.min()) >= 0 and float(odd.max()) <= 1


def test_stylizer_bf16_path_stays_close_to_fp32() -> None:
    model = tiny_model()
    frame, style = torch.rand(1, 3, 32, 32), Style("s", stats(32, 9))
    a = AdaINStylizer(model, [style], precision="fp32")(frame)
    bf16 = AdaINStylizer(model, [style], precision="bf16")
    b = bf16(frame)
    assert bf16.dtype == torch.bfloat16 and next(model.net.decoder.parameters()).dtype == torch.float32
    assert b.dtype == torch.float32 and not torch.equal(a, b)  # really computed in bf16 ...
    assert float((a - b).norm() / a.norm()) < 0.02  # ... and close to float32


def test_image_style_of_a_folder_is_the_mean_of_its_images(tmp_path: Path) -> None:
    model = tiny_model()
    folder = tmp_path / "set"
    paths = [noise(folder / f"{i}.png", i, (32, 32)) for i in range(3)]
    got = image_style(model, folder, 32, CPU)
    one = [image_style(model, p, 32, CPU).stats for p in paths]
    torch.testing.assert_close(got.stats.mean, torch.stack([s.mean for s in one]).mean(0))
    torch.testing.assert_close(got.stats.std, torch.stack([s.std for s in one]).mean(0))
    with torch.no_grad():
        direct = channel_stats(model.net.encode(load_tensor(paths[0], 32)))
    torch.testing.assert_close(one[0].std, direct[1][0])


def test_mask_must_be_black_and_white_and_needs_two_styles(tmp_path: Path) -> None:
    model = tiny_model()
    bw = np.zeros((32, 40), np.uint8)
    bw[:, 20:] = 255
    Image.fromarray(bw).save(tmp_path / "mask.png")
    mask = load_mask(tmp_path / "mask.png")
    assert mask.shape == (1, 2, 32, 40) and float(mask[0, 0, :, 20:].min()) == 1
    a, b = Style("a", stats(32, 10)), Style("b", stats(32, 11))
    out = AdaINStylizer(model, [a, b], mask=mask, precision="fp32")(torch.rand(1, 3, 32, 40))
    assert out.shape == (1, 3, 32, 40)
    make_image(tmp_path / "photo.png", (40, 32), 3)
    with pytest.raises(InputError, match="not a black-and-white mask"):
        load_mask(tmp_path / "photo.png")
    with pytest.raises(ConfigError, match="exactly two styles"):
        AdaINStylizer(model, [a], mask=mask)
    with pytest.raises(InputError, match="shape"):
        AdaINStylizer(model, [a, b], mask=mask)(torch.rand(1, 3, 40, 40))


# -- the decoder file ------------------------------------------------------------------------------------


def test_decoder_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = tiny_model(seed=3)
    path = save_adain(model, tmp_path / "dec.safetensors")
    again = load_adain(path)
    assert again.spec == model.spec and again.step == 7 and again.encoder["identity"] == model.encoder["identity"]
    frame, style = torch.rand(1, 3, 32, 32), Style("s", stats(32, 12))
    torch.testing.assert_close(AdaINStylizer(again, [style])(frame), AdaINStylizer(model, [style])(frame))
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 10)
    for name, needle in (("plain", "not a styleverse AdaIN decoder"), ("junk", "not a readable"), ("no", "no such")):
        with pytest.raises(InputError, match=needle) as e:
            load_adain(tmp_path / f"{name}.safetensors")
        assert "\n" not in str(e.value)
    moved = replace(model, encoder={**model.encoder, "seed": 5})
    save_adain(moved, tmp_path / "moved.safetensors")
    with pytest.raises(WeightsError, match="not the network the decoder was trained with"):
        load_adain(tmp_path / "moved.safetensors")


# -- style banks: channel statistics ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank_net():
    return random_vgg()


def test_bank_stores_the_weighted_mean_of_per_image_channel_stats(bank_net, tmp_path: Path) -> None:
    model, info = bank_net
    images = [StyleImage(noise(tmp_path / f"b{i}.png", 20 + i, (32, 24 + 4 * i)), w) for i, w in enumerate((1, 2, 5))]
    bank = build_bank(model, info, images, size=32)
    assert bank.stats is not None and set(bank.stats) == set(bank.layers)
    with torch.no_grad():
        feats = [model.backbone(load_tensor(s.path, 32), bank.layers) for s in images]
    w = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)
    for k in bank.layers:
        per = [channel_stats(f[k]) for f in feats]
        mean = (w[:, None] * torch.stack([m[0].double() for m, _ in per])).sum(0) / w.sum()
        std = (w[:, None] * torch.stack([s[0].double() for _, s in per])).sum(0) / w.sum()
        torch.testing.assert_close(bank.stats[k].mean.double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bank.stats[k].std.double(), std, rtol=1e-5, atol=1e-6)
    saved = load_bank(save_bank(bank, tmp_path / "u.style.safetensors"))
    assert saved.stats is not None
    assert all(torch.equal(saved.stats[k].std, bank.stats[k].std) for k in bank.layers)
    got = adain_stats(tmp_path / "u.style.safetensors", info)
    assert torch.equal(got.mean, bank.stats[ENCODER_LAYER].mean)


def test_bank_resume_keeps_channel_stats_bit_identical(bank_net, tmp_path: Path) -> None:
    model, info = bank_net
    images = [StyleImage(noise(tmp_path / f"r{i}.png", 40 + i, (24, 20 + 2 * i)), 0.5 + i) for i in range(5)]
    full = build_bank(model, info, images, size=24)
    ckpt = BankCheckpoint(tmp_path / "b.resume.safetensors", every=0)

    def stop(ev) -> None:
        if ev.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(BankInterrupted):
        build_bank(model, info, images, 24, callback=stop, checkpoint=ckpt)
    resumed = build_bank(model, info, images, 24, checkpoint=replace(ckpt, resume=True))
    assert full.stats is not None and resumed.stats is not None
    for k in full.layers:
        assert torch.equal(full.stats[k].mean, resumed.stats[k].mean), k
        assert torch.equal(full.stats[k].std, resumed.stats[k].std), k


def test_running_sums_keep_stats_only_while_every_image_brings_them() -> None:
    g = {"relu1_1": torch.eye(2)}
    st = {"relu1_1": ChannelStats(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0]))}
    both = RunningSums().add(g, 1.0, st).add(g, 3.0, {"relu1_1": ChannelStats(torch.zeros(2), torch.ones(2))})
    mixed = both.stats()
    assert mixed is not None
    torch.testing.assert_close(mixed["relu1_1"].mean, torch.tensor([0.25, 0.5]))
    torch.testing.assert_close(mixed["relu1_1"].std, torch.tensor([1.5, 2.0]))
    assert RunningSums().add(g, 1.0).add(g, 1.0, st).stats() is None  # e.g. resumed from an older state file


def old_bank(bank_net, tmp_path: Path) -> Path:
    """A bank file as styleverse wrote them before AdaIN: no channel statistics."""
    model, info = bank_net
    bank = build_bank(model, info, [StyleImage(noise(tmp_path / "o.png", 3))], size=32)
    bank.settings.update(inputs=[str(tmp_path / "o.png")], label=None)
    return save_bank(replace(bank, stats=None), tmp_path / "old.style.safetensors")


def test_old_bank_still_serves_gatys_and_says_how_to_rebuild_for_adain(cli, bank_net, tmp_path: Path) -> None:
    path = old_bank(bank_net, tmp_path)
    model, info = bank_net
    new = save_bank(build_bank(model, info, [StyleImage(tmp_path / "o.png")], size=32), tmp_path / "new.safetensors")
    code, out, err = cli("styles", "info", path, new)
    assert code == 0, err
    assert "none (made before" in out and "channel mean and std" in out
    assert load_bank(path).stats is None
    assert set(bank_targets(path, info, ["relu1_1", "relu4_1"])) == {"relu1_1", "relu4_1"}
    with pytest.raises(InputError, match=r"styleverse styles bank .*o\.png -o .*old\.style\.safetensors") as e:
        adain_stats(path, info)
    assert "--backbone random --seed 0" in str(e.value) and "\n" not in str(e.value)


def test_bank_style_equals_the_style_of_its_images(bank_net, tmp_path: Path) -> None:
    model, info = bank_net
    paths = [noise(tmp_path / "set" / f"{i}.png", 60 + i, (32, 32)) for i in range(3)]
    path = save_bank(build_bank(model, info, [StyleImage(p) for p in paths], size=32), tmp_path / "u.safetensors")
    ada = tiny_model()
    from_bank, from_images = bank_style(ada, path), image_style(ada, tmp_path / "set", 32, CPU)
    torch.testing.assert_close(from_bank.stats.mean, from_images.stats.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(from_bank.stats.std, from_images.stats.std, rtol=1e-5, atol=1e-6)
    other, _ = build_model("random", width=WIDTH, seed=1)
    made_elsewhere = build_bank(other, replace(info, seed=1), [StyleImage(paths[0])], size=32)
    save_bank(made_elsewhere, tmp_path / "other.safetensors")
    with pytest.raises(ConfigError, match="backbone"):
        bank_style(ada, tmp_path / "other.safetensors")


# -- command line ----------------------------------------------------------------------------------------


@pytest.fixture
def decoder_file(tmp_path: Path) -> Path:
    return save_adain(tiny_model(), tmp_path / "dec.safetensors")


def test_cli_apply_images_folders_banks_and_masks(cli, decoder_file: Path, bank_net, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        make_image(photos / f"p{i}.png", (40, 32), i)
    s1, s2 = noise(tmp_path / "s1.png", 1), noise(tmp_path / "s2.png", 2)
    small = ["--size", "40", "--style-size", "32", "--precision", "fp32", "--quiet"]
    code, _, err = cli("adain", "apply", decoder_file, photos, "-o", tmp_path / "out", "--style", s1, s2,
                       "--style-weights", "1", "3", "--alpha", "0.8", *small)  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png"]
    assert Image.open(tmp_path / "out" / "p0.png").size == (40, 32)
    model, info = bank_net
    bank = save_bank(build_bank(model, info, [StyleImage(s1)], size=32), tmp_path / "u.style.safetensors")
    code, _, err = cli("adain", "apply", decoder_file, photos / "p0.png", "-o", tmp_path / "b.png", "--style-bank",
                       bank, "--preserve-color", "luminance", *small)  # fmt: skip
    assert code == 0 and (tmp_path / "b.png").is_file(), err
    bw = np.zeros((32, 40), np.uint8)
    bw[:16] = 255
    Image.fromarray(bw).save(tmp_path / "mask.png")
    code, _, err = cli("adain", "apply", decoder_file, photos / "p1.png", "-o", tmp_path / "m.png", "--style", s1, s2,
                       "--mask", tmp_path / "mask.png", "--preserve-color", "histogram", *small)  # fmt: skip
    assert code == 0 and (tmp_path / "m.png").is_file(), err


def test_cli_bad_inputs_are_one_line_exit_2(cli, decoder_file: Path, bank_net, tmp_path: Path) -> None:
    photo, s1 = make_image(tmp_path / "p.png", (40, 32), 1), noise(tmp_path / "s1.png", 1)
    old = old_bank(bank_net, tmp_path)
    make_image(tmp_path / "greymask.png", (40, 32), 5)
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "square.png")
    base = ["adain", "apply", decoder_file, photo, "-o", tmp_path / "x.png", "--size", "40", "--quiet"]
    cases = {
        "not a styleverse AdaIN decoder": ["adain", "apply", old, photo, "-o", tmp_path / "x.png", "--style", s1],
        "rebuild it with: styleverse styles bank": [*base, "--style-bank", old],
        "not a black-and-white mask": [*base, "--style", s1, s1, "--mask", tmp_path / "greymask.png"],
        "exactly two styles": [*base, "--style", s1, "--mask", tmp_path / "square.png"],
        "give a mask of the content's shape": [*base, "--style", s1, s1, "--mask", tmp_path / "square.png"],
        "histogram recolours style images": [*base, "--style-bank", old, "--preserve-color", "histogram"],
        "give a style": base,
    }
    for needle, args in cases.items():
        code, _, err = cli(*args)
        assert code == 2, (needle, err)
        assert needle in one_error_line(err), err
    assert not (tmp_path / "x.png").exists()


# -- ONNX ------------------------------------------------------------------------------------------------


def test_onnx_matches_torch(cli, decoder_file: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from styleverse.fast.adain.export import export_onnx

    model = load_adain(decoder_file)
    content, style = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        mean, std = model.net.style_stats(style)
        want = model.net(content, mean, std, 0.7).clamp(0, 1).numpy()
    any_style = ort.InferenceSession(str(export_onnx(model, tmp_path / "any.onnx")), providers=["CPUExecutionProvider"])
    alpha = np.array([0.7], np.float32)
    (got,) = any_style.run(None, {"content": content.numpy(), "style": style.numpy(), "alpha": alpha})
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-3
    fixed_path = export_onnx(model, tmp_path / "fixed.onnx", ChannelStats(mean[0], std[0]))
    fixed = ort.InferenceSession(str(fixed_path), providers=["CPUExecutionProvider"])
    (got2,) = fixed.run(None, {"content": content.numpy(), "alpha": alpha})
    assert np.abs(got2 - want).max() < 1e-3
    s1 = noise(tmp_path / "s1.png", 1)
    code, out, err = cli("adain", "export", decoder_file, "-o", tmp_path / "cli.onnx", "--style", s1)
    assert code == 0 and "style baked in" in out and (tmp_path / "cli.onnx").is_file(), err
    code, _, err = cli("adain", "export", decoder_file, "-o", tmp_path / "cli.onnx")
    assert code == 2 and "--overwrite" in one_error_line(err)


def test_an_exported_onnx_opens_as_a_stylizer_and_matches_the_decoder(cli, decoder_file: Path, tmp_path: Path) -> None:
    """An ``adain export`` file opens through the one opener (so ``adain apply``, ``video --adain`` and the app
    take it): any-style with one style image, baked-in without one; within 2 levels of the torch decoder at
    float32 on a frame size that is no multiple of 8; a bank or two styles given to an any-style file, or a
    style to a baked one, are one-line errors."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from styleverse.fast.open import StylizerSpec, open_stylizer

    s1 = noise(tmp_path / "s1.png", 1)
    frame = load_tensor(make_image(tmp_path / "f.png", (45, 30), 3))
    assert cli("adain", "export", decoder_file, "-o", tmp_path / "any.onnx")[0] == 0
    assert cli("adain", "export", decoder_file, "-o", tmp_path / "fixed.onnx", "--style", s1)[0] == 0
    for alpha, colour in ((1.0, "none"), (0.6, "luminance"), (1.0, "histogram")):
        torch_spec = StylizerSpec(str(decoder_file), styles=(str(s1),), alpha=alpha, preserve_color=colour,
                                  precision="fp32", device="cpu")  # fmt: skip
        want = open_stylizer(torch_spec)(frame)
        got = open_stylizer(replace(torch_spec, model=str(tmp_path / "any.onnx")))(frame)
        assert got.shape == frame.shape and float((got - want).abs().max()) * 255 <= 2, (alpha, colour)
    baked = open_stylizer(StylizerSpec(str(tmp_path / "fixed.onnx"), precision="fp32", device="cpu"))(frame)
    want = open_stylizer(StylizerSpec(str(decoder_file), styles=(str(s1),), precision="fp32", device="cpu"))(frame)
    assert float((baked - want).abs().max()) * 255 <= 2
    bank = tmp_path / "b.style.safetensors"
    bank.write_bytes(b"")  # refused on its settings before the file is read
    for path, kw in (
        ("any.onnx", {"banks": (str(bank),)}),
        ("any.onnx", {"styles": (str(s1), str(s1))}),
        ("any.onnx", {}),
        ("fixed.onnx", {"styles": (str(s1),)}),
    ):
        with pytest.raises(ConfigError) as e:
            open_stylizer(StylizerSpec(str(tmp_path / path), precision="fp32", device="cpu", **kw))(frame)
        assert "\n" not in str(e.value) and str(tmp_path) not in str(e.value).replace(str(tmp_path / path), "")
    photo = make_image(tmp_path / "p.png")
    code, _, err = cli("adain", "apply", tmp_path / "any.onnx", photo, "--style", s1, "-o", tmp_path / "out.png")
    assert code == 0 and (tmp_path / "out.png").is_file() and photo.is_file(), err
