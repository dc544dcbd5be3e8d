"""Resumable bank builds: the running sums of an unfinished ``build_bank`` saved beside its output.

Long jobs must survive an interrupt and leave no partial output (DESIGN.md). With a :class:`BankCheckpoint`,
``build_bank`` writes ``OUT.resume.safetensors`` atomically every ``every`` images and when it is stopped
(``stop()`` or Ctrl-C; then it raises :class:`BankInterrupted`); ``resume=True`` continues from it. The file holds
the exact float64 running sums and the images after them are added in the same order by the same code, so a resumed
bank equals an uninterrupted one bit for bit. The bank itself is only ever written whole, by ``save_bank``.

The file is a :mod:`styleverse.io.state` file of kind ``bank_resume``: ``sum/<layer>`` float64 (C, C)
Σ wᵢ Gᵢ; ``sq_norm_sum/<layer>`` float64 Σ wᵢ ‖Gᵢ‖²_F; ``weight_sum`` / ``weight_sq_sum`` float64; ``count``
(images added, which is also the index of the next one); ``layers`` in order; ``stat_mean/<layer>`` and
``stat_std/<layer>`` float64 (C,) Σ wᵢ μᵢ and Σ wᵢ σᵢ, the AdaIN channel statistics (absent in states
saved before they existed: such a build finishes without them). Its fingerprint holds the
settings that change the bank and ``inputs.inputs_digest`` of the ordered inputs; a resume with any of them
different is refused, naming what differs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from styleverse.cancel import Stopped
from styleverse.errors import ConfigError
from styleverse.io import state as io_state
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.inputs import inputs_digest
from styleverse.styles.targets import GramDict, RunningSums, StatDict, StyleImage

log = logging.getLogger("styleverse")

STATE_KIND = "bank_resume"


@dataclass(frozen=True)
class BankCheckpoint:
    """Where ``build_bank`` keeps its resume state, how often it saves it (every ``every`` images; 0: only
    when stopped) and whether to continue from it. The caller calls :meth:`clear` once the bank is saved."""

    path: Path
    every: int = 200
    resume: bool = False

    def clear(self) -> None:
        """Remove the state file: the bank it was building is safely on disk."""
        Path(self.path).unlink(missing_ok=True)


class BankInterrupted(Stopped):
    """``build_bank`` was stopped; the state of the first ``done`` of ``total`` images is in ``path``."""

    def __init__(self, path: Path, done: int, total: int):
        super().__init__(f"interrupted after {done} of {total} images; state saved to {path}")
        self.path, self.done, self.total = Path(path), done, total


def resume_path(output: str | os.PathLike[str], rank: int = 0, world_size: int = 1) -> Path:
    """The resume state file that belongs to bank file ``output``: ``OUT.resume.safetensors``, or for
    process ``rank`` of ``world_size`` under torchrun ``OUT.resume.RANKofWORLD.safetensors``."""
    out = Path(output)
    part = f".{rank}of{world_size}" if world_size > 1 else ""
    return out.with_name(f"{out.name}.resume{part}.safetensors")


def fingerprint(
    info: BackboneInfo,
    layers: Iterable[str],
    images: Sequence[StyleImage],
    size: int | None,
    precision: str,
    settings: Mapping[str, object],
) -> dict[str, object]:
    """What must be equal for a saved build to continue: network, layers, size, precision, the caller's
    settings and the ordered inputs (paths, weights, sizes, modification times), as plain JSON values."""
    raw = {
        "backbone": info.to_dict(),
        "layers": list(layers),
        "size": size,
        "precision": precision,
        "settings": dict(settings),
        "images": len(images),
        "inputs": inputs_digest(images),
    }
    return dict(io_state.fingerprint(raw))


def save_state(path: Path, sums: RunningSums, fp: Mapping[str, object]) -> None:
    """Write the running sums atomically through :mod:`styleverse.io.state` (readers see the previous state
    or this one, never a part)."""
    f64 = torch.float64
    state = {
        "layers": list(sums.total),
        "sum": dict(sums.total),
        "sq_norm_sum": {k: torch.tensor(v, dtype=f64) for k, v in sums.sq_norm.items()},
        "weight_sum": torch.tensor(sums.weight, dtype=f64),
        "weight_sq_sum": torch.tensor(sums.weight_sq, dtype=f64),
        "count": sums.count,
        "stat_mean": dict(sums.stat_mean),
        "stat_std": dict(sums.stat_std),
    }
    io_state.save_state(path, STATE_KIND, fp, state)
    log.debug("%s: saved bank state after %d images", path, sums.count)


def _sums(state: Mapping[str, Any], path: Path) -> RunningSums:
    """The sums in a loaded state, checked: square float64 Grams (finiteness io.state already checked)."""
    total: GramDict = {}
    sq: dict[str, float] = {}
    try:
        for k in state["layers"]:
            t = state["sum"][k]
            if t.dtype != torch.float64 or t.dim() != 2 or t.shape[0] != t.shape[1]:
                raise ValueError(f"layer {k} is not a square float64 sum")
            total[k], sq[k] = t, float(state["sq_norm_sum"][k])
        w, w2, n = float(state["weight_sum"]), float(state["weight_sq_sum"]), int(state["count"])
        if n < 0:
            raise ValueError("negative image count")
        means, stds = dict(state.get("stat_mean", {})), dict(state.get("stat_std", {}))
        for k, m in means.items():
            if m.dtype != torch.float64 or m.dim() != 1 or stds[k].shape != m.shape or stds[k].dtype != m.dtype:
                raise ValueError(f"channel statistics of layer {k} are not float64 vectors")
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"resume: cannot use {path} ({e}); delete it and start afresh", setting="resume") from None
    return RunningSums(total, sq, w, w2, n, means, stds)


def load_state(path: Path, fp: Mapping[str, object]) -> RunningSums:
    """The saved sums, after checking they come from the same build; one-line :class:`ConfigError` when
    the file is missing, unreadable, damaged or was saved with other settings or inputs."""
    describe = {
        "inputs": lambda a, b: "the input images changed (paths, weights, file sizes or modification times)",
        "backbone": lambda a, b: f"backbone {a.get('identity')} then, {b.get('identity')} now",
    }
    return _sums(io_state.load_state(path, STATE_KIND, fp, describe=describe), Path(path))


def add_with_checkpoints(
    sums: RunningSums,
    items: Iterable[tuple[GramDict, float] | tuple[GramDict, float, StatDict]],
    ckpt: BankCheckpoint,
    fp: Mapping[str, object],
    total: int,
) -> RunningSums:
    """``sums`` plus ``items`` (the rest of a ``total``-image stream), saving the state every ``ckpt.every``
    images and when the stream is stopped (:class:`~styleverse.cancel.Stopped`) or on Ctrl-C, which then
    become :class:`BankInterrupted`."""
    try:
        for item in items:
            sums = sums.add(*item)
            if ckpt.every and sums.count % ckpt.every == 0 and sums.count < total:
                save_state(ckpt.path, sums, fp)
    except (Stopped, KeyboardInterrupt):
        save_state(ckpt.path, sums, fp)
        raise BankInterrupted(ckpt.path, sums.count, total) from None
    return sums
