"""Balancing a harvested dataset and splitting it into train and validation sets without leakage.

The paper (section 5) had 800 frames for three universes and about 500 for two; even after augmentation
the imbalance made its classifier "always predict one class", and only sampling the same number of images
per universe (1335) fixed it. :func:`balance` does that for every class, with two refinements:

* **Split by source time, before balancing.** Neighbouring frames of a video are near-identical, so a
  random per-image split would leak training images into validation. Each class's harvested frames are
  grouped into blocks of ``block_seconds`` of one source video (``floor(timestamp / block_seconds)``) and
  whole blocks go to ``val`` (seeded, greedy, close to ``val_fraction`` of the class) or ``train``.
* **Exact quotas.** With ``N = per_class`` (default: the smallest class), every class ends with exactly
  ``N_val = round(N * val_fraction)`` val rows and ``N - N_val`` train rows. A split with more frames than
  its quota is down-sampled (seeded); one with fewer is topped up with augmented copies of its own frames
  (:mod:`styleverse.frames.augment`), so an augmented image is always in the split of its original.

Manifest ``split`` values after balancing: ``train`` and ``val`` (what the classifier uses) and
``excluded`` for frames sampled away (their files are kept, so a later ``balance`` with a larger N can use
them). Augmented images are new files ``<label>/<stem>_<ms>_aug<k>.jpg`` with ``origin=augmented`` and the
source and timestamp of their original. Balancing starts from the harvested rows every time: augmented
rows (and files) of an earlier run are replaced, so a re-run with the same settings gives the same result.
A class whose frames all fall in one block cannot be split; it gets all N rows in ``train`` and a warning.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from styleverse.errors import ConfigError, InputError
from styleverse.frames.augment import AugmentConfig, augment
from styleverse.frames.manifest import Row, manifest_path, read_manifest, remove_leftovers, write_manifest
from styleverse.frames.quality import phash_hex
from styleverse.io.images import load_tensor, save_image, tensor_to_pil
from styleverse.io.lock import output_lock

TRAIN, VAL, EXCLUDED = "train", "val", "excluded"
DEFAULT_BLOCK_SECONDS = 10.0
_AUG_FILE = re.compile(r"_aug\d+\.jpg$")


@dataclass(frozen=True)
class BalanceConfig:
    """``per_class`` N (None = smallest class), ``seed``, ``val_fraction`` in [0, 1), ``block_seconds`` > 0."""

    per_class: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    block_seconds: float = DEFAULT_BLOCK_SECONDS
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        if self.per_class is not None and self.per_class < 1:
            raise ConfigError(f"--per-class must be >= 1, got {self.per_class}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not (0 < self.block_seconds < math.inf):
            raise ConfigError(f"--block-seconds must be > 0, got {self.block_seconds}")


@dataclass
class ClassBalance:
    """What balancing did to one class."""

    harvested: int
    blocks: int = 0
    val_blocks: int = 0
    train: int = 0
    val: int = 0
    excluded: int = 0
    augmented: int = 0


@dataclass
class BalanceReport:
    per_class: int
    val_quota: int
    classes: dict[str, ClassBalance]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Augmented:
    """Progress event: ``done`` of ``total`` augmented images written."""

    label: str
    done: int
    total: int


def block_key(row: Row, block_seconds: float) -> tuple[str, int]:
    """The source-time block of a row: (source video, block number)."""
    return row.source, math.floor(row.timestamp / block_seconds)


def split_blocks(rows: Sequence[Row], val_fraction: float, block_seconds: float, rng: np.random.Generator) -> set:
    """Block keys that go to validation: a seeded shuffle of one class's blocks, taken greedily while that
    brings the val count closer to ``val_fraction`` of the class. At least one block stays in train, and
    with two or more blocks and ``val_fraction > 0`` at least one goes to val."""
    sizes: dict[tuple[str, int], int] = {}
    for r in rows:
        k = block_key(r, block_seconds)
        sizes[k] = sizes.get(k, 0) + 1
    keys = sorted(sizes)
    if len(keys) < 2 or val_fraction <= 0:
        return set()
    order = [keys[i] for i in rng.permutation(len(keys))]
    target, count, val = val_fraction * len(rows), 0, set()
    for k in order:
        if len(val) == len(keys) - 1:
            break
        if abs(count + sizes[k] - target) < abs(count - target):
            val.add(k)
            count += sizes[k]
    if not val:
        val.add(min(order, key=lambda k: sizes[k]))
    return val


def _rng(seed: int, label: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


def _fill(rows: list[Row], quota: int, rng: np.random.Generator) -> tuple[list[Row], list[Row], list[Row]]:
    """(chosen, left out, originals to augment — one entry per missing image) for one split of one class."""
    if len(rows) >= quota:
        pick = set(rng.choice(len(rows), size=quota, replace=False).tolist())
        return [r for i, r in enumerate(rows) if i in pick], [r for i, r in enumerate(rows) if i not in pick], []
    order = [rows[i] for i in rng.permutation(len(rows))]
    return rows, [], [order[i % len(order)] for i in range(quota - len(rows))] if order else []


def _augment_plan(todo: list[Row], split: str, seed: int) -> list[tuple[Row, str, int, int]]:
    """(original, split, k, generator seed) for each augmented image to write; k counts per original."""
    seen: dict[str, int] = {}
    plan = []
    for orig in todo:
        k = seen[orig.path] = seen.get(orig.path, 0) + 1
        plan.append((orig, split, k, zlib.crc32(f"{seed}:{orig.path}:{k}".encode())))
    return plan


def _write_augmented(dataset: Path, orig: Row, split: str, k: int, gen_seed: int, cfg: AugmentConfig) -> Row:
    img = augment(load_tensor(dataset / orig.path), torch.Generator().manual_seed(gen_seed), cfg)
    rel = f"{orig.path[: -len(Path(orig.path).suffix)]}_aug{k}.jpg"
    pil = tensor_to_pil(img)
    save_image(pil, dataset / rel)
    return Row(rel, orig.label, orig.source, orig.timestamp, phash_hex(pil), split, "augmented")


def balance(
    dataset: str | os.PathLike[str],
    config: BalanceConfig | None = None,
    on_event: Callable[[Augmented], None] | None = None,
) -> BalanceReport:
    """Split every class by source-time blocks, bring it to exactly N rows, rewrite the manifest (see
    module doc). Returns per-class counts; raises :class:`InputError` for a missing/empty manifest.

    Holds the dataset's lock throughout (a concurrent harvest or balance is refused) and first removes
    temporary files a killed run left. Manifest paths and labels are confined to the dataset by
    ``read_manifest``, so augmented files and the clean-up of old ones never reach outside it."""
    cfg = config or BalanceConfig()
    cfg.validate()
    root = Path(dataset)
    if not manifest_path(root).is_file():
        read_manifest(root)  # its one-line "no manifest" error, before a lock file is made anywhere
    with output_lock(root, folder=True):
        remove_leftovers(root)
        return _balance(root, cfg, on_event)


def _balance(root: Path, cfg: BalanceConfig, on_event: Callable[[Augmented], None] | None) -> BalanceReport:
    rows = [replace(r, split="") for r in read_manifest(root) if r.origin == "harvested"]
    by_label: dict[str, list[Row]] = {}
    for r in rows:
        by_label.setdefault(r.label, []).append(r)
    if not by_label:
        raise InputError(f"{root}: the manifest holds no harvested frames; nothing to balance")
    missing = [r.path for r in rows if not (root / r.path).is_file()]
    if missing:
        raise InputError(
            f"{root}: {len(missing)} frame(s) in the manifest are missing (e.g. {missing[0]}); "
            "run 'frames harvest' again to restore them (or drop them from the manifest)"
        )
    n = cfg.per_class or min(len(v) for v in by_label.values())
    n_val = round(n * cfg.val_fraction)
    report = BalanceReport(n, n_val, {})
    decided: dict[str, str] = {}
    plan: list[tuple[Row, str, int, int]] = []
    for label, members in sorted(by_label.items()):
        rng = _rng(cfg.seed, label)
        val_keys = split_blocks(members, cfg.val_fraction, cfg.block_seconds, rng)
        stats = report.classes[label] = ClassBalance(len(members))
        stats.blocks = len({block_key(r, cfg.block_seconds) for r in members})
        stats.val_blocks = len(val_keys)
        quotas = {TRAIN: n - n_val, VAL: n_val}
        if not val_keys and n_val:
            quotas = {TRAIN: n, VAL: 0}
            report.warnings.append(f"class '{label}': all frames in one time block; no val rows (all {n} train)")
        for split in (TRAIN, VAL):
            part = [r for r in members if (block_key(r, cfg.block_seconds) in val_keys) == (split == VAL)]
            chosen, dropped, todo = _fill(part, quotas[split], rng)
            decided.update({r.path: split for r in chosen} | {r.path: EXCLUDED for r in dropped})
            plan += _augment_plan(todo, split, cfg.seed)
            setattr(stats, split, quotas[split])
            stats.excluded += len(dropped)
            stats.augmented += len(todo)
    new_rows = [replace(r, split=decided[r.path]) for r in rows]
    for i, (orig, split, k, gen_seed) in enumerate(plan, start=1):
        new_rows.append(_write_augmented(root, orig, split, k, gen_seed, cfg.augment))
        if on_event:
            on_event(Augmented(orig.label, i, len(plan)))
    write_manifest(root, new_rows)
    _remove_stale_augmented(root, by_label, {r.path for r in new_rows})
    return report


def _remove_stale_augmented(root: Path, labels: dict[str, list[Row]], keep: set[str]) -> None:
    """Delete augmented files of earlier runs (or of a run killed mid-way) that the manifest no longer lists."""
    for label in labels:
        folder = root / label
        for f in folder.glob("*_aug*.jpg") if folder.is_dir() else ():
            if _AUG_FILE.search(f.name) and f"{label}/{f.name}" not in keep:
                f.unlink(missing_ok=True)
