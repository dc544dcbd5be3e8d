"""A small encoder that stands in for AdaIN's VGG (up to relu4_1) at a fraction of its cost.

VGG19 up to relu4_1 is about 63 G multiply-adds at 512 px (0.39 s of a 0.8 s AdaIN frame on this project's
2-core CPU). The student keeps what AdaIN and its style loss use — features at relu1_1, relu2_1, relu3_1 and
relu4_1, at VGG's resolutions (1, 1/2, 1/4, 1/8) and channel counts — and spends far less on them: a 3x3
convolution of ``width`` channels at full resolution, then per stage a 2x2 max pool (VGG's downsampling) and
``blocks`` depthwise-separable 3x3 convolutions (Howard et al. 2017, "MobileNets") of 2, 4 and 8 x ``width``
channels, each stage ending in a 1x1 projection (+ ReLU, as VGG's features are non-negative) to the teacher's
channels at that layer. About 1 G multiply-adds at 512 px for ``width`` 32 and 2 blocks. The projections of
layers a call does not ask for are not computed, and the network stops after the deepest one asked for (as
:class:`styleverse.nn.vgg.VGGFeatures` does), so stylising a frame runs the trunk and the relu4_1 head only.

It is trained to reproduce the teacher's features (``adain distill``, :mod:`styleverse.fast.adain.distill`);
it takes RGB in [0, 1] and normalises inside, as the VGG it replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from styleverse.errors import ConfigError
from styleverse.nn.vgg import ImageNetNormalize

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # AdaIN's style layers, the last one its encoder's


@dataclass(frozen=True)
class StudentSpec:
    """The student's shape: ``width`` channels at full resolution (2x, 4x, 8x it in the later stages),
    ``blocks`` separable convolutions per later stage, and ``channels`` the teacher's at :data:`LAYERS`."""

    width: int = 32
    blocks: int = 2
    channels: tuple[int, int, int, int] = (64, 128, 256, 512)

    def validate(self) -> None:
        if not 1 <= self.width <= 256:
            raise ConfigError("the student's width must be between 1 and 256 channels", setting="width")
        if not 1 <= self.blocks <= 8:
            raise ConfigError("the student's blocks must be between 1 and 8", setting="blocks")
        if len(self.channels) != len(LAYERS) or not all(1 <= c <= 4096 for c in self.channels):
            raise ConfigError("the teacher's channels at relu1_1..relu4_1 must be 4 numbers from 1 to 4096")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudentSpec:
        c = tuple(int(v) for v in d["channels"])
        if len(c) != len(LAYERS):
            raise ValueError(f"{len(c)} channel counts for {len(LAYERS)} layers")
        return cls(int(d["width"]), int(d["blocks"]), (c[0], c[1], c[2], c[3]))


def _separable(c_in: int, c_out: int) -> list[nn.Module]:
    """Depthwise 3x3 (reflection padded) then pointwise 1x1, ReLU."""
    return [
        nn.ReflectionPad2d(1),
        nn.Conv2d(c_in, c_in, 3, groups=c_in),
        nn.Conv2d(c_in, c_out, 1),
        nn.ReLU(),
    ]


class StudentEncoder(nn.Module):
    """``forward(x, layers)`` -> ``{name: features}`` for names among :data:`LAYERS`, like
    :class:`styleverse.nn.vgg.VGGFeatures`; see the module doc."""

    def __init__(self, spec: StudentSpec):
        super().__init__()
        spec.validate()
        self.spec, self.names = spec, LAYERS
        w = spec.width
        stages: list[nn.Module] = [nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, w, 3), nn.ReLU())]
        for k in (1, 2, 3):
            c_in, c_out = w * 2 ** (k - 1), w * 2**k
            mods: list[nn.Module] = [nn.MaxPool2d(2, 2), *_separable(c_in, c_out)]
            for _ in range(spec.blocks - 1):
                mods += _separable(c_out, c_out)
            stages.append(nn.Sequential(*mods))
        self.stages = nn.ModuleList(stages)
        widths = [w * 2**k for k in range(len(LAYERS))]
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, t, 1), nn.ReLU()) for c, t in zip(widths, spec.channels, strict=True)
        )
        self.normalize = ImageNetNormalize()

    def channels(self, name: str) -> int:
        """Number of channels a named layer outputs (the teacher's)."""
        return self.spec.channels[LAYERS.index(name)]

    def forward(self, x: torch.Tensor, layers: list[str] | tuple[str, ...] | set[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        unknown = wanted - set(LAYERS)
        if unknown:
            raise ConfigError(f"layer(s) {', '.join(sorted(unknown))} not in the AdaIN student encoder")
        h, out = self.normalize(x), {}
        last = max((LAYERS.index(n) for n in wanted), default=-1)
        for i in range(last + 1):
            h = self.stages[i](h)
            if LAYERS[i] in wanted:
                out[LAYERS[i]] = self.heads[i](h)
        return out
