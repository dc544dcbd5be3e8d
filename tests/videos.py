"""Small synthetic videos for tests: distinct "universes" made with PyAV at test time.

Each universe has its own colour palette, texture and motion (a drifting texture plus a large blob that
orbits the frame), so frames of one universe look alike, frames of two universes do not, and frames a
second apart differ enough in perceptual hash to survive de-duplication. ``motion=False`` gives a static
clip (every frame identical), which de-duplication should collapse to one frame.

    make_video(path, "gwen", seconds=3, fps=10, size=(64, 48))
    make_film(path, [("miles", 2), ("black", 1), ("gwen", 2), ("fade", 1)])
    write_garbage(path)  # random bytes, for "corrupt video" tests
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

UNIVERSES = ("miles", "gwen", "pavitr", "hq", "42")
_PALETTES = np.array(
    [
        [(230, 20, 140), (20, 170, 170), (250, 230, 40)],  # miles: magenta / teal halftone, yellow blob
        [(250, 190, 210), (120, 220, 240), (255, 255, 255)],  # gwen: pastel stripes, white blob
        [(250, 200, 0), (240, 90, 10), (150, 0, 30)],  # pavitr: saturated checker, crimson blob
        [(30, 40, 90), (150, 160, 180), (240, 120, 40)],  # hq: navy grid, orange blob
        [(40, 160, 60), (110, 30, 150), (10, 10, 10)],  # 42: green / purple noise, black blob
    ],
    dtype=np.float32,
)
BLANKS = ("black", "white", "fade")


def universe_index(universe: str | int) -> int:
    """A universe's number: position in :data:`UNIVERSES`, an int as given, or a stable hash of a name."""
    if isinstance(universe, int):
        return universe
    if universe in UNIVERSES:
        return UNIVERSES.index(universe)
    return zlib.crc32(universe.encode()) % 1000


def _palette(idx: int) -> np.ndarray:
    if idx < len(_PALETTES):
        return _PALETTES[idx]
    return np.random.default_rng(idx).uniform(0, 255, size=(3, 3)).astype(np.float32)


def _pattern(kind: int, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Texture value in [0, 1] at coordinates (in frame widths)."""
    if kind == 0:  # halftone dots
        return (np.sin(2 * np.pi * 6 * x) * np.sin(2 * np.pi * 6 * y) > 0.2).astype(np.float32)
    if kind == 1:  # soft diagonal stripes
        return 0.5 + 0.5 * np.sin(2 * np.pi * 4 * (x + y))
    if kind == 2:  # checker
        return ((np.floor(6 * x) + np.floor(6 * y)) % 2).astype(np.float32)
    if kind == 3:  # grid lines
        return (((x * 8) % 1 < 0.15) | ((y * 8) % 1 < 0.15)).astype(np.float32)
    grid = np.random.default_rng(seed).uniform(0, 1, size=(9, 9)).astype(np.float32)  # value noise
    gx, gy = (x * 4) % 8, (y * 4) % 8
    ix, iy = gx.astype(int), gy.astype(int)
    fx, fy = gx - ix, gy - iy
    top = grid[iy, ix] * (1 - fx) + grid[iy, ix + 1] * fx
    bottom = grid[iy + 1, ix] * (1 - fx) + grid[iy + 1, ix + 1] * fx
    return top * (1 - fy) + bottom * fy


def universe_frame(universe: str | int, t: float, size: tuple[int, int] = (64, 48), motion: bool = True) -> np.ndarray:
    """The RGB uint8 frame (H, W, 3) of ``universe`` at time ``t`` seconds."""
    idx = universe_index(universe)
    w, h = size
    pal = _palette(idx)
    tt = t if motion else 0.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xs / w, ys / w
    drift = 0.15 * tt
    v = _pattern(idx % 5, x + drift, y + 0.5 * drift, idx)[..., None]
    img = pal[0] * (1 - v) + pal[1] * v
    angle = 2 * np.pi * (tt / 9.0 + idx / 5.0)  # one orbit every 9 s
    cx, cy = 0.5 + 0.3 * np.cos(angle), 0.5 * h / w + 0.25 * np.sin(angle) * h / w
    blob = ((x - cx) ** 2 + (y - cy) ** 2) < 0.2**2
    img[blob] = pal[2]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def write_frames(
    path: str | Path, frames: Iterable[np.ndarray], fps: float = 10, codec: str = "mpeg4", bit_rate: int | None = None
) -> Path:
    """Encode RGB uint8 frames (all the same even size) into a video file with PyAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = None
        for arr in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = arr.shape[:2]
                stream.pix_fmt = "yuv420p"
                if bit_rate:
                    stream.bit_rate = bit_rate
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("write_frames needs at least one frame")
        for packet in stream.encode():
            container.mux(packet)
    return path


def film_frames(
    parts: Sequence[tuple[str | int, float]], fps: float = 10, size: tuple[int, int] = (64, 48), motion: bool = True
) -> list[np.ndarray]:
    """Frames of a film made of consecutive parts ``(kind, seconds)``.

    ``kind`` is a universe, ``"black"``, ``"white"``, or ``"fade"`` (the previous universe fading linearly
    to black over the part). Time inside a universe runs on with the film's clock.
    """
    w, h = size
    frames: list[np.ndarray] = []
    t0 = 0.0
    last: str | int = 0
    for kind, seconds in parts:
        n = round(seconds * fps)
        for i in range(n):
            t = t0 + i / fps
            if kind == "black":
                frames.append(np.zeros((h, w, 3), np.uint8))
            elif kind == "white":
                frames.append(np.full((h, w, 3), 255, np.uint8))
            elif kind == "fade":
                level = 1.0 - (i + 1) / n
                frames.append((universe_frame(last, t, size, motion).astype(np.float32) * level).astype(np.uint8))
            else:
                frames.append(universe_frame(kind, t, size, motion))
        if kind not in BLANKS:
            last = kind
        t0 += n / fps
    return frames


def make_film(
    path: str | Path,
    parts: Sequence[tuple[str | int, float]],
    fps: float = 10,
    size: tuple[int, int] = (64, 48),
    codec: str = "mpeg4",
    motion: bool = True,
) -> Path:
    """Write a film of consecutive parts (see :func:`film_frames`); ``size`` is (width, height), even."""
    return write_frames(path, film_frames(parts, fps, size, motion), fps, codec)


def make_video(
    path: str | Path,
    universe: str | int,
    seconds: float = 3.0,
    fps: float = 10,
    size: tuple[int, int] = (64, 48),
    codec: str = "mpeg4",
    motion: bool = True,
) -> Path:
    """Write a clip of one universe; ``motion=False`` makes every frame identical."""
    return make_film(path, [(universe, seconds)], fps, size, codec, motion)


def write_garbage(path: str | Path, nbytes: int = 4096, seed: int = 0) -> Path:
    """Random bytes under a video's name: a file no decoder can read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes())
    return path
