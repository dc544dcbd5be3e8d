"""Checks that the settings of every network trainer share (fast, AdaIN, the classifier), said once.

A trainer's ``validate()`` lists its own checks as ``(ok, message, setting)`` and adds :func:`trainer_checks`;
:func:`refuse_first` turns the first failing one into a one-line :class:`~styleverse.errors.ConfigError` that
names the setting (front ends word it as their flag or control).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

from styleverse.errors import ConfigError

Check = tuple[bool, str, str | tuple[str, ...]]


class Restartable(Protocol):
    """Settings of a run that can continue its saved state or start over in its place."""

    @property
    def resume(self) -> bool: ...
    @property
    def overwrite(self) -> bool: ...


class TrainerSettings(Restartable, Protocol):
    """What every step-trained network's settings have."""

    @property
    def batch_size(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def checkpoint_every(self) -> int: ...
    @property
    def sample_every(self) -> int: ...


def trainer_checks(cfg: TrainerSettings, weights: Iterable[str] = ()) -> list[Check]:
    """Batch and step counts, learning rate, checkpoint/sample intervals, resume vs overwrite, and each loss
    weight named in ``weights`` (a finite number >= 0)."""
    every = ("checkpoint_every", "sample_every")
    checks: list[Check] = [
        (cfg.batch_size >= 1 and cfg.steps >= 1, "batch_size and steps must be >= 1", ("batch_size", "steps")),
        (cfg.lr > 0 and math.isfinite(cfg.lr), "lr must be a positive number", "lr"),
        (cfg.checkpoint_every >= 0 and cfg.sample_every >= 0, "checkpoint_every/sample_every >= 0", every),
        resume_or_overwrite(cfg),
    ]
    for name in weights:
        v = getattr(cfg, name)
        checks.append((v >= 0 and math.isfinite(v), f"{name} must be a number >= 0", name))
    return checks


def resume_or_overwrite(cfg: Restartable) -> Check:
    """A run cannot both continue its saved state and start over in its place."""
    return (
        not (cfg.resume and cfg.overwrite),
        "resume and overwrite contradict each other; pick one",
        ("resume", "overwrite"),
    )


def refuse_first(checks: Iterable[Check]) -> None:
    """Raise :class:`ConfigError` with the message and setting of the first check that fails."""
    for ok, message, setting in checks:
        if not ok:
            raise ConfigError(message, setting)
