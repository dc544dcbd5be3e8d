"""The multi-universe transform network and its file format.

Architecture after Johnson et al. 2016 ("Perceptual Losses for Real-Time Style Transfer", supplementary
table 1): a 9x9 convolution, two stride-2 3x3 convolutions, ``blocks`` residual blocks, then two x2
nearest-neighbour upsamplings each followed by a 3x3 convolution (Odena et al. 2016: upsample + conv instead
of Johnson's transposed convolutions, against checkerboard artefacts) and a 9x9 convolution to RGB.
Reflection padding and instance normalisation (Ulyanov et al. 2016) as in Dumoulin et al. 2017 ("A Learned
Representation for Artistic Style"), whose *conditional* instance normalisation gives every normalisation
layer one (γ, β) pair per style: here one per universe. A mix of universes uses the weighted γ and β
(Dumoulin section 4: convex combinations interpolate between styles). The output is a sigmoid, so pixels
stay in [0, 1] as everywhere in styleverse (Johnson used a scaled tanh on 0..255).

Widths are Johnson's 32/64/128 for ``width=32``. ``separable`` residual blocks replace each 3x3 convolution
by a depthwise 3x3 and a pointwise 1x1 convolution (Howard et al. 2017, "MobileNets"): about 1/8 of the
multiply-adds of the blocks at width 32, for real time on a laptop CPU. The spatial size must be a
multiple of 4 (two stride-2 stages); :func:`styleverse.io.images.pad_to_multiple` and
:func:`styleverse.fast.apply.FastStylizer` take care of that.

File format (``.safetensors``): the network's state dict; metadata ``styleverse_kind = "fast_model"`` and
``fast`` = JSON ``{"format", "spec": FastSpec, "backbone", "style_layers", "content_layers", "settings",
"step", "versions"}`` so a file alone is enough to use it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from styleverse.errors import ConfigError, InputError
from styleverse.io.artifacts import ArtifactKind, read_network, write_network
from styleverse.nn.norm import CondInstanceNorm

FAST_KIND = "fast_model"
FAST_FORMAT = 1
FAST = ArtifactKind(FAST_KIND, "fast", "model file", "a styleverse fast model",
                    "train one with `styleverse fast train`", FAST_FORMAT)  # fmt: skip
MULTIPLE = 4  # two stride-2 stages
MIN_SIDE = 16  # reflection padding in the 4x-downsampled middle needs at least 4 px there


@dataclass(frozen=True)
class FastSpec:
    """What the network looks like: its universes (one CIN (γ, β) pair each), base width, depth and whether
    the residual blocks are depthwise-separable."""

    universes: tuple[str, ...]
    width: int = 32
    blocks: int = 5
    separable: bool = False

    def validate(self) -> None:
        if not self.universes:
            raise ConfigError("a fast model needs at least one universe (a style bank or style images)")
        if len(set(self.universes)) != len(self.universes):
            raise ConfigError(f"universe names must differ: {', '.join(self.universes)}")
        if not 1 <= self.width <= 512:
            raise ConfigError("width must be between 1 and 512 channels", setting="width")
        if not 0 <= self.blocks <= 32:
            raise ConfigError("blocks must be between 0 and 32", setting="blocks")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "universes": list(self.universes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FastSpec:
        universes = tuple(str(u) for u in d["universes"])
        return cls(universes, int(d["width"]), int(d["blocks"]), bool(d.get("separable", False)))


class ConvNorm(nn.Module):
    """Optional x2 nearest upsampling, reflection pad, convolution, conditional instance norm, optional ReLU.

    The convolution has no bias: instance normalisation subtracts it again, so its gradient is only rounding
    noise (which Adam would turn into steps of full size).
    """

    def __init__(
        self, c_in: int, c_out: int, k: int, styles: int, stride: int = 1, up: bool = False, relu: bool = True,
        separable: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.up, self.relu = up, relu
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv: nn.Module = nn.Conv2d(c_in, c_out, k, stride, bias=False)  # the norm's β is the bias
        if separable:  # depthwise k x k then pointwise 1x1 (MobileNets)
            depthwise = nn.Conv2d(c_in, c_in, k, stride, groups=c_in, bias=False)
            self.conv = nn.Sequential(depthwise, nn.Conv2d(c_in, c_out, 1, bias=False))
        self.norm = CondInstanceNorm(c_out, styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        y = self.norm(self.conv(self.pad(x)), w)
        return F.relu(y) if self.relu else y


class Residual(nn.Module):
    """Johnson's residual block: conv-norm-relu, conv-norm, plus the input (convolutions optionally separable)."""

    def __init__(self, c: int, styles: int, separable: bool = False):
        super().__init__()
        self.a = ConvNorm(c, c, 3, styles, separable=separable)
        self.b = ConvNorm(c, c, 3, styles, relu=False, separable=separable)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x, w), w)


class TransformNet(nn.Module):
    """Image (N,3,H,W) in [0,1] and universe weights (N,S) or (S,) -> stylised image in [0,1].

    H and W must be multiples of 4 (see module doc).
    """

    def __init__(self, spec: FastSpec):
        super().__init__()
        spec.validate()
        self.spec = spec
        s, c = len(spec.universes), spec.width
        self.down = nn.ModuleList(
            [ConvNorm(3, c, 9, s), ConvNorm(c, 2 * c, 3, s, stride=2), ConvNorm(2 * c, 4 * c, 3, s, stride=2)]
        )
        self.res = nn.ModuleList([Residual(4 * c, s, spec.separable) for _ in range(spec.blocks)])
        self.up = nn.ModuleList(
            [ConvNorm(4 * c, 2 * c, 3, s, up=True), ConvNorm(2 * c, c, 3, s, up=True), ConvNorm(c, 3, 9, s, relu=False)]
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in [*self.down, *self.res, *self.up]:
            h = layer(h, w)
        return torch.sigmoid(h)


class Blend(nn.Module):
    """``strength * net(x, w) + (1 - strength) * x``: the exported and applied graph (strength 0 = content)."""

    def __init__(self, net: TransformNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, w: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        return strength * self.net(x, w) + (1 - strength) * x


def check_size(h: int, w: int, where: str) -> None:
    """:class:`InputError` for images the network cannot take (short side under :data:`MIN_SIDE`)."""
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{where}: {w}x{h} px is too small; the network needs at least {MIN_SIDE} px on each side")


def mix_weights(universes: Sequence[str], mix: Mapping[str, float] | str | None) -> torch.Tensor:
    """Mixing weights (S,) summing to 1 from a universe name, ``{name: weight}`` or None (the first universe).

    Unknown names and negative, non-finite or all-zero weights are a one-line :class:`ConfigError`.
    """
    names = list(universes)
    if mix is None:
        mix = names[0]
    if isinstance(mix, str):
        mix = {mix: 1.0}
    unknown = [k for k in mix if k not in names]
    if unknown:
        raise ConfigError(f"unknown universe {', '.join(map(repr, unknown))}; this model has {', '.join(names)}")
    if any(not (v >= 0 and math.isfinite(v)) for v in mix.values()) or sum(mix.values()) <= 0:
        raise ConfigError("mix weights must be finite, >= 0 and not all zero", setting="mix")
    total = sum(mix.values())
    return torch.tensor([mix.get(n, 0.0) / total for n in names], dtype=torch.float32)


@dataclass
class FastModel:
    """A loaded network with everything its file records."""

    net: TransformNet
    backbone: dict[str, Any] = field(default_factory=dict)
    style_layers: dict[str, float] = field(default_factory=dict)
    content_layers: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    step: int = 0

    @property
    def universes(self) -> tuple[str, ...]:
        return self.net.spec.universes

    def metadata(self) -> dict[str, Any]:
        from styleverse.versions import versions

        return {
            "format": FAST_FORMAT,
            "spec": self.net.spec.to_dict(),
            "backbone": self.backbone,
            "style_layers": self.style_layers,
            "content_layers": list(self.content_layers),
            "settings": self.settings,
            "step": self.step,
            "versions": versions(),
        }


def save_model(model: FastModel, path: str | os.PathLike[str]) -> Path:
    """Write the network and its metadata atomically (replaces ``path``; callers check outputs first)."""
    return write_network(path, FAST, model.net, model.metadata())


def load_model(path: str | os.PathLike[str]) -> FastModel:
    """Read a fast model file; a one-line :class:`InputError` for a missing, corrupt or foreign file."""
    net, meta = read_network(path, FAST, lambda doc: TransformNet(FastSpec.from_dict(doc["spec"])))
    layers = {str(k): float(v) for k, v in (meta.get("style_layers") or {}).items()}
    content, settings = tuple(meta.get("content_layers") or ()), dict(meta.get("settings") or {})
    return FastModel(net, dict(meta.get("backbone") or {}), layers, content, settings, int(meta.get("step", 0)))
