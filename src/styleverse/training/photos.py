"""Content photos for training a transform network: which photos, and the batch of every step.

Photos come from image files, folders and frame manifests (:func:`styleverse.styles.inputs.expand_inputs`;
a manifest's augmented rows are skipped). A batch is a pure function of ``(seed, step, process)``: global
position ``p = step·B·world + rank·B + j`` takes photo ``perm_epoch[p mod N]`` of a seeded permutation per
epoch, a seeded random square crop (after scaling the short side to ``size``, Johnson et al. 2016 trained on
256x256 crops; with ``load_size``, no larger than ``load_size`` and never enlarged past ``size``) and flip,
and universe ``p mod S`` (every universe equally often). Because nothing depends on
earlier steps, a resumed run sees exactly the photos the uninterrupted run would have seen, and N processes
with B photos each see the same photos as one process with N·B.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styleverse.errors import InputError
from styleverse.io.images import header_size, load_image, pil_to_tensor
from styleverse.io.prefetch import StepPrefetcher

_MIX = 0x9E3779B97F4A7C15  # splits (seed, index) into unrelated generator seeds


def _seed(*parts: int) -> int:
    h = 0
    for p in parts:
        h = (h * _MIX + p + 1) % 2**63
    return h


PHOTOS_CHANGED = "the content photos changed (added, removed or edited) since the run began"


def files_digest(paths: Sequence[Path]) -> str:
    """Identity of an ordered list of files (paths, sizes, mtimes): a resumed run must see the same photos
    (:data:`PHOTOS_CHANGED` says it when it does not)."""
    from styleverse.styles.inputs import inputs_digest
    from styleverse.styles.targets import StyleImage

    return inputs_digest([StyleImage(p, 1.0) for p in paths])


def sample_photos(photos: Sequence[Path], n: int = 4) -> list[Path]:
    """``n`` photos spread over ``photos``: the rows of a trainer's sample grids."""
    return list(photos[:: max(1, len(photos) // n)][:n])


def content_photos(
    inputs: Sequence[str | os.PathLike[str]], size: int, label: str | None = None, what: str = "--content"
) -> list[Path]:
    """The training images named by ``inputs`` (files, folders, manifests; ``label`` picks a manifest's rows,
    as ``styles bank --label`` does), each checked to be an image whose short side is at least ``size`` pixels
    (from its header: a scan, not a decode). ``what`` names the flag: ``--content`` photos, ``--style`` images."""
    from styleverse.styles.inputs import expand_inputs

    noun = "photo" if what == "--content" else "style image"
    if not inputs:
        raise InputError(f"{what}: give a folder of {noun}s, image files or a frames manifest")
    photos = [s.path for s in expand_inputs(list(inputs), label=label)]
    if not photos:
        raise InputError(f"{what}: no {noun}s in {', '.join(map(str, inputs))}")
    for p in photos:
        w, h = header_size(p) or load_image(p).size  # load_image raises the one-line error for a bad file
        if min(w, h) < size:
            raise InputError(
                f"{p}: {noun} is {w}x{h} px, too small to train at --size {size} (needs {size} px on the short "
                f"side); lower --size or leave the {noun} out"
            )
    return photos


def crop_photo(path: Path, size: int, rng: np.random.Generator | None, load_size: int | None = None) -> torch.Tensor:
    """(3, size, size) in [0,1]: a square crop (random with ``rng``, centred without) and, with ``rng``, a random
    horizontal flip. Before it, the short side is scaled to ``size``; with ``load_size``, an image is scaled
    down to ``load_size`` on its short side when larger, kept at its own size when it lies between ``size`` and
    ``load_size`` (a 300-px style frame is never blown up to 512) and scaled up only to ``size`` when smaller."""
    img = load_image(path)
    w, h = img.size
    short = min(w, h)
    s = size / short if load_size is None else max(size / short, min(1.0, load_size / short))
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.LANCZOS)
    x = int(rng.integers(0, nw - size + 1)) if rng is not None else (nw - size) // 2
    y = int(rng.integers(0, nh - size + 1)) if rng is not None else (nh - size) // 2
    t = pil_to_tensor(img.crop((x, y, x + size, y + size)))[0]
    return t.flip(-1) if rng is not None and rng.random() < 0.5 else t


@dataclass
class Batches(StepPrefetcher[tuple[torch.Tensor, torch.Tensor]]):
    """The training batches of a run (see module doc): ``self(step)``, decoded one step ahead on a thread;
    :meth:`close` when done."""

    photos: list[Path]
    universes: int
    size: int
    batch_size: int
    seed: int
    rank: int = 0
    world_size: int = 1
    load_size: int | None = None  # see :func:`crop_photo`: images between size and load_size keep their own size

    def __post_init__(self) -> None:
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng(_seed(self.seed, epoch)).permutation(len(self.photos))}
        return self._perms[epoch]

    def positions(self, step: int) -> list[int]:
        """Global sample positions of this process's share of ``step``."""
        start = (step * self.world_size + self.rank) * self.batch_size
        return list(range(start, start + self.batch_size))

    def plan(self, step: int) -> list[tuple[Path, int, int]]:
        """(photo, universe, position) of each sample of this process's share of ``step``."""
        n = len(self.photos)
        return [(self.photos[int(self._perm(p // n)[p % n])], p % self.universes, p) for p in self.positions(step)]

    def make(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B,3,size,size) and universe indices (B,) of ``step``, decoded now."""
        plan = self.plan(step)
        rngs = [np.random.default_rng(_seed(self.seed, 7, p)) for _, _, p in plan]
        imgs = [crop_photo(path, self.size, r, self.load_size) for (path, _, _), r in zip(plan, rngs, strict=True)]
        return torch.stack(imgs), torch.tensor([u for _, u, _ in plan], dtype=torch.long)
