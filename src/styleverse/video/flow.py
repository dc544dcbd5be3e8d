"""Optical flow between input frames: OpenCV's DIS (Kroeger et al. 2016), milliseconds per frame on a CPU.

Ruder et al. 2016 ("Artistic style transfer for videos") used DeepFlow/EpicFlow, which cost minutes per
frame; their method needs only a dense flow good enough to carry the stylised previous frame along and to
find where it cannot be carried (occlusions, motion boundaries). DIS gives that at a few milliseconds per
frame at 256 px on one core (``benchmarks/bench_video.py``). Flow is always computed on the *input* frames
(greyscale, uint8), never on stylised ones, whose texture would mislead it.

Convention: ``flow(a, b)`` is the (H, W, 2) field ``f`` (x then y, in pixels) with ``a(p) ≈ b(p + f(p))``:
for every pixel of ``a``, where it is found in ``b``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
DEFAULT_PRESET = "medium"  # measured: ~4 ms per flow at 256x144 on one core, 5x more accurate than "fast"


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Greyscale uint8 (H, W) of an RGB uint8 (H, W, 3) frame, what DIS works on."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class FlowPair:
    """Flows between consecutive input frames ``prev`` and ``cur``: ``forward = flow(prev, cur)`` and
    ``backward = flow(cur, prev)`` (the one that warps ``prev`` into ``cur``'s pixel grid)."""

    forward: np.ndarray
    backward: np.ndarray


class DISFlow:
    """Dense optical flow by DIS; one instance keeps one OpenCV object (not thread-safe: one per thread)."""

    def __init__(self, preset: str = DEFAULT_PRESET) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset '{preset}' (one of {', '.join(PRESETS)})")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``f`` with ``a(p) ≈ b(p + f(p))``; ``a`` and ``b`` greyscale uint8 of one size; float32 (H, W, 2)."""
        if a.shape != b.shape or a.ndim != 2:
            raise ValueError(f"flow needs two greyscale frames of one size, got {a.shape} and {b.shape}")
        return self._dis.calc(a, b, None)

    def pair(self, prev: np.ndarray, cur: np.ndarray) -> FlowPair:
        """Forward and backward flow between consecutive greyscale frames."""
        return FlowPair(self(prev, cur), self(cur, prev))
