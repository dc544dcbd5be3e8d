"""Shots grouped into universes by their style descriptions, with the shots that fit nowhere kept apart.

**Space.** A description (:mod:`styleverse.frames.describe`) is blocks of very different size and units:
one per style layer of the network (hundreds of channel means and stds), a colour block and an edge block.
Each column is standardised over the shots (divided by its std, floored at a tenth of its block's median std
so that near-constant columns are not blown up into noise), then each block is scaled so its total variance
is its weight: ``pixel_weight`` shared by colour and edges, the rest shared by the network's layers (by
their ``--style-layers`` weights). No block
outweighs another by being longer.

**Groups.** scikit-learn does the work (well kept, and no hand-written clustering to maintain):

1. shots far from every other shot (a title card, a one-off insert) are not clustered: those whose nearest
   other shot (:class:`sklearn.neighbors.NearestNeighbors`) is farther than median + 3·1.4826·MAD of all
   shots' nearest-neighbour distances and than three times their median. (A density score over several neighbours,
   such as the local outlier factor, flagged whole small universes: five shots of a look seen five times have
   other universes among their five nearest neighbours.)
2. the rest are clustered with Ward's agglomerative clustering into K groups for K = 2..``max_universes``
   (each cut judged by the groups of at least ``min_shots`` it leaves), and the K with the best mean
   silhouette wins if that silhouette reaches ``min_silhouette`` (else the film has one universe);
   ``universes`` forces K;
3. a shot whose own silhouette is negative (nearer another group than its own) and a group of fewer than
   ``min_shots`` shots become ``unsure`` too.

Groups are numbered by screen time, largest first. Every shot, unsure ones too, gets its nearest group and
its distance to that group's centre (how typical it is; contact sheets sort by it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from styleverse.errors import ConfigError

UNSURE = -1
LONE_RATIO = 3.0
EXTRA_CUTS = 4  # cuts tried beyond max_universes groups, for the tiny groups that fall away


@dataclass(frozen=True)
class ClusterSettings:
    """``universes``: force that many groups (None: choose by silhouette, up to ``max_universes``);
    ``min_silhouette``: the mean silhouette below which the film is one universe; ``min_shots``: smaller
    groups are unsure; ``pixel_weight``: share of colour and edge statistics in the space (the rest is the
    network's)."""

    universes: int | None = None
    max_universes: int = 8
    min_silhouette: float = 0.2
    min_shots: int = 3
    pixel_weight: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        if self.universes is not None and self.universes < 1:
            raise ConfigError(f"universes must be at least 1, got {self.universes}", setting="universes")
        if self.max_universes < 2:
            raise ConfigError(f"max_universes must be at least 2, got {self.max_universes}", setting="max_universes")
        if not 0 <= self.pixel_weight <= 1:
            raise ConfigError(f"pixel_weight must be within 0..1, got {self.pixel_weight}", setting="pixel_weight")
        if not -1 <= self.min_silhouette <= 1:
            raise ConfigError(
                f"min_silhouette must be within -1..1, got {self.min_silhouette}", setting="min_silhouette"
            )
        if self.min_shots < 1:
            raise ConfigError(f"min_shots must be at least 1, got {self.min_shots}", setting="min_shots")


@dataclass(frozen=True)
class Clustering:
    """Per shot: its group (0..K-1, :data:`UNSURE`), nearest group, distance to that group's centre and why it
    is unsure (empty when it is not); the centres (K, d), the mean silhouette of the choice (nan for one
    group) and the silhouette of every K tried."""

    labels: np.ndarray
    nearest: np.ndarray
    distance: np.ndarray
    why: list[str]
    centres: np.ndarray
    silhouette: float
    tried: dict[int, float]

    @property
    def k(self) -> int:
        return len(self.centres)


def embed(
    vectors: np.ndarray,
    blocks: Sequence[tuple[str, int]],
    pixel_weight: float,
    layer_weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The clustering space of the module doc, float64 (n, d); the network's share is split among its layers
    by ``layer_weights`` (``--style-layers relu3_1:2``; default: equally)."""
    pixel = {"colour", "edges"}
    network = [name for name, _ in blocks if name not in pixel]
    lw = {n: float((layer_weights or {}).get(n, 1.0)) for n in network}
    total = sum(lw.values()) or 1.0
    weight = {n: (pixel_weight / 2 if n in pixel else (1 - pixel_weight) * lw[n] / total) for n, _ in blocks}
    if not network:
        weight = {n: 0.5 for n, _ in blocks}
    parts, at = [], 0
    x = np.asarray(vectors, dtype=np.float64)
    for name, size in blocks:
        b = x[:, at : at + size]
        at += size
        if weight[name] <= 0:
            continue
        std = b.std(axis=0)
        floor = 0.1 * float(np.median(std)) if std.size else 0.0
        z = (b - b.mean(axis=0)) / np.maximum(std, max(floor, 1e-12))
        total = float((z**2).sum(axis=1).mean())
        parts.append(z * math.sqrt(weight[name] / total) if total > 0 else z)
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(x), 0))


def _outliers(z: np.ndarray) -> np.ndarray:
    """Shots whose nearest other shot is unusually far: beyond median + 3·1.4826·MAD of every shot's
    nearest-neighbour distance and beyond :data:`LONE_RATIO` times its median."""
    from sklearn.neighbors import NearestNeighbors

    if len(z) < 4:
        return np.zeros(len(z), dtype=bool)
    d = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)[0][:, 1]
    med = float(np.median(d))
    mad = 1.4826 * float(np.median(np.abs(d - med)))
    return (d > med + 3 * mad) & (d > LONE_RATIO * med)


def _choose(z: np.ndarray, s: ClusterSettings) -> tuple[np.ndarray, float, dict[int, float]]:
    """Group labels of ``z``'s rows, the mean silhouette and the silhouette per number of groups tried.

    Groups of fewer than ``min_shots`` shots will be unsure, so a cut is judged by the groups it leaves: it
    counts as that many universes (a stray pair of fades does not make a universe), and its score is the mean
    silhouette with the shots it leaves unsure counted as 0. A forced count takes the first cut that leaves
    that many."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    def fit(k: int) -> tuple[np.ndarray, np.ndarray]:
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(z) if k > 1 else np.zeros(len(z))
        labels = labels.astype(int)
        return labels, np.bincount(labels)[labels] >= s.min_shots

    def score(labels: np.ndarray, keep: np.ndarray) -> float:
        if len(set(labels[keep].tolist())) < 2:
            return math.nan
        size = min(int(keep.sum()), 2000)
        value = float(silhouette_score(z[keep], labels[keep], sample_size=size, random_state=s.seed))
        return value * float(keep.mean())  # the shots left unsure count 0

    top = min(len(z) - 1, s.max_universes + EXTRA_CUTS)
    if s.universes is not None:
        if s.universes > len(z):
            raise ConfigError(f"universes {s.universes}: only {len(z)} shots could be grouped", setting="universes")
        for k in range(s.universes, max(s.universes, top) + 1):
            labels, keep = fit(k)
            if len(set(labels[keep].tolist())) == s.universes:
                return labels, score(labels, keep), {}
        labels, keep = fit(s.universes)
        return labels, score(labels, keep), {}
    tried: dict[int, float] = {}
    cuts: dict[int, np.ndarray] = {}
    for k in range(2, top + 1):
        labels, keep = fit(k)
        n, value = len(set(labels[keep].tolist())), score(labels, keep)
        if 2 <= n <= s.max_universes and not value <= tried.get(n, -math.inf):
            tried[n], cuts[n] = value, labels
    best = max(tried, key=tried.__getitem__, default=None)
    if best is None or tried[best] < s.min_silhouette:
        return np.zeros(len(z), dtype=int), math.nan, tried
    return cuts[best], tried[best], dict(sorted(tried.items()))


def cluster_shots(z: np.ndarray, seconds: np.ndarray, s: ClusterSettings) -> Clustering:
    """Group the shots (rows of :func:`embed`'s space) as the module doc says; ``seconds`` orders groups."""
    from sklearn.metrics import silhouette_samples

    n = len(z)
    labels = np.full(n, UNSURE)
    why = [""] * n
    out = _outliers(z)
    for i in np.flatnonzero(out):
        why[i] = "far from every other shot"
    inl = np.flatnonzero(~out)
    if len(inl) == 0:
        return Clustering(labels, labels.copy(), np.zeros(n), why, np.zeros((0, z.shape[1])), math.nan, {})
    sub, mean_s, tried = _choose(z[inl], s)
    labels[inl] = sub
    if len(set(sub.tolist())) > 1:
        for i, v in zip(inl, silhouette_samples(z[inl], sub), strict=True):
            if v < 0:
                labels[i], why[i] = UNSURE, "nearer another universe than its own"
    for g in set(labels.tolist()) - {UNSURE}:
        members = np.flatnonzero(labels == g)
        if len(members) < s.min_shots:
            for i in members:
                labels[i], why[i] = UNSURE, f"a group of only {len(members)} shot(s)"
    return _finish(z, seconds, labels, why, mean_s, tried)


def _finish(
    z: np.ndarray, seconds: np.ndarray, labels: np.ndarray, why: list[str], mean_s: float, tried: dict[int, float]
) -> Clustering:
    """Groups renumbered by screen time (largest first), their centres, each shot's nearest group."""
    groups = sorted(set(labels.tolist()) - {UNSURE}, key=lambda g: (-float(seconds[labels == g].sum()), g))
    renum = {g: i for i, g in enumerate(groups)}
    labels = np.array([renum.get(int(v), UNSURE) for v in labels], dtype=int)
    if not groups:
        return Clustering(labels, labels.copy(), np.zeros(len(z)), why, np.zeros((0, z.shape[1])), mean_s, tried)
    centres = np.stack([z[labels == i].mean(axis=0) for i in range(len(groups))])
    sq = (z**2).sum(axis=1)[:, None] + (centres**2).sum(axis=1)[None, :] - 2 * z @ centres.T
    dist = np.sqrt(np.maximum(sq, 0.0))
    nearest = dist.argmin(axis=1)
    own = np.where(labels == UNSURE, nearest, labels)
    return Clustering(labels, nearest, dist[np.arange(len(z)), own], why, centres, mean_s, tried)
