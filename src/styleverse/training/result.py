"""What every network trainer returns (the model, its file, the loss history, the seconds taken) and a
distilled student's gap to its teacher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from styleverse.training.loop import LoopResult

M = TypeVar("M")


@dataclass
class TrainResult(Generic[M]):
    """A finished (or interrupted) training run: the model, its file, the loss history and the seconds taken."""

    model: M
    output: Path
    history: list[dict[str, float]]
    interrupted: bool
    seconds: float

    @classmethod
    def of(cls, model: M, output: Path, run: LoopResult) -> TrainResult[M]:
        """The result of a loop run that ended with ``model``."""
        return cls(model, output, run.history, run.interrupted, run.seconds)


@dataclass(frozen=True)
class Gap:
    """A student against its teacher on held-out photos, for one universe (a fast network) or one style (AdaIN):
    the style and content losses of each, float32 (a fast network: the stylize objective's weighted terms;
    AdaIN: ``adain train``'s, unweighted) and the mean absolute pixel difference (0..1) between their outputs."""

    universe: str  # or the style's name
    style: tuple[float, float]  # teacher, student
    content: tuple[float, float]
    pixel: float
