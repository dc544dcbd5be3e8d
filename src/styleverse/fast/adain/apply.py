"""Stylising with an AdaIN decoder: styles from images or banks, masks, and the frame stylizer.

:class:`AdaINStylizer` maps one (1, 3, H, W) frame in [0, 1] to its stylisation of the same size; commands
open it from a decoder file with :func:`styleverse.fast.open.open_stylizer`. The style's
relu4_1 statistics are computed once, when the stylizer is built; per frame it costs one encoder and one
decoder pass (plus, for ``histogram`` colour preservation, one encoder pass per style image).

The controls of Huang & Belongie 2017, section 7.1:

* content–style trade-off ``alpha`` (eq. 14): 0 decodes the content's own features, 1 is full AdaIN;
* style interpolation: several styles with weights mix their (μ, σ) (:func:`styleverse.fast.adain.model.mix_stats`);
  a folder is one style, the mean over its images; a style bank is a whole universe as one style;
* colour preservation: ``histogram`` gives the style images the content's colour mean and covariance before
  their statistics are taken (the paper's way, Gatys et al. 2017); ``luminance`` keeps the content's chroma
  and takes the stylisation's luminance, which also works for banks and is stable across video frames;
* spatial control: a black-and-white mask with two styles, white regions taking the first and black ones
  the second (:func:`styleverse.fast.adain.model.masked_adain`).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from styleverse.devices import autocast, memory_format, place
from styleverse.errors import ConfigError, InputError
from styleverse.fast.adain.model import (
    ENCODER_LAYER,
    MULTIPLE,
    AdaINModel,
    adain,
    check_stats,
    masked_adain,
    mix_stats,
    resize_mask,
)
from styleverse.io.images import list_images, load_image, load_tensor, pad_to_multiple, resize_longest
from styleverse.nn.color import luminance_transfer, match_histogram
from styleverse.styles.targets import ChannelStats

COLOR_MODES = ("none", "luminance", "histogram")
MASK_GREY_LIMIT = 0.05  # share of mid-grey mask pixels (anti-aliased edges, JPEG noise) tolerated
MASK_ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Style:
    """One style: its relu4_1 channel statistics and, for a style from images, those images (kept for
    ``histogram`` colour preservation, which recolours them for every content)."""

    name: str
    stats: ChannelStats
    images: tuple[tuple[torch.Tensor, float], ...] = ()


@torch.inference_mode()
def image_style(
    model: AdaINModel, source: str | os.PathLike[str], size: int | None, device: torch.device, precision: str = "fp32"
) -> Style:
    """The style of an image, or of a folder (the mean of its images' μ and σ, equal weights), seen at
    longest side ``size``."""
    paths = list_images([source])
    images = tuple((load_tensor(p, size), 1.0 / len(paths)) for p in paths)
    stats = [_stats(model, t, device, precision) for t, _ in images]
    return Style(Path(source).name, mix_stats(stats), images)


def bank_style(model: AdaINModel, path: str | os.PathLike[str], precision: str | None = None) -> Style:
    """A style bank as one style (a universe's mean μ and σ); the bank must come from the decoder's encoder."""
    from styleverse.styles.bank import adain_stats

    stats = adain_stats(path, model.encoder_info, ENCODER_LAYER, precision)
    check_stats(stats, model, str(path))
    return Style(Path(path).name.split(".")[0], stats)


def _stats(model: AdaINModel, image: torch.Tensor, device: torch.device, precision: str) -> ChannelStats:
    x = _padded(image.to(device), precision)
    with autocast(device, precision):
        mean, std = model.net.style_stats(x)
    return ChannelStats(mean.reshape(-1).float().cpu(), std.reshape(-1).float().cpu())


def _padded(x: torch.Tensor, precision: str) -> torch.Tensor:
    return pad_to_multiple(x.float(), MULTIPLE)[0].contiguous(memory_format=memory_format(precision))


def load_mask(path: str | os.PathLike[str]) -> torch.Tensor:
    """A black-and-white mask image as (1, 2, H, W) regions: channel 0 white (first style), 1 black (second).

    :class:`InputError` for a file that is not an image or not black and white (more than
    :data:`MASK_GREY_LIMIT` of its pixels mid-grey)."""
    grey = np.asarray(load_image(path).convert("L"), dtype=np.uint8)
    mid = float(((grey > 32) & (grey < 224)).mean())
    if mid > MASK_GREY_LIMIT:
        raise InputError(
            f"{path}: not a black-and-white mask ({mid:.0%} of its pixels are grey); paint the first style's "
            "region white and the second's black"
        )
    white = torch.from_numpy(grey >= 128).float()[None, None]
    return torch.cat([white, 1 - white], dim=1)


def fit_mask(mask: torch.Tensor, size: tuple[int, int], where: str) -> torch.Tensor:
    """``mask`` resized to a content of ``size`` (H, W); :class:`InputError` when their shapes differ."""
    (mh, mw), (h, w) = mask.shape[-2:], size
    if abs(mw / mh - w / h) > MASK_ASPECT_TOLERANCE * (w / h):
        raise InputError(f"{where}: mask is {mw}x{mh} px, content is {w}x{h}: give a mask of the content's shape")
    return resize_mask(mask, size)


class AdaINStylizer:
    """``stylizer(frame)``: (1, 3, H, W) in [0, 1] -> stylised (1, 3, H, W) in [0, 1], on the frame's device.

    ``styles`` mix with ``weights`` (normalised; default equal) unless a ``mask`` ((1, 2, h, w) from
    :func:`load_mask`) gives each of exactly two styles its region. ``alpha`` is eq. 14's trade-off;
    ``preserve_color`` one of :data:`COLOR_MODES` (see the module doc). Any frame size works: frames are
    reflection-padded to multiples of 8 for the network and cropped back.

    ``precision`` ``bf16``: the encoder runs under autocast, the decoder as a bfloat16 copy (weights cast
    once, channels_last), which measured about a third faster than autocast on a CPU with AVX512-BF16;
    AdaIN's statistics and the output stay float32.
    """

    def __init__(
        self, model: AdaINModel, styles: Sequence[Style], weights: Sequence[float] | None = None, alpha: float = 1.0,
        preserve_color: str = "none", mask: torch.Tensor | None = None, device: torch.device | None = None,
        precision: str = "fp32",
    ):  # fmt: skip
        check_controls([not s.images for s in styles], weights, alpha, preserve_color, mask is not None)
        for s in styles:
            check_stats(s.stats, model, s.name)
        self.model, self.styles, self.alpha, self.mask = model, list(styles), float(alpha), mask
        self.weights = list(weights) if weights is not None else [1.0] * len(styles)
        self.preserve_color, self.precision = preserve_color, precision
        self.device = device or next(model.net.decoder.parameters()).device
        place(model.net, self.device, precision).eval()
        self.mixed = mix_stats([s.stats for s in styles], self.weights) if mask is None else None
        self.decoder = model.net.decoder
        if precision == "bf16":
            self.decoder = copy.deepcopy(model.net.decoder).to(torch.bfloat16)
        self.dtype = next(self.decoder.parameters()).dtype

    def _targets(self, content: torch.Tensor) -> list[ChannelStats]:
        """The styles' statistics for this content (recoloured style images in ``histogram`` mode)."""
        if self.preserve_color != "histogram":
            return [s.stats for s in self.styles]
        out = []
        for s in self.styles:
            recoloured = [match_histogram(t.to(content.device), content) for t, _ in s.images]
            per = [_stats(self.model, t, self.device, self.precision) for t in recoloured]
            out.append(mix_stats(per, [w for _, w in s.images]))
        return out

    @torch.inference_mode()
    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        if frame.dim() != 4 or frame.shape[:2] != (1, 3):
            raise ValueError(f"expected a (1, 3, H, W) frame, got {tuple(frame.shape)}")
        content = frame.to(self.device).float()
        h, w = content.shape[-2:]
        net, dev, prec = self.model.net, self.device, self.precision
        targets = self._targets(content)
        with autocast(dev, prec):
            f = net.encode(_padded(content, prec))
        if self.mask is not None:
            regions = pad_to_multiple(fit_mask(self.mask, (h, w), "frame"), MULTIPLE)[0]
            t = masked_adain(f, targets, resize_mask(regions, (int(f.shape[-2]), int(f.shape[-1]))).to(dev))
        else:
            mix = self.mixed if self.preserve_color != "histogram" else mix_stats(targets, self.weights)
            assert mix is not None
            t = adain(f, mix.mean.to(dev), mix.std.to(dev))
        t = self.alpha * t + (1 - self.alpha) * f.float()
        y = self.decoder(t.to(self.dtype).contiguous(memory_format=memory_format(prec)))
        y = y.float()[..., :h, :w].clamp(0, 1).contiguous()
        if self.preserve_color == "luminance":
            y = luminance_transfer(y, content)
        return y.to(frame.device)


def check_controls(
    banks: Sequence[bool], weights: Sequence[float] | None, alpha: float, preserve_color: str, mask: bool
) -> None:
    """The controls fit the styles (``banks``: one flag per style, True for a style without images)."""
    if not banks:
        raise ConfigError("give a style: style images or a style bank")
    if not (0 <= alpha <= 1):
        raise ConfigError(f"alpha must be between 0 and 1, not {alpha}", setting="alpha")
    if preserve_color not in COLOR_MODES:
        raise ConfigError(
            f"preserve_color must be one of {', '.join(COLOR_MODES)}, not '{preserve_color}'", setting="preserve_color"
        )
    if preserve_color == "histogram" and any(banks):
        raise ConfigError(
            "preserve_color histogram recolours style images, but a style bank holds none; use "
            "preserve_color luminance with a style bank",
            setting="preserve_color",
        )
    if weights is not None and len(weights) != len(banks):
        raise ConfigError(
            f"style_weights has {len(weights)} values for {len(banks)} styles; give one per style",
            setting="style_weights",
        )
    if weights is not None and (any(not (v >= 0 and math.isfinite(v)) for v in weights) or sum(weights) <= 0):
        raise ConfigError("style_weights must be finite, >= 0 and not all zero", setting="style_weights")
    if mask:
        if len(banks) != 2:
            msg = f"mask needs exactly two styles (white region: first, black: second), not {len(banks)}"
            raise ConfigError(msg, setting="mask")
        if weights is not None:
            raise ConfigError(
                "style_weights mixes styles everywhere; with mask each style has its own region",
                setting=("style_weights", "mask"),
            )


def load_styles(
    model: AdaINModel, styles: Sequence[str | os.PathLike[str]], banks: Sequence[str | os.PathLike[str]],
    style_size: int | None, device: torch.device, precision: str,
) -> list[Style]:  # fmt: skip
    """The styles of images or folders (seen at longest side ``style_size``), then of banks (checked against
    the decoder's encoder)."""
    out = [image_style(model, s, style_size, device, precision) for s in styles]
    return out + [bank_style(model, b, precision) for b in banks]


def check_mask_fits(mask: torch.Tensor, contents: Sequence[Path], size: int | None) -> None:
    """Before any work: every content, as it will be processed, has the mask's shape (one-line error)."""
    for c in contents:
        img = resize_longest(load_image(c), size)
        fit_mask(mask, (img.height, img.width), str(c))
