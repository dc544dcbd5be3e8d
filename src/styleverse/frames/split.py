"""A leak-free train/val split of one class: val windows of whole shots, guard gaps, no cross-split twins.

Why: neighbouring frames of a video are near-identical, so validation frames that sit next to training
frames measure memory, not learning. Issue 14 found a split by fixed 10 s blocks reporting 0.85 val
accuracy largely on such pairs: a val frame at 10.0 s next to a train frame at 9.5 s of the same shot,
title cards that recur, and a one-shot clip on both sides. :func:`split_class` makes, per class:

1. **A val window per source video.** The source's frames are cut into units (shots, and long shots into
   ``block_seconds`` blocks; :mod:`styleverse.frames.shots`). A contiguous run of units goes to val, sized
   close to ``val_fraction`` of the source's frames; among the runs within tolerance of that size the ones
   whose ends are real cuts come first, and a seeded draw picks among equals. So every source with two or
   more units is represented in val, and wherever the clip has cuts the split falls on them.
2. **A guard gap.** The source's other frames go to train, except those strictly closer than
   ``guard_seconds`` to the window, which are excluded: no train frame is within the guard of a val frame
   of its video. Window ends are unit ends, so frames of one video within a block of ``block_seconds``
   share a split unless a detected cut separates them. A window that would leave no train frame is
   passed over.
3. **Sources too short to split** (one unit, or no train frame left by any window) go whole to one side:
   greedily, in a seeded order, to val while that brings the class's val count of these sources closer to
   ``val_fraction`` of theirs (:func:`split_units`). One left wholly in train gets a warning naming it.
4. **Cross-split near-duplicates.** A val frame and a train frame whose phashes differ in fewer than
   ``duplicate_bits`` bits form a pair; frames are excluded until no pair is left, each time the one in
   the most pairs, a val frame's count divided by the train/val size ratio (val is the scarcer side: a val
   frame goes only when it has more twins than that ratio, like a title card that recurs all over train;
   otherwise its train twins go). The counts are reported. The default,
   :data:`DEFAULT_DUPLICATE_BITS` = 10, is above the harvest's de-duplication threshold (6) on purpose:
   harvest already keeps a label's frames at least that far apart, so a check at 6 finds nothing on a
   harvested dataset, while pairs 6-9 bits apart are the same picture to the eye (issue 14's leaking pair
   was 8 bits apart; frames of a slow pan 0.5 s apart measured a median of 10 bits, unrelated frames about
   32).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from styleverse.frames.manifest import Row
from styleverse.frames.quality import hamming_matrix, hash_ints
from styleverse.frames.shots import Unit, source_units

K = TypeVar("K", bound=Hashable)
DEFAULT_DUPLICATE_BITS = 10
WINDOW_TOLERANCE = 0.5  # a val window may miss its target size by this share (at least 1 frame) to end on cuts


@dataclass
class SourceSplit:
    """How one source video of a class was split."""

    frames: int
    shots: int
    units: int
    val_units: int = 0
    val: int = 0
    train: int = 0
    guard: int = 0
    whole: str = ""  # "train" / "val" when the source could not be split and went to one side whole
    reason: str = ""  # why it could not be split


@dataclass
class ClassSplit:
    """One class's split: rows per side, rows excluded by the guard and as near-duplicates, per source."""

    train: list[Row] = field(default_factory=list)
    val: list[Row] = field(default_factory=list)
    guard: list[Row] = field(default_factory=list)
    duplicates: list[Row] = field(default_factory=list)
    duplicate_train: int = 0
    duplicate_val: int = 0
    sources: dict[str, SourceSplit] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(s.units for s in self.sources.values())

    @property
    def val_units(self) -> int:
        return sum(s.val_units for s in self.sources.values())

    @property
    def shots(self) -> int:
        return sum(s.shots for s in self.sources.values())


def block_key(row: Row, block_seconds: float) -> tuple[str, int]:
    """The source-time block of a row: (source video, block number)."""
    return row.source, math.floor(row.timestamp / block_seconds)


def split_units(sizes: Mapping[K, int], val_fraction: float, rng: np.random.Generator) -> set[K]:
    """Keys that go to validation: a seeded shuffle of the keys, taken greedily while that brings the val
    count closer to ``val_fraction`` of the total. At least one key stays in train, and with two or more
    keys and ``val_fraction > 0`` at least one goes to val."""
    keys = sorted(sizes)  # type: ignore[type-var]
    if len(keys) < 2 or val_fraction <= 0:
        return set()
    order = [keys[i] for i in rng.permutation(len(keys))]
    target, count = val_fraction * sum(sizes.values()), 0
    val: set[Any] = set()
    for k in order:
        if len(val) == len(keys) - 1:
            break
        if abs(count + sizes[k] - target) < abs(count - target):
            val.add(k)
            count += sizes[k]
    if not val:
        val.add(min(order, key=lambda k: sizes[k]))
    return val


def split_blocks(rows: Sequence[Row], val_fraction: float, block_seconds: float, rng: np.random.Generator) -> set:
    """:func:`split_units` over the source-time blocks of ``rows`` (the split by blocks alone)."""
    sizes: dict[tuple[str, int], int] = {}
    for r in rows:
        k = block_key(r, block_seconds)
        sizes[k] = sizes.get(k, 0) + 1
    return split_units(sizes, val_fraction, rng)


def window_order(units: Sequence[Unit], target: float, rng: np.random.Generator) -> Iterator[tuple[int, int]]:
    """Candidate val windows ``units[i:j]`` (never all units), best first: those within tolerance of
    ``target`` frames by fewest ends inside a shot, then closest size, then a seeded draw; the rest after
    them, closest size first. Windows longer than twice the target plus the largest unit are not
    candidates, so a film of thousands of shots costs thousands of windows per start, not millions."""
    m = len(units)
    if m < 2:
        return iter(())
    sizes = np.array([len(u.rows) for u in units])
    cum = np.concatenate([[0], np.cumsum(sizes)])
    first = np.arange(m)
    last = np.searchsorted(cum, cum[:-1] + 2 * target + sizes.max(), side="right") - 1
    counts = np.clip(last, first + 1, m) - first
    i = np.repeat(first, counts)
    j = i + 1 + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = (j - i) < m
    i, j = i[keep], j[keep]
    err = np.abs(cum[j] - cum[i] - target)
    starts = np.array([u.starts_shot for u in units])
    ends = np.array([u.ends_shot for u in units])
    inside = ((i > 0) & ~starts[i]).astype(int) + ((j < m) & ~ends[j - 1]).astype(int)
    near = err <= err.min() + max(1.0, WINDOW_TOLERANCE * target)
    draw = rng.permutation(len(i))
    order = np.lexsort((draw, err, np.where(near, inside, 0), ~near))
    return ((int(i[k]), int(j[k])) for k in order)  # lazily: the first one usually serves


def _guarded_train(rows: Sequence[Row], val: Sequence[Row], guard: float) -> tuple[list[Row], list[Row]]:
    """(train, excluded) of a source's non-val rows for a contiguous val window (module doc, step 2)."""
    t0, t1 = val[0].timestamp, val[-1].timestamp
    taken = {r.path for r in val}
    train: list[Row] = []
    excluded: list[Row] = []
    for r in rows:
        if r.path not in taken:
            (excluded if t0 - guard < r.timestamp < t1 + guard else train).append(r)
    return train, excluded


def _split_source(
    units: list[Unit], val_fraction: float, guard: float, rng: np.random.Generator
) -> tuple[list[Row], list[Row], list[Row], int] | None:
    """(val, train, guard-excluded, val units) for one source by the first usable window, or None."""
    rows = [r for u in units for r in u.rows]
    if val_fraction <= 0:
        return None
    for i, j in window_order(units, val_fraction * len(rows), rng):
        val = [r for u in units[i:j] for r in u.rows]
        train, excluded = _guarded_train(rows, val, guard)
        if train:
            return val, train, excluded, j - i
    return None


def drop_cross_duplicates(train: list[Row], val: list[Row], bits: int) -> tuple[set[str], set[str]]:
    """Paths to exclude from train and from val so that no train-val pair is closer than ``bits`` phash
    bits (module doc, step 4). ``bits <= 0`` turns the check off."""
    if bits <= 0 or not train or not val:
        return set(), set()
    pairs = hamming_matrix(hash_ints(r.phash for r in val), hash_ints(r.phash for r in train)) < bits
    ratio = len(train) / len(val)
    drop_v, drop_t = set(), set()
    while pairs.any():
        dv, dt = pairs.sum(axis=1), pairs.sum(axis=0)
        if dt.max() >= dv.max() / ratio:
            k = int(dt.argmax())
            drop_t.add(train[k].path)
            pairs[:, k] = False
        else:
            k = int(dv.argmax())
            drop_v.add(val[k].path)
            pairs[k, :] = False
    return drop_t, drop_v


def split_class(
    label: str,
    rows: Sequence[Row],
    signatures: Mapping[str, np.ndarray] | None,
    *,
    val_fraction: float,
    block_seconds: float,
    guard_seconds: float,
    duplicate_bits: int,
    rng: np.random.Generator,
) -> ClassSplit:
    """Split one class's harvested rows (module doc). ``signatures``: colour signature per path for cut
    detection (None: phash and time gaps only)."""
    out = ClassSplit()
    by_source: dict[str, list[Row]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    whole: dict[str, list[Row]] = {}
    for source, members in sorted(by_source.items()):
        units = source_units(members, signatures, block_seconds)
        info = out.sources[source] = SourceSplit(len(members), len({u.shot for u in units}), len(units))
        done = _split_source(units, val_fraction, guard_seconds, rng)
        if done is None:
            whole[source] = [r for u in units for r in u.rows]
            info.reason = "one shot within one block" if len(units) < 2 else "too short for a guard gap"
            continue
        val, train, excluded, info.val_units = done
        out.val += val
        out.train += train
        out.guard += excluded
        info.val, info.train, info.guard = len(val), len(train), len(excluded)
    to_val = split_units({s: len(v) for s, v in whole.items()}, val_fraction, rng)
    for source, members in whole.items():
        side = "val" if source in to_val else "train"
        getattr(out, side).extend(members)
        info = out.sources[source]
        info.whole = side
        setattr(info, side, len(members))
        info.val_units = info.units if side == "val" else 0
    drop_t, drop_v = drop_cross_duplicates(out.train, out.val, duplicate_bits)
    out.duplicates = [r for r in out.train if r.path in drop_t] + [r for r in out.val if r.path in drop_v]
    out.train = [r for r in out.train if r.path not in drop_t]
    out.val = [r for r in out.val if r.path not in drop_v]
    out.duplicate_train, out.duplicate_val = len(drop_t), len(drop_v)
    if out.val:
        for source, info in out.sources.items():
            if info.whole == "train":
                out.warnings.append(
                    f"class '{label}': video {source} ({info.frames} frames, {info.reason}) has no val frames; "
                    "val does not represent it"
                )
    return out
