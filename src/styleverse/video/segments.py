"""Shots and chunks of a video job: the units of work that processes share.

The temporal loss (Ruder et al. 2016) ties each frame to the one before it only within a shot; across a
cut the optical flow means nothing. So a job is cut into **segments**, each stylised on its own by a fresh
frame loop whose first frame gets ``steps_first``: one per shot (cuts found once, by the rule of
:mod:`styleverse.frames.shots` on each frame's colours and perceptual hash), and a shot longer than
``chunk_frames`` (when set) split into chunks so one long shot can still be spread over many processes. A
chunk after the first starts ``overlap`` frames early: those *lead-in* frames warm its loop up and are
blended with the previous chunk's own frames by a linear ramp (:func:`blend_weights`), so the seam does not
show.

Each segment depends only on its frames and the job's settings, so the frames of a job are the same
whichever process stylises which segment and however many there are; they are dealt to processes by frame
count (:func:`styleverse.distributed.deal`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from styleverse.frames.quality import colour_distance, colour_signature, phash_bits, phash_hex
from styleverse.frames.shots import is_cut
from styleverse.io.video import DecodedFrame, VideoReformatter, frame_to_image

SIGNATURE_SIZE = 64  # longest side of the thumbnail a frame's cut signature is taken from


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` .. ``stop - 1`` of a job (0-based in its range), stylised after ``lead`` lead-in
    frames just before ``start`` (0 for the first chunk of a shot)."""

    start: int
    stop: int
    lead: int = 0

    @property
    def first(self) -> int:
        """The first frame this segment stylises (its lead-in's, if any)."""
        return self.start - self.lead

    @property
    def frames(self) -> int:
        """Frames this segment stylises, lead-in included: its share of the work."""
        return self.stop - self.first


def find_cuts(frames: Iterable[DecodedFrame], reformatter: VideoReformatter | None = None) -> tuple[list[int], int]:
    """Indices of the frames that start a new shot (never 0) and the number of frames, from one decoding
    pass over ``frames`` (a 64 px thumbnail each; the time gap never counts as a cut here)."""
    cuts: list[int] = []
    prev: tuple[str, np.ndarray] | None = None
    n = 0
    for n, dec in enumerate(frames, 1):
        small = frame_to_image(dec.frame, SIGNATURE_SIZE, reformatter)
        sig = (phash_hex(small), colour_signature(small))
        if prev is not None and is_cut(phash_bits(prev[0], sig[0]), colour_distance(prev[1], sig[1]), 0.0, math.inf):
            cuts.append(n - 1)
        prev = sig
    return cuts, n


def plan_segments(n: int, cuts: Sequence[int], chunk_frames: int | None = None, overlap: int = 0) -> list[Segment]:
    """The segments of ``n`` frames with shots starting at ``cuts``: one per shot, or, for a shot longer
    than ``chunk_frames``, chunks of ``chunk_frames`` frames, each after the first led in by ``overlap``
    frames of the chunk before it."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < n), n]
    out: list[Segment] = []
    for a, b in itertools.pairwise(bounds):
        step = b - a if chunk_frames is None else max(1, chunk_frames)
        for s in range(a, b, step):
            out.append(Segment(s, min(s + step, b), min(overlap, s - a, step) if s > a else 0))
    return out


def blend_weights(segments: Sequence[Segment]) -> dict[int, float]:
    """For each frame that a later chunk led in with, the weight of that chunk's lead-in frame in the
    output; the previous chunk's own frame gets the rest. The ramp rises ``1/(lead+1) .. lead/(lead+1)``
    towards the new chunk, which then carries on alone."""
    return {seg.first + j: (j + 1) / (seg.lead + 1) for seg in segments for j in range(seg.lead)}


def blend(own: np.ndarray, lead: np.ndarray, weight: float) -> np.ndarray:
    """RGB uint8 mix ``(1 - weight)·own + weight·lead``, rounded."""
    mixed = (1.0 - weight) * own.astype(np.float32) + weight * lead.astype(np.float32)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
