"""Shots of a source video, found from its sampled frames, and the units a train/val split may cut between.

Frames of one shot share a camera set-up and look alike even seconds apart; frames of two shots usually do
not. Splitting between shots instead of at fixed times keeps one shot off both sides of a train/val split
(issue 14: a val frame at 10.0 s sat next to a train frame at 9.5 s of the same shot, 8 phash bits apart).

**Cuts.** Consecutive sampled frames of one source (in time order) are a cut when their colours jump
(:func:`~styleverse.frames.quality.colour_distance` >= :data:`CUT_COLOUR`), or when their structure jumps
(phash bits >= :data:`CUT_BITS`) together with some colour change (>= :data:`CUT_COLOUR_WITH_BITS`), or when
they are ``block_seconds`` or more apart (separate segments of a film). Structure alone is not enough: a
fast pan changes the phash as much as a cut does but keeps the colours. Measured on Ken Burns pans over
nine scikit-image photos (8 frames per photo, moving 2-10% of the free range per frame): within a shot
phash <= 24 bits and colour <= 0.046, across cuts phash >= 24 and colour >= 0.12; the rule found every cut
and no false one. On the tests' synthetic universes (fast-drifting periodic textures at 40x32 px) the
phash changes by up to 46 bits between frames one second apart at colour <= 0.053, so those are not cut
either. Cuts between shots of one palette and one layout are missed; such a shot pair then splits like
one long shot, by blocks and with the guard gap.

**Units.** A shot longer than ``block_seconds`` is further cut at the block boundaries
(``floor(timestamp / block_seconds)``), so a clip that is one long shot can still be split (with a guard
gap, :mod:`styleverse.frames.split`). A unit records whether it starts and ends at a cut (or the source's
ends), so the split can prefer boundaries that are real cuts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from styleverse.frames.manifest import Row
from styleverse.frames.quality import colour_distance, phash_bits

CUT_COLOUR = 0.12
CUT_BITS = 24
CUT_COLOUR_WITH_BITS = 0.06


@dataclass(frozen=True)
class Unit:
    """Consecutive frames of one source that always share a split: one shot, or one block of a long shot."""

    source: str
    shot: int  # shot number within the source, from 0
    rows: tuple[Row, ...]  # time order
    starts_shot: bool  # the frame before it (if any) is across a cut
    ends_shot: bool  # the frame after it (if any) is across a cut

    @property
    def start(self) -> float:
        return self.rows[0].timestamp

    @property
    def end(self) -> float:
        return self.rows[-1].timestamp


def is_cut(bits: int, colour: float, gap: float, block_seconds: float) -> bool:
    """The cut rule of the module doc for two consecutive sampled frames."""
    return colour >= CUT_COLOUR or (bits >= CUT_BITS and colour >= CUT_COLOUR_WITH_BITS) or gap >= block_seconds


def shot_numbers(rows: Sequence[Row], signatures: Mapping[str, np.ndarray] | None, block_seconds: float) -> list[int]:
    """Shot number of each row of one source (rows in time order). ``signatures`` maps a row's path to its
    :func:`~styleverse.frames.quality.colour_signature`; without one for a pair, only the phash and the
    time gap decide (a phash jump >= :data:`CUT_BITS` then counts as a cut)."""
    shots = [0] * len(rows)
    for i in range(1, len(rows)):
        a, b = rows[i - 1], rows[i]
        bits = phash_bits(a.phash, b.phash)
        sa, sb = (signatures or {}).get(a.path), (signatures or {}).get(b.path)
        colour = colour_distance(sa, sb) if sa is not None and sb is not None else (1.0 if bits >= CUT_BITS else 0.0)
        shots[i] = shots[i - 1] + is_cut(bits, colour, b.timestamp - a.timestamp, block_seconds)
    return shots


def source_units(rows: Sequence[Row], signatures: Mapping[str, np.ndarray] | None, block_seconds: float) -> list[Unit]:
    """The units of one source's rows (any order in, time order out), see the module doc."""
    ordered = sorted(rows, key=lambda r: (r.timestamp, r.path))
    shots = shot_numbers(ordered, signatures, block_seconds)
    groups: list[list[int]] = []
    for i, r in enumerate(ordered):
        key = (shots[i], math.floor(r.timestamp / block_seconds))
        prev = (shots[i - 1], math.floor(ordered[i - 1].timestamp / block_seconds)) if i else None
        if key != prev:
            groups.append([])
        groups[-1].append(i)
    units = []
    for g in groups:
        first, last = g[0], g[-1]
        starts = first == 0 or shots[first - 1] != shots[first]
        ends = last == len(ordered) - 1 or shots[last + 1] != shots[last]
        units.append(Unit(ordered[first].source, shots[first], tuple(ordered[i] for i in g), starts, ends))
    return units
