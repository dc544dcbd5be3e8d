"""Classification metrics for the universe classifier: confusion matrix, recall, collapse check, plots.

The collapse check exists because of the paper's failure (section 5): on imbalanced data its TransferCNN
"would always predict one class" while still scoring a decent accuracy. Balanced accuracy (mean recall
over classes) and a warning when one class takes nearly all predictions make that visible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

COLLAPSE_SHARE = 0.9  # one class receiving more than this share of predictions counts as collapse


def confusion_matrix(targets: torch.Tensor, preds: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n, n) int64 counts; rows are true classes, columns predicted classes."""
    idx = targets.long().view(-1) * n_classes + preds.long().view(-1)
    return torch.bincount(idx, minlength=n_classes * n_classes).view(n_classes, n_classes)


def summarize(conf: torch.Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class recall and a collapse verdict from a confusion matrix.

    Recall of a class with no samples is ``None`` and is left out of the balanced accuracy.
    ``collapse`` is ``None`` or ``{"class": name, "share": fraction}`` when one class got more than
    90% of the predictions although the targets hold at least two classes.
    """
    conf = conf.double()
    total = float(conf.sum())
    support = conf.sum(dim=1)
    predicted = conf.sum(dim=0)
    recall: dict[str, float | None] = {}
    for i, name in enumerate(class_names):
        recall[name] = float(conf[i, i] / support[i]) if support[i] > 0 else None
    present = [r for r in recall.values() if r is not None]
    accuracy = float(conf.diag().sum() / total) if total else math.nan
    balanced = sum(present) / len(present) if present else math.nan
    collapse = None
    if total and int((support > 0).sum()) >= 2:
        top = int(predicted.argmax())
        share = float(predicted[top] / total)
        if share > COLLAPSE_SHARE:
            collapse = {"class": class_names[top], "share": share}
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "recall": recall,
        "support": {n: int(s) for n, s in zip(class_names, support.tolist(), strict=True)},
        "prediction_share": {
            n: (float(p) / total if total else 0.0) for n, p in zip(class_names, predicted, strict=True)
        },
        "confusion": conf.long().tolist(),
        "collapse": collapse,
    }


def plot_confusion(
    conf: torch.Tensor | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Confusion matrix as a heat map with counts, rows = true universe, columns = predicted."""
    from styleverse.plots import plt, save_figure

    m = torch.as_tensor(conf).double()
    rows = m / m.sum(dim=1, keepdim=True).clamp(min=1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * n, 1.0 + 0.8 * n))
    ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center", color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix (colour = row share)")
    return save_figure(fig, path)


def plot_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Loss and accuracy per epoch for train and validation (two panels)."""
    from styleverse.plots import plt, save_figure

    epochs = [h["epoch"] for h in history]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 4))
    ax_l.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_l.plot(epochs, [h["val_loss"] for h in history], "o-", label="val")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("cross-entropy")
    ax_l.set_title("Loss")
    ax_a.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
    ax_a.plot(epochs, [h["val_accuracy"] for h in history], "o-", label="val")
    ax_a.plot(epochs, [h["val_balanced_accuracy"] for h in history], "s--", label="val balanced")
    ax_a.set_ylim(0, 1.02)
    ax_a.set_xlabel("epoch")
    ax_a.set_title("Accuracy")
    for ax in (ax_l, ax_a):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return save_figure(fig, path)
