"""Universe datasets for the classifier: reading, splitting, class-balanced sampling and preprocessing.

A dataset is a folder ``DATASET/<label>/*.jpg``, optionally with ``DATASET/manifest.csv``
(:mod:`styleverse.frames.manifest`). If the manifest assigns ``train``/``val`` splits they are used as given
and rows with any other split value are ignored; otherwise the manifest's unsplit rows (or, with no
manifest, the class folders; ``stats/`` is not a class) are split per class with a seeded stratified split.
Rows marked ``excluded`` are always left out.

Class balance follows the paper (section 5): imbalance made its TransferCNN "always predict one class",
fixed there by sampling the same number of images per universe. :func:`balanced_order` does that per
epoch, drawing every class equally often (smaller classes cycle through reshuffled passes), and
:class:`TrainBatches` turns it into the batch of each training step.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styleverse.errors import ConfigError, InputError
from styleverse.frames.manifest import MANIFEST_NAME, TRAIN, VAL, read_manifest
from styleverse.frames.segments import RESERVED_LABELS
from styleverse.io.images import is_image_name, load_image, pil_to_tensor
from styleverse.io.paths import resolve_inside
from styleverse.io.prefetch import StepPrefetcher, batched, prefetch

SPLITS = (TRAIN, VAL)  # the manifest splits a classifier reads (unsplit rows are split here, excluded ones skipped)
TRAIN_ZOOM = 8 / 7  # train crops come from an image resized to size * 8/7 (the 256 -> 224 practice)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True)
class Dataset:
    """Class names (sorted) and the train/val samples; ``source`` says how the split was made."""

    root: Path
    class_names: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    source: str  # "manifest" | "folders"

    def counts(self, split: str) -> list[int]:
        """Images per class in ``split`` (train or val)."""
        return np.bincount([s.label for s in getattr(self, split)], minlength=len(self.class_names)).tolist()


def _manifest_path(root: Path, rel: str, line: int) -> Path:
    """A manifest row's image: confined to the dataset (the one rule, :func:`styleverse.io.paths.resolve_inside`;
    ``read_manifest`` applied it already, this keeps the function safe on its own) and present."""
    path = resolve_inside(root, rel, f"{root / MANIFEST_NAME}: line {line}")
    if not path.is_file():
        raise InputError(f"{root / MANIFEST_NAME}: line {line}: {path} does not exist")
    return path


def _folder_classes(root: Path) -> dict[str, list[Path]]:
    """A dataset without a manifest: one folder per class (``stats/`` is the stats command's output)."""
    classes: dict[str, list[Path]] = {}
    dirs = (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in RESERVED_LABELS)
    for d in sorted(dirs):
        files = sorted(f for f in d.iterdir() if f.is_file() and is_image_name(f.name))
        if not files:
            raise InputError(f"{d}: class folder holds no images; remove it or add images")
        classes[d.name] = files
    return classes


def stratified_split(
    counts: dict[str, list[Path]], val_fraction: float, seed: int
) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Per class: seeded shuffle, then ``round(n * val_fraction)`` (at least 1, at most n - 1) to val."""
    train: dict[str, list[Path]] = {}
    val: dict[str, list[Path]] = {}
    for k, (name, files) in enumerate(sorted(counts.items())):
        if len(files) < 2:
            raise InputError(f"class '{name}' has {len(files)} image(s); at least 2 are needed to split train/val")
        order = np.random.default_rng([seed, k]).permutation(len(files))
        n_val = min(len(files) - 1, max(1, round(len(files) * val_fraction)))
        val[name] = [files[i] for i in order[:n_val]]
        train[name] = [files[i] for i in order[n_val:]]
    return train, val


def read_dataset(root: str | os.PathLike[str], val_fraction: float = 0.2, seed: int = 0, split: bool = True) -> Dataset:
    """Read a dataset folder (see module doc). User errors raise :class:`InputError`/:class:`ConfigError`.

    ``split=False`` puts every usable image in ``train`` and leaves ``val`` empty (for evaluating on a
    whole folder); manifest rows still need a train/val split value or, without any splits, come
    from the class folders."""
    root = Path(root)
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(
            f"val_fraction must be between 0 and 1 (exclusive), not {val_fraction}", setting="val_fraction"
        )
    if not root.is_dir():
        raise InputError(f"{root}: dataset folder not found (expected DATASET/<label>/*.jpg)")
    rows = read_manifest(root, missing_ok=True)
    by_split: dict[str, dict[str, list[Path]]] = {s: {} for s in (*SPLITS, "")}
    for i, row in enumerate(rows, start=2):
        if row.split in by_split:
            by_split[row.split].setdefault(row.label, []).append(_manifest_path(root, row.path, i))
    has_splits = any(by_split[s] for s in SPLITS)
    if rows and not has_splits:  # harvested but not balanced yet: split the manifest's own rows
        pool, source = by_split[""], "manifest"
    elif not rows:
        pool, source = _folder_classes(root), "folders"
    if not has_splits:
        train, val = stratified_split(pool, val_fraction, seed) if split else (pool, {})
    elif not split:
        train, val, source = by_split["train"], {}, "manifest"
        for name, files in by_split["val"].items():
            train.setdefault(name, []).extend(files)
    else:
        train, val, source = by_split["train"], by_split["val"], "manifest"
        for name in val:
            if name not in train:
                raise InputError(f"{root / MANIFEST_NAME}: class '{name}' has val rows but no train rows")
        if not val:
            raise InputError(f"{root / MANIFEST_NAME}: no rows with split=val; a validation split is needed")
    names = tuple(sorted(train))
    if len(names) < 2:
        found = ", ".join(names) or "none"
        raise InputError(f"{root}: need at least 2 classes (universe folders), found {len(names)} ({found})")
    index = {n: i for i, n in enumerate(names)}

    def samples(d: dict[str, list[Path]]) -> tuple[Sample, ...]:
        return tuple(Sample(p, index[n]) for n in names for p in d.get(n, []))

    return Dataset(root, names, samples(train), samples(val), source)


def balanced_order(labels: Sequence[int], n_classes: int, total: int, seed: int, epoch: int) -> list[int]:
    """``total`` sample indices for one epoch, every class drawn equally often (paper section 5).

    Each class cycles through its images in reshuffled passes, so small classes repeat only after all
    their images were used; the classes are then interleaved at random. A pure function of
    ``(seed, epoch)``: resuming and sharding across processes need no sampler state beyond a position."""
    rng = np.random.default_rng([seed, epoch, 7919])
    members = [[i for i, y in enumerate(labels) if y == c] for c in range(n_classes)]
    per_class = math.ceil(total / n_classes)
    picks: list[int] = []
    for idx in members:
        if not idx:
            continue
        drawn: list[int] = []
        while len(drawn) < per_class:
            drawn.extend(idx[j] for j in rng.permutation(len(idx)))
        picks.extend(drawn[:per_class])
    order = [picks[j] for j in rng.permutation(len(picks))]
    return order[:total]


def epoch_plan(n_train: int, batch_size: int, world_size: int) -> tuple[int, int]:
    """``(steps, samples)`` of an epoch: about one pass over the train set, in whole global batches so that
    every process gets a full batch at every step (global batch = batch_size x world_size)."""
    global_batch = batch_size * world_size
    steps = max(1, math.ceil(n_train / global_batch))
    return steps, steps * global_batch


def shard(order: Sequence[int], step: int, batch_size: int, rank: int, world_size: int) -> list[int]:
    """This process's part of global batch ``step``: positions ``[step*B*W + rank*B, ... + B)``."""
    start = step * batch_size * world_size + rank * batch_size
    return list(order[start : start + batch_size])


def _resize_shorter(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    s = side / min(w, h)
    size = (max(side, round(w * s)), max(side, round(h * s)))
    return img if img.size == size else img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def eval_view(image: Image.Image, size: int) -> torch.Tensor:
    """Validation/prediction view of an RGB image: shorter side -> ``size``, centre crop ``size`` x ``size``;
    (3, S, S). ``evaluate`` judges in-memory video frames with it, exactly as files are judged."""
    img = _resize_shorter(image, size)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return pil_to_tensor(img.crop((left, top, left + size, top + size)))[0]


def load_eval(path: Path, size: int) -> torch.Tensor:
    """Validation/prediction view of an image file (see :func:`eval_view`); (3, S, S)."""
    return eval_view(load_image(path), size)


def load_train(path: Path, size: int, seed: int, epoch: int, position: int) -> torch.Tensor:
    """Training view with light augmentation: random crop of an image resized to ``size * 8/7`` and a
    random horizontal flip, seeded by ``(seed, epoch, position)`` so any process or resume repeats it."""
    rng = np.random.default_rng([seed, epoch, position, 104729])
    img = _resize_shorter(load_image(path), round(size * TRAIN_ZOOM))
    left = int(rng.integers(0, img.width - size + 1))
    top = int(rng.integers(0, img.height - size + 1))
    img = img.crop((left, top, left + size, top + size))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return pil_to_tensor(img)[0]


def _train_item(sample: Sample, size: int, seed: int, epoch: int, position: int) -> tuple[torch.Tensor, int]:
    return load_train(sample.path, size, seed, epoch, position), sample.label


@dataclass
class TrainBatches(StepPrefetcher[list[tuple[torch.Tensor, int]]]):
    """``self(step)``: this process's (image, label) pairs of global step ``step``, loaded ahead on ``workers``
    threads. Step ``n`` is step ``n mod steps`` of epoch ``n // steps`` (:func:`epoch_plan`): that epoch's
    :func:`balanced_order` sharded by position (:func:`shard`), each image augmented by its position; a
    function of the step alone, so a resumed run needs nothing but the step number. :meth:`close` when done."""

    data: Dataset
    size: int
    batch_size: int
    seed: int
    workers: int
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        self.steps, self.samples = epoch_plan(len(self.data.train), self.batch_size, self.world_size)

    def _jobs(self, start: int) -> Iterator[Callable[[], tuple[torch.Tensor, int]]]:
        labels, b, rank, world = [s.label for s in self.data.train], self.batch_size, self.rank, self.world_size
        for step in itertools.count(start):
            epoch, pos = divmod(step, self.steps)
            if pos == 0 or step == start:
                order = balanced_order(labels, len(self.data.class_names), self.samples, self.seed, epoch)
            first = pos * b * world + rank * b
            for k, i in enumerate(shard(order, pos, b, rank, world)):
                yield partial(_train_item, self.data.train[i], self.size, self.seed, epoch, first + k)

    def stream(self, start: int) -> Generator[list[tuple[torch.Tensor, int]], None, None]:
        return batched(prefetch(self._jobs(start), self.workers, ahead=2 * self.batch_size), self.batch_size)
