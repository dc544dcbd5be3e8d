"""Style targets: one or many style images (or folders of them) averaged into per-layer Gram targets.

The paper (section 4) found that averaging Gram matrices over several frames of a universe gave a
stronger and cleaner style than any single frame. :class:`StyleSet` does that with normalised weights:
a folder's weight is shared equally by its images. Targets are recomputed at every scale of a
coarse-to-fine run because texture size depends on the size the style image is seen at.

The other style representation is AdaIN's (Huang & Belongie 2017): each feature channel's mean and
standard deviation over the image (:func:`channel_stats`). :class:`RunningSums` averages those too, so a
style bank serves both Gatys optimisation and AdaIN (see :class:`ChannelStats` for the definition).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

import torch

from styleverse.devices import autocast, memory_format
from styleverse.errors import ConfigError
from styleverse.io.images import list_images, load_image, pil_to_tensor, resize_longest
from styleverse.nn.features import StyleContentModel
from styleverse.nn.losses import gram

GramDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ChannelStats:
    """AdaIN's style representation of one layer (Huang & Belongie 2017, eq. 8): per channel the mean
    ``mean`` and standard deviation ``std`` of the activations over all spatial positions, float32 (C,).

    The std is the population one, sqrt(E[(x − μ)²]) without Bessel's correction and without an epsilon.
    A *set* of images (a style bank, several ``--style`` images) is described by the weighted mean of the
    per-image means and the weighted mean of the per-image stds (not the pooled std of all pixels). AdaIN is
    affine in (μ, σ), so this is exactly the paper's style interpolation (section 7.1): Σ wₖ AdaIN(x, sₖ) /
    Σ wₖ = AdaIN with the averaged μ and σ. The pooled std would add the spread of the images' means to every
    channel's σ and give a look none of the images has.
    """

    mean: torch.Tensor
    std: torch.Tensor


StatDict = dict[str, ChannelStats]


def channel_stats(features: torch.Tensor, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (N, C) over H·W of (N, C, H, W) features, in float32 (half precision is promoted);
    std = sqrt(population variance + ``eps``)."""
    n, c = features.shape[:2]
    f = features.float().reshape(n, c, -1)
    var = f.var(dim=2, correction=0)
    return f.mean(dim=2), (var + eps).sqrt()


@dataclass(frozen=True)
class StyleImage:
    """One style image and its (unnormalised) weight."""

    path: Path
    weight: float = 1.0


def expand_styles(paths: Sequence[str | os.PathLike[str]], weights: Sequence[float] | None = None) -> list[StyleImage]:
    """Turn style arguments into weighted images; a folder shares its weight equally among its images."""
    if not paths:
        raise ConfigError("at least one style image is needed")
    if weights is not None and len(weights) != len(paths):
        raise ConfigError(
            f"style_weights has {len(weights)} values for {len(paths)} styles; give one per style",
            setting="style_weights",
        )
    ws = list(weights) if weights is not None else [1.0] * len(paths)
    if any(w < 0 for w in ws) or sum(ws) <= 0:
        raise ConfigError("style weights must be >= 0 and not all zero")
    out: list[StyleImage] = []
    for p, w in zip(paths, ws, strict=True):
        files = list_images([p])
        out.extend(StyleImage(f, w / len(files)) for f in files)
    return out


@overload
def image_grams(
    model: StyleContentModel,
    image: torch.Tensor,
    device: torch.device,
    precision: str = ...,
    with_stats: Literal[False] = ...,
) -> GramDict: ...


@overload
def image_grams(
    model: StyleContentModel, image: torch.Tensor, device: torch.device, precision: str, with_stats: Literal[True]
) -> tuple[GramDict, StatDict]: ...


@torch.inference_mode()
def image_grams(
    model: StyleContentModel,
    image: torch.Tensor,
    device: torch.device,
    precision: str = "fp32",
    with_stats: bool = False,
) -> GramDict | tuple[GramDict, StatDict]:
    """Gram matrices of one (1,3,H,W) image, float32 on CPU; ``with_stats`` also returns each style layer's
    :class:`ChannelStats` from the same network pass (what a style bank stores for AdaIN)."""
    x = image.to(device).contiguous(memory_format=memory_format(precision))
    if not with_stats:
        with autocast(device, precision):
            rep = model(x, want_content=False)
        return {k: g[0].float().cpu() for k, g in rep.grams.items()}
    with autocast(device, precision):
        feats = model.backbone(x, list(model.style_weights))
        grams = {k: gram(feats[k])[0].float().cpu() for k in model.style_weights}
    stats = {}
    for k in model.style_weights:
        mean, std = channel_stats(feats[k])
        stats[k] = ChannelStats(mean[0].cpu(), std[0].cpu())
    return grams, stats


def sq_norm(g: torch.Tensor) -> float:
    """‖G‖²_F in float64."""
    d = g.double().flatten()
    return float(torch.dot(d, d))


@dataclass(frozen=True)
class RunningSums:
    """Σ wᵢ Gᵢ (float64) and Σ wᵢ ‖Gᵢ‖²_F per layer, Σ wᵢ, Σ wᵢ² and the number of images added: all a
    bank needs. :meth:`add` returns new sums instead of changing these, so a Ctrl-C can never leave an image
    half added; ``count`` is also the index of the next image of the stream.

    With channel statistics (AdaIN, :class:`ChannelStats`) it also holds Σ wᵢ μᵢ and Σ wᵢ σᵢ per layer
    (float64, (C,)). They are kept only while every image added brought them: sums resumed from a state
    saved without them continue without them (the bank then serves Gatys runs only)."""

    total: dict[str, torch.Tensor] = field(default_factory=dict)
    sq_norm: dict[str, float] = field(default_factory=dict)
    weight: float = 0.0
    weight_sq: float = 0.0
    count: int = 0
    stat_mean: dict[str, torch.Tensor] = field(default_factory=dict)
    stat_std: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, grams: GramDict, w: float, stats: Mapping[str, ChannelStats] | None = None) -> RunningSums:
        """These sums plus one image's Grams (and channel stats) with weight ``w`` (neither is kept)."""
        total, sq = dict(self.total), dict(self.sq_norm)
        for k, g in grams.items():
            wg = w * g.double()
            total[k] = total[k] + wg if k in total else wg
            sq[k] = sq.get(k, 0.0) + w * sq_norm(g)
        mean_sum: dict[str, torch.Tensor] = {}
        std_sum: dict[str, torch.Tensor] = {}
        if stats is not None and (self.count == 0 or self.stat_mean):
            for k, st in stats.items():
                wm, ws = w * st.mean.double(), w * st.std.double()
                mean_sum[k] = self.stat_mean[k] + wm if k in self.stat_mean else wm
                std_sum[k] = self.stat_std[k] + ws if k in self.stat_std else ws
        return RunningSums(total, sq, self.weight + w, self.weight_sq + w * w, self.count + 1, mean_sum, std_sum)

    def mean(self) -> GramDict:
        """Float32 Σ wᵢ Gᵢ / Σ wᵢ per layer ."""
        if self.weight <= 0:
            raise ConfigError("style weights sum to zero")
        return {k: (v / self.weight).float() for k, v in self.total.items()}

    def stats(self) -> StatDict | None:
        """Float32 weighted mean of the per-image channel means and stds per layer (:class:`ChannelStats`),
        or None when the images were added without them."""
        if not self.stat_mean:
            return None
        if self.weight <= 0:
            raise ConfigError("style weights sum to zero")
        return {
            k: ChannelStats((m / self.weight).float(), (self.stat_std[k] / self.weight).float())
            for k, m in self.stat_mean.items()
        }


def merge_sums(parts: Sequence[RunningSums]) -> RunningSums:
    """One :class:`RunningSums` of the images of all ``parts`` (the shares of several processes), added in
    the order given. Channel statistics are kept only when every non-empty part has them."""
    full = [p for p in parts if p.count]
    if not full:
        return RunningSums()
    keep_stats = all(p.stat_mean for p in full)
    total, sq = dict(full[0].total), dict(full[0].sq_norm)
    mean, std = (dict(full[0].stat_mean), dict(full[0].stat_std)) if keep_stats else ({}, {})
    for p in full[1:]:
        total = {k: v + p.total[k] for k, v in total.items()}
        sq = {k: v + p.sq_norm[k] for k, v in sq.items()}
        if keep_stats:
            mean = {k: v + p.stat_mean[k] for k, v in mean.items()}
            std = {k: v + p.stat_std[k] for k, v in std.items()}
    weight, weight_sq = sum(p.weight for p in full), sum(p.weight_sq for p in full)
    return RunningSums(total, sq, weight, weight_sq, sum(p.count for p in full), mean, std)


def add_all(
    sums: RunningSums, items: Iterable[tuple[GramDict, float] | tuple[GramDict, float, StatDict]]
) -> RunningSums:
    """``sums`` plus every ``(grams, weight)`` or ``(grams, weight, stats)`` of ``items``, holding one
    image's Grams at a time."""
    for item in items:
        sums = sums.add(*item)
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
            raise ConfigError("style_scale must be > 0", setting="style_scale")
        px = max(16, round(size * self.style_scale))

        def per_image() -> Iterable[tuple[GramDict, float]]:
            for s in self.images:
                t = pil_to_tensor(resize_longest(load_image(s.path), px))
                if self.transform is not None:
                    t = self.transform(t)
                yield image_grams(model, t, device, precision), s.weight

        return weighted_mean(itertools.chain(per_image(), self.extra))
