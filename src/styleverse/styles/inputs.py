"""What a style bank or analysis is built from: images, folders and frame manifests turned into weighted
images, decoded a few ahead on threads, and an identity of that ordered list for resuming a build.

A folder's or manifest's weight is shared equally among its images, as ``styles.expand_styles`` does for
``--style``; a manifest's augmented rows are skipped because their colour jitter is not the film's look.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import torch

from styleverse.errors import ConfigError, InputError
from styleverse.io.images import load_tensor
from styleverse.io.prefetch import prefetch
from styleverse.styles.targets import StyleImage, expand_styles

MANIFEST = "manifest.csv"  # styleverse.frames.manifest.MANIFEST_NAME


def manifest_images(dataset: Path, label: str | None = None) -> list[Path]:
    """Images of a frames manifest (``styleverse.frames.manifest``), optionally one label. Augmented rows are
    skipped: their colour jitter is not the film's look. Every listed file must exist."""
    from styleverse.frames.manifest import manifest_path, read_manifest

    rows = [r for r in read_manifest(dataset) if r.origin != "augmented"]
    labels = sorted({r.label for r in rows})
    rows = [r for r in rows if label is None or r.label == label]
    if not rows:
        raise InputError(f"{manifest_path(dataset)}: no frames with label '{label}' (labels: {', '.join(labels)})")
    out = [dataset / r.path for r in rows]
    missing = next((q for q in out if not q.is_file()), None)
    if missing is not None:
        raise InputError(f"{manifest_path(dataset)}: lists {missing}, which does not exist")
    return out


def _dataset_of(p: Path) -> Path | None:
    """The DATASET folder when ``p`` is ``DATASET/manifest.csv`` or a folder holding one."""
    if p.name == MANIFEST and p.is_file():
        return p.parent
    return p if p.is_dir() and (p / MANIFEST).is_file() else None


def expand_inputs(
    inputs: Sequence[str | os.PathLike[str]], weights: Sequence[float] | None = None, label: str | None = None
) -> list[StyleImage]:
    """Images, folders and frame manifests (a ``.csv`` or a folder holding ``manifest.csv``) -> weighted
    images. A folder's or manifest's weight is shared equally among its images (``expand_styles``)."""
    if not inputs:
        raise ConfigError("give at least one image, folder or manifest")
    if weights is not None and len(weights) != len(inputs):
        raise ConfigError(
            f"weights has {len(weights)} values for {len(inputs)} inputs; give one per input", setting="weights"
        )
    ws = list(weights) if weights is not None else [1.0] * len(inputs)
    if any(not (w >= 0 and math.isfinite(w)) for w in ws) or sum(ws) <= 0:
        raise ConfigError("weights must be finite, >= 0 and not all zero", setting="weights")
    manifests = [_dataset_of(Path(p)) for p in inputs]
    if label is not None and not any(manifests):
        raise ConfigError(
            "label filters frame manifests, but no input is a manifest (DATASET/manifest.csv)", setting="label"
        )
    out: list[StyleImage] = []
    for p, w, man in zip(inputs, ws, manifests, strict=True):
        if man is None:  # a zero weight keeps the images (analysis still measures them)
            out.extend(StyleImage(s.path, s.weight * w) for s in expand_styles([p]))
        else:
            files = manifest_images(man, label)
            out.extend(StyleImage(f, w / len(files)) for f in files)
    return out


def prefetch_tensors(images: Sequence[StyleImage], size: int | None, ahead: int = 4) -> Iterator[torch.Tensor]:
    """Decode images (longest side ``size``) on two threads, at most ``ahead`` in flight: bounded memory."""
    return prefetch((partial(load_tensor, s.path, size) for s in images), workers=2, ahead=ahead)


def inputs_digest(images: Sequence[StyleImage]) -> str:
    """SHA-256 of the ordered ``(absolute path, weight, byte size, mtime)`` list: equal digests mean the
    same images in the same order with the same weights, so a resumed build may continue a saved one.
    A missing file hashes as size -1 (its decoder reports it later)."""
    h = hashlib.sha256()
    for s in images:
        try:
            st = os.stat(s.path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        h.update(json.dumps([os.path.abspath(s.path), repr(float(s.weight)), size, mtime]).encode() + b"\n")
    return h.hexdigest()
