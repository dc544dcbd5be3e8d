"""The numbers that say how good one result is, as pure tensor functions (no files, no networks built here).

* **Style distance** (:func:`style_distance`): per style layer the mean squared difference between the
  result's Gram matrix and the target's (the weighted mean Gram of the style images and banks), and their
  layer-weighted sum. These are exactly the terms of :func:`styleverse.nn.losses.style_loss`, i.e. the
  style loss of the paper's objective before ``--style-weight`` multiplies it, so a number here and the
  loss a run logged mean the same thing. :func:`relative` divides by the *content photo's* own distance to
  the same target: 1.0 means the style has not moved at all, 0 that it has been reached. The raw sum is
  mostly colour: under the random network the first layer carried 85–97% of the photo's distance (issue 26),
  so plain histogram matching scored closer to a style than real stylisations. :func:`layer_balanced` is
  therefore the headline number: each layer's distance divided by the photo's own distance *at that layer*,
  then averaged with the layer weights, so every layer counts by its weight, not by its magnitude.
* **One verdict per result** (:func:`pair_verdict`): the layer-balanced style score and the content score
  (SSIM) read together, because either alone flatters — a noise-initialised image without the photo's
  content can score like the default result on style.
* **Content fidelity**: the content loss (:func:`styleverse.nn.losses.content_loss`, feature MSE at the
  content layers, unweighted) and :func:`ssim`, the structural similarity of Wang et al. 2004 on luminance.
  SSIM ignores the global colour shift a style brings and looks at local structure; 1.0 is identical.
* Steadiness of videos (warping error, following, flicker) is :mod:`styleverse.video.steadiness`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from styleverse.errors import ConfigError
from styleverse.nn.color import RGB2YIQ

SSIM_SIGMA = 1.5  # Wang et al. 2004: an 11x11 Gaussian window with sigma 1.5
SSIM_TRUNCATE = 3.5  # window radius = int(truncate * sigma + 0.5) = 5, as scikit-image's gaussian_weights
SSIM_K = (0.01, 0.03)


@dataclass(frozen=True)
class StyleDistance:
    """Per-layer Gram MSE against the target and their layer-weighted sum (``total``)."""

    per_layer: dict[str, float]
    total: float
    weights: dict[str, float] = field(default_factory=dict)  # the layer weights ``total`` used


def style_distance(
    grams: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> StyleDistance:
    """Distance of one image's Grams ((1, C, C) or (C, C) per layer) to the targets, in float64 sums of the
    float32 per-layer MSEs (the terms of ``style_loss``; layer weights used as given, not normalised)."""
    per = {}
    for k in weights:
        g = grams[k].float().reshape(targets[k].shape)
        per[k] = float(F.mse_loss(g, targets[k].float().to(g.device)))
    return StyleDistance(per, sum(w * per[k] for k, w in weights.items()), dict(weights))


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference``; None when the reference is 0 (nothing to move: the content already has the
    style) or either is None or not finite."""
    if value is None or reference is None or not (math.isfinite(value) and math.isfinite(reference) and reference > 0):
        return None
    return value / reference


def relative(result: StyleDistance, content: StyleDistance) -> tuple[float | None, dict[str, float | None]]:
    """The result's style distance over the content photo's, overall and per layer (1 = unmoved, 0 = reached)."""
    per = {k: ratio(v, content.per_layer[k]) for k, v in result.per_layer.items()}
    return ratio(result.total, content.total), per


def layer_balanced(result: StyleDistance, content: StyleDistance) -> float | None:
    """The layer-weighted mean of ``result``'s per-layer distances each over the content photo's at that layer
    (module doc; 1 = unmoved, 0 = reached); layers where the photo already has the style are left out; None
    when no layer is left."""
    parts = [(w, ratio(result.per_layer[k], content.per_layer[k])) for k, w in result.weights.items()]
    kept = [(w, r) for w, r in parts if r is not None and w > 0]
    total = sum(w for w, _ in kept)
    return sum(w * r for w, r in kept) / total if total > 0 else None


STYLE_UNMOVED = 0.9  # layer-balanced style at or above this: the style has barely moved from the photo's
CONTENT_LOST = 0.3  # SSIM below this: the photo's structure is gone (noise init measured 0.016-0.060, issue 26)


def pair_verdict(style: float | None, ssim_value: float) -> str:
    """One verdict from the layer-balanced style score and the SSIM (module doc), with both numbers."""
    numbers = f"style {'-' if style is None else format(style, '.2f')} of the photo's, SSIM {ssim_value:.2f}"
    if style is None:
        what = "nothing to move: the photo already has the style"
    elif style >= STYLE_UNMOVED:
        what = "style farther than the photo's" if style > 1 else "style barely moved"
        what += ", content lost" if ssim_value < CONTENT_LOST else ""
    elif ssim_value < CONTENT_LOST:
        what = "styled but the content is lost"
    else:
        what = "styled, content kept"
    return f"{what} ({numbers})"


def luma(image: torch.Tensor) -> torch.Tensor:
    """Luminance Y (YIQ's, the one colour preservation uses) of (N, 3, H, W) RGB: (N, 1, H, W) float32."""
    w = RGB2YIQ[0].to(image.device, torch.float32).view(1, 3, 1, 1)
    return (image.float() * w).sum(1, keepdim=True)


def _window(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian over (N, 1, H, W), 'valid' (no padding): only pixels whose window fits."""
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    return F.conv2d(x, g.view(1, 1, -1, 1))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two (1, 3, H, W) RGB images in [0, 1], on luminance.

    Gaussian window (sigma 1.5, 11x11), population statistics, ``C1 = (0.01 L)²``, ``C2 = (0.03 L)²``, the
    mean over the pixels whose window lies inside the image: the same number as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``, which
    also leaves out the border a window would overhang."""
    if a.shape != b.shape:
        raise ConfigError(f"SSIM needs two images of one size, got {tuple(a.shape)} and {tuple(b.shape)}")
    g = _window().to(a.device)
    if min(a.shape[-2:]) < g.numel():
        raise ConfigError(f"images of {a.shape[-1]}x{a.shape[-2]} px are too small for SSIM (at least {g.numel()} px)")
    x, y = luma(a), luma(b).to(a.device)
    mx, my = _blur(x, g), _blur(y, g)
    vx = _blur(x * x, g) - mx * mx
    vy = _blur(y * y, g) - my * my
    cov = _blur(x * y, g) - mx * my
    c1, c2 = (SSIM_K[0] * data_range) ** 2, (SSIM_K[1] * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.double().mean())
