"""What style-aware training sees: the universes (their frames) and the batch of every step.

A universe is a collection of frames, not one style image (Sanakoyeu et al. learn an artist from all of
their works): ``--style`` takes image files, folders and frame manifests. Without labels each ``--style``
item is a universe named after its folder (or its file, up to the first dot); with labels, each label is a
universe and its frames are the manifest rows of that label (augmented rows are skipped, as ``styles bank``
does).

A step's batch is a pure function of ``(seed, step, process)``: the photos and their universes come from
:class:`styleverse.training.photos.Batches` (sample position ``p`` takes universe ``p mod S``), every sample
gets a frame of its own universe (a seeded permutation per universe and epoch), and both are scaled down to
``load_size`` on the short side when larger (kept at their own size otherwise: a small frame is never
enlarged), then cropped to ``size`` and flipped (:func:`~styleverse.training.photos.crop_photo`; the code's
800-px images and 768-px crops). So a resumed run sees what the
uninterrupted one would have, and N processes with B samples each see what one process with N·B sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from styleverse.errors import ConfigError
from styleverse.io.prefetch import StepPrefetcher
from styleverse.training.photos import Batches, content_photos, crop_photo

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # photos, universe indices, frames


@dataclass(frozen=True)
class Universe:
    """A universe: its name, where its frames come from, and the frames."""

    name: str
    source: str
    frames: tuple[Path, ...]


def load_universes(style: Sequence[str], labels: Sequence[str], size: int) -> list[Universe]:
    """The universes of ``--style`` and ``--label`` (see the module doc), each frame at least ``size`` px on
    its short side. One-line errors for no frames, a frame too small and two universes of one name."""
    from styleverse.styles.inputs import expand_inputs

    if not style:
        raise ConfigError("style: give the universe's frames (folders, images or a frames manifest)", setting="style")
    out: list[Universe] = []
    if labels:
        for label in labels:
            frames = [str(s.path) for s in expand_inputs(list(style), label=label)]
            out.append(Universe(label, ", ".join(style), tuple(content_photos(frames, size))))
    else:
        for item in style:
            p = Path(item)
            name = p.name.split(".")[0] if p.is_file() else p.name
            out.append(Universe(name or item, item, tuple(content_photos([item], size))))
    names = [u.name for u in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"two universes are named {', '.join(dup)}; rename a folder or file", setting="style")
    return out


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(parts)))


class GanBatches(StepPrefetcher[Batch]):
    """The (photos, universe indices, frames) of every step (see the module doc), one step ahead on a
    thread; :meth:`close` when done."""

    def __init__(
        self, photos: list[Path], universes: list[Universe], size: int, load_size: int, batch_size: int,
        seed: int, rank: int = 0, world_size: int = 1,
    ) -> None:  # fmt: skip
        self.photos = Batches(photos, len(universes), load_size, batch_size, seed, rank, world_size)
        self.universes, self.size, self.load_size, self.seed = universes, size, load_size, seed
        self._perms: dict[int, tuple[int, np.ndarray]] = {}  # universe -> (epoch, its frame order)

    def frame(self, universe: int, position: int) -> Path:
        """The frame of universe ``universe`` for global sample ``position`` (its ``position // S``-th)."""
        frames = self.universes[universe].frames
        q, n = position // len(self.universes), len(frames)
        epoch = q // n
        if self._perms.get(universe, (-1,))[0] != epoch:
            self._perms = {**self._perms, universe: (epoch, _rng(self.seed, 23, universe, epoch).permutation(n))}
        return frames[int(self._perms[universe][1][q % n])]

    def make(self, step: int) -> Batch:
        photos, frames, which = [], [], []
        for path, u, p in self.photos.plan(step):
            rng = _rng(self.seed, 29, p)
            photos.append(crop_photo(path, self.size, rng, self.load_size))
            frames.append(crop_photo(self.frame(u, p), self.size, rng, self.load_size))
            which.append(u)
        return torch.stack(photos), torch.tensor(which, dtype=torch.long), torch.stack(frames)
