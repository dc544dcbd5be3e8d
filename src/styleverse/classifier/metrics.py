"""Classification metrics for the universe classifier: confusion matrix, recall, confidence, calibration,
checks that say when the model learned nothing, and plots.

The collapse check exists because of the paper's failure (section 5): on imbalanced data its TransferCNN
"would always predict one class" while still scoring a decent accuracy. Balanced accuracy (mean recall
over classes) and a warning when one class takes nearly all predictions make that visible.

Hard predictions hide a subtler failure (issue 14): a model trained from scratch answered "live" with
probability 0.506 for every non-cartoon frame. Its argmax looked fine, but its output barely depended on
the input. So validation also keeps the predicted probabilities, as sums that add up across processes
(:func:`probability_sums`), and :func:`probability_summary` reports per class the mean and spread of the
probability given to the true class, the spread of each class's probability across all images, the
expected calibration error (ECE: the gap between confidence and accuracy, averaged over 10 confidence
bins weighted by their share of images) with its reliability table, and :func:`learning_warnings` says
in words when predictions barely depend on the input or a class is almost never recognised.

The same sentences decide whether the model's answers can be trusted at all (issue 19: a model with
validation accuracy 0.77 gave its 'animated' frames 0.423 ± 0.133 for their own class, below chance, with
ECE 0.301, and no command said so). :func:`learning_warnings` also flags a class whose images get on
average at most chance + :data:`UNCONFIDENT_MARGIN` for their own class, an ECE above :data:`MAX_ECE`, and a
balanced accuracy at most chance + :data:`NEAR_CHANCE`. Measured on the test suite's synthetic universes
(tests/classifier/test_trust.py, 32 px, VGG16 at 1/8 width): a good model scored balanced accuracy 1.0, ECE
0.115, the lowest class confidence 0.82; a weak one (a quarter of the labels swapped) 0.857, ECE 0.31,
class confidences 0.51 and 0.58 (chance 0.5); a collapsed one 0.333 (chance), one class for everything.
:func:`trust_warnings` reads the rule back from a checkpoint's recorded validation metrics, so ``predict``
and ``evaluate``'s judge apply the very rule ``train`` and ``eval`` print. The rule reads the model's own
probabilities: a model unsure of what it gets right, or sure of what it gets wrong, is a warning sign even
when one number could rescale it.

Validation also fits a temperature (:func:`temperature_nll`, :func:`best_temperature`) and records it with the
ECE it leaves (``val_temperature``, ``val_ece_scaled``); ``predict`` and the judge divide the logits by it, so
the confidences they print mean what they say.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

COLLAPSE_SHARE = 0.9  # one class receiving more than this share of predictions counts as collapse
ECE_BINS = 10  # equal-width confidence bins for the calibration error and the reliability diagram
FLAT_STD = 0.02  # a class probability varying less than this (std) across images barely depends on the input
NEAR_CHANCE = 0.15  # ... and for one class's images, only when the true class gets at most chance + this
LOW_RECALL = 0.1  # a class with at most this recall is "almost never recognised"
UNCONFIDENT_MARGIN = 0.1  # a class whose images get at most chance + this for their own class: unconfident
MAX_ECE = 0.2  # calibration error above this: the probabilities do not mean what they say (good model 0.115)


def confusion_matrix(targets: torch.Tensor, preds: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n, n) int64 counts; rows are true classes, columns predicted classes."""
    idx = targets.long().view(-1) * n_classes + preds.long().view(-1)
    return torch.bincount(idx, minlength=n_classes * n_classes).view(n_classes, n_classes)


def summarize(conf: torch.Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class recall and a collapse verdict from a confusion matrix.

    Recall of a class with no samples is ``None`` and is left out of the balanced accuracy.
    ``collapse`` is ``None`` or ``{"class": name, "share": fraction}`` when one class got more than
    90% of the predictions although the targets hold at least two classes."""
    conf = conf.double()
    total = float(conf.sum())
    support = conf.sum(dim=1)
    predicted = conf.sum(dim=0)
    recall = {name: float(conf[i, i] / support[i]) if support[i] > 0 else None for i, name in enumerate(class_names)}
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


def probability_sums(probs: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Additive statistics of predicted probabilities (N, K) for true labels (N,), float64, length
    ``5K + 3 * ECE_BINS``: per true class [count, sum of p(true), sum of p(true)^2], per class column
    [sum of p, sum of p^2] over all images, per confidence bin [count, sum of confidence, sum of correct].
    Sums of several processes' shards add up to the sums of the whole set."""
    p, k = probs.double(), n_classes
    if len(p) == 0:
        return torch.zeros(5 * k + 3 * ECE_BINS, dtype=torch.float64)
    t = targets.long()
    p_true = p.gather(1, t[:, None])[:, 0]
    conf, pred = p.max(dim=1)
    b = (conf * ECE_BINS).long().clamp(max=ECE_BINS - 1)
    return torch.cat([
        torch.bincount(t, minlength=k).double(), _sums(t, p_true, k), _sums(t, p_true**2, k), p.sum(0), (p**2).sum(0),
        torch.bincount(b, minlength=ECE_BINS).double(), _sums(b, conf, ECE_BINS),
        _sums(b, (pred == t).double(), ECE_BINS),
    ])  # fmt: skip


def _sums(index: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """Per index in ``range(n)``, the float64 sum of the ``values`` at it."""
    return torch.zeros(n, dtype=torch.float64).index_add_(0, index, values)


def _std(n: float, s: float, s2: float) -> float:
    return math.sqrt(max(0.0, s2 / n - (s / n) ** 2)) if n else math.nan


def probability_summary(sums: torch.Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """What :func:`probability_sums` says, in words a report can print (module doc).

    ``confidence``: per class, over its images, the mean and std of the probability given to it;
    ``probability_std``: per class, the std of its probability over all images (how much it depends on the
    input); ``mean_confidence``: mean top probability; ``ece``; ``reliability``: per bin
    ``[low, high, count, mean confidence, accuracy]`` (None where empty)."""
    k = len(class_names)
    s = sums.double().tolist()
    total = sum(s[0:k])
    confidence = {
        name: {"n": int(s[i]), "mean": s[k + i] / s[i] if s[i] else math.nan, "std": _std(s[i], s[k + i], s[2 * k + i])}
        for i, name in enumerate(class_names)
    }
    spread = {name: _std(total, s[3 * k + i], s[4 * k + i]) for i, name in enumerate(class_names)}
    base = 5 * k
    bins, ece, conf_sum = [], 0.0, 0.0
    for b in range(ECE_BINS):
        n, c, a = s[base + b], s[base + ECE_BINS + b], s[base + 2 * ECE_BINS + b]
        conf_sum += c
        if n:
            ece += abs(a - c) / total
        bins.append([b / ECE_BINS, (b + 1) / ECE_BINS, int(n), c / n if n else None, a / n if n else None])
    return {
        "n": int(total),
        "confidence": confidence,
        "probability_std": spread,
        "mean_confidence": conf_sum / total if total else math.nan,
        "ece": ece if total else math.nan,
        "reliability": bins,
    }


# Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one number T divides the
# logits so that the validation images' negative log-likelihood is lowest (T > 1 softens an overconfident
# model, T < 1 sharpens an unsure one); accuracy is unchanged, the probabilities then mean what they say.
# Fitted on a grid (exact enough, and its sums add up over processes).
TEMPERATURES = tuple(float(t) for t in torch.logspace(-2, 2, 81, dtype=torch.float64))  # 0.01 .. 100
TEMPERATURE_PRIOR = 1.0  # std of ln T (a Gaussian prior: T within 0.14 .. 7.4 at two std)


def temperature_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The summed negative log-likelihood of ``targets`` under ``logits / T`` for each T of :data:`TEMPERATURES`
    (float64; sums add up over shards)."""
    if not len(targets):
        return torch.zeros(len(TEMPERATURES), dtype=torch.float64)
    t = torch.tensor(TEMPERATURES, dtype=torch.float64).view(-1, 1, 1)
    logp = (logits.double().unsqueeze(0) / t).log_softmax(dim=2)  # (T, N, classes)
    return -logp.gather(2, targets.view(1, -1, 1).expand(len(TEMPERATURES), -1, 1)).sum(dim=(1, 2))


def best_temperature(nll: Sequence[float]) -> float:
    """The T of :data:`TEMPERATURES` with the lowest summed NLL (:func:`temperature_nll`) plus a weak prior on
    log T (:data:`TEMPERATURE_PRIOR`, worth one image): a validation set the model separates perfectly drives
    the NLL down without end as T falls, and would otherwise make every future answer 0 or 1. 1 when there
    are no images."""
    values = list(nll)
    if not values or max(values) == min(values):
        return 1.0
    cost = [v + 0.5 * (math.log(t) / TEMPERATURE_PRIOR) ** 2 for v, t in zip(values, TEMPERATURES, strict=True)]
    return TEMPERATURES[min(range(len(cost)), key=cost.__getitem__)]


def recorded_temperature(metrics: dict[str, Any] | None) -> float:
    """The temperature a checkpoint's recorded validation fitted (``val_temperature``); 1 when it records none
    (made before temperature scaling) or a value that is not a positive finite number."""
    t = (metrics or {}).get("val_temperature")
    return float(t) if isinstance(t, int | float) and 0 < t < math.inf else 1.0


def learning_warnings(summary: dict[str, Any], probs: dict[str, Any]) -> list[str]:
    """Plain sentences for what the model failed to learn, or why its answers cannot be trusted (module doc):
    one-class collapse, balanced accuracy near chance, predictions that barely depend on the input (overall,
    or for one class's images at a level near chance), a class unconfident on its own images, a class with
    recall near zero, a calibration error above :data:`MAX_ECE`. ``summary`` from :func:`summarize` (or its
    ``collapse``, ``recall``, ``balanced_accuracy``), ``probs`` from :func:`probability_summary`. No
    sentence: the model is trustworthy by this rule."""
    out: list[str] = []
    chance = 1 / max(1, len(probs["confidence"]))
    if summary.get("collapse"):
        c = summary["collapse"]
        out.append(f"one-class collapse: '{c['class']}' gets {c['share']:.0%} of all predictions")
    balanced = _number(summary.get("balanced_accuracy"))
    if balanced <= chance + NEAR_CHANCE:
        out.append(f"balanced validation accuracy {balanced:.3f} is near chance ({chance:.3f})")
    spread = [v for v in map(_number, probs["probability_std"].values()) if not math.isnan(v)]
    flat = probs["n"] >= 2 and bool(spread) and max(spread) < FLAT_STD
    if flat:
        out.append(
            f"predictions barely depend on the input: no class probability varies by more than {max(spread):.3f} "
            f"(std) across the {probs['n']} images"
        )
    for name, c in probs["confidence"].items():
        mean, std = _number(c["mean"]), _number(c["std"])
        if flat or c["n"] < 1 or mean > chance + max(NEAR_CHANCE, UNCONFIDENT_MARGIN):
            continue
        if c["n"] >= 2 and std < FLAT_STD and mean < chance + NEAR_CHANCE:
            out.append(
                f"class '{name}': about the same answer for every one of its {c['n']} images, near chance (p = "
                f"{mean:.3f} ± {std:.3f}, chance {chance:.3f}); the model has not learned what '{name}' looks like"
            )
        elif mean <= chance + UNCONFIDENT_MARGIN:
            out.append(
                f"class '{name}': its images get on average {mean:.3f} ± {std:.3f} for their own class, near or "
                f"below chance ({chance:.3f}); the model is not confident about '{name}'"
            )
    for name, r in summary["recall"].items():
        if r is not None and r <= LOW_RECALL:
            out.append(f"class '{name}' is almost never recognised (recall {r:.2f})")
    ece = _number(probs.get("ece"))
    if ece > MAX_ECE:
        out.append(f"calibration error (ECE) {ece:.3f} is above {MAX_ECE}: its probabilities do not mean what they say")
    return out


def _number(v: Any) -> float:
    """A recorded number, NaN where the record holds none (a checkpoint stores NaN as null)."""
    return float(v) if isinstance(v, int | float) else math.nan


def trust_warnings(metrics: dict[str, Any] | None) -> list[str] | None:
    """:func:`learning_warnings` of a checkpoint's recorded validation metrics (an epoch row as
    ``classifier train`` writes it: ``val_recall``, ``val_balanced_accuracy``, ``collapse``,
    ``val_probabilities``); None when the checkpoint records none (made before the rule, or elsewhere)."""
    if not metrics or not isinstance(metrics.get("val_probabilities"), dict):
        return None
    summary = {k: metrics.get(f"val_{k}") for k in ("recall", "balanced_accuracy")}
    summary["collapse"], summary["recall"] = metrics.get("collapse"), summary["recall"] or {}
    return learning_warnings(summary, metrics["val_probabilities"])


def plot_reliability(probs: dict[str, Any], path: str | os.PathLike[str], title: str = "") -> Path:
    """Reliability diagram: per confidence bin the accuracy (bar) and the mean confidence (red tick); on a
    calibrated model the bars reach their ticks and the diagonal. Below, the share of images per bin."""
    from styleverse.plots import save_figure, subplots

    filled = [b for b in probs["reliability"] if b[2] > 0]
    width = 1 / len(probs["reliability"])
    fig, (ax, ax_n) = subplots(2, 1, figsize=(5.5, 6), height_ratios=(3, 1), sharex=True)
    mids = [(lo + hi) / 2 for lo, hi, *_ in filled]
    ax.plot([0, 1], [0, 1], "--", color="0.5", lw=1, label="perfect calibration")
    ax.bar(mids, [acc for *_, acc in filled], width=width * 0.9, color="tab:blue", label="accuracy in bin")
    ax.hlines([conf for _, _, _, conf, _ in filled], [m - width * 0.45 for m in mids],
              [m + width * 0.45 for m in mids], color="tab:red", lw=2.5, label="mean confidence in bin")  # fmt: skip
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    heading = title or "Reliability"
    ax.set_title(
        f"{heading}\nECE {probs['ece']:.3f} (mean |accuracy - confidence|, weighted by bin share)", fontsize=10
    )
    ax.legend(fontsize=8, loc="upper left")
    total = max(1, probs["n"])
    ax_n.bar(mids, [n / total for _, _, n, _, _ in filled], width=width * 0.9, color="0.5")
    ax_n.set_xlim(0, 1)
    ax_n.set_xlabel("confidence (top predicted probability)")
    ax_n.set_ylabel("share of images")
    return save_figure(fig, path)


def plot_confusion(
    conf: torch.Tensor | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Confusion matrix as a heat map with counts, rows = true universe, columns = predicted."""
    from styleverse.plots import save_figure, subplots

    m = torch.as_tensor(conf).double()
    rows = m / m.sum(dim=1, keepdim=True).clamp(min=1)
    n = len(class_names)
    fig, ax = subplots(figsize=(1.2 + 0.9 * n, 1.0 + 0.8 * n))
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
    from styleverse.plots import save_figure, subplots

    epochs = [h["epoch"] for h in history]
    fig, (ax_l, ax_a) = subplots(1, 2, figsize=(10, 4))
    for ax, key in ((ax_l, "loss"), (ax_a, "accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="val")
        ax.set_xlabel("epoch")
        ax.set_title(key.capitalize())
    ax_l.set_ylabel("cross-entropy")
    ax_a.plot(epochs, [h["val_balanced_accuracy"] for h in history], "s--", label="val balanced")
    ax_a.set_ylim(0, 1.02)
    for ax in (ax_l, ax_a):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return save_figure(fig, path)
