"""Image augmentation for growing small classes: flip, crop, small rotation and colour jitter.

The paper (section 5) "applied augmentations to increase the size of our dataset" for universes with
little screen time. :func:`augment` makes one new image from one frame with plain tensor ops (one
``grid_sample`` for the geometry, a few blends for the colour), seeded by a ``torch.Generator`` so the
same seed gives the same image. The output has the input's size; the crop is always at least a few
percent and the rotated crop is chosen to stay inside the frame, so no black corners appear and the
result never equals its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from styleverse.nn.color import RGB2YIQ

_RGB = torch.linalg.inv(RGB2YIQ)


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random changes. ``min_scale``/``max_scale``: fraction of each side the crop keeps;
    ``rotation``: degrees either way; ``brightness``/``contrast``/``saturation``: relative change either
    way; ``hue``: fraction of a full turn either way; ``flip``: probability of a horizontal mirror."""

    flip: float = 0.5
    min_scale: float = 0.75
    max_scale: float = 0.95
    rotation: float = 8.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.03

    def __post_init__(self) -> None:
        if not 0 < self.min_scale <= self.max_scale < 1:
            raise ValueError("need 0 < min_scale <= max_scale < 1")


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def _geometry(img: torch.Tensor, g: torch.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Random crop (zoom), rotation, translation and mirror in one affine resampling."""
    _, _, h, w = img.shape
    theta = math.radians(_uniform(g, -cfg.rotation, cfg.rotation))
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    fit = min(1 / (c + s * h / w), 1 / (c + s * w / h))  # largest zoom whose rotated crop stays inside
    scale = min(_uniform(g, cfg.min_scale, cfg.max_scale), fit)
    room_x = max(0.0, 1 - scale * (c + s * h / w))
    room_y = max(0.0, 1 - scale * (c + s * w / h))
    tx, ty = _uniform(g, -room_x, room_x), _uniform(g, -room_y, room_y)
    flip = -1.0 if float(torch.rand((), generator=g)) < cfg.flip else 1.0
    cos, sin = math.cos(theta), math.sin(theta)
    mat = torch.tensor(
        [[scale * cos * flip, -scale * sin * h / w, tx], [scale * sin * w / h * flip, scale * cos, ty]],
        dtype=img.dtype,
    ).unsqueeze(0)
    grid = F.affine_grid(mat.expand(img.shape[0], 2, 3), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _colour(img: torch.Tensor, g: torch.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Brightness, contrast, saturation and hue jitter (hue as a rotation of the YIQ chroma plane)."""
    out = img * _uniform(g, 1 - cfg.brightness, 1 + cfg.brightness)
    mean = (out * RGB2YIQ[0].view(1, 3, 1, 1)).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    out = mean + (out - mean) * _uniform(g, 1 - cfg.contrast, 1 + cfg.contrast)
    grey = (out * RGB2YIQ[0].view(1, 3, 1, 1)).sum(1, keepdim=True)
    out = grey + (out - grey) * _uniform(g, 1 - cfg.saturation, 1 + cfg.saturation)
    angle = 2 * math.pi * _uniform(g, -cfg.hue, cfg.hue)
    rot = torch.tensor([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]])
    mix = (_RGB @ rot @ RGB2YIQ).to(img.dtype)
    out = torch.einsum("ij,njhw->nihw", mix, out)
    return out.clamp(0, 1)


def augment(img: torch.Tensor, generator: torch.Generator, config: AugmentConfig | None = None) -> torch.Tensor:
    """A randomly changed copy of ``img`` (float RGB in [0, 1], (N, 3, H, W)), same shape; input untouched."""
    cfg = config or AugmentConfig()
    if img.dim() != 4 or img.shape[1] != 3:
        raise ValueError(f"augment expects (N, 3, H, W), got {tuple(img.shape)}")
    return _colour(_geometry(img.float(), generator, cfg), generator, cfg)
