"""Built-in samples that need no network: a public-domain photo bundled with scikit-image, and style
images drawn in code in the comic looks of the paper's universes (halftone dots, hatching, posters)."""

from __future__ import annotations

from typing import cast

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SAMPLE_STYLES = ("halftone", "hatching", "poster")


def content_photo(name: str = "chelsea") -> Image.Image:
    """A bundled public-domain photo from scikit-image (``chelsea`` the cat, ``astronaut``, ``coffee``)."""
    from skimage import data

    arr = getattr(data, name)()
    return Image.fromarray(np.asarray(arr)).convert("RGB")


def halftone(size: int = 384, seed: int = 0) -> Image.Image:
    """Ben-Day/halftone dots over flat magenta-cyan-yellow colour fields, with ink outlines."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), (250, 236, 200))
    d = ImageDraw.Draw(img)
    palette = [(236, 0, 140), (0, 174, 239), (255, 242, 0), (30, 30, 60)]
    for _ in range(7):
        x0, y0 = rng.integers(-size // 4, size, 2)
        r = int(rng.integers(size // 6, size // 2))
        d.ellipse([x0, y0, x0 + r, y0 + r], fill=palette[int(rng.integers(0, 3))], outline=(20, 20, 20), width=4)
    step = max(6, size // 40)
    for y in range(0, size, step):
        for x in range((y // step % 2) * step // 2, size, step):
            c = cast(tuple[int, int, int], img.getpixel((min(x, size - 1), min(y, size - 1))))
            rad = step * (0.15 + 0.3 * (1 - sum(c) / 765))
            dark = tuple(max(0, v - 110) for v in c)
            d.ellipse([x - rad, y - rad, x + rad, y + rad], fill=dark)
    return img


def hatching(size: int = 384, seed: int = 1) -> Image.Image:
    """Ink cross-hatching with density following a smooth random shading field, on warm paper."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    shade = 0.5 + 0.5 * np.sin(6 * xx + rng.uniform(0, 6)) * np.cos(5 * yy + rng.uniform(0, 6))
    paper = np.stack([235 + 0 * xx, 225 + 0 * xx, 200 + 0 * xx], -1)
    lines1 = (np.sin((xx + yy) * size / 3.0) > 1 - 1.6 * shade)[..., None]
    lines2 = (np.sin((xx - yy) * size / 3.0) > 1.6 - 1.6 * shade)[..., None]
    ink = np.array([40, 30, 70])
    out = np.where(lines1 | lines2, ink, paper).astype(np.uint8)
    return Image.fromarray(out, "RGB").filter(ImageFilter.SMOOTH)


def poster(size: int = 384, seed: int = 2) -> Image.Image:
    """Flat poster colours: overlapping shapes in a few saturated inks with thick black outlines."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), (20, 16, 48))
    d = ImageDraw.Draw(img)
    inks = [(255, 80, 60), (255, 200, 40), (60, 210, 200), (140, 70, 220), (250, 250, 240)]
    for _ in range(14):
        pts = [
            tuple(int(v) for v in rng.integers(-size // 5, size + size // 5, 2)) for _ in range(int(rng.integers(3, 6)))
        ]
        d.polygon(pts, fill=inks[int(rng.integers(0, len(inks)))], outline=(0, 0, 0), width=5)
    return img


def sample_style(name: str, size: int = 384) -> Image.Image:
    """One of :data:`SAMPLE_STYLES` by name."""
    return {"halftone": halftone, "hatching": hatching, "poster": poster}[name](size)
