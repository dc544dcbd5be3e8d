"""AdaIN: arbitrary style transfer in real time (Huang & Belongie 2017, "Arbitrary Style Transfer in
Real-time with Adaptive Instance Normalization").

A fixed VGG encoder ``f`` up to ``relu4_1`` (:mod:`styleverse.nn.vgg`, features by the paper's layer names),
adaptive instance normalisation (eq. 8)::

    AdaIN(x, y) = σ(y) · (x − μ(x)) / σ(x) + μ(y)      (μ, σ: per channel, over the spatial positions)

and a trained decoder ``g`` that mirrors the encoder (section 6.1): pooling layers become x2 nearest
upsampling, every convolution uses reflection padding, and there is no normalisation layer. The paper's
content–style trade-off (eq. 14) is ``T = g((1 − α) f(c) + α AdaIN(f(c), f(s)))``: α = 0 decodes the
content's own features. Any style is just a (μ, σ) pair at ``relu4_1`` (:class:`ChannelStats`), so a style
image, a weighted mix of images (the paper's interpolation, section 7.1) and a whole universe from a style
bank (:func:`styleverse.styles.bank.adain_stats`) all plug in the same way. Spatial control (section 7.1)
applies AdaIN region by region with each region's own content statistics (:func:`masked_adain`).

Departures from the paper: the encoder takes RGB in [0, 1] and normalises inside (styleverse's convention);
the decoder's output is not squashed during training (as in the paper) and is clamped to [0, 1] when applied.

File format (``.safetensors``): the decoder's state dict (the encoder is not stored: it is the fixed network
its identity names, loaded and checked by :func:`load_encoder`); metadata ``styleverse_kind`` =
``adain_decoder`` and ``adain`` = JSON ``{"format", "decoder": DecoderSpec, "encoder": BackboneInfo dict,
"encoder_layer", "style_layers", "settings", "step", "versions"}``. A distilled model (``adain distill``,
format 2) also holds its small encoder (:mod:`styleverse.fast.adain.student`): its tensors under
``encoder.`` and ``"student": StudentSpec`` in the JSON; ``encoder`` then names the VGG it was trained to
reproduce, whose style banks it takes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from styleverse.errors import ConfigError, InputError, WeightsError
from styleverse.fast.adain.student import StudentEncoder, StudentSpec
from styleverse.io.artifacts import ArtifactKind, read_artifact, write_artifact
from styleverse.nn.vgg import CONFIGS, WIDTHS, BackboneInfo, VGGFeatures, load_backbone
from styleverse.styles.targets import ChannelStats, channel_stats

ADAIN_KIND = "adain_decoder"
ADAIN_FORMAT = 2  # the newest this version reads; 1: a decoder alone, 2: with a student encoder
STUDENT_PREFIX = "encoder."  # the student encoder's tensors in a format-2 file
ENCODER_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # the paper's style loss layers (eq. 13)
EPS = 1e-5  # inside the square root of the content variance, as in the authors' code
MULTIPLE = 8  # three pooling stages before relu4_1: H and W must be multiples of 8 to come back unchanged
HINT = "train one with `styleverse adain train`"
ADAIN = ArtifactKind(ADAIN_KIND, "adain", "AdaIN model file", "a styleverse AdaIN decoder", HINT, ADAIN_FORMAT)


def _as_map(t: torch.Tensor) -> torch.Tensor:
    """(C,) or (N, C) statistics -> shapes that broadcast over (N, C, H, W)."""
    return t.reshape(*t.shape, 1, 1)


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """AdaIN (eq. 8) of features (N, C, H, W) to a style's channel mean and std, (C,) or (N, C); float32.

    The output's channel means are exactly ``style_mean`` and its (population) stds ``style_std`` up to the
    ``eps`` in σ(x) (a relative error of about eps / 2σ(x)²)."""
    mean, std = channel_stats(content, eps)
    x = content.float()
    return (x - _as_map(mean)) / _as_map(std) * _as_map(style_std.float()) + _as_map(style_mean.float())


def masked_adain(
    content: torch.Tensor, styles: Sequence[ChannelStats], masks: torch.Tensor, eps: float = EPS
) -> torch.Tensor:
    """Spatial control (section 7.1): region k of ``content`` (N, C, H, W), given by ``masks[:, k]``
    ((N or 1, K, H, W), values 0/1, one region per position), is normalised with its own channel mean and std
    and takes the statistics of ``styles[k]``."""
    if masks.shape[1] != len(styles):
        raise ConfigError(f"{masks.shape[1]} mask regions for {len(styles)} styles")
    x = content.float()
    out = torch.zeros_like(x)
    for k, st in enumerate(styles):
        m = masks[:, k : k + 1].to(x)
        n = m.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        mean = (x * m).sum(dim=(2, 3), keepdim=True) / n
        var = ((x - mean).pow(2) * m).sum(dim=(2, 3), keepdim=True) / n
        y = (x - mean) / (var + eps).sqrt() * _as_map(st.std.float()) + _as_map(st.mean.float())
        out = out + m * y
    return out


@dataclass(frozen=True)
class DecoderSpec:
    """The decoder's shape: it mirrors ``arch`` from ``relu4_1`` back to RGB. ``in_channels`` is the
    encoder's ``relu4_1`` width; ``width`` scales the decoder's own channels (1.0: the paper's 256/128/64)."""

    arch: str = "vgg19"
    in_channels: int = 512
    width: float = 1.0

    def validate(self) -> None:
        if self.arch not in CONFIGS:
            raise ConfigError(f"unknown architecture '{self.arch}'; choose one of {', '.join(CONFIGS)}")
        if not 1 <= self.in_channels <= 4096:
            raise ConfigError("the encoder's relu4_1 width must be between 1 and 4096 channels")
        if not 1 / 64 <= self.width <= 4:
            raise ConfigError("width must be between 1/64 and 4", setting="width")

    def channels(self) -> tuple[int, int, int]:
        """Decoder widths of the mirrored blocks 3, 2 and 1."""
        c1, c2, c3 = (max(1, round(w * self.width)) for w in WIDTHS[:3])
        return c3, c2, c1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecoderSpec:
        return cls(str(d["arch"]), int(d["in_channels"]), float(d["width"]))


def _conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
    return [*layers, nn.ReLU()] if relu else layers


class Decoder(nn.Module):
    """``g``: relu4_1 features -> RGB, the encoder mirrored (section 6.1; Huang's released decoder for VGG19:
    conv 512→256, up, 4 convs in block 3, up, 2 in block 2, up, 2 in block 1, the last one to 3 channels)."""

    def __init__(self, spec: DecoderSpec):
        super().__init__()
        spec.validate()
        self.spec = spec
        c3, c2, c1 = spec.channels()
        n = CONFIGS[spec.arch]
        layers = _conv(spec.in_channels, c3)  # mirrors conv4_1
        for convs, c, c_next in ((n[2], c3, c2), (n[1], c2, c1), (n[0], c1, 3)):
            layers.append(nn.Upsample(scale_factor=2.0, mode="nearest"))
            for _ in range(convs - 1):
                layers += _conv(c, c)
            layers += _conv(c, c_next, relu=c_next != 3)
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class AdaINNet(nn.Module):
    """Encoder (fixed, up to relu4_1) + AdaIN + decoder. ``forward(content, mean, std, alpha)`` is eq. 14 for
    a style given by its relu4_1 statistics; H and W must be multiples of :data:`MULTIPLE`."""

    def __init__(self, encoder: VGGFeatures | StudentEncoder, decoder: Decoder):
        super().__init__()
        if ENCODER_LAYER not in encoder.names:
            raise ConfigError(f"the AdaIN encoder must reach {ENCODER_LAYER}")
        self.encoder, self.decoder = encoder, decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """relu4_1 features of images (N, 3, H, W) in [0, 1]."""
        return self.encoder(x, [ENCODER_LAYER])[ENCODER_LAYER]

    def style_stats(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel mean and std (N, C) of the relu4_1 features of style images (N, 3, H, W)."""
        return channel_stats(self.encode(style))

    def forward(
        self, content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        f = self.encode(content)
        t = adain(f, mean, std)
        t = alpha * t + (1 - alpha) * f.float()
        return self.decoder(t.to(f.dtype))


@dataclass
class AdaINModel:
    """A loaded decoder with its encoder and everything its file records."""

    net: AdaINNet
    encoder: dict[str, Any] = field(default_factory=dict)  # BackboneInfo.to_dict()
    settings: dict[str, Any] = field(default_factory=dict)
    step: int = 0

    @property
    def spec(self) -> DecoderSpec:
        return self.net.decoder.spec

    @property
    def encoder_info(self) -> BackboneInfo:
        """The VGG this model's encoder is (or, for a student, was trained to reproduce)."""
        return BackboneInfo.from_dict(self.encoder)

    @property
    def student(self) -> StudentSpec | None:
        """The small encoder's shape for a distilled model, else None (the encoder is the VGG itself)."""
        enc = self.net.encoder
        return enc.spec if isinstance(enc, StudentEncoder) else None

    def metadata(self) -> dict[str, Any]:
        from styleverse.versions import versions

        student = {} if self.student is None else {"student": self.student.to_dict()}
        return {
            **student,
            "format": 1 if self.student is None else 2,  # a decoder alone stays readable by older versions
            "decoder": self.spec.to_dict(),
            "encoder": self.encoder,
            "encoder_layer": ENCODER_LAYER,
            "style_layers": list(STYLE_LAYERS),
            "settings": self.settings,
            "step": self.step,
            "versions": versions(),
        }


def load_encoder(info: Mapping[str, Any]) -> tuple[VGGFeatures, BackboneInfo]:
    """The fixed VGG (up to relu4_1) that a ``BackboneInfo.to_dict()`` names, checked to be that very network
    (a weights file must still have the recorded SHA-256); :class:`WeightsError` otherwise."""
    if info.get("source") not in ("random", "imagenet", "file", "classifier") or (
        info.get("source") in ("file", "classifier") and not info.get("path")
    ):
        raise WeightsError(f"unknown encoder source {info.get('source')!r}; the model file is damaged")
    r = BackboneInfo.from_dict(info)
    enc, got = load_backbone(r.weights, r.arch, r.pooling, seed=r.seed or 0, upto=ENCODER_LAYER, width=r.width)
    if got.identity != info.get("identity"):
        raise WeightsError(
            f"encoder {info.get('path') or r.weights} is not the network the decoder was trained with "
            f"({got.identity} now, {info.get('identity')} then); restore that file or retrain"
        )
    return enc, got


def save_adain(model: AdaINModel, path: str | os.PathLike[str]) -> Path:
    """Write the decoder and its metadata atomically (replaces ``path``; callers check outputs first)."""
    tensors = {k: v.detach().float() for k, v in model.net.decoder.state_dict().items()}
    if model.student is not None:
        tensors |= {STUDENT_PREFIX + k: v.detach().float() for k, v in model.net.encoder.state_dict().items()}
    return write_artifact(path, ADAIN, tensors, model.metadata())


def load_adain(path: str | os.PathLike[str], encoder: tuple[VGGFeatures, BackboneInfo] | None = None) -> AdaINModel:
    """Read a decoder file and build its encoder (``encoder`` given: use that one, e.g. a shared instance; a
    distilled model's own small encoder is always the one in its file).

    One-line :class:`InputError` for a missing, corrupt or foreign file; :class:`WeightsError` when the
    recorded encoder cannot be loaded or is not the network the decoder was trained with."""
    p = Path(path)
    tensors, meta = read_artifact(p, ADAIN)  # every tensor checked to be finite
    try:
        decoder = Decoder(DecoderSpec.from_dict(meta["decoder"]))
        decoder.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(STUDENT_PREFIX)})
        enc_info = dict(meta["encoder"])
        student = _student(meta, tensors)
    except Exception as e:
        raise InputError(f"{p}: AdaIN model file is damaged ({type(e).__name__}: {str(e)[:100]}); {HINT}") from None
    if student is not None:
        net = AdaINNet(student, decoder).eval().requires_grad_(False)
        return AdaINModel(net, enc_info, dict(meta.get("settings") or {}), int(meta.get("step", 0)))
    enc, info = encoder if encoder is not None else load_encoder(enc_info)
    if info.identity != enc_info.get("identity"):
        raise WeightsError(f"{p}: trained with encoder {enc_info.get('identity')}, given {info.identity}")
    if enc.channels(ENCODER_LAYER) != decoder.spec.in_channels:
        raise InputError(f"{p}: decoder takes {decoder.spec.in_channels} channels, its encoder gives another number")
    net = AdaINNet(enc, decoder).eval().requires_grad_(False)
    return AdaINModel(net, enc_info, dict(meta.get("settings") or {}), int(meta.get("step", 0)))


def _student(meta: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> StudentEncoder | None:
    """A distilled model's small encoder with its weights, or None for a decoder alone."""
    if "student" not in meta:
        return None
    student = StudentEncoder(StudentSpec.from_dict(meta["student"]))
    n = len(STUDENT_PREFIX)
    student.load_state_dict({k[n:]: v for k, v in tensors.items() if k.startswith(STUDENT_PREFIX)})
    return student


def mix_stats(styles: Sequence[ChannelStats], weights: Sequence[float] | None = None) -> ChannelStats:
    """Weighted mean of μ and of σ (weights normalised): the paper's style interpolation (section 7.1), which
    equals the same weighted mean of the AdaIN outputs because AdaIN is affine in (μ, σ)."""
    ws = [1.0] * len(styles) if weights is None else [float(w) for w in weights]
    if len(ws) != len(styles) or not styles:
        raise ConfigError(f"{len(ws)} weights for {len(styles)} styles; give one weight per style")
    if any(not (w >= 0 and w < float("inf")) for w in ws) or sum(ws) <= 0:
        raise ConfigError("style weights must be finite, >= 0 and not all zero")
    total = sum(ws)
    mean = sum((w / total) * s.mean.double() for w, s in zip(ws, styles, strict=True))
    std = sum((w / total) * s.std.double() for w, s in zip(ws, styles, strict=True))
    return ChannelStats(torch.as_tensor(mean).float(), torch.as_tensor(std).float())


def check_stats(stats: ChannelStats, model: AdaINModel, where: str) -> None:
    """:class:`InputError` when a style's statistics do not fit the decoder's encoder width."""
    c = model.spec.in_channels
    if stats.mean.shape != (c,) or stats.std.shape != (c,):
        raise InputError(f"{where}: has {stats.mean.numel()} channels at {ENCODER_LAYER}, this decoder takes {c}")


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (1, K, h, w) 0/1 region mask at another size, nearest neighbour (regions stay exclusive)."""
    return F.interpolate(mask.float(), size=size, mode="nearest")
