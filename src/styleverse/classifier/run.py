"""What a classifier run keeps on disk and how it starts: run-folder checks, initial weights, exact resume.

``resume.safetensors`` (a :mod:`styleverse.io.state` file: no pickle) holds the model and optimizer state,
position (epoch, step), the partial epoch statistics and the torch/numpy/python RNG states of every process.
Every file is written
atomically, so a crash while saving leaves the previous version loadable.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from styleverse.classifier.config import TrainConfig
from styleverse.classifier.data import Dataset
from styleverse.classifier.metrics import plot_confusion, plot_curves, plot_reliability
from styleverse.classifier.model import (
    ClassifierSpec,
    UniverseClassifier,
    init_weights,
    save_checkpoint,
    set_trainable,
)
from styleverse.errors import ConfigError, OutputError
from styleverse.io import state as io_state
from styleverse.io.images import write_bytes_atomic
from styleverse.nn.vgg import imagenet_weights_path, load_backbone, load_state_into, read_state_dict
from styleverse.training.distributed import DistContext, barrier, gather_objects
from styleverse.training.rng import rng_state, set_rng_state

log = logging.getLogger("styleverse")
INIT_ALTERNATIVES = "pass --init PATH to a VGG state dict or a classifier checkpoint, or --init scratch"
RESUME = "resume.safetensors"  # the exact resume state, an io.state file
STATE_KIND = "classifier_run"
RUN_FILES = (
    "best.safetensors", "last.safetensors", RESUME, "metrics.json", "curves.png", "confusion.png", "reliability.png"
)  # fmt: skip
SELECTION = "val_balanced_accuracy"


@dataclass
class RunState:
    """Position and bookkeeping of a run; ``loss_sum/correct/seen`` are this process's epoch sums."""

    fingerprint: dict[str, Any]
    class_names: list[str]
    epoch: int = 0  # 0-based epoch in progress
    step: int = 0  # steps done in that epoch
    global_step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float = -math.inf

    @classmethod
    def fresh(cls, cfg: TrainConfig, ctx: DistContext, class_names: tuple[str, ...]) -> RunState:
        """New run: seed the global RNGs (dropout) per process, differently on each rank."""
        seed = cfg.seed + 1000 * ctx.rank
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        return cls(cfg.fingerprint(ctx.world_size), list(class_names))

    @classmethod
    def restore(
        cls, prior: dict[str, Any], opt: torch.optim.Optimizer, ctx: DistContext, fingerprint: dict[str, Any]
    ) -> RunState:
        """Continue exactly where the resume state left off (optimizer, RNGs, position, partial sums)."""
        opt.load_state_dict(prior["optimizer"])
        mine = prior["ranks"][ctx.rank]
        set_rng_state(mine["rng"])
        loss_sum, correct, seen = mine["partial"]
        return cls(
            fingerprint, list(prior["class_names"]), prior["epoch"], prior["step"], prior["global_step"],
            float(loss_sum), int(correct), int(seen), list(prior["history"]), prior["best_epoch"], prior["best_score"],
        )  # fmt: skip

    def add_step(self, loss_sum: float, correct: int, n: int) -> None:
        self.step += 1
        self.global_step += 1
        self.loss_sum += loss_sum
        self.correct += correct
        self.seen += n

    def finish_epoch(self, row: dict[str, Any]) -> bool:
        """Record an epoch's metrics and move to the next; True when it is the best so far."""
        self.history.append(row)
        score = row[SELECTION]
        is_best = not math.isnan(score) and score > self.best_score
        if is_best:
            self.best_epoch, self.best_score = row["epoch"], score
        self.epoch, self.step = self.epoch + 1, 0
        self.loss_sum, self.correct, self.seen = 0.0, 0, 0
        return is_best


def prepare_run_dir(
    run: Path, cfg: TrainConfig, fingerprint: dict[str, Any], class_names: tuple[str, ...], is_main: bool
) -> dict[str, Any] | None:
    """Check the run folder before anything is written; return the resume state when continuing.

    A folder holding another run needs ``--resume`` (same settings) or ``--overwrite``.
    """
    if run.exists() and not run.is_dir():
        raise OutputError(f"{run}: exists and is not a folder; --out needs a run folder")
    present = [f for f in RUN_FILES if (run / f).exists()]
    if cfg.resume and (run / RESUME).exists():
        expected = {**fingerprint, "classes": list(class_names)}
        return io_state.load_state(run / RESUME, STATE_KIND, expected)
    if cfg.resume and present:
        raise OutputError(f"{run}: holds run files but no {RESUME}; pass --overwrite to start over")
    if present and not cfg.overwrite:
        raise OutputError(
            f"{run}: already holds a training run ({', '.join(present)}); "
            "pass --resume to continue it or --overwrite to replace it"
        )
    probe = run if run.exists() else next((p for p in run.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{probe}: not writable; choose another --out")
    if cfg.resume and is_main:
        log.info("nothing to resume in %s; starting a new run", run)
    return None


def open_run_dir(run: Path, clear: bool, is_main: bool) -> None:
    """Create the run folder (rank 0); with ``clear`` remove a previous run's files (only ours)."""
    if not is_main:
        return
    try:
        run.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES if clear else ():
            (run / name).unlink(missing_ok=True)
    except OSError as e:
        raise OutputError(f"{run}: cannot prepare run folder ({e.strerror or e})") from None


def _init_from_file(model: UniverseClassifier, cfg: TrainConfig) -> None:
    path = Path(cfg.init)
    if not path.is_file():
        raise ConfigError(
            f"init: '{cfg.init}' is neither imagenet, scratch nor an existing weights file", setting="init"
        )
    state, meta = read_state_dict(path)
    if meta.get("styleverse_kind") == "classifier":
        arch, width = meta.get("arch", cfg.arch), float(meta.get("width", 1.0))
        if (arch, width) != (cfg.arch, cfg.width):
            raise ConfigError(
                f"{path}: checkpoint is {arch} scaled {width}; pass arch {arch} width {width}",
                setting=("arch", "width"),
            )
    load_state_into(model, state, ("features.",), str(path))
    head = {k: v for k, v in state.items() if k.startswith("head.")}
    own = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
    if head.keys() == own.keys() and all(head[k].shape == own[k].shape for k in own):
        load_state_into(model, state, ("head.",), str(path))
        log.info("initialised conv base and head from %s", path)
    else:
        log.info("initialised conv base from %s; the dense head starts fresh", path)


def build_classifier(
    cfg: TrainConfig, class_names: tuple[str, ...], prior: dict[str, Any] | None
) -> tuple[UniverseClassifier, list[nn.Parameter]]:
    """The model with its starting weights (resume state, or ``--init``) and its trainable parameters."""
    spec = ClassifierSpec(tuple(class_names), cfg.arch, cfg.width, tuple(cfg.hidden), cfg.dropout, cfg.size)
    model = UniverseClassifier(spec)
    if prior is not None:
        load_state_into(model, prior["model"], ("features.", "head."), RESUME)
    else:
        init_weights(model, cfg.seed)
        if cfg.init == "imagenet":
            if cfg.width != 1.0:
                raise ConfigError(
                    "init imagenet needs width 1 (the ImageNet weights are full width)", setting=("init", "width")
                )
            imagenet_weights_path(cfg.arch, alternatives=INIT_ALTERNATIVES)  # offline: advice in --init's terms
            vgg, _ = load_backbone("imagenet", arch=cfg.arch)
            load_state_into(model, vgg.state_dict(), ("features.",), f"ImageNet {cfg.arch}")
        elif cfg.init != "scratch":
            _init_from_file(model, cfg)
    return model, set_trainable(model, cfg.train_layers)


def save_resume(
    run: Path, model: UniverseClassifier, opt: torch.optim.Optimizer, st: RunState, ctx: DistContext
) -> None:
    """Collective: gather every process's RNG state and partial sums; rank 0 writes the resume state."""
    ranks = gather_objects({"rng": rng_state(), "partial": [st.loss_sum, st.correct, st.seen]}, ctx)
    if ctx.is_main:
        payload = {
            "class_names": st.class_names,
            "epoch": st.epoch, "step": st.step, "global_step": st.global_step, "history": st.history,
            "best_epoch": st.best_epoch, "best_score": st.best_score, "ranks": ranks,
            "model": dict(model.state_dict()),
            "optimizer": opt.state_dict(),
        }  # fmt: skip
        fingerprint = {**st.fingerprint, "classes": list(st.class_names)}
        try:
            io_state.save_state(run / RESUME, STATE_KIND, fingerprint, payload)
        except OSError as e:
            raise OutputError(f"{run / RESUME}: cannot write ({e.strerror or e})") from None
    barrier(ctx)


def _finite(obj: Any) -> Any:
    """NaN/inf -> None so metrics.json stays valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def save_epoch_outputs(
    run: Path, model: UniverseClassifier, opt: torch.optim.Optimizer, st: RunState, ctx: DistContext,
    cfg: TrainConfig, data: Dataset, row: dict[str, Any], is_best: bool, device: torch.device, precision: str,
) -> None:  # fmt: skip
    """After an epoch: last/best checkpoints, metrics.json, curves and confusion PNGs, then the resume state."""
    if ctx.is_main:
        info = {"root": str(data.root), "source": data.source, "train_counts": data.counts("train"),
                "val_counts": data.counts("val")}  # fmt: skip
        extra = {"epoch": row["epoch"], "metrics": _finite(row), "settings": cfg.to_dict(), "dataset": info,
                 "selection": SELECTION}  # fmt: skip
        metrics = {
            "class_names": list(data.class_names), "dataset": info, "settings": cfg.to_dict(),
            "device": str(device), "precision": precision, "world_size": ctx.world_size, "selection": SELECTION,
            "best_epoch": st.best_epoch, "best_score": st.best_score, "history": st.history,
        }  # fmt: skip
        target = run
        try:
            for target in (run / "last.safetensors", *([run / "best.safetensors"] if is_best else [])):
                save_checkpoint(model, target, extra)
            target = run / "metrics.json"
            write_bytes_atomic(target, (json.dumps(_finite(metrics), indent=2) + "\n").encode())
            target = run / "curves.png"
            plot_curves(st.history, target)
            target = run / "confusion.png"
            plot_confusion(row["val_confusion"], data.class_names, target, f"Validation, epoch {row['epoch']}")
            target = run / "reliability.png"
            plot_reliability(row["val_probabilities"], target, f"Validation, epoch {row['epoch']}")
        except OSError as e:
            raise OutputError(f"{target}: cannot write ({e.strerror or e})") from None
    save_resume(run, model, opt, st, ctx)
