"""Which style images belong together: distances to the set's mean Gram, spread, outliers, a tight subset.

The paper averages Gram matrices over many frames (section 4) and, in section 6, began to derive "the
variance of the styles to the average gram matrix" to pick good images to combine. This module does that.

Metric. Image i, layer l, Gram Gᵢₗ; Ḡₗ the weighted mean; λₗ the style-layer weights (sum 1):
``dᵢₗ = ‖Gᵢₗ − Ḡₗ‖²_F / ‖Ḡₗ‖²_F`` (squared, relative to the mean's own size, so layers of very
different magnitude compare) and ``dᵢ = Σₗ λₗ dᵢₗ``. The spread is ``s = Σ wᵢ dᵢ / Σ wᵢ``, the weighted
variance of the Grams around their mean. For any G, ``Σ wᵢ ‖G − Gᵢ‖² / W = ‖G − Ḡ‖² + s`` (per layer, in
this metric): the spread is the part of the summed per-image style losses that no output can remove,
so a tight set is one that a single image can match. ``spread_loss`` is the same floor in
``losses.style_loss`` units.

Memory. One network pass writes each Gram's upper triangle (float32) to a ``np.memmap`` in a temporary
folder and keeps running sums; later passes read it in chunks. Subset choice and the 2-D map use
``zᵢ = concatₗ √λₗ/‖Ḡₗ‖ · triu(Gᵢₗ)`` (off-diagonals ×√2), so ``‖zᵢ − z̄‖² = dᵢ``; it is held exactly when
N·D floats fit ``exact_budget_mb``, else each layer is count-sketched (seeded sign and bucket per entry, a
Johnson–Lindenstrauss projection) to ``sketch_dim`` numbers. Reported distances and spreads are exact.

Outliers are found by density (:func:`~.spread.knn_scores` above ``median + k·1.4826·MAD`` and
:data:`DENSITY_RATIO` times the median; in a set of near-copies the MAD is tiny: nine synthetic grass
frames measured 0.46-0.67 around a median of 0.57, and one at 1.25), not by the distance to the mean, which
misses an intruder between a set's looks (issue 14); that older rule is still reported as ``far_from_mean``.
"Most typical" is ranked by the same density score (rank 1 = nearest to its neighbours), not by the distance to
the mean: in a set of two looks the mean lies between them, and a photo that sits there ranked #1 (issue 19).

The suggested subset lies inside the largest group when there are several (a subset spanning two looks is not
coherent), and is never looser than the whole set: when no subset is tighter, it is the whole set and
``subset_note`` says so. Every bank the analysis offers (the subset's, one per group) is made by
:func:`styleverse.styles.bank.bank_from_sums` from the same sums a ``styles bank`` build adds up, AdaIN
channel statistics included.
Groups, subset and map are computed in :mod:`.spread`; this module runs the pass and assembles the
:class:`Analysis`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from styleverse.cancel import Stop, never
from styleverse.errors import ConfigError
from styleverse.nn.features import StyleContentModel
from styleverse.nn.vgg import BackboneInfo
from styleverse.progress import Progress
from styleverse.styles.bank import Bank, bank_from_sums
from styleverse.styles.spread import (
    Layout,
    coordinates,
    find_groups,
    greedy_subset,
    knn_scores,
    layer_sq,
    pca_2d,
    robust_threshold,
    weighted_spread,
)
from styleverse.styles.stream import Callback, stream_style
from styleverse.styles.targets import ChannelStats, GramDict, RunningSums, StyleImage, sq_norm, weighted_mean

RANDOM_NOTE = (
    "its untrained filters mostly measure colour and local contrast, so style distances (and bank spreads) then "
    "reflect little more than colour; use --backbone imagenet or a classifier checkpoint to compare looks"
)


DENSITY_RATIO = 3.0  # a density outlier's neighbours are at least this many times farther than is typical


@dataclass(frozen=True)
class AnalysisSettings:
    """``keep``: subset size (None: the number of non-outliers). Sizes are longest sides in pixels. ``knn``:
    neighbours in the density score (a group needs more than this many images not to be all outliers);
    ``max_groups``: most groups looked for."""

    size: int | None = 256
    mad_k: float = 3.0
    keep: int | None = None
    knn: int = 3
    max_groups: int = 6
    precision: str = "fp32"
    sketch_dim: int = 256
    exact_budget_mb: float = 256.0
    seed: int = 0
    tmp_dir: str | None = None

    def validate(self) -> None:
        if self.size is not None and self.size < 16:
            raise ConfigError("size must be at least 16 pixels", setting="size")
        if not (self.mad_k >= 0 and math.isfinite(self.mad_k)):
            raise ConfigError("mad_k must be a finite number >= 0", setting="mad_k")
        if self.keep is not None and self.keep < 1:
            raise ConfigError("keep must be at least 1", setting="keep")
        if self.sketch_dim < 2 or self.exact_budget_mb < 0:
            raise ConfigError("sketch_dim must be >= 2 and exact_budget_mb >= 0")
        if self.knn < 1 or self.max_groups < 1:
            raise ConfigError("knn and max_groups must be at least 1")


@dataclass
class ImageResult:
    """One image: distance to the mean (overall and per layer), Gram traces, rank by distance (1 = most
    typical), ``knn_distance`` (the density score), ``outlier`` (by density), ``far_from_mean`` (by the
    distance rule), ``group`` (-1 for outliers), subset membership and map position."""

    path: str
    weight: float
    distance: float
    layer_distances: dict[str, float]
    trace: dict[str, float]
    rank: int = 0  # 1 = most typical (lowest density score)
    outlier: bool = False
    in_subset: bool = True
    xy: tuple[float, float] = (0.0, 0.0)
    knn_distance: float = math.nan
    far_from_mean: bool = False
    group: int = -1


@dataclass
class Group:
    """Images that look alike: ``label`` 0 is the largest group; ``spread`` is their weighted spread around
    their own mean, in the units of :attr:`Analysis.spread` (from z, so approximate when sketched)."""

    label: int
    images: list[str]
    weight: float
    spread: float


@dataclass
class Density:
    """The density score's rule and the groups: kNN median/MAD/threshold, labels, silhouette."""

    knn: np.ndarray
    median: float
    mad: float
    threshold: float | None
    outlier: np.ndarray
    labels: np.ndarray
    silhouette: float


@dataclass
class Analysis:
    images: list[ImageResult]
    layer_weights: dict[str, float]
    spread: float
    layer_spread: dict[str, float]
    spread_loss: float
    median: float
    mad: float
    threshold: float | None
    subset_spread: float
    subset_layer_spread: dict[str, float]
    subset_spread_self: float  # relative to the subset's own mean Gram, as its bank reports it
    coordinates: str
    explained: list[float]
    backbone: dict[str, object]
    settings: dict[str, object]
    subset_bank: Bank | None = field(default=None, repr=False)
    knn_k: int = 0
    knn_median: float = math.nan
    knn_mad: float = math.nan
    knn_threshold: float | None = None
    groups: list[Group] = field(default_factory=list)
    silhouette: float = 0.0
    group_banks: list[Bank] = field(default_factory=list, repr=False)  # one per group when there are several
    subset_note: str = ""  # why the subset is what it is, when it is not simply the tightest

    @property
    def subset(self) -> list[str]:
        return [r.path for r in self.images if r.in_subset]

    @property
    def outliers(self) -> list[ImageResult]:
        return sorted((r for r in self.images if r.outlier), key=lambda r: -r.distance)


@dataclass
class _Pass:
    """What the analysis keeps per image besides the packed Grams on disk (``mm``)."""

    mm: np.ndarray
    trace: np.ndarray  # (n, layers)
    sqn: np.ndarray  # ‖Gᵢₗ‖²_F, (n, layers)
    mean: GramDict
    norm: np.ndarray  # ‖Ḡₗ‖²_F, (layers,)
    stats: dict[str, np.ndarray]  # per layer (n, 2, C): each image's AdaIN channel mean and std


def _first_pass(tmp: str, model, images, lay: Layout, cfg: AnalysisSettings, device, callback, stop) -> _Pass:
    """The one network pass: packed Grams to a memmap, traces and norms per image, the weighted mean."""
    n, names = len(images), list(lay.slices)
    need = n * lay.dim * 4
    if shutil.disk_usage(tmp).free < need * 1.05 + 2**26:
        raise ConfigError(f"analysis needs {need / 2**30:.2f} GiB of temporary disk in {tmp}; free space or set TMPDIR")
    mm = np.memmap(Path(tmp) / "grams.f32", np.float32, "w+", shape=(n, lay.dim))
    trace, sqn = np.zeros((n, len(names))), np.zeros((n, len(names)))
    stats = {k: np.zeros((n, 2, model.backbone.channels(k))) for k in names}

    def tap():
        stream = stream_style(model, images, cfg.size, device, cfg.precision, callback, stop=stop)
        for i, (g, wi, st) in enumerate(stream):
            mm[i] = lay.pack(g)
            trace[i] = [float(torch.diagonal(g[k]).sum()) for k in names]
            sqn[i] = [sq_norm(g[k]) for k in names]
            for k in names:
                stats[k][i] = torch.stack([st[k].mean, st[k].std]).double().numpy()
            yield g, wi

    mean = weighted_mean(tap())
    norm = np.array([max(sq_norm(mean[k]), 1e-30) for k in names])
    return _Pass(mm, trace, sqn, mean, norm, stats)


def _bank(p: _Pass, lay: Layout, idx: np.ndarray, w: np.ndarray, info, cfg, images, made_by: str) -> Bank:
    """The bank of the chosen rows, added up image by image as ``styles bank`` adds them (module doc)."""
    sums = RunningSums()
    for i in idx:
        row = np.asarray(p.mm[i], dtype=np.float64)
        grams = {k: lay.unpack(row, k) for k in lay.slices}
        st = {k: ChannelStats(*torch.from_numpy(v[i]).float().unbind(0)) for k, v in p.stats.items()}
        sums = sums.add(grams, float(w[i]), st)
    sources = [(str(images[i].path), float(w[i])) for i in idx]
    return bank_from_sums(sums, info, cfg.size, sources, {"precision": cfg.precision, "made_by": made_by})


def _spread_of(p: _Pass, lay: Layout, bank: Bank, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ wᵢ ‖Gᵢₗ − bank mean‖² / Σ wᵢ per layer over the chosen rows."""
    return (w[idx] @ layer_sq(p.mm, lay, lay.pack(bank.mean), idx)) / w[idx].sum()


def _choose_subset(z: np.ndarray, w: np.ndarray, dens: Density, groups: list[Group], cfg: AnalysisSettings):
    """The subset's rows (module doc): the tightest ``keep`` of the non-outliers of the largest group."""
    start = ~dens.outlier & ((dens.labels == 0) if len(groups) > 1 else True)
    keep = min(len(z), cfg.keep if cfg.keep is not None else max(1, int(start.sum())))
    return greedy_subset(z, w, keep, start=None if keep > start.sum() else start)


def _named(names: list[str], row: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(names, row, strict=True)}


def density(z: np.ndarray, w: np.ndarray, cfg: AnalysisSettings) -> tuple[Density, list[Group]]:
    """Density score, density outliers and the groups of the rest (module doc)."""
    knn = knn_scores(z, cfg.knn)
    med, mad, thr = robust_threshold(knn, cfg.mad_k) if len(z) > cfg.knn else (math.nan, math.nan, None)
    thr = max(thr, DENSITY_RATIO * med) if thr is not None else None
    outlier = knn > thr if thr is not None else np.zeros(len(z), dtype=bool)
    labels, sil = find_groups(z, ~outlier, cfg.max_groups, seed=cfg.seed)
    groups = []
    for g in range(labels.max() + 1):
        idx = np.flatnonzero(labels == g)
        spread = weighted_spread(np.asarray(z[idx]), w[idx]) if len(idx) else 0.0
        groups.append(Group(g, [], float(w[idx].sum()), spread))
    return Density(knn, med, mad, thr, outlier, labels, sil), groups


def _per_image(images, w, knn, dist, dl, trace, dens: Density, far, alive, xy, names) -> list[ImageResult]:
    """One :class:`ImageResult` per input image, in input order; rank 1 is the most typical: the lowest
    density score ``knn`` (ties, and a single image, by the distance to the mean)."""
    rank = np.empty(len(images), dtype=int)
    rank[np.lexsort((dist, np.nan_to_num(knn, nan=0.0)))] = np.arange(1, len(images) + 1)
    return [
        ImageResult(
            str(s.path),
            float(w[i]),
            float(dist[i]),
            _named(names, dl[i]),
            _named(names, trace[i]),
            int(rank[i]),
            bool(dens.outlier[i]),
            bool(alive[i]),
            (float(xy[i, 0]), float(xy[i, 1])),
            float(dens.knn[i]),
            bool(far[i]),
            int(dens.labels[i]),
        )
        for i, s in enumerate(images)
    ]


def _subset_bank(
    p: _Pass,
    lay: Layout,
    w: np.ndarray,
    dl: np.ndarray,
    lw: np.ndarray,
    alive: np.ndarray,
    bank_of: Callable[..., Bank],
) -> tuple[Bank, np.ndarray, str]:
    """The suggested subset's bank, its per-layer spread and a note; ``alive`` becomes the whole set (and the
    note says so) when no subset is tighter than the set, since a subset looser than the set is no suggestion."""
    bank = bank_of(np.flatnonzero(alive), made_by="styles analyze (suggested subset)")
    sub_sq = _spread_of(p, lay, bank, np.flatnonzero(alive), w)
    if float(sub_sq / p.norm @ lw) < float((w @ dl) / w.sum() @ lw) or alive.all():
        return bank, sub_sq, ""
    alive[:] = True
    whole = np.arange(len(w))
    bank = bank_of(whole, made_by="styles analyze (whole set)")
    return bank, _spread_of(p, lay, bank, whole, w), "no subset is tighter than the whole set"


def analyze(
    model: StyleContentModel,
    info: BackboneInfo,
    images: Sequence[StyleImage],
    settings: AnalysisSettings | None = None,
    device: torch.device | None = None,
    callback: Callback | None = None,
    stop: Stop = never,
) -> Analysis:
    """Analyse a style set with ``model`` (a ``StyleContentModel`` from ``nn.features.build_model``): per-image
    distances and traces, spread, outliers, a low-spread subset and a 2-D map (see the module doc).
    ``stop()`` is asked before each image; True raises :class:`~styleverse.cancel.Stopped`."""
    cfg = settings or AnalysisSettings()
    cfg.validate()
    if not images:
        raise ConfigError("analysis needs at least one image")
    lam = dict(model.style_weights)
    names, lw = list(lam), np.array(list(lam.values()))
    lay = Layout({k: model.backbone.channels(k) for k in names})
    n, w = len(images), np.array([s.weight for s in images], dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="styleverse-analysis-", dir=cfg.tmp_dir) as tmp:
        dev = device or next(model.parameters()).device
        p = _first_pass(tmp, model, images, lay, cfg, dev, callback, stop)
        raw = layer_sq(p.mm, lay, lay.pack(p.mean), np.arange(n))
        if callback:
            callback(Progress("distances", n, n))
        dl = raw / p.norm
        dist = dl @ lw
        med, mad, thr = robust_threshold(dist, cfg.mad_k)
        far = dist > thr if thr is not None else np.zeros(n, dtype=bool)
        exact = n * lay.dim * 4 <= cfg.exact_budget_mb * 2**20
        scale = {k: math.sqrt(lam[k] / p.norm[j]) for j, k in enumerate(names)}
        z = coordinates(p.mm, lay, scale, exact, cfg.sketch_dim, cfg.seed)
        if callback:
            callback(Progress("subset", n, n))
        dens, groups = density(z, w, cfg)
        alive = _choose_subset(z, w, dens, groups, cfg)
        xy, explained = pca_2d(z, cfg.seed)
        bank_of = partial(_bank, p, lay, w=w, info=info, cfg=cfg, images=images)
        bank, sub_sq, note = _subset_bank(p, lay, w, dl, lw, alive, bank_of)
        group_banks = [
            bank_of(np.flatnonzero(dens.labels == g.label), made_by=f"styles analyze (group {g.label + 1})")
            for g in groups
            if len(groups) > 1
        ]
        del z, p.mm
    results = _per_image(images, w, dens.knn, dist, dl, p.trace, dens, far, alive, xy, names)
    for g in groups:
        g.images = [r.path for r in results if r.group == g.label]
    own = np.array([max(sq_norm(bank.mean[k]), 1e-30) for k in names])
    chans = np.array([bank.mean[k].numel() for k in names], dtype=np.float64)
    return Analysis(
        images=results,
        layer_weights=lam,
        spread=float((w @ dl) / w.sum() @ lw),
        layer_spread=_named(names, (w @ dl) / w.sum()),
        spread_loss=float((w @ raw) / w.sum() / chans @ lw),
        median=med,
        mad=mad,
        threshold=thr,
        subset_spread=float(sub_sq / p.norm @ lw),
        subset_layer_spread=_named(names, sub_sq / p.norm),
        subset_spread_self=float(sub_sq / own @ lw),
        coordinates="exact" if exact else f"count-sketch, {cfg.sketch_dim} per layer",
        explained=explained,
        backbone=info.to_dict(),
        settings={**asdict(cfg), "keep_used": int(alive.sum())},
        subset_bank=bank,
        knn_k=min(cfg.knn, max(1, n - 1)),
        knn_median=dens.median,
        knn_mad=dens.mad,
        knn_threshold=dens.threshold,
        groups=groups,
        silhouette=dens.silhouette,
        group_banks=group_banks,
        subset_note=note,
    )
