"""Gram matrices, losses, layer selection and style averaging: known values and gradients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixtures.images import make_image
from styleverse.errors import ConfigError
from styleverse.nn.features import DEFAULT_STYLE_LAYERS, StyleContentModel, parse_layer_weights
from styleverse.nn.losses import content_loss, gram, style_loss, tv_loss
from styleverse.nn.vgg import load_backbone
from styleverse.styles.targets import StyleSet, expand_styles, image_grams, weighted_mean


def test_gram_of_known_tensor() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / (2 * 1 * 2)
    assert torch.allclose(gram(f)[0], expected)


def test_gram_is_size_independent_and_batched() -> None:
    f = torch.rand(1, 4, 5, 6)
    tiled = f.repeat(1, 1, 2, 3)  # same statistics, 6x the pixels
    assert torch.allclose(gram(tiled), gram(f), atol=1e-6)
    batch = torch.rand(3, 4, 5, 6)
    assert torch.allclose(gram(batch)[1], gram(batch[1:2])[0])
    assert gram(f.bfloat16()).dtype == torch.float32


def test_gram_gradient_matches_finite_differences() -> None:
    f = torch.rand(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: gram(x).double(), (f,))


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_gram_stays_float32_under_bf16_autocast_in_chunks(
    fmt: torch.memory_format, monkeypatch: pytest.MonkeyPatch
) -> None:
    import styleverse.nn.losses as losses

    monkeypatch.setattr(losses, "_CHUNK", 8 * 7)  # several chunks of positions
    torch.manual_seed(0)
    half = torch.randn(2, 8, 6, 5).bfloat16().contiguous(memory_format=fmt).requires_grad_(True)
    full = half.detach().float().requires_grad_(True)  # the same values, float32 all the way
    weights = torch.randn(2, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g_half = gram(half)
        g_auto = gram(full)  # float32 features under autocast: bmm must not drop to bf16 either
    g_full = gram(full)
    assert g_half.dtype == g_auto.dtype == torch.float32
    assert torch.allclose(g_half, g_full, rtol=1e-5, atol=1e-7) and torch.allclose(g_auto, g_full, rtol=1e-5, atol=1e-7)
    (g_half * weights).sum().backward()
    (g_full * weights).sum().backward()
    assert half.grad is not None and full.grad is not None
    assert half.grad.dtype == torch.bfloat16 and half.grad.is_contiguous(memory_format=fmt)
    assert torch.allclose(half.grad.float(), full.grad, rtol=1e-2, atol=1e-3)  # bf16 rounding of the result only


def test_losses_zero_at_target_and_positive_elsewhere() -> None:
    g = {"a": torch.rand(1, 4, 4)}
    assert style_loss(g, g, {"a": 1.0}) == 0
    assert style_loss(g, {"a": g["a"] + 0.1}, {"a": 1.0}) == pytest.approx(0.01, rel=1e-4)
    feats = {"c": torch.rand(1, 2, 3, 3)}
    assert content_loss(feats, feats) == 0
    flat = torch.ones(1, 3, 8, 8)
    assert tv_loss(flat) == 0 and tv_loss(torch.rand(1, 3, 8, 8)) > 0


def test_layer_weights_parse_as_given_so_adding_a_layer_keeps_the_others() -> None:
    assert parse_layer_weights(["relu1_1", "relu2_1:3"]) == {"relu1_1": 1.0, "relu2_1": 3.0}
    assert parse_layer_weights(["relu1_1", "relu2_1:3", "relu3_1"])["relu2_1"] == 3.0
    assert parse_layer_weights(None) == dict.fromkeys(DEFAULT_STYLE_LAYERS, 1.0)
    for bad in (["relu1_1:x"], ["relu1_1:-1"], [], ["relu1_1:0"], ["relu1_1:nan"]):
        with pytest.raises(ConfigError):
            parse_layer_weights(bad)


def test_style_content_model_returns_grams_and_features() -> None:
    vgg, _ = load_backbone("random", width=1 / 16)
    model = StyleContentModel(vgg, ["relu1_1", "relu3_1:2"], ["relu2_2"])
    rep = model(torch.rand(2, 3, 32, 32))
    assert set(rep.grams) == {"relu1_1", "relu3_1"} and rep.grams["relu3_1"].shape == (2, 16, 16)
    assert rep.content["relu2_2"].shape == (2, 8, 16, 16)
    assert model.style_weights == {"relu1_1": 1.0, "relu3_1": 2.0}
    with pytest.raises(ConfigError, match="unknown layer"):
        StyleContentModel(vgg, ["relu9_9"])


def test_weighted_mean_equals_hand_computation() -> None:
    a, b = {"x": torch.rand(3, 3)}, {"x": torch.rand(3, 3)}
    mean = weighted_mean([(a, 3.0), (b, 1.0)])
    assert torch.allclose(mean["x"], (3 * a["x"] + b["x"]) / 4, atol=1e-6)


def test_style_set_averages_images_and_shares_folder_weight(tmp_path: Path) -> None:
    folder = tmp_path / "universe"
    folder.mkdir()
    f1, f2 = make_image(folder / "1.png", seed=1), make_image(folder / "2.png", seed=2)
    single = make_image(tmp_path / "s.png", seed=3)
    items = expand_styles([folder, single], [2.0, 1.0])
    assert [(i.path.name, i.weight) for i in items] == [("1.png", 1.0), ("2.png", 1.0), ("s.png", 1.0)]
    with pytest.raises(ConfigError, match="one per style"):
        expand_styles([folder, single], [1.0])
    vgg, _ = load_backbone("random", width=1 / 16)
    model = StyleContentModel(vgg, ["relu1_1", "relu2_1"])
    dev = torch.device("cpu")
    targets = StyleSet(items).targets(model, 32, dev)
    from styleverse.io.images import load_tensor

    per = [image_grams(model, load_tensor(p, 32), dev) for p in (f1, f2, single)]
    expected = sum(g["relu2_1"] for g in per) / 3
    assert torch.allclose(targets["relu2_1"], expected, atol=1e-6)
    assert not torch.allclose(targets["relu2_1"], per[0]["relu2_1"])


def test_checkpointed_blocks_recompute_in_backward_and_give_the_same_gradient() -> None:
    vgg, _ = load_backbone("random", width=1 / 16)
    model = StyleContentModel(vgg, ["relu1_1", "relu2_1", "relu3_1"], ["relu2_2"])
    calls: list[int] = []
    vgg.features[0].register_forward_hook(lambda *_: calls.append(1))
    x = torch.rand(1, 3, 32, 32)

    def gradient(pixels: int) -> torch.Tensor:
        model.checkpoint_pixels = pixels
        xi = x.clone().requires_grad_(True)
        rep = model(xi)
        loss = sum(g.square().sum() for g in rep.grams.values()) + rep.content["relu2_2"].square().mean()
        loss.backward()
        assert xi.grad is not None
        return xi.grad

    plain = gradient(10**9)
    assert len(calls) == 1
    checkpointed = gradient(0)
    assert len(calls) == 3  # conv1_1 ran again during backward
    assert torch.allclose(checkpointed, plain, rtol=1e-5, atol=1e-8)


def test_first_conv_stays_float32_under_bf16_autocast() -> None:
    """conv1_1 sees the pixels; in bf16 a move smaller than about one 8-bit level would not reach the loss."""
    vgg, _ = load_backbone("random", width=1 / 16)
    x = torch.rand(1, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vgg(x, ["relu1_1", "relu1_2"])
        nudged = vgg(x + 1e-4, ["relu1_1"])
    assert out["relu1_1"].dtype == torch.float32 and out["relu1_2"].dtype == torch.bfloat16
    assert not torch.equal(nudged["relu1_1"], out["relu1_1"])  # a sub-level change still shows
    assert torch.allclose(out["relu1_1"], vgg(x, ["relu1_1"])["relu1_1"], atol=1e-6)


def test_backbone_info_from_dict_inverts_to_dict() -> None:
    from styleverse.nn.vgg import BackboneInfo

    for info in (
        BackboneInfo(),
        BackboneInfo("vgg16", "random", "avg", seed=7, width=0.0625),
        BackboneInfo("vgg19", "file", "max", path="w.safetensors", sha256="ab" * 32),
    ):
        assert BackboneInfo.from_dict(info.to_dict()) == info
        assert BackboneInfo.from_dict(json.loads(json.dumps(info.to_dict()))).identity == info.identity
    assert BackboneInfo.from_dict({"source": "random", "seed": None, "extra": 1}) == BackboneInfo(source="random")


def test_feature_spec_resolves_by_one_rule() -> None:
    """No backbone: what the inputs record (all of arch, pooling, seed and width), else ImageNet; a given one as
    given, refused early when a bank that binds the run records another network."""
    from styleverse.nn.features import FeatureSpec
    from styleverse.nn.vgg import BackboneInfo

    bank = BackboneInfo("vgg16", "random", "avg", seed=7, width=0.0625)
    got = FeatureSpec(style_layers=("relu1_1",)).resolve(bank)
    assert (got.backbone, got.arch, got.pooling, got.seed, got.width) == ("random", "vgg16", "avg", 7, 0.0625)
    assert got.style_layers == ("relu1_1",)
    assert FeatureSpec().resolve(None).backbone == "imagenet"
    assert FeatureSpec(backbone="w.pth").resolve(bank) == FeatureSpec(backbone="w.pth")  # a file: checked once read
    filed = BackboneInfo(source="file", path="w.pth", sha256="cd" * 32)
    assert FeatureSpec().resolve(filed).backbone == "w.pth"
    with pytest.raises(ConfigError, match=r"made with backbone vgg16/avg/random.*pass --backbone random --seed 7"):
        FeatureSpec("random", arch="vgg16", pooling="avg").resolve(bank)
    with pytest.raises(ConfigError, match="made with avg pooling, this run uses max"):
        FeatureSpec("imagenet").resolve(bank)
    same = FeatureSpec("random", arch="vgg16", pooling="avg", seed=7, width=0.0625)
    assert same.resolve(bank) == same
    assert FeatureSpec("imagenet").resolve(bank, binding=False).backbone == "imagenet"  # a sidecar binds nothing
    assert same.model_args()["width"] == 0.0625
    with pytest.raises(ValueError):
        FeatureSpec().model_args()
