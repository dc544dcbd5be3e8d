"""Frames of a video result and of the input video it was made from, paired one to one.

An output written by ``styleverse video`` holds one frame per input frame of the job's range, upright and
at the size the job stylised. The input frames are read again the way the job read them (same range, same
display rotation, scaled to the output's size), so output frame ``t`` pairs with input frame ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from styleverse.errors import InputError
from styleverse.evaluation.sources import Kind, VideoRange
from styleverse.io.video import VideoReader, frame_to_array


@dataclass(frozen=True)
class FramePairs:
    """Input and output frames (RGB uint8 (H, W, 3), equal sizes), and whether reading stopped at the limit."""

    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    truncated: bool


def read_output_frames(path: Path, kind: Kind, limit: int) -> tuple[list[np.ndarray], bool]:
    """Up to ``limit`` frames of a video file or a folder of frame images (sorted by name), read as ``video``
    reads its own output (:func:`styleverse.video.steadiness.written_frames`), and whether there were more."""
    from styleverse.video.steadiness import written_frames

    out = list(written_frames(path, kind == "frames", limit + 1))
    return out[:limit], len(out) > limit


def read_input_frames(path: Path, rng: VideoRange, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """The first ``count`` frames of the input's range as the job saw them, at ``size`` = (width, height)."""
    out: list[np.ndarray] = []
    with VideoReader(path) as reader:
        for d in reader.frames(rng.start, rng.end):
            if len(out) == count or (rng.max_frames is not None and len(out) == rng.max_frames):
                break
            rot = int(d.frame.rotation or 0) if rng.rotation is None else rng.rotation
            out.append(frame_to_array(d.frame, size, rot, reader.reformatter))
    return out


def frame_pairs(result: Path, kind: Kind, content: Path, rng: VideoRange, limit: int) -> FramePairs:
    """Output frames of ``result`` paired with the input frames of ``content`` (a video); the shorter of the
    two sets the count. :class:`InputError` when there are none or the content is not a video."""
    outputs, truncated = read_output_frames(result, kind, limit)
    if not outputs:
        raise InputError(f"{result}: no frames could be read")
    h, w = outputs[0].shape[:2]
    if content.suffix.lower() in {".png", ".jpg", ".jpeg"} or content.is_dir():
        raise InputError(f"{result} is a video; its content must be the input video, not {content}")
    inputs = read_input_frames(content, rng, (w, h), len(outputs))
    if not inputs:
        raise InputError(f"{content}: no input frames in the range the video job used")
    n = min(len(inputs), len(outputs))
    return FramePairs(inputs[:n], outputs[:n], truncated)


def sample_indices(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``n <= k``), first and last included."""
    if n <= k:
        return list(range(n))
    if k == 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
