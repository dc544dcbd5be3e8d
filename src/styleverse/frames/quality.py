"""Frame quality checks: perceptual-hash near-duplicates, blank (black/white/fade) frames, colour signatures.

The paper (section 5) found that sampling more than one frame a second from a universe with little screen
time gave a set of nearly identical images, which made that class homogeneous. :class:`DedupIndex` keeps
the 64-bit perceptual hashes (``imagehash.phash``) of the frames kept so far for one label and rejects a
new frame whose hash is within a Hamming distance of any of them. :func:`blank_reason` rejects frames that
carry no style at all: black or white cards and the dark end of fades, all of which have almost no
luminance contrast.

For splitting (:mod:`styleverse.frames.split`): :func:`hamming_matrix` compares two sets of hashes at
once (cross-split near-duplicates, the nearest train-val pair), and :func:`colour_signature` /
:func:`colour_distance` measure how much the colours change between two frames, which together with the
phash distance tells a cut from motion within a shot (:mod:`styleverse.frames.shots`).
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
    The hashes live in a growing uint64 array so a query is one vectorised XOR + popcount."""

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


def phash_bits(a: str, b: str) -> int:
    """Bits that differ between two hex phashes (0..64)."""
    return (_hex_to_int(a) ^ _hex_to_int(b)).bit_count()


def hash_ints(hashes: Iterable[str]) -> np.ndarray:
    """Hex phashes as a uint64 array (empty strings, as in hand-made manifests, count as 0)."""
    return np.array([_hex_to_int(h) for h in hashes], dtype=np.uint64)


def hamming_matrix(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Bits that differ between every hash of ``a`` and every hash of ``b`` (uint64 arrays): (len a, len b)
    uint8, built in row chunks so 10^4 x 10^4 pairs stay near 100 MB."""
    out = np.empty((len(a), len(b)), dtype=np.uint8)
    for i in range(0, len(a), chunk):
        out[i : i + chunk] = np.bitwise_count(a[i : i + chunk, None] ^ b[None, :])
    return out


def colour_signature(img: Image.Image) -> np.ndarray:
    """Cumulative histograms (32 bins) of R, G and B on a 32x24 box-filtered thumbnail, shape (3, 32).

    Box filtering averages fine texture away first, so a drifting pattern or a pan barely moves the
    signature while a cut to another palette moves it a lot (measured in :mod:`styleverse.frames.shots`)."""
    small = np.asarray(img.convert("RGB").resize((32, 24), Image.Resampling.BOX), dtype=np.uint8).reshape(-1, 3)
    hist = np.stack([np.bincount(small[:, c] // 8, minlength=32) for c in range(3)]).astype(np.float64)
    return np.cumsum(hist, axis=1) / len(small)


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between two :func:`colour_signature` values, averaged over R, G, B, as a
    fraction of the full intensity range: 0 for equal colour distributions, 1 for black against white."""
    return float(np.abs(a - b).sum(axis=1).mean() / a.shape[1])


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
    0 disables the check)."""
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
