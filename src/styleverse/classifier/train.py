"""Training the universe classifier (paper section 3.1): settings, events and the epoch loop.

Paper defaults: 10 epochs, batch size 16, Adam with learning rate 1e-5, all layers trained. The 1e-5 is
for fine-tuning a trained start (ImageNet, or a checkpoint); from scratch the default learning rate is
:data:`LR_SCRATCH`, measured with ``benchmarks/bench_classifier_lr.py`` (see :meth:`TrainConfig.default_lr`),
and the warnings after each epoch (:func:`styleverse.classifier.metrics.learning_warnings`) end with
advice that follows the same measurement (:func:`lr_advice`). Each epoch
draws the classes equally often (the paper's fix for its one-class collapse, section 5), validates,
and writes ``last.safetensors``, ``best.safetensors`` (by validation balanced accuracy), ``metrics.json``,
``curves.png``, ``confusion.png``, ``reliability.png`` and the exact resume state ``resume.safetensors``
to the run folder.

Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK set) the model runs as DistributedDataParallel:
``batch_size`` is per process, each global batch of ``batch_size x world_size`` is sharded by position
(see :func:`styleverse.classifier.data.shard`), validation is sharded and summed, and only rank 0
writes files or reports events (helpers in :mod:`styleverse.training.distributed`; run-folder files, initial
weights and resume state in :mod:`styleverse.classifier.run`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from styleverse.classifier.config import TrainConfig, lr_advice
from styleverse.classifier.data import Dataset, Sample, balanced_order, epoch_plan, load_train, read_dataset, shard
from styleverse.classifier.metrics import (
    confusion_matrix,
    learning_warnings,
    probability_summary,
    probability_sums,
    summarize,
)
from styleverse.classifier.model import UniverseClassifier
from styleverse.classifier.predict import forward_batch, infer, prefetched
from styleverse.classifier.run import (
    RunState,
    build_classifier,
    open_run_dir,
    prepare_run_dir,
    save_epoch_outputs,
    save_resume,
)
from styleverse.devices import place, resolve_precision
from styleverse.io.images import remove_temp_files
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs
from styleverse.progress import Progress
from styleverse.training.distributed import DistContext, all_sum, process_group

log = logging.getLogger("styleverse")


@dataclass(frozen=True)
class TrainStart:
    epochs: int
    start_epoch: int  # 0-based epoch the run continues in
    start_step: int
    steps_per_epoch: int
    class_names: tuple[str, ...]
    train_counts: tuple[int, ...]
    val_counts: tuple[int, ...]
    device: str
    precision: str
    world_size: int


@dataclass(frozen=True)
class TrainStep:
    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps: int
    loss: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, Any]
    is_best: bool


Event = TrainStart | TrainStep | EpochEnd | Progress
Callback = Callable[[Event], None]


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float = -math.inf
    interrupted: bool = False
    seconds: float = 0.0
    model: UniverseClassifier | None = None

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.safetensors"

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.safetensors"


def train(config: TrainConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train (or with ``config.resume`` continue) a classifier run; see the module doc.

    ``stop`` is polled after every step; when it returns True the resume state is saved and the result
    comes back with ``interrupted=True`` (the CLI wires Ctrl-C to it). A new run seeds the global
    torch/numpy/python RNGs (dropout uses torch's) from ``config.seed`` and the process rank.

    The run folder is locked (:func:`styleverse.io.lock.output_lock`, by rank 0, which alone writes) for the
    whole run: a second run into the same folder is refused naming the first, instead of replacing its files.
    A run folder that is the dataset, lies inside it (its PNGs would become class images) or holds it is
    refused before anything starts.
    """
    config.validate()
    check_outputs({"--out": Output(config.out, "folder")}, [config.dataset])
    with (
        process_group(config.device) as (ctx, device),
        output_lock(config.out) if ctx.is_main else contextlib.nullcontext(),  # entered once ctx is known
    ):
        if ctx.is_main:
            remove_temp_files(config.out)  # what a killed run left
        return _train(config, ctx, device, callback if ctx.is_main else None, stop)


def _train(
    cfg: TrainConfig, ctx: DistContext, device: torch.device, callback: Callback | None, stop: Callable[[], bool] | None
) -> TrainResult:
    started = time.perf_counter()
    data = read_dataset(cfg.dataset, cfg.val_fraction, cfg.seed)
    run = Path(cfg.out)
    fingerprint = cfg.fingerprint(ctx.world_size)
    prior = prepare_run_dir(run, cfg, fingerprint, data.class_names, ctx.is_main)
    precision = resolve_precision(cfg.precision, device)
    model, params = build_classifier(cfg, data.class_names, prior)
    open_run_dir(run, cfg.overwrite and prior is None, ctx.is_main)
    place(model, device, precision)
    opt = torch.optim.Adam(params, lr=cfg.adam_lr)
    state = (
        RunState.fresh(cfg, ctx, data.class_names) if prior is None else RunState.restore(prior, opt, ctx, fingerprint)
    )
    net: torch.nn.Module = model
    if ctx.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    session = _Session(cfg, ctx, device, precision, data, run, model, net, opt, state, callback)
    result = TrainResult(run, state.history, state.best_epoch, state.best_score, model=model)
    session.announce()
    while state.epoch < cfg.epochs and not result.interrupted:
        result.interrupted = session.train_epoch(stop)
        if not result.interrupted:
            session.end_epoch()
    result.best_epoch, result.best_score = state.best_epoch, state.best_score
    result.seconds = time.perf_counter() - started
    return result


def _train_item(sample: Sample, size: int, seed: int, epoch: int, position: int) -> tuple[torch.Tensor, int]:
    return load_train(sample.path, size, seed, epoch, position), sample.label


@dataclass
class _Session:
    """The pieces of one process's training run, and the epoch it runs."""

    cfg: TrainConfig
    ctx: DistContext
    device: torch.device
    precision: str
    data: Dataset
    run: Path
    model: UniverseClassifier
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    state: RunState
    callback: Callback | None

    def __post_init__(self) -> None:
        self.steps, self.samples = epoch_plan(len(self.data.train), self.cfg.batch_size, self.ctx.world_size)

    def announce(self) -> None:
        if self.callback:
            d, st = self.data, self.state
            self.callback(
                TrainStart(self.cfg.epochs, st.epoch, st.step, self.steps, d.class_names, tuple(d.counts("train")),
                           tuple(d.counts("val")), str(self.device), self.precision, self.ctx.world_size)
            )  # fmt: skip

    def _jobs(self) -> Iterator[list[Callable[[], tuple[torch.Tensor, int]]]]:
        cfg, ctx, epoch = self.cfg, self.ctx, self.state.epoch
        order = balanced_order(
            [s.label for s in self.data.train], len(self.data.class_names), self.samples, cfg.seed, epoch
        )
        for st in range(self.state.step, self.steps):
            start = st * cfg.batch_size * ctx.world_size + ctx.rank * cfg.batch_size
            idx = shard(order, st, cfg.batch_size, ctx.rank, ctx.world_size)
            yield [
                partial(_train_item, self.data.train[i], cfg.size, cfg.seed, epoch, start + k)
                for k, i in enumerate(idx)
            ]

    def train_epoch(self, stop: Callable[[], bool] | None) -> bool:
        """Run the rest of the current epoch; True when ``stop`` asked to halt (resume state saved)."""
        cfg, st = self.cfg, self.state
        self.model.train()
        for batch in prefetched(self._jobs(), cfg.workers):
            x = torch.stack([b[0] for b in batch])
            y = torch.tensor([b[1] for b in batch], device=self.device)
            logits = forward_batch(self.net, x, self.device, self.precision)  # type: ignore[arg-type]
            loss = F.cross_entropy(logits, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            st.add_step(float(loss.detach()) * len(batch), int((logits.detach().argmax(1) == y).sum()), len(batch))
            if self.callback:
                self.callback(TrainStep(st.epoch + 1, st.step, self.steps, float(loss.detach())))
            halt = all_sum([float(bool(stop and stop()))], self.ctx, self.device)[0] > 0
            if halt or (cfg.checkpoint_every and st.global_step % cfg.checkpoint_every == 0):
                save_resume(self.run, self.model, self.opt, st, self.ctx)
            if halt:
                return True
        return False

    def end_epoch(self) -> None:
        """Validate, record the epoch, write checkpoints/metrics/plots and report."""
        row = self.validate()
        is_best = self.state.finish_epoch(row)
        save_epoch_outputs(
            self.run, self.model, self.opt, self.state, self.ctx, self.cfg, self.data, row, is_best, self.device,
            self.precision,
        )  # fmt: skip
        if self.callback:
            self.callback(EpochEnd(self.state.epoch, self.cfg.epochs, row, is_best))

    def validate(self) -> dict[str, Any]:
        """Sum the epoch's train statistics over processes and validate (sharded by process)."""
        cfg, ctx, st, dev = self.cfg, self.ctx, self.state, self.device
        loss_sum, correct, seen = all_sum([st.loss_sum, st.correct, st.seen], ctx, dev)
        val = self.data.val[ctx.rank :: ctx.world_size]
        paths = [s.path for s in val]
        logits = infer(self.model, paths, cfg.size, dev, self.precision, cfg.batch_size, cfg.workers, self.callback)
        targets = torch.tensor([s.label for s in val], dtype=torch.long)
        n = len(self.data.class_names)
        conf = confusion_matrix(targets, logits.argmax(dim=1), n).double()
        vloss = float(F.cross_entropy(logits, targets, reduction="sum")) if val else 0.0
        prob_sums = probability_sums(logits.softmax(dim=1), targets, n)
        summed = all_sum([*conf.view(-1).tolist(), vloss, float(len(val)), *prob_sums.tolist()], ctx, dev)
        summary = summarize(torch.tensor(summed[: n * n]).view(n, n).round().long(), self.data.class_names)
        probs = probability_summary(torch.tensor(summed[n * n + 2 :]), self.data.class_names)
        warnings = learning_warnings(summary, probs)
        if warnings:
            log.warning(
                "epoch %d: %s; %s", st.epoch + 1, "; ".join(warnings), lr_advice(cfg.init, cfg.adam_lr, cfg.width)
            )
        return {
            "epoch": st.epoch + 1,
            "train_loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "val_loss": summed[n * n] / max(summed[n * n + 1], 1),
            "val_accuracy": summary["accuracy"],
            "val_balanced_accuracy": summary["balanced_accuracy"],
            "val_recall": summary["recall"],
            "val_confusion": summary["confusion"],
            "val_prediction_share": summary["prediction_share"],
            "collapse": summary["collapse"],
            "val_ece": probs["ece"],
            "val_mean_confidence": probs["mean_confidence"],
            "val_probabilities": probs,
            "warnings": warnings,
        }
