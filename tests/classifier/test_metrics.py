"""What the classifier learned: confidence per class, calibration, the checks for input-independent answers,
and the learning-rate default that depends on --init (with advice that follows it)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from styleverse.classifier.config import LR_PAPER, LR_SCRATCH, TrainConfig, config_default, lr_advice
from styleverse.classifier.metrics import (
    ECE_BINS,
    confusion_matrix,
    learning_warnings,
    plot_reliability,
    probability_summary,
    probability_sums,
    summarize,
)

NAMES = ("animated", "live")


def _summaries(probs: torch.Tensor, targets: torch.Tensor) -> tuple[dict, dict]:
    conf = confusion_matrix(targets, probs.argmax(1), len(NAMES))
    return summarize(conf, NAMES), probability_summary(probability_sums(probs, targets, len(NAMES)), NAMES)


def test_confidence_spread_and_ece_known_values() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8], [0.45, 0.55]], dtype=torch.float64)
    targets = torch.tensor([0, 0, 0, 1, 1])
    s = probability_summary(probability_sums(probs, targets, 2), NAMES)
    anim = torch.tensor([0.9, 0.7, 0.4], dtype=torch.float64)
    assert s["confidence"]["animated"]["n"] == 3
    assert s["confidence"]["animated"]["mean"] == pytest.approx(float(anim.mean()))
    assert s["confidence"]["animated"]["std"] == pytest.approx(float(anim.std(unbiased=False)))
    assert s["confidence"]["live"]["mean"] == pytest.approx(0.675)
    assert s["probability_std"]["live"] == pytest.approx(float(probs[:, 1].std(unbiased=False)))
    # ECE by hand: top probabilities 0.9 (right), 0.7 (right), 0.6 (wrong), 0.8 (right), 0.55 (right)
    bins: dict[int, list[tuple[float, bool]]] = {}
    for c, ok in ((0.9, True), (0.7, True), (0.6, False), (0.8, True), (0.55, True)):
        bins.setdefault(min(int(c * ECE_BINS), ECE_BINS - 1), []).append((c, ok))
    want = sum(abs(sum(ok for _, ok in b) / len(b) - sum(c for c, _ in b) / len(b)) * len(b) / 5 for b in bins.values())
    assert s["ece"] == pytest.approx(want)
    assert s["mean_confidence"] == pytest.approx((0.9 + 0.7 + 0.6 + 0.8 + 0.55) / 5)
    assert sum(b[2] for b in s["reliability"]) == 5 and s["reliability"][9][2] == 1
    # sums of shards add up to the whole (how DDP validation combines them)
    halves = probability_sums(probs[:2], targets[:2], 2) + probability_sums(probs[2:], targets[2:], 2)
    assert torch.allclose(halves, probability_sums(probs, targets, 2))


def test_warns_when_predictions_barely_depend_on_the_input() -> None:
    # issue 14: "live" at about 0.506 for every image, whatever it shows
    flat = torch.tensor([[0.494, 0.506], [0.495, 0.505], [0.493, 0.507], [0.494, 0.506]], dtype=torch.float64)
    warnings = learning_warnings(*_summaries(flat, torch.tensor([0, 0, 1, 1])))
    assert any("barely depend on the input" in w for w in warnings), warnings
    assert any("'animated' is almost never recognised" in w for w in warnings)
    # cartoons learned (confident, varied), every live frame answered the same way, near chance
    mixed = torch.tensor([[0.98, 0.02], [0.90, 0.10], [0.95, 0.05], [0.494, 0.506], [0.495, 0.505], [0.493, 0.507]])
    warnings = learning_warnings(*_summaries(mixed.double(), torch.tensor([0, 0, 0, 1, 1, 1])))
    assert any("class 'live': about the same answer" in w for w in warnings), warnings
    assert not any("barely depend" in w for w in warnings)
    # steady but well above chance (0.81 for every 'live' image, right each time) is not "unlearned"
    steady = torch.tensor([[0.98, 0.02], [0.6, 0.4], [0.19, 0.81], [0.2, 0.8], [0.185, 0.815]], dtype=torch.float64)
    warnings = learning_warnings(*_summaries(steady, torch.tensor([0, 0, 1, 1, 1])))
    assert not any("about the same answer" in w for w in warnings), warnings
    # a confident, right model varies little too, and is not warned about
    sure = torch.tensor([[0.99, 0.01], [0.995, 0.005], [0.01, 0.99], [0.006, 0.994]], dtype=torch.float64)
    assert learning_warnings(*_summaries(sure, torch.tensor([0, 0, 1, 1]))) == []


def test_learning_rate_default_follows_init_and_the_cli_reads_it() -> None:
    assert TrainConfig("d", "o", init="scratch").lr == LR_SCRATCH
    assert TrainConfig("d", "o", init="scratch", width=0.125).lr == pytest.approx(8 * LR_SCRATCH)  # narrower: larger
    assert TrainConfig("d", "o").lr == LR_PAPER == 1e-5  # the paper's, for an ImageNet start
    assert TrainConfig("d", "o", init="runs/prev.safetensors").lr == LR_PAPER  # a trained start too
    assert TrainConfig("d", "o", init="scratch", lr=3e-3).lr == 3e-3
    assert LR_SCRATCH > 3 * LR_PAPER
    assert config_default("lr") is None  # the CLI's --lr default: resolved by TrainConfig, not restated
    from styleverse.cli.main import build_parser

    args = build_parser().parse_args(["classifier", "train", "data", "--out", "run", "--init", "scratch"])
    assert args.lr is None
    assert "raise --lr" in lr_advice("scratch", 1e-5)  # the measurement: 1e-5 is too slow from scratch
    assert "lower --lr" in lr_advice("imagenet", 1e-3)
    assert "--lr" not in lr_advice("scratch", LR_SCRATCH)
    assert "--lr" not in lr_advice("scratch", 1e-3, width=0.125)  # measured best at 1/8 width


def test_reliability_diagram(tmp_path: Path) -> None:
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]], dtype=torch.float64)
    s = probability_summary(probability_sums(probs, torch.tensor([0, 1, 1, 0]), 2), NAMES)
    path = plot_reliability(s, tmp_path / "rel.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 300
    empty = probability_summary(probability_sums(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 2), NAMES)
    assert empty["n"] == 0 and math.isnan(empty["ece"])


def test_temperature_fit_recovers_the_temperature_that_made_the_logits_overconfident() -> None:
    """Labels drawn from softmax(z); the model reports 3z (overconfident): the fitted temperature is ~3, and
    dividing by it lowers the ECE; the fitted T of calibrated logits is ~1."""
    from styleverse.classifier.metrics import (
        best_temperature,
        probability_summary,
        probability_sums,
        temperature_nll,
    )

    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 3, generator=g) * 1.5
    y = torch.multinomial(z.softmax(1), 1, generator=g).view(-1)
    t = best_temperature(temperature_nll(3 * z, y).tolist())
    assert 2.6 < t < 3.4, t
    assert 0.85 < best_temperature(temperature_nll(z, y).tolist()) < 1.15
    names = ["a", "b", "c"]
    raw = probability_summary(probability_sums((3 * z).softmax(1), y, 3), names)["ece"]
    scaled = probability_summary(probability_sums((3 * z / t).softmax(1), y, 3), names)["ece"]
    assert scaled < raw / 3, (raw, scaled)
    assert best_temperature([]) == 1.0 and best_temperature([5.0, 5.0]) == 1.0  # nothing to fit
    # a validation set the model separates: the NLL falls without end as T -> 0; the prior stops it
    separable = temperature_nll(torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0]]), torch.tensor([0, 1, 0]))
    assert separable[0] < separable[-1] and 0.3 < best_temperature(separable.tolist()) < 1.0


def test_recorded_temperature_falls_back_to_one() -> None:
    from styleverse.classifier.metrics import recorded_temperature

    assert recorded_temperature({"val_temperature": 2.5}) == 2.5
    for bad in (None, {}, {"val_temperature": None}, {"val_temperature": -1}, {"val_temperature": float("inf")}):
        assert recorded_temperature(bad) == 1.0
