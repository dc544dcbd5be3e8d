"""What the fast and AdaIN trainers share beyond the loop: their settings as JSON and the result they return."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from styleverse.training.loop import LoopResult

M = TypeVar("M")


def settings_dict(cfg: Any) -> dict[str, Any]:
    """A trainer's settings dataclass as JSON values (tuples as lists, ``features``, where it has one, as its
    settings)."""
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    return {**d, "features": cfg.features.settings()} if hasattr(cfg, "features") else d


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
