"""Inference with the universe classifier: batched prediction for images and evaluation on a dataset.

Images are seen as in validation (shorter side to the checkpoint's ``image_size``, centre crop). Loading
runs on ``workers`` threads a batch ahead of the network (:func:`styleverse.io.prefetch.prefetch`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from styleverse.classifier.data import load_eval, read_dataset
from styleverse.classifier.metrics import (
    confusion_matrix,
    learning_warnings,
    probability_summary,
    probability_sums,
    summarize,
)
from styleverse.classifier.model import Checkpoint, UniverseClassifier, load_classifier
from styleverse.devices import autocast, memory_format, place, resolve_device, resolve_precision
from styleverse.errors import ConfigError, InputError
from styleverse.io.prefetch import batched, prefetch
from styleverse.progress import Progress

EVAL_SPLITS = ("val", "train", "all")


@dataclass(frozen=True)
class Prediction:
    path: Path
    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass
class EvalReport:
    """Result of :func:`evaluate`: confusion matrix (rows true, columns predicted) and its summary; the
    predicted probabilities summarised (per-class confidence and spread, ECE, reliability table, see
    :func:`~styleverse.classifier.metrics.probability_summary`; and ``temperature``, the checkpoint's, with
    ``ece_scaled``, the ECE of the probabilities ``predict`` gives); what the model failed to learn, in words,
    and advice that follows the learning-rate measurement (empty when there is nothing to warn about)."""

    class_names: list[str]
    split: str
    n_images: int
    loss: float
    confusion: torch.Tensor
    summary: dict[str, Any]
    probabilities: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    advice: str = ""


def forward_batch(model: UniverseClassifier, x: torch.Tensor, device: torch.device, precision: str) -> torch.Tensor:
    """Logits (float32) for a batch of [0, 1] images, under the chosen precision."""
    x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format(precision))
    with autocast(device, precision):
        return model(x).float()


@torch.inference_mode()
def infer(
    model: UniverseClassifier,
    paths: Sequence[Path],
    size: int,
    device: torch.device,
    precision: str,
    batch_size: int = 16,
    workers: int = 2,
    callback: Callable[[Progress], None] | None = None,
) -> torch.Tensor:
    """Logits (N, classes) on CPU for ``paths``; the model is put in eval mode."""
    model.eval()
    loaded = prefetch((partial(load_eval, p, size) for p in paths), workers, ahead=2 * batch_size)
    out: list[torch.Tensor] = []
    with contextlib.closing(batched(loaded, batch_size)) as batches:
        for images in batches:
            out.append(forward_batch(model, torch.stack(images), device, precision).cpu())
            if callback:
                callback(Progress("eval", sum(len(o) for o in out), len(paths)))
    n_classes = len(model.spec.class_names)
    return torch.cat(out) if out else torch.zeros(0, n_classes)


def open_checkpoint(
    checkpoint: str | os.PathLike[str] | Checkpoint, device: str, precision: str
) -> tuple[Checkpoint, torch.device, str, int]:
    """The checkpoint's model placed on ``device`` in eval mode; the device, precision and input size used."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_classifier(checkpoint)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    place(ckpt.model, dev, prec).eval()
    return ckpt, dev, prec, int(ckpt.config.get("image_size", ckpt.model.spec.image_size))


def predict_images(
    checkpoint: str | os.PathLike[str] | Checkpoint,
    images: Sequence[str | os.PathLike[str]],
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 16,
    workers: int = 2,
    callback: Callable[[Progress], None] | None = None,
) -> list[Prediction]:
    """Universe and confidence (softmax probability, temperature-scaled by the checkpoint's recorded
    :attr:`~styleverse.classifier.model.Checkpoint.temperature`) for each image file."""
    paths = [Path(p) for p in images]
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: no such image file")
    ckpt, dev, prec, size = open_checkpoint(checkpoint, device, precision)
    logits = infer(ckpt.model, paths, size, dev, prec, batch_size, workers, callback)
    probs = (logits / ckpt.temperature).softmax(dim=1)
    names = ckpt.class_names
    return [
        Prediction(p, names[int(row.argmax())], float(row.max()), dict(zip(names, row.tolist(), strict=True)))
        for p, row in zip(paths, probs, strict=True)
    ]


def evaluate(
    checkpoint: str | os.PathLike[str] | Checkpoint,
    dataset: str | os.PathLike[str],
    split: str = "val",
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 16,
    workers: int = 2,
    callback: Callable[[Progress], None] | None = None,
) -> EvalReport:
    """Accuracy, per-class recall and confusion matrix of a checkpoint on a dataset.

    ``split='val'`` reproduces the training run's validation split (manifest splits, or the seeded
    stratified split with the ``val_fraction`` and ``seed`` stored in the checkpoint); ``all`` uses
    every image (a separate test set); ``train`` the training split."""
    if split not in EVAL_SPLITS:
        raise ConfigError(f"split must be one of {', '.join(EVAL_SPLITS)}, not '{split}'", setting="split")
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_classifier(checkpoint)
    settings = ckpt.config.get("settings") or {}
    data = read_dataset(
        Path(dataset), float(settings.get("val_fraction", 0.2)), int(settings.get("seed", 0)), split=split != "all"
    )
    names = ckpt.class_names
    unknown = [n for n in data.class_names if n not in names]
    if unknown:
        raise InputError(
            f"{dataset}: class(es) {', '.join(unknown)} unknown to the checkpoint (it knows {', '.join(names)})"
        )
    samples = data.val if split == "val" else data.train
    if not samples:
        raise InputError(f"{dataset}: no images in split '{split}'")
    ckpt, dev, prec, size = open_checkpoint(ckpt, device, precision)
    logits = infer(ckpt.model, [s.path for s in samples], size, dev, prec, batch_size, workers, callback)
    targets = torch.tensor([names.index(data.class_names[s.label]) for s in samples])
    conf = confusion_matrix(targets, logits.argmax(dim=1), len(names))
    loss = float(F.cross_entropy(logits, targets))
    summary = summarize(conf, names)
    probs = probability_summary(probability_sums(logits.softmax(dim=1), targets, len(names)), names)
    scaled = probability_sums((logits / ckpt.temperature).softmax(dim=1), targets, len(names))
    probs |= {"temperature": ckpt.temperature, "ece_scaled": probability_summary(scaled, names)["ece"]}
    warnings = learning_warnings(summary, probs)
    advice = ""
    if warnings and settings.get("init") and settings.get("lr"):
        from styleverse.classifier.config import lr_advice

        advice = lr_advice(str(settings["init"]), float(settings["lr"]), float(settings.get("width", 1.0)))
    return EvalReport(list(names), split, len(samples), loss, conf, summary, probs, warnings, advice)
