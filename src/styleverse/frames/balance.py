"""Balancing a harvested dataset and splitting it into train and validation sets without leakage.

The paper (section 5) had 800 frames for three universes and about 500 for two; even after augmentation
the imbalance made its classifier "always predict one class", and only sampling the same number of images
per universe (1335) fixed it. :func:`balance` does that for every class, with two refinements:

* **A leak-free split, before balancing** (:mod:`styleverse.frames.split`): neighbouring frames of a video
  are near-identical, so whole shots go to ``val`` per source video, with a guard gap and no cross-split
  near-duplicates, instead of a random per-image split that would leak training images into validation.
* **Exact quotas.** With ``N = per_class`` (default: the smallest class), every class ends with exactly
  ``N_val = round(N * val_fraction)`` val rows and ``N - N_val`` train rows. A split with more frames than
  its quota is down-sampled (seeded); one with fewer is topped up with augmented copies of its own frames
  (:mod:`styleverse.frames.augment`), so an augmented image is always in the split of its original.

Manifest ``split`` values after balancing: ``train`` and ``val`` (what the classifier uses) and
``excluded`` for frames sampled away, in a guard gap or dropped as cross-split near-duplicates (their
files are kept, so a later ``balance`` with other settings can use them). Augmented images are new
files ``<label>/<stem>_<ms>_aug<k>.jpg`` with ``origin=augmented`` and the source and timestamp of their
original. Balancing starts from the harvested rows every time: augmented
rows (and files) of an earlier run are replaced, so a re-run with the same settings gives the same result.
A class that cannot be split (all its frames in one shot within one block, say) gets all N rows in
``train`` and a warning; so does a video left without val frames in a class that has them.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styleverse.devices import require_memory
from styleverse.errors import ConfigError, InputError
from styleverse.frames.augment import AugmentConfig, augment
from styleverse.frames.manifest import (
    EXCLUDED,
    TRAIN,
    VAL,
    Row,
    manifest_path,
    read_manifest,
    remove_leftovers,
    write_manifest,
)
from styleverse.frames.quality import colour_signature, hamming_matrix, hash_ints, phash_hex
from styleverse.frames.split import DEFAULT_DUPLICATE_BITS, ClassSplit, block_key, split_blocks, split_class
from styleverse.io.images import load_tensor, save_image, tensor_to_pil
from styleverse.io.lock import output_lock
from styleverse.io.tensorfile import ensure_free_space
from styleverse.progress import Progress

DEFAULT_BLOCK_SECONDS = 10.0
DEFAULT_GUARD_SECONDS = 2.0
ROW_BYTES = 512  # memory per planned row: measured 372 B for an augmentation's plan entry and its new row
_AUG_FILE = re.compile(r"_aug\d+\.jpg$")


@dataclass(frozen=True)
class BalanceConfig:
    """``per_class`` N (None = smallest class), ``seed``, ``val_fraction`` in [0, 1), ``block_seconds`` > 0,
    ``guard_seconds`` >= 0 (train frames closer than this to a val frame of their video are excluded),
    ``duplicate_bits`` 0..64 (a train/val pair closer than this in phash bits loses one frame; 0: off)."""

    per_class: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    block_seconds: float = DEFAULT_BLOCK_SECONDS
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    guard_seconds: float = DEFAULT_GUARD_SECONDS
    duplicate_bits: int = DEFAULT_DUPLICATE_BITS

    def validate(self) -> None:
        if self.per_class is not None and self.per_class < 1:
            raise ConfigError(f"per_class must be >= 1, got {self.per_class}", setting="per_class")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}", setting="val_fraction")
        if not (0 < self.block_seconds < math.inf):
            raise ConfigError(f"block_seconds must be > 0, got {self.block_seconds}", setting="block_seconds")
        if not (0 <= self.guard_seconds < math.inf):
            raise ConfigError(f"guard_seconds must be >= 0, got {self.guard_seconds}", setting="guard_seconds")
        if not 0 <= self.duplicate_bits <= 64:
            raise ConfigError(f"duplicate_bits must be 0..64, got {self.duplicate_bits}", setting="duplicate_bits")


@dataclass
class ClassBalance:
    """What balancing did to one class. ``units``: shots (long ones cut into blocks) the split chose from,
    ``val_units`` of them in val; ``guard``: frames excluded by the guard gap; ``duplicates``: frames
    excluded as near-duplicates of a frame on the other side (``duplicate_train`` + ``duplicate_val``);
    ``excluded`` counts those and the frames sampled away; ``nearest_bits``: phash bits between the closest
    harvested train-val pair in the result (None without both sides)."""

    harvested: int
    videos: int = 0
    val_videos: int = 0
    shots: int = 0
    units: int = 0
    val_units: int = 0
    guard: int = 0
    duplicates: int = 0
    duplicate_train: int = 0
    duplicate_val: int = 0
    train: int = 0
    val: int = 0
    excluded: int = 0
    augmented: int = 0
    nearest_bits: int | None = None


AUGMENTED_SHARE = 0.25  # more than this share of a class's quota made of augmented copies is warned about


@dataclass
class BalanceReport:
    """Quotas, what happened per class, and warnings (one line each, naming the class and video)."""

    per_class: int
    val_quota: int
    classes: dict[str, ClassBalance]
    warnings: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Frames excluded as cross-split near-duplicates, all classes."""
        return sum(c.duplicates for c in self.classes.values())


__all__ = ["EXCLUDED", "TRAIN", "VAL", "BalanceConfig", "BalanceReport", "balance", "block_key", "split_blocks"]


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
    on_event: Callable[[Progress], None] | None = None,
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


def _balance(root: Path, cfg: BalanceConfig, on_event: Callable[[Progress], None] | None) -> BalanceReport:
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
    check_room(root, by_label, n)
    n_val = round(n * cfg.val_fraction)
    report = BalanceReport(n, n_val, {})
    signatures = _signatures(root, rows)
    decided: dict[str, str] = {}
    plan: list[tuple[Row, str, int, int]] = []
    for label, members in sorted(by_label.items()):
        rng = np.random.default_rng([cfg.seed, zlib.crc32(label.encode())])
        cs = split_class(
            label, members, signatures, val_fraction=cfg.val_fraction, block_seconds=cfg.block_seconds,
            guard_seconds=cfg.guard_seconds, duplicate_bits=cfg.duplicate_bits, rng=rng,
        )  # fmt: skip
        stats = report.classes[label] = _class_stats(cs, len(members))
        parts, quotas = {TRAIN: cs.train, VAL: cs.val}, {TRAIN: n - n_val, VAL: n_val}
        if n_val and not (cs.train and cs.val):
            parts, quotas = {TRAIN: cs.train + cs.val + cs.guard + cs.duplicates, VAL: []}, {TRAIN: n, VAL: 0}
            stats = report.classes[label] = ClassBalance(len(members), stats.videos, 0, stats.shots, stats.units)
            report.warnings.append(f"class '{label}': {_why_unsplit(cs)}; no val rows (all {n} train)")
        else:
            report.warnings += cs.warnings
            decided.update({r.path: EXCLUDED for r in cs.guard + cs.duplicates})
            stats.excluded = len(cs.guard) + len(cs.duplicates)
        chosen_by_split = {}
        for split in (TRAIN, VAL):
            chosen, dropped, todo = _fill(parts[split], quotas[split], rng)
            decided.update({r.path: split for r in chosen} | {r.path: EXCLUDED for r in dropped})
            plan += _augment_plan(todo, split, cfg.seed)
            setattr(stats, split, quotas[split])
            stats.excluded += len(dropped)
            stats.augmented += len(todo)
            chosen_by_split[split] = chosen
        stats.nearest_bits = nearest_bits(chosen_by_split[TRAIN], chosen_by_split[VAL])
        report.warnings += _augmented_warning(label, stats)
    new_rows = [replace(r, split=decided[r.path]) for r in rows]
    for i, (orig, split, k, gen_seed) in enumerate(plan, start=1):
        new_rows.append(_write_augmented(root, orig, split, k, gen_seed, cfg.augment))
        if on_event:
            on_event(Progress("augment", i, len(plan), orig.label))
    write_manifest(root, new_rows)
    _remove_stale_augmented(root, by_label, {r.path for r in new_rows})
    return report


def check_room(root: Path, by_label: dict[str, list[Row]], n: int) -> None:
    """A one-line error before any work when bringing every class of ``by_label`` to ``n`` images needs more
    memory (the plan and the manifest: :data:`ROW_BYTES` per row) or disk (each augmented image about the
    mean size of the frames it is made from) than this machine has free; ``per_class`` 1e8 ran out of memory."""
    extra = sum(max(0, n - len(m)) for m in by_label.values())
    rows = sum(len(m) for m in by_label.values()) + extra
    require_memory(rows * ROW_BYTES, torch.device("cpu"), f"per_class {n}", "lower per_class", "per_class")
    frames = [root / r.path for m in by_label.values() for r in m]
    mean = sum(p.stat().st_size for p in frames) // max(1, len(frames))
    ensure_free_space(manifest_path(root), extra * mean + rows * ROW_BYTES // 4)


def _signatures(root: Path, rows: list[Row]) -> dict[str, np.ndarray]:
    """Colour signature of every harvested frame, for cut detection (JPEG draft mode: decoded at 1/8
    scale or so, which is all a 32x24 signature needs)."""
    out = {}
    for r in rows:
        try:
            with Image.open(root / r.path) as im:
                im.draft("RGB", (64, 48))
                out[r.path] = colour_signature(im)
        except OSError as e:
            raise InputError(f"{root / r.path}: cannot read frame ({e}); run 'frames harvest' again") from None
    return out


def _class_stats(cs: ClassSplit, harvested: int) -> ClassBalance:
    """The split part of a class's :class:`ClassBalance`."""
    return ClassBalance(
        harvested, len(cs.sources), sum(1 for s in cs.sources.values() if s.val), cs.shots, cs.units,
        cs.val_units, len(cs.guard), len(cs.duplicates), cs.duplicate_train, cs.duplicate_val,
    )  # fmt: skip


def _why_unsplit(cs: ClassSplit) -> str:
    """Why a class has no val rows, for its warning."""
    if len(cs.sources) == 1:
        ((source, info),) = cs.sources.items()
        return f"cannot be split (its one video, {source}, is {info.reason or 'too short'})"
    if not cs.val and not cs.duplicate_val:
        return f"cannot be split (each of its {len(cs.sources)} videos is too short and there are too few)"
    return "every val frame was a near-duplicate of a train frame (or the reverse)"


def nearest_bits(train: list[Row], val: list[Row]) -> int | None:
    """Phash bits between the closest train-val pair (None when a side is empty)."""
    if not train or not val:
        return None
    return int(hamming_matrix(hash_ints(r.phash for r in val), hash_ints(r.phash for r in train)).min())


def _augmented_warning(label: str, stats: ClassBalance) -> list[str]:
    """A warning when more than :data:`AUGMENTED_SHARE` of a class's quota are augmented copies (issue 19:
    half a class made of copies went unsaid): the classifier then learns those few originals."""
    quota = stats.train + stats.val
    if not quota or stats.augmented <= AUGMENTED_SHARE * quota:
        return []
    return [
        f"class '{label}': {stats.augmented} of its {quota} images ({stats.augmented / quota:.0%}) are augmented "
        f"copies of {quota - stats.augmented} originals; harvest more frames of it or lower per_class"
    ]


def _remove_stale_augmented(root: Path, labels: dict[str, list[Row]], keep: set[str]) -> None:
    """Delete augmented files of earlier runs (or of a run killed mid-way) that the manifest no longer lists."""
    for label in labels:
        folder = root / label
        for f in folder.glob("*_aug*.jpg") if folder.is_dir() else ():
            if _AUG_FILE.search(f.name) and f"{label}/{f.name}" not in keep:
                f.unlink(missing_ok=True)
