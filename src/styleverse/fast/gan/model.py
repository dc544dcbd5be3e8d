"""The style-aware generator and the multi-scale patch discriminator (Sanakoyeu et al. 2018), and the file
format of a trained generator.

Architecture after the paper's figure 2 and the authors' released code: the **encoder** ``E`` normalises the
input, then a 3x3 convolution and four stride-2 3x3 convolutions (widths w, w, 2w, 4w, 8w; w = 32), each with
instance normalisation and ReLU; its output is the latent in which the style-aware content loss is measured.
The **decoder** ``D`` has 9 residual blocks at 8w channels and four x2 upsamplings (8w, 4w, 2w, w), each
followed by a 3x3 convolution, instance normalisation and ReLU, then a 7x7 convolution to RGB and a sigmoid.
Departures, each for a reason: nearest-neighbour upsampling followed by a convolution instead of transposed
convolutions (Odena et al. 2016, against checkerboard artefacts, as ``fast`` does); each upsampling goes to
the exact size of the matching encoder stage, so any frame size works without padding (and an ONNX export
keeps that); replicate padding instead of the code's 15-pixel reflection pad and valid convolutions, so a
latent of one pixel still works; every normalisation is *conditional* (:class:`styleverse.nn.norm.
CondInstanceNorm`, one (γ, β) per universe, Dumoulin et al. 2017), so one generator holds several universes
and mixes them as a ``fast`` network does. Pixels are [0, 1] in and out (the code used [-1, 1]).

The **discriminator** is the code's: 5x5 stride-2 convolutions (widths 2d, 2d, 4d, 8d, 8d, 16d, 16d; d = 64)
with instance normalisation and leaky ReLU (0.2), and a patch prediction after layers 0, 1, 3, 5 and 6
(kernels 5, 10, 10, 6, 3): five scales of "is this patch the universe?". It has one output channel per
universe, and a sample is judged by its universe's channel. Layers whose input would fall under 4 pixels are
skipped (training crops of 768 px, the default, use them all).

File format (``.safetensors``): the generator's state dict; metadata ``styleverse_kind = "gan_model"`` and
``gan`` = JSON ``{"format", "spec": GanSpec, "settings", "step", "health", "versions"}``. The discriminator
is needed only to train and lives in the resume state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from styleverse.errors import ConfigError
from styleverse.io.artifacts import ArtifactKind, read_network, write_network
from styleverse.nn.norm import CondInstanceNorm

GAN_KIND = "gan_model"
GAN_FORMAT = 1
GAN = ArtifactKind(GAN_KIND, "gan", "gan model file", "a styleverse gan model",
                   "train one with `styleverse gan train`", GAN_FORMAT)  # fmt: skip
DOWNSAMPLINGS = 4  # stride-2 stages of the encoder (the latent is 1/16 of the image per side)
DISC_WIDTHS = (2, 2, 4, 8, 8, 16, 16)  # discriminator layer widths in units of disc_width
DISC_HEADS = {0: 5, 1: 10, 3: 10, 5: 6, 6: 3}  # layer -> kernel of its patch prediction
SCALE = 2**DOWNSAMPLINGS  # image pixels per latent pixel; frames of at most SCALE x SCALE are padded wider
MIN_DISC_SIDE = 4  # a discriminator layer runs only on inputs at least this large (its output >= 2 px)


@dataclass(frozen=True)
class GanSpec:
    """What the generator looks like: its universes (one conditional-norm (γ, β) each), base width, depth."""

    universes: tuple[str, ...]
    width: int = 32
    blocks: int = 9

    def validate(self) -> None:
        if not self.universes:
            raise ConfigError("a gan model needs at least one universe (style frames)", setting="style")
        if len(set(self.universes)) != len(self.universes):
            raise ConfigError(f"universe names must differ: {', '.join(self.universes)}", setting="style")
        if not 1 <= self.width <= 256:
            raise ConfigError("width must be between 1 and 256 channels", setting="width")
        if not 0 <= self.blocks <= 32:
            raise ConfigError("blocks must be between 0 and 32", setting="blocks")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "universes": list(self.universes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GanSpec:
        return cls(tuple(str(u) for u in d["universes"]), int(d["width"]), int(d["blocks"]))


class Block(nn.Module):
    """Replicate pad, convolution (stride 1 or 2, no bias: the norm's β is the bias), conditional instance
    norm, optional ReLU."""

    def __init__(self, c_in: int, c_out: int, k: int, styles: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.pad, self.relu = nn.ReplicationPad2d(k // 2), relu
        self.conv = nn.Conv2d(c_in, c_out, k, stride, bias=False)
        self.norm = CondInstanceNorm(c_out, styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(self.pad(x)), w)
        return F.relu(y) if self.relu else y


class Residual(nn.Module):
    """conv-norm-relu, conv-norm, plus the input."""

    def __init__(self, c: int, styles: int) -> None:
        super().__init__()
        self.a, self.b = Block(c, c, 3, styles), Block(c, c, 3, styles, relu=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x, w), w)


Sizes = list[tuple[Any, Any]]  # the spatial size before each downsampling (ints, or traced sizes in export)


class Encoder(nn.Module):
    """Image (N,3,H,W) in [0,1] -> latent (N, 8w, ⌈H/16⌉, ⌈W/16⌉) and the sizes the decoder returns to."""

    def __init__(self, spec: GanSpec) -> None:
        super().__init__()
        s, c = len(spec.universes), spec.width
        self.norm = CondInstanceNorm(3, s)
        self.stem = Block(3, c, 3, s)
        widths = [c, c, 2 * c, 4 * c, 8 * c]
        self.down = nn.ModuleList([Block(widths[i], widths[i + 1], 3, s, stride=2) for i in range(DOWNSAMPLINGS)])

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, Sizes]:
        h = self.stem(self.norm(x, w), w)
        sizes: Sizes = []
        for layer in self.down:
            sizes.append((h.shape[-2], h.shape[-1]))
            h = layer(h, w)
        return h, sizes


class Decoder(nn.Module):
    """Latent and encoder sizes -> image in [0,1] of the encoder's input size."""

    def __init__(self, spec: GanSpec) -> None:
        super().__init__()
        s, c = len(spec.universes), spec.width
        self.res = nn.ModuleList([Residual(8 * c, s) for _ in range(spec.blocks)])
        widths = [8 * c, 8 * c, 4 * c, 2 * c, c]
        self.up = nn.ModuleList([Block(widths[i], widths[i + 1], 3, s) for i in range(DOWNSAMPLINGS)])
        self.pad, self.out = nn.ReplicationPad2d(3), nn.Conv2d(c, 3, 7)

    def forward(self, z: torch.Tensor, sizes: Sizes, w: torch.Tensor) -> torch.Tensor:
        for block in self.res:
            z = block(z, w)
        for layer, size in zip(self.up, reversed(sizes), strict=True):
            z = layer(F.interpolate(z, size=size, mode="nearest"), w)
        return torch.sigmoid(self.out(self.pad(z)))


class Generator(nn.Module):
    """``forward(x, w)``: image (N,3,H,W) in [0,1] and universe weights (N,S) or (S,) -> stylised image (the
    interface of :class:`styleverse.fast.model.TransformNet`, so ``fast``'s blend, export and sample grids
    take it). :meth:`stylise` also gives the latent of ``x`` (the content loss needs it)."""

    def __init__(self, spec: GanSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        self.encoder, self.decoder = Encoder(spec), Decoder(spec)

    def stylise(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(stylised image, latent of ``x``)."""
        z, sizes = self.encoder(x, w)
        return self.decoder(z, sizes, w), z

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h, wd = x.shape[-2:]
        if max(h, wd) <= SCALE and not torch.jit.is_tracing():  # a 1x1 latent cannot be instance-normalised
            x = F.pad(x, (0, SCALE + 1 - wd, 0, 0), mode="replicate")
            return self.stylise(x, w)[0][..., :h, :wd]
        return self.stylise(x, w)[0]


class Discriminator(nn.Module):
    """Image (N,3,H,W) in [0,1] and universe indices (N,) -> patch logits (N,1,h,w) at up to five scales;
    positive means "a frame of that universe" (see the module doc)."""

    def __init__(self, universes: int, width: int = 64) -> None:
        super().__init__()
        chans = [3, *(m * width for m in DISC_WIDTHS)]
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2), nn.InstanceNorm2d(chans[i + 1], affine=True))
            for i in range(len(DISC_WIDTHS))
        )
        self.heads = nn.ModuleDict({str(i): _head(chans[i + 1], universes, k) for i, k in DISC_HEADS.items()})

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> list[torch.Tensor]:
        h, out = x * 2 - 1, []
        for i, layer in enumerate(self.layers):
            if min(h.shape[-2:]) < MIN_DISC_SIDE:
                break
            h = F.leaky_relu(layer(h), 0.2)
            if str(i) in self.heads:
                logits = self.heads[str(i)](h)
                pick = u.view(-1, 1, 1, 1).expand(-1, 1, *logits.shape[-2:])
                out.append(logits.gather(1, pick))
        return out


def _head(c_in: int, c_out: int, k: int) -> nn.Module:
    """A patch prediction keeping the size ("same" padding, split unevenly for an even kernel)."""
    lo, hi = (k - 1) // 2, k // 2
    return nn.Sequential(nn.ZeroPad2d((lo, hi, lo, hi)), nn.Conv2d(c_in, c_out, k))


@dataclass
class GanModel:
    """A loaded generator with what its file records (``backbone`` is empty: the method uses no pretrained
    network; it is there so ``fast``'s ONNX export reads a gan model as it reads a fast one)."""

    net: Generator
    settings: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    health: dict[str, Any] = field(default_factory=dict)
    backbone: dict[str, Any] = field(default_factory=dict)

    @property
    def universes(self) -> tuple[str, ...]:
        return self.net.spec.universes

    def metadata(self) -> dict[str, Any]:
        from styleverse.versions import versions

        return {
            "format": GAN_FORMAT,
            "spec": self.net.spec.to_dict(),
            "settings": self.settings,
            "step": self.step,
            "health": self.health,
            "versions": versions(),
        }


def save_gan(model: GanModel, path: str | os.PathLike[str]) -> Path:
    """Write the generator and its metadata atomically (replaces ``path``; callers check outputs first)."""
    return write_network(path, GAN, model.net, model.metadata())


def load_gan(path: str | os.PathLike[str]) -> GanModel:
    """Read a gan model file; a one-line :class:`InputError` for a missing, corrupt or foreign file."""
    net, meta = read_network(path, GAN, lambda doc: Generator(GanSpec.from_dict(doc["spec"])))
    health = meta.get("health") or {}
    return GanModel(net, dict(meta.get("settings") or {}), int(meta.get("step", 0)), dict(health))
