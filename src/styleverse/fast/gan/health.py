"""Is the adversarial game still a game? Discriminator accuracy, and warnings on the usual collapses.

A GAN can fail silently: the losses keep moving while nothing is learned. Three failures are watched, each
over a ``window`` of consecutive steps:

* the discriminator **always wins** (accuracy on frames and on stylised photos both above 99%): the generator
  gets no useful gradient;
* the discriminator is **guessing** (accuracy within 50% ± 5): it has stopped telling the universe from the
  stylised photos, so the generator learns no style;
* the generator's **output is constant** across inputs: the spread of its (pooled) outputs over the recent
  steps is under 5% of the spread of the photos it was given (mode collapse).

Each warning is logged once per stretch and kept (step and message) in the model file's ``health`` with the
latest accuracies, so a user reading the file or the log sees it. Health never changes the training.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger("styleverse")
WINS, GUESS, CONSTANT = 0.99, 0.05, 0.05
THUMB = 8  # outputs and photos are compared as THUMB x THUMB averages


class Health:
    """Running checks over the last ``window`` steps (see the module doc)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.wins = self.guess = 0  # lengths of the current stretches
        self.photos: deque[torch.Tensor] = deque(maxlen=max(window, 2))
        self.outputs: deque[torch.Tensor] = deque(maxlen=max(window, 2))
        self.raised: dict[str, bool] = {"wins": False, "guess": False, "constant": False}
        self.warnings: list[dict[str, Any]] = []
        self.latest: dict[str, float] = {}

    def update(self, step: int, acc: dict[str, float], photos: torch.Tensor, outputs: torch.Tensor) -> list[str]:
        """Record step ``step`` (1-based) with its accuracies (``real``, ``fake``) and its photos and outputs;
        the warnings that begin at this step."""
        self.latest = {k: round(v, 4) for k, v in acc.items()}
        self.wins = self.wins + 1 if min(acc["real"], acc["fake"]) > WINS else 0
        mean = (acc["real"] + acc["fake"]) / 2
        self.guess = self.guess + 1 if abs(mean - 0.5) < GUESS else 0
        self.photos.extend(_thumbs(photos))
        self.outputs.extend(_thumbs(outputs))
        found = {
            "wins": self.wins >= self.window,
            "guess": self.guess >= self.window,
            "constant": len(self.outputs) >= self.window and self.spread() < CONSTANT,
        }
        new = []
        for key, bad in found.items():
            if bad and not self.raised[key]:
                new.append(MESSAGES[key].format(n=self.window, step=step))
            self.raised[key] = bad
        for message in new:
            log.warning("gan train: %s", message)
            self.warnings.append({"step": step, "message": message})
        return new

    def spread(self) -> float:
        """Spread of the recent outputs relative to that of the recent photos (1: as varied as the input)."""
        out, photo = torch.stack(list(self.outputs)), torch.stack(list(self.photos))
        return float(out.std(0).mean() / photo.std(0).mean().clamp_min(1e-6))

    def report(self) -> dict[str, Any]:
        """What the model file records: latest accuracies, the warnings so far."""
        return {"accuracy": self.latest, "warnings": list(self.warnings), "window": self.window}

    def state(self) -> dict[str, Any]:
        return {"wins": self.wins, "guess": self.guess, "raised": dict(self.raised), "warnings": self.warnings}

    def load(self, state: dict[str, Any]) -> None:
        self.wins, self.guess = int(state["wins"]), int(state["guess"])
        self.raised, self.warnings = dict(state["raised"]), list(state["warnings"])


MESSAGES = {
    "wins": "the discriminator has been right on more than 99% of patches for {n} steps (to step {step}): the "
    "generator learns nothing from it; lower --lr or raise --win-rate",
    "guess": "the discriminator has been at 50% (guessing) for {n} steps (to step {step}): it no longer tells "
    "the universe from stylised photos; more or more varied frames may help",
    "constant": "the generator's output has barely changed across {n} inputs (to step {step}): mode collapse; "
    "resume from an earlier checkpoint with a lower --lr",
}


def _thumbs(images: torch.Tensor) -> list[torch.Tensor]:
    small = F.adaptive_avg_pool2d(images.detach().float(), THUMB).cpu()
    return list(small)
