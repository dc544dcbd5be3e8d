"""Synthetic clips with known motion: a textured scene panned by a known offset per frame, plus an occluder.

    frames = pan_frames(10, size=(64, 48), shift=(2, 1))   # RGB uint8 (H, W, 3) list
    write_clip(path, frames, fps=10)                       # encode with PyAV (mpeg4 by default)

Frame t shows the scene window at ``origin + t·shift`` (so the content moves by ``−shift`` px per frame
and a strip of width ``shift`` enters at the right/bottom edge); the occluder, a flat square, moves the
other way, uncovering scene behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A large RGB uint8 texture for flow to lock on: smooth colour regions (what 4:2:0 chroma keeps) with
    greyscale detail at two finer scales (what the flow sees)."""
    rng = np.random.default_rng(seed)

    def noise(cell: int, channels: int) -> np.ndarray:
        small = rng.uniform(0, 1, (height // cell + 2, width // cell + 2, channels)).astype(np.float32)
        up = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[:height, :width]
        return up.reshape(height, width, channels)

    colour = noise(24, 3)
    detail = 0.6 * noise(8, 1) + 0.4 * noise(3, 1)
    img = 0.6 * colour + 0.4 * detail
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def pan_frames(
    n: int,
    size: tuple[int, int] = (64, 48),
    shift: tuple[int, int] = (2, 1),
    occluder: int = 12,
    seed: int = 0,
) -> list[np.ndarray]:
    """``n`` frames (RGB uint8, (H, W, 3)) of a pan by integer ``shift`` = (dx, dy) px per frame, with a
    flat ``occluder``-px square moving by −2·shift (0: none)."""
    w, h = size
    dx, dy = shift
    big = scene(w + abs(dx) * n + 8, h + abs(dy) * n + 8, seed)
    x0, y0 = (4 if dx >= 0 else 4 + abs(dx) * n), (4 if dy >= 0 else 4 + abs(dy) * n)
    frames = []
    for t in range(n):
        f = big[y0 + t * dy : y0 + t * dy + h, x0 + t * dx : x0 + t * dx + w].copy()
        if occluder:
            ox = int(w * 0.6) - 2 * dx * t
            oy = h // 4 - 2 * dy * t + h // 4
            f[max(0, oy) : max(0, oy + occluder), max(0, ox) : max(0, ox + occluder)] = (240, 40, 40)
        frames.append(f)
    return frames


def write_clip(
    path: str | Path,
    frames: Sequence[np.ndarray],
    fps: float = 10,
    codec: str = "mpeg4",
    times: Sequence[float] | None = None,
    audio_seconds: float = 0.0,
    audio_codec: str = "aac",
    rotation: int = 0,
    pixel_aspect: Fraction | None = None,
) -> Path:
    """Encode RGB uint8 frames with PyAV: constant rate, or the given presentation ``times`` (seconds; a
    variable frame rate, millisecond time base); optional sine ``audio_seconds`` long; optional display
    rotation and sample aspect ratio."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as c:
        s = c.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            s.bit_rate = 8_000_000  # near-lossless, so the tests see the motion, not coding drift
        else:
            s.options = {"crf": "12"}
        tb = Fraction(1, 1000) if times is not None else None
        if tb is not None:
            s.codec_context.time_base = tb
        if rotation:
            s.set_display_rotation(rotation)
        if pixel_aspect is not None:
            s.codec_context.sample_aspect_ratio = pixel_aspect
        a = None
        if audio_seconds > 0:
            a = c.add_stream(audio_codec, rate=44100)
            a.layout = "mono"
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            if tb is not None and times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), tb
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
        if a is not None:
            _sine(c, a, audio_seconds)
    return path


def _sine(c: av.container.OutputContainer, a: av.audio.stream.AudioStream, seconds: float) -> None:
    rate, n, chunk = 44100, 0, 1024
    total = round(seconds * rate)
    fmt = a.codec_context.format.name if a.codec_context.format else "fltp"
    while n < total:
        k = min(chunk, total - n)
        wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n, n + k) / rate)
        data = (wave * 32767).astype(np.int16)[None] if fmt.startswith("s16") else wave.astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate, frame.pts = rate, n
        c.mux(a.encode(frame))
        n += k
    c.mux(a.encode(None))
