"""The settings every run on a device shares, declared once, and the checks of every network trainer's.

:class:`RunSettings` (seed, precision, device, resume, overwrite) is the tail of every resumable training
run's settings (the networks' trainers and the classifier); :class:`TrainerConfig` adds what a step-trained
network's run has beside it (how often to save the model with its state and a sample grid). Their fields are
keyword-only, so a run's own required settings stay positional; a trainer with another default states the
field again after ``_: KW_ONLY``. The CLI registers their flags once (``cli/flags.py``, ``add_run_args``).

A trainer's ``validate()`` lists its own checks as ``(ok, message, setting)`` and adds :func:`trainer_checks`;
:func:`refuse_first` turns the first failing one into a one-line :class:`~styleverse.errors.ConfigError` that
names the setting (front ends word it as their flag or control).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from styleverse.errors import ConfigError
from styleverse.io.state import Describe, not_fingerprinted, plain_settings, state_path
from styleverse.training.loop import LoopConfig

Check = tuple[bool, str, str | tuple[str, ...]]


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What every resumable run on a device has after its own settings: the seed of its weights and data, the
    precision and device (see :mod:`styleverse.devices`), and whether it continues its saved state
    (``resume``) or starts over in place of an earlier run's files (``overwrite``)."""

    seed: int = 0
    precision: str = "auto"
    device: str = not_fingerprinted("auto")
    resume: bool = not_fingerprinted(False)
    overwrite: bool = not_fingerprinted(False)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as JSON values (tuples as lists, a feature network as its settings): what the run
        records beside what it made."""
        return plain_settings(self)


@dataclass(frozen=True, kw_only=True)
class TrainerConfig(RunSettings):
    """:class:`RunSettings` of a step-trained network (fast, distill, AdaIN, gan), and how often it saves the
    model with its run state (``checkpoint_every``) and a sample grid (``sample_every``; 0: never)."""

    checkpoint_every: int = not_fingerprinted(200)
    sample_every: int = not_fingerprinted(0)


class Restartable(Protocol):
    """Settings of a run that can continue its saved state or start over in its place."""

    @property
    def resume(self) -> bool: ...
    @property
    def overwrite(self) -> bool: ...


class TrainerRun(Restartable, Protocol):
    """What :func:`~styleverse.training.outputs.training_run` reads of a trainer's settings."""

    @property
    def device(self) -> str: ...
    @property
    def sample_every(self) -> int: ...


class TrainerSettings(Restartable, Protocol):
    """What :func:`trainer_checks` and :func:`trainer_loop` read: a :class:`TrainerConfig` with the step
    settings every trainer states with its own defaults."""

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


def trainer_loop(
    cfg: TrainerSettings, out: Path, kind: str, fingerprint: Mapping[str, Any], photos: Sequence[Path] | None = None,
    describe: Mapping[str, Describe] | None = None,
) -> LoopConfig:  # fmt: skip
    """The loop of a trainer writing model ``out``: ``cfg.steps``, the resume state beside ``out`` (of job
    ``kind``, continued only with the same ``fingerprint`` and, when given, the same ``photos``; ``describe``
    words the entries that are digests), the checkpoint and sample intervals of ``cfg``."""
    from styleverse.training.photos import PHOTOS_CHANGED, files_digest

    if photos is not None:
        fingerprint = {**fingerprint, "photos": files_digest(photos)}
        describe = {"photos": lambda _a, _b: PHOTOS_CHANGED, **(describe or {})}
    return LoopConfig(
        cfg.steps, state_path(out), kind, fingerprint, cfg.checkpoint_every, cfg.sample_every, cfg.resume,
        describe=describe,
    )  # fmt: skip


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
