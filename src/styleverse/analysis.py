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

Outliers: ``dᵢ > median + k·1.4826·MAD`` (:func:`robust_threshold`). Subset: greedy backward elimination
that minimises the spread (:func:`greedy_subset`). Map: first two principal components of the zᵢ.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .backbone import BackboneInfo
from .banks import Bank, Callback, ProgressEvent, accumulate, sq_norm, stream_grams
from .errors import ConfigError
from .styles import GramDict, StyleImage


@dataclass(frozen=True)
class AnalysisSettings:
    """``keep``: subset size (None: the number of non-outliers). Sizes are longest sides in pixels."""

    size: int | None = 256
    mad_k: float = 3.0
    keep: int | None = None
    precision: str = "fp32"
    sketch_dim: int = 256
    exact_budget_mb: float = 256.0
    seed: int = 0
    tmp_dir: str | None = None

    def validate(self) -> None:
        if self.size is not None and self.size < 16:
            raise ConfigError("--size must be at least 16 pixels")
        if not (self.mad_k >= 0 and math.isfinite(self.mad_k)):
            raise ConfigError("--mad-k must be a finite number >= 0")
        if self.keep is not None and self.keep < 1:
            raise ConfigError("--keep must be at least 1")
        if self.sketch_dim < 2 or self.exact_budget_mb < 0:
            raise ConfigError("sketch_dim must be >= 2 and exact_budget_mb >= 0")


@dataclass
class ImageResult:
    path: str
    weight: float
    distance: float
    layer_distances: dict[str, float]
    trace: dict[str, float]
    rank: int = 0  # 1 = most typical
    outlier: bool = False
    in_subset: bool = True
    xy: tuple[float, float] = (0.0, 0.0)


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

    @property
    def subset(self) -> list[str]:
        return [r.path for r in self.images if r.in_subset]

    @property
    def outliers(self) -> list[ImageResult]:
        return sorted((r for r in self.images if r.outlier), key=lambda r: -r.distance)


class Layout:
    """Where each layer's upper triangle sits in a packed row; ``s2`` is 1 on diagonals, 2 off them."""

    def __init__(self, channels: dict[str, int]):
        self.slices, self.iu, self.s2 = {}, {}, {}
        off = 0
        for k, c in channels.items():
            iu = torch.triu_indices(c, c)
            self.iu[k], self.slices[k] = iu, slice(off, off + iu.shape[1])
            self.s2[k] = np.where(iu[0].numpy() == iu[1].numpy(), 1.0, 2.0)
            off += iu.shape[1]
        self.dim = off

    def pack(self, grams: GramDict) -> np.ndarray:
        return np.concatenate([grams[k][iu[0], iu[1]].double().numpy() for k, iu in self.iu.items()])

    def unpack(self, row: np.ndarray, k: str) -> torch.Tensor:
        c = int(self.iu[k].max()) + 1
        g = torch.zeros(c, c, dtype=torch.float64)
        vals = torch.from_numpy(np.asarray(row[self.slices[k]], dtype=np.float64))
        g[self.iu[k][0], self.iu[k][1]] = vals
        g[self.iu[k][1], self.iu[k][0]] = vals
        return g.float()


def robust_threshold(d: np.ndarray, k: float) -> tuple[float, float, float | None]:
    """Median, scaled MAD (1.4826·MAD, a σ for normal data) and ``median + k·MAD``; None below 3 images.
    The MAD is floored at 1% of the median so near-duplicate sets do not flag everything above the median."""
    med = float(np.median(d)) if len(d) else 0.0
    mad = 1.4826 * float(np.median(np.abs(d - med))) if len(d) else 0.0
    if len(d) < 3:
        return med, mad, None
    return med, mad, med + k * max(mad, 0.01 * med, 1e-12)


def _chunks(n: int, dim: int, mb: float = 32.0) -> list[slice]:
    """Row slices so one float64 chunk of ``dim`` columns stays near ``mb`` MiB."""
    step = max(1, int(mb * 2**20 // (8 * max(dim, 1))))
    return [slice(a, min(n, a + step)) for a in range(0, n, step)]


def _wmean(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ wᵢ zᵢ / Σ wᵢ in float64, chunked (no float64 copy of a float32 ``z``)."""
    return sum(w[c] @ np.asarray(z[c], dtype=np.float64) for c in _chunks(len(z), z.shape[1])) / w.sum()


def _sqdist(z: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.concatenate([((np.asarray(z[c], dtype=np.float64) - m) ** 2).sum(1) for c in _chunks(len(z), z.shape[1])])


def weighted_spread(z: np.ndarray, w: np.ndarray) -> float:
    """Σ wᵢ ‖zᵢ − z̄‖² / Σ wᵢ around the weighted mean z̄."""
    return float(w @ _sqdist(z, _wmean(z, w))) / float(w.sum())


def greedy_subset(z: np.ndarray, w: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of ``keep`` rows by backward elimination: drop the row whose removal leaves the smallest
    spread, recompute the mean, repeat. Removing row i from (W, SS) leaves SS − wᵢ·W·dᵢ/(W − wᵢ)."""
    alive = np.ones(len(z), dtype=bool)
    while alive.sum() > max(1, keep):
        wa = np.where(alive, w, 0.0)
        big_w = wa.sum()
        d = _sqdist(z, _wmean(z, wa))
        ss, rest = float(wa @ d), big_w - w
        with np.errstate(divide="ignore", invalid="ignore"):
            after = np.where(alive & (rest > 0), (ss - w * big_w * d / rest) / rest, np.inf)
        if not np.isfinite(after).any():
            break
        alive[int(np.argmin(after))] = False
    return alive


def pca_2d(z: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """First two principal-component coordinates of the rows and their shares of the total variance."""
    n, dim = z.shape
    xy = np.zeros((n, 2))
    mu = _wmean(z, np.ones(n)) if n else np.zeros(dim)
    total = float(_sqdist(z, mu).sum()) if n else 0.0
    if n < 2 or total <= 0:
        return xy, [0.0, 0.0]
    if n * dim <= 4_000_000 or min(n, dim) <= 3:
        u, s, _ = np.linalg.svd(z - mu, full_matrices=False)
    else:
        from scipy.sparse.linalg import LinearOperator, svds

        op = LinearOperator(
            (n, dim),
            matvec=lambda v: z @ v.ravel().astype(z.dtype) - mu @ v.ravel(),
            rmatvec=lambda v: z.T @ v.ravel().astype(z.dtype) - mu * v.sum(),
            dtype=np.float64,
        )
        u, s, _ = svds(op, k=2, random_state=seed)
        u, s = u[:, np.argsort(-s)], np.sort(s)[::-1]
    k = min(2, len(s))
    xy[:, :k] = u[:, :k] * s[:k]
    for j in range(k):
        if xy[np.argmax(np.abs(xy[:, j])), j] < 0:
            xy[:, j] *= -1
    return xy, [float(v**2 / total) for v in s[:k]] + [0.0] * (2 - k)


def coordinates(mm: np.ndarray, lay: Layout, scale: dict[str, float], exact: bool, dim: int, seed: int) -> np.ndarray:
    """Rows zᵢ (module doc) as float32: exact, or each layer wider than ``dim`` count-sketched to ``dim``."""
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(seed)
    plan: dict[str, csr_matrix | None] = {}
    for k, sl in lay.slices.items():
        n = sl.stop - sl.start
        sketch = not exact and n > dim
        rows, sign = np.arange(n), rng.choice([-1.0, 1.0], n)
        plan[k] = csr_matrix((sign, (rows, rng.integers(0, dim, n))), shape=(n, dim)).T.tocsr() if sketch else None
    width = sum(sl.stop - sl.start if plan[k] is None else dim for k, sl in lay.slices.items())
    z = np.zeros((len(mm), width), dtype=np.float32)
    for c in _chunks(len(mm), lay.dim):
        x, col = np.asarray(mm[c], dtype=np.float64), 0
        for k, sl in lay.slices.items():
            part = x[:, sl] * (np.sqrt(lay.s2[k]) * scale[k])
            part = part if plan[k] is None else (plan[k] @ part.T).T
            z[c, col : col + part.shape[1]] = part
            col += part.shape[1]
    return z


def layer_sq(mm: np.ndarray, lay: Layout, mean_row: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """‖Gᵢₗ − M‖²_F for the given rows of the packed store (chunked), shape (len(rows), layers)."""
    out = np.zeros((len(rows), len(lay.slices)))
    for c in _chunks(len(rows), lay.dim):
        x = (np.asarray(mm[rows[c]], dtype=np.float64) - mean_row) ** 2
        out[c] = np.stack([x[:, sl] @ lay.s2[k] for k, sl in lay.slices.items()], axis=1)
    return out


@dataclass
class _Pass:
    """What the analysis keeps per image besides the packed Grams on disk (``mm``)."""

    mm: np.ndarray
    trace: np.ndarray  # (n, layers)
    sqn: np.ndarray  # ‖Gᵢₗ‖²_F, (n, layers)
    mean: GramDict
    norm: np.ndarray  # ‖Ḡₗ‖²_F, (layers,)


def _first_pass(tmp: str, model, images, lay: Layout, cfg: AnalysisSettings, device, callback) -> _Pass:
    """The one network pass: packed Grams to a memmap, traces and norms per image, the weighted mean."""
    n, names = len(images), list(lay.slices)
    need = n * lay.dim * 4
    if shutil.disk_usage(tmp).free < need * 1.05 + 2**26:
        raise ConfigError(f"analysis needs {need / 2**30:.2f} GiB of temporary disk in {tmp}; free space or set TMPDIR")
    mm = np.memmap(Path(tmp) / "grams.f32", np.float32, "w+", shape=(n, lay.dim))
    trace, sqn = np.zeros((n, len(names))), np.zeros((n, len(names)))

    def tap():
        for i, (g, wi) in enumerate(stream_grams(model, images, cfg.size, device, cfg.precision, callback)):
            mm[i] = lay.pack(g)
            trace[i] = [float(torch.diagonal(g[k]).sum()) for k in names]
            sqn[i] = [sq_norm(g[k]) for k in names]
            yield g, wi

    mean = accumulate(tap())[0]
    norm = np.array([max(sq_norm(mean[k]), 1e-30) for k in names])
    return _Pass(mm, trace, sqn, mean, norm)


def _subset(p: _Pass, lay: Layout, idx: np.ndarray, w: np.ndarray, info, cfg, images) -> tuple[Bank, np.ndarray]:
    """Exact weighted mean of the chosen rows as a bank (for ``--write-bank``) and their
    Σ wᵢ ‖Gᵢₗ − mean‖² / Σ wᵢ per layer."""
    ws, names = w[idx], list(lay.slices)
    mean_row = sum(ws[c] @ np.asarray(p.mm[idx[c]], dtype=np.float64) for c in _chunks(len(idx), lay.dim)) / ws.sum()
    bank = Bank(
        {k: lay.unpack(mean_row, k) for k in names},
        float(ws.sum()),
        float(ws @ ws),
        {k: float(ws @ p.sqn[idx, j]) for j, k in enumerate(names)},
        len(idx),
        info.to_dict(),
        cfg.size,
        [(str(images[i].path), float(w[i])) for i in idx],
        {"precision": cfg.precision, "made_by": "styles analyze (suggested subset)"},
    )
    return bank, (ws @ layer_sq(p.mm, lay, mean_row, idx)) / ws.sum()


def _named(names: list[str], row: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(names, row, strict=True)}


def _per_image(images, w, dist, dl, trace, outlier, alive, xy, names) -> list[ImageResult]:
    """One :class:`ImageResult` per input image, in input order; rank 1 is the most typical."""
    rank = np.empty(len(images), dtype=int)
    rank[np.argsort(dist, kind="stable")] = np.arange(1, len(images) + 1)
    return [
        ImageResult(
            str(s.path),
            float(w[i]),
            float(dist[i]),
            _named(names, dl[i]),
            _named(names, trace[i]),
            int(rank[i]),
            bool(outlier[i]),
            bool(alive[i]),
            (float(xy[i, 0]), float(xy[i, 1])),
        )
        for i, s in enumerate(images)
    ]


def analyze(
    model: torch.nn.Module,
    info: BackboneInfo,
    images: Sequence[StyleImage],
    settings: AnalysisSettings | None = None,
    device: torch.device | None = None,
    callback: Callback | None = None,
) -> Analysis:
    """Analyse a style set with ``model`` (a ``StyleContentModel`` from ``transfer.build_model``): per-image
    distances and traces, spread, outliers, a low-spread subset and a 2-D map (see the module doc)."""
    cfg = settings or AnalysisSettings()
    cfg.validate()
    if not images:
        raise ConfigError("analysis needs at least one image")
    lam = dict(model.style_weights)  # type: ignore[attr-defined]
    names, lw = list(lam), np.array(list(lam.values()))
    lay = Layout({k: model.backbone.channels(k) for k in names})  # type: ignore[attr-defined]
    n, w = len(images), np.array([s.weight for s in images], dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="styleverse-analysis-", dir=cfg.tmp_dir) as tmp:
        dev = device or next(model.parameters()).device
        p = _first_pass(tmp, model, images, lay, cfg, dev, callback)
        raw = layer_sq(p.mm, lay, lay.pack(p.mean), np.arange(n))
        if callback:
            callback(ProgressEvent("distances", n, n))
        dl = raw / p.norm
        dist = dl @ lw
        med, mad, thr = robust_threshold(dist, cfg.mad_k)
        outlier = dist > thr if thr is not None else np.zeros(n, dtype=bool)
        keep = min(n, cfg.keep if cfg.keep is not None else max(1, int((~outlier).sum())))
        exact = n * lay.dim * 4 <= cfg.exact_budget_mb * 2**20
        scale = {k: math.sqrt(lam[k] / p.norm[j]) for j, k in enumerate(names)}
        z = coordinates(p.mm, lay, scale, exact, cfg.sketch_dim, cfg.seed)
        if callback:
            callback(ProgressEvent("subset", n, n))
        alive = greedy_subset(z, w, keep)
        xy, explained = pca_2d(z, cfg.seed)
        bank, sub_sq = _subset(p, lay, np.flatnonzero(alive), w, info, cfg, images)
        del z, p.mm
    results = _per_image(images, w, dist, dl, p.trace, outlier, alive, xy, names)
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
    )
