"""The numerics of style-set analysis (``analysis``) on packed Gram rows, in bounded memory.

Each image's Grams are stored as one row: the upper triangle of every layer, side by side (:class:`Layout`),
in a float32 ``np.memmap``; everything here reads such arrays in row chunks of about 32 MiB, in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from styleverse.styles.targets import GramDict


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


def row_chunks(n: int, dim: int, mb: float = 32.0) -> list[slice]:
    """Row slices so one float64 chunk of ``dim`` columns stays near ``mb`` MiB."""
    step = max(1, int(mb * 2**20 // (8 * max(dim, 1))))
    return [slice(a, min(n, a + step)) for a in range(0, n, step)]


def _wmean(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ wᵢ zᵢ / Σ wᵢ in float64, chunked (no float64 copy of a float32 ``z``)."""
    return sum(w[c] @ np.asarray(z[c], dtype=np.float64) for c in row_chunks(len(z), z.shape[1])) / w.sum()


def _sqdist(z: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [((np.asarray(z[c], dtype=np.float64) - m) ** 2).sum(1) for c in row_chunks(len(z), z.shape[1])]
    )


def weighted_spread(z: np.ndarray, w: np.ndarray) -> float:
    """Σ wᵢ ‖zᵢ − z̄‖² / Σ wᵢ around the weighted mean z̄."""
    return float(w @ _sqdist(z, _wmean(z, w))) / float(w.sum())


def greedy_subset(z: np.ndarray, w: np.ndarray, keep: int, start: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of ``keep`` rows by backward elimination: drop the row whose removal leaves the smallest
    spread, recompute the mean, repeat. Removing row i from (W, SS) leaves SS − wᵢ·W·dᵢ/(W − wᵢ).
    ``start``: rows already left out (True = still in), e.g. outliers, which an intruder sitting near the
    mean would otherwise survive."""
    alive = np.ones(len(z), dtype=bool) if start is None else start.astype(bool).copy()
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
    for c in row_chunks(len(mm), lay.dim):
        x, col = np.asarray(mm[c], dtype=np.float64), 0
        for k, sl in lay.slices.items():
            part = x[:, sl] * (np.sqrt(lay.s2[k]) * scale[k])
            proj = plan[k]
            part = part if proj is None else (proj @ part.T).T
            z[c, col : col + part.shape[1]] = part
            col += part.shape[1]
    return z


def _pair_sq(z64: np.ndarray, rows: slice, sq: np.ndarray) -> np.ndarray:
    """Squared distances from ``z64[rows]`` to every row (float64 rows, squared norms ``sq``), clipped at 0."""
    d = sq[rows, None] + sq[None, :] - 2.0 * (z64[rows] @ z64.T)
    return np.maximum(d, 0.0)


def knn_scores(z: np.ndarray, k: int) -> np.ndarray:
    """Mean Euclidean distance from each row of ``z`` to its ``k`` nearest other rows (``k`` is capped at
    n - 1; NaN for a single row). A density score: an image far from *every* other image scores high even
    when the set has several groups, while the distance to the mean can be small for an image that sits
    between two groups (issue 14: two real photos among 21 animated frames, missed by the mean rule)."""
    n = len(z)
    if n < 2:
        return np.full(n, np.nan)
    k = max(1, min(k, n - 1))
    z64 = np.asarray(z, dtype=np.float64)
    sq = (z64**2).sum(axis=1)
    out = np.empty(n)
    for c in row_chunks(n, n):
        d = _pair_sq(z64, c, sq)
        d[np.arange(d.shape[0]), np.arange(c.start, c.stop)] = np.inf  # not its own neighbour
        out[c] = np.sqrt(np.partition(d, k - 1, axis=1)[:, :k]).mean(axis=1)
    return out


def find_groups(
    z: np.ndarray, use: np.ndarray, max_groups: int = 6, min_silhouette: float = 0.5, seed: int = 0, cap: int = 2000
) -> tuple[np.ndarray, float]:
    """Group labels (0, 1, ...; -1 where ``use`` is False) and the silhouette of the choice.

    Average-linkage clustering of the used rows, cut into 2..``max_groups`` clusters; the cut with the best
    mean silhouette wins if it reaches ``min_silhouette`` (0.5: "reasonable structure" in Kaufman and
    Rousseeuw's reading of the silhouette), else the set is one group. Above ``cap`` rows a seeded sample is
    clustered and every other row joins the group of its nearest sampled row."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics import silhouette_score

    labels = np.full(len(z), -1)
    idx = np.flatnonzero(use)
    if len(idx) == 0:
        return labels, 0.0
    labels[idx] = 0
    if len(idx) < 4:
        return labels, 0.0
    sample = np.sort(np.random.default_rng(seed).choice(idx, cap, replace=False)) if len(idx) > cap else idx
    zs = np.asarray(z[sample], dtype=np.float64)
    sq = (zs**2).sum(axis=1)
    d = np.sqrt(_pair_sq(zs, slice(0, len(zs)), sq))
    np.fill_diagonal(d, 0.0)
    tree = linkage(squareform(d, checks=False), method="average")
    best, best_s = np.zeros(len(sample), dtype=int), -1.0
    for g in range(2, min(max_groups, len(sample) - 1) + 1):
        cut = fcluster(tree, g, criterion="maxclust") - 1
        # mean silhouette; a point alone in its cluster scores 0
        score = float(silhouette_score(d, cut, metric="precomputed")) if len(np.unique(cut)) > 1 else -1.0
        if score > best_s:
            best, best_s = cut, score
    if best_s < min_silhouette:
        return labels, best_s
    order = np.argsort([-(best == g).sum() for g in range(best.max() + 1)], kind="stable")  # 0 = largest
    best = np.argsort(order)[best]
    labels[sample] = best
    rest = np.setdiff1d(idx, sample)
    for c in row_chunks(len(rest), zs.shape[1]):
        r = np.asarray(z[rest[c]], dtype=np.float64)
        dist = (r**2).sum(1)[:, None] + sq[None, :] - 2 * r @ zs.T
        labels[rest[c]] = best[dist.argmin(axis=1)]
    return labels, best_s


def layer_sq(mm: np.ndarray, lay: Layout, mean_row: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """‖Gᵢₗ − M‖²_F for the given rows of the packed store (chunked), shape (len(rows), layers)."""
    out = np.zeros((len(rows), len(lay.slices)))
    for c in row_chunks(len(rows), lay.dim):
        x = (np.asarray(mm[rows[c]], dtype=np.float64) - mean_row) ** 2
        out[c] = np.stack([x[:, sl] @ lay.s2[k] for k, sl in lay.slices.items()], axis=1)
    return out
