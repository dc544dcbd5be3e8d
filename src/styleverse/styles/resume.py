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
from styleverse.io import state as io_state
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.inputs import inputs_digest
from styleverse.styles.targets import GramDict, RunningSums, StatDict, StyleImage, sq_norm

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


def _sums(state: Mapping[str, Any], images: Sequence[StyleImage], channels: Mapping[str, int]) -> RunningSums:
    """The sums in a loaded state, checked against the build continuing it (finiteness io.state already
    checked): its layers with (C, C) float64 sums of symmetric Grams, ``count`` within the inputs, weight sums
    equal to those of the first ``count`` input weights, Σ wᵢ‖Gᵢ‖² at least W‖Ḡ‖² (what any real images give),
    channel statistics of C values. ValueError names the first that does not fit."""
    n = state["count"]
    if not (isinstance(n, int) and 0 <= n <= len(images)):
        raise ValueError(f"count {n!r} is not a number of images within the {len(images)} inputs")
    if n == 0:
        channels = {}  # nothing added yet: no layer has a sum
    if sorted(state["layers"]) != sorted(channels):
        raise ValueError(f"layers {state['layers']} then, {list(channels)} now")
    ws = [s.weight for s in images[:n]]
    w, w2 = float(state["weight_sum"]), float(state["weight_sq_sum"])
    if (w, w2) != (sum(ws, 0.0), sum((x * x for x in ws), 0.0)):
        raise ValueError(f"weight sums {w:g}, {w2:g} are not those of the first {n} input weights")
    total: GramDict = {}
    sq: dict[str, float] = {}
    for k, c in channels.items():
        t, sq[k] = state["sum"][k], float(state["sq_norm_sum"][k])
        io_state.check_like(t, torch.zeros(c, c, dtype=torch.float64), f"sum/{k}")
        skew = float((t - t.T).abs().max()) if t.numel() else 0.0
        if skew > 1e-5 * float(t.abs().max()) or bool((t.diagonal() < 0).any()) or sq_norm(t) > sq[k] * w * (1 + 1e-6):
            raise ValueError(f"sum/{k} is not a sum of Gram matrices of the weighted images")
        total[k] = t
    means, stds = dict(state.get("stat_mean", {})), dict(state.get("stat_std", {}))
    if means and (set(means) != set(channels) or set(stds) != set(channels)):
        raise ValueError("channel statistics are not those of the layers")
    for k in means:
        io_state.check_like(means[k], torch.zeros(channels[k], dtype=torch.float64), f"stat_mean/{k}")
        io_state.check_like(stds[k], torch.zeros(channels[k], dtype=torch.float64), f"stat_std/{k}")
    return RunningSums(total, sq, w, w2, n, means, stds)


def load_state(
    path: Path, fp: Mapping[str, object], images: Sequence[StyleImage], channels: Mapping[str, int]
) -> RunningSums:
    """The saved sums, after checking they come from the same build (``images`` in order, feature layers
    with their ``channels``); one-line :class:`ConfigError` when the file is missing, unreadable, damaged, was
    saved with other settings or inputs, or holds sums that build could not have made (an edited file)."""
    describe = {
        "inputs": lambda a, b: "the input images changed (paths, weights, file sizes or modification times)",
        "backbone": lambda a, b: f"backbone {a.get('identity')} then, {b.get('identity')} now",
    }
    state = io_state.load_state(path, STATE_KIND, fp, describe=describe)
    try:
        return _sums(state, images, channels)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise io_state.unfit(str(e), path) from None


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
