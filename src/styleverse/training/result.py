"""What every network trainer returns: the model, its file, the loss history and the seconds taken."""

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
