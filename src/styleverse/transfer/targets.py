"""Style targets: one or many style images (or folders of them) averaged into per-layer Gram targets.

The paper (section 4) found that averaging Gram matrices over several frames of a universe gave a
stronger and cleaner style than any single frame. :class:`StyleSet` does that with normalised weights:
a folder's weight is shared equally by its images. Targets are recomputed at every scale of a
coarse-to-fine run because texture size depends on the size the style image is seen at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from styleverse.devices import autocast, memory_format
from styleverse.errors import ConfigError
from styleverse.io.images import list_images, load_image, pil_to_tensor, resize_longest
from styleverse.nn.features import StyleContentModel

GramDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class StyleImage:
    """One style image and its (unnormalised) weight."""

    path: Path
    weight: float = 1.0


def expand_styles(paths: Sequence[str | os.PathLike[str]], weights: Sequence[float] | None = None) -> list[StyleImage]:
    """Turn style arguments into weighted images; a folder shares its weight equally among its images."""
    if not paths:
        raise ConfigError("at least one style image is needed (--style)")
    if weights is not None and len(weights) != len(paths):
        raise ConfigError(f"--style-weights has {len(weights)} values for {len(paths)} styles; give one per style")
    ws = list(weights) if weights is not None else [1.0] * len(paths)
    if any(w < 0 for w in ws) or sum(ws) <= 0:
        raise ConfigError("style weights must be >= 0 and not all zero")
    out: list[StyleImage] = []
    for p, w in zip(paths, ws, strict=True):
        files = list_images([p])
        out.extend(StyleImage(f, w / len(files)) for f in files)
    return out


@torch.inference_mode()
def image_grams(
    model: StyleContentModel, image: torch.Tensor, device: torch.device, precision: str = "fp32"
) -> GramDict:
    """Gram matrices of one (1,3,H,W) image, float32 on CPU."""
    x = image.to(device).contiguous(memory_format=memory_format(precision))
    with autocast(device, precision):
        rep = model(x, want_content=False)
    return {k: g[0].float().cpu() for k, g in rep.grams.items()}


def sq_norm(g: torch.Tensor) -> float:
    """‖G‖²_F in float64."""
    d = g.double().flatten()
    return float(torch.dot(d, d))


@dataclass(frozen=True)
class RunningSums:
    """Σ wᵢ Gᵢ (float64) and Σ wᵢ ‖Gᵢ‖²_F per layer, Σ wᵢ, Σ wᵢ² and the number of images added: all a
    bank needs. :meth:`add` returns new sums instead of changing these, so a Ctrl-C can never leave an image
    half added; ``count`` is also the index of the next image of the stream."""

    total: dict[str, torch.Tensor] = field(default_factory=dict)
    sq_norm: dict[str, float] = field(default_factory=dict)
    weight: float = 0.0
    weight_sq: float = 0.0
    count: int = 0

    def add(self, grams: GramDict, w: float) -> RunningSums:
        """These sums plus one image's Grams with weight ``w`` (the Grams are not kept)."""
        total, sq = dict(self.total), dict(self.sq_norm)
        for k, g in grams.items():
            wg = w * g.double()
            total[k] = total[k] + wg if k in total else wg
            sq[k] = sq.get(k, 0.0) + w * sq_norm(g)
        return RunningSums(total, sq, self.weight + w, self.weight_sq + w * w, self.count + 1)

    def mean(self) -> GramDict:
        """Float32 Σ wᵢ Gᵢ / Σ wᵢ per layer ."""
        if self.weight <= 0:
            raise ConfigError("style weights sum to zero")
        return {k: (v / self.weight).float() for k, v in self.total.items()}


def add_all(sums: RunningSums, items: Iterable[tuple[GramDict, float]]) -> RunningSums:
    """``sums`` plus every ``(grams, weight)`` of ``items``, holding one image's Grams at a time."""
    for grams, w in items:
        sums = sums.add(grams, w)
    return sums


def weighted_mean(items: Iterable[tuple[GramDict, float]]) -> GramDict:
    """Σ wᵢ Gᵢ / Σ wᵢ per layer, streamed: only the running sums are held in memory."""
    return add_all(RunningSums(), items).mean()


@dataclass
class StyleSet:
    """Style images (and extra precomputed targets such as banks) with weights.

    ``extra`` holds ``(grams, weight)`` pairs computed elsewhere (a style bank is a mean Gram); they
    mix with the images under the same weight normalisation.
    """

    images: list[StyleImage]
    style_scale: float = 1.0
    extra: list[tuple[GramDict, float]] = field(default_factory=list)
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # e.g. colour histogram matching

    def paths(self) -> list[Path]:
        return [s.path for s in self.images]

    def targets(self, model: StyleContentModel, size: int, device: torch.device, precision: str = "fp32") -> GramDict:
        """Weighted-mean Gram targets with style images seen at ``size * style_scale`` (longest side)."""
        if self.style_scale <= 0:
            raise ConfigError("--style-scale must be > 0")
        px = max(16, round(size * self.style_scale))

        def per_image() -> Iterable[tuple[GramDict, float]]:
            for s in self.images:
                t = pil_to_tensor(resize_longest(load_image(s.path), px))
                if self.transform is not None:
                    t = self.transform(t)
                yield image_grams(model, t, device, precision), s.weight

        items: Iterable[tuple[GramDict, float]] = per_image()
        if self.extra:
            items = [*items, *self.extra]
        return weighted_mean(items)
