"""Frame quality checks for harvesting: perceptual-hash near-duplicates and blank (black/white/fade) frames.

The paper (section 5) found that sampling more than one frame a second from a universe with little screen
time gave a set of nearly identical images, which made that class homogeneous. :class:`DedupIndex` keeps
the 64-bit perceptual hashes (``imagehash.phash``) of the frames kept so far for one label and rejects a
new frame whose hash is within a Hamming distance of any of them. :func:`blank_reason` rejects frames that
carry no style at all: black or white cards and the dark end of fades, all of which have almost no
luminance contrast.
"""

from __future__ import annotations

from collections.abc import Iterable

import imagehash
import numpy as np
from PIL import Image

DEFAULT_DEDUP_THRESHOLD = 6
DEFAULT_BLANK_THRESHOLD = 10.0


def phash_hex(img: Image.Image) -> str:
    """The 64-bit perceptual hash of an image as 16 hex digits (``str(imagehash.phash(img))``)."""
    return str(imagehash.phash(img))


def _hex_to_int(text: str) -> int:
    return int(text, 16) if text else 0


class DedupIndex:
    """Perceptual hashes of the frames kept for one label, queried by Hamming distance.

    A frame is a near-duplicate when its hash differs from some kept hash in *fewer than* ``threshold``
    bits; ``threshold=0`` therefore disables de-duplication, ``threshold=1`` drops only identical hashes.
    The hashes live in a growing uint64 array so a query is one vectorised XOR + popcount.
    """

    def __init__(self, threshold: int, hashes: Iterable[str] = ()) -> None:
        if threshold < 0:
            raise ValueError("threshold must be >= 0")
        self.threshold = threshold
        self._hashes = np.zeros(64, dtype=np.uint64)
        self._n = 0
        for h in hashes:
            self.add(h)

    def __len__(self) -> int:
        return self._n

    def nearest(self, phash: str) -> int:
        """Smallest Hamming distance to a kept hash (65 when none is kept)."""
        if self._n == 0:
            return 65
        x = np.uint64(_hex_to_int(phash))
        return int(np.bitwise_count(self._hashes[: self._n] ^ x).min())

    def is_duplicate(self, phash: str) -> bool:
        """True when de-duplication is on and ``phash`` is within the threshold of a kept hash."""
        return self.threshold > 0 and self.nearest(phash) < self.threshold

    def add(self, phash: str) -> None:
        """Remember a kept frame's hash."""
        if self._n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[self._n] = np.uint64(_hex_to_int(phash))
        self._n += 1


def luminance_stats(img: Image.Image) -> tuple[float, float]:
    """Mean and standard deviation of luminance (0–255) on a 64-px thumbnail (cheap, noise-tolerant)."""
    small = img.convert("L")
    if max(small.size) > 64:
        small = small.resize((64, max(1, round(64 * small.height / small.width))), Image.Resampling.BILINEAR)
    arr = np.asarray(small, dtype=np.float32)
    return float(arr.mean()), float(arr.std())


def blank_reason(img: Image.Image, threshold: float = DEFAULT_BLANK_THRESHOLD) -> str | None:
    """Why a frame is blank — ``"black"``, ``"white"`` or ``"flat"`` (a fade or a plain card) — or None.

    A frame is blank when the standard deviation of its luminance is below ``threshold`` (0–255 scale;
    0 disables the check). The reason only says which kind of near-constant frame it is.
    """
    if threshold <= 0:
        return None
    mean, std = luminance_stats(img)
    if std >= threshold:
        return None
    if mean < 40:
        return "black"
    if mean > 215:
        return "white"
    return "flat"
