"""Training the universe classifier (paper section 3.1): settings, events, and the classifier as a task of
the shared step trainer :mod:`styleverse.training.loop`.

Paper defaults: 10 epochs, batch size 16, Adam with learning rate 1e-5, all layers trained. The 1e-5 is
for fine-tuning a trained start (ImageNet, or a checkpoint); from scratch the default learning rate is
:data:`LR_SCRATCH`, measured with ``benchmarks/bench_classifier_lr.py`` (see :meth:`TrainConfig.default_lr`),
and the warnings after each epoch (:func:`styleverse.classifier.metrics.learning_warnings`) end with
advice that follows the same measurement (:func:`lr_advice`).

An epoch is :func:`~styleverse.classifier.data.epoch_plan` loop steps, drawing the classes equally often
(the paper's fix for its one-class collapse, section 5; :class:`~styleverse.classifier.data.TrainBatches`).
The loop's evaluation at each epoch's end validates, picks the best epoch (validation balanced accuracy)
and writes the run folder's files; the checkpoint after it is the exact resume state (see
:mod:`styleverse.classifier.run`). Under ``torchrun`` the loop trains like DistributedDataParallel:
``batch_size`` is per process, each global batch is sharded by position (:func:`~styleverse.classifier.data.shard`),
validation is sharded and summed, only rank 0 writes or reports."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from styleverse.classifier.config import TrainConfig, lr_advice
from styleverse.classifier.data import TrainBatches, read_dataset
from styleverse.classifier.metrics import (
    best_temperature,
    confusion_matrix,
    learning_warnings,
    probability_summary,
    probability_sums,
    summarize,
    temperature_nll,
)
from styleverse.classifier.model import UniverseClassifier
from styleverse.classifier.predict import forward_batch, infer
from styleverse.classifier.run import (
    RESUME,
    SELECTION,
    STATE_KIND,
    build_classifier,
    open_run_dir,
    prepare_run_dir,
    run_header,
    save_epoch,
)
from styleverse.devices import place, require_memory, resolve_precision, vgg_pass_bytes
from styleverse.distributed import DistContext, all_sum, process_group
from styleverse.io.images import remove_temp_files
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs, network_files
from styleverse.progress import Progress
from styleverse.training.loop import Event as LoopEvent
from styleverse.training.loop import LoopConfig, LoopStart, StepEnd, TrainTask, run_loop

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

    @property
    def state_path(self) -> Path:
        """The exact resume state (what ``--resume`` continues)."""
        return self.run_dir / RESUME


def train(config: TrainConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train (or with ``config.resume`` continue) a classifier run; see the module doc.

    ``stop`` is polled after every step; when it returns True the resume state is saved and the result
    comes back with ``interrupted=True`` (the CLI wires Ctrl-C to it). A new run seeds torch's global RNG
    (dropout) from ``config.seed`` and the process rank; a resumed one restores every RNG.

    The run folder is locked (:func:`styleverse.io.lock.output_lock`, by rank 0, which alone writes) for the
    whole run: a second run into the same folder is refused naming the first, instead of replacing its files.
    A run folder that is the dataset, lies inside it (its PNGs would become class images) or holds it or the
    ``init`` weights file is refused before anything starts."""
    config.validate()
    check_outputs({"--out": Output(config.out, "folder")}, [config.dataset, *network_files(config.init)])
    with (
        process_group(config.device) as (ctx, device),
        output_lock(config.out) if ctx.is_main else contextlib.nullcontext(),  # entered once ctx is known
    ):
        if ctx.is_main:
            remove_temp_files(config.out)  # what a killed run left
        return _train(config, ctx, device, callback if ctx.is_main else None, stop)


def _check_memory(cfg: TrainConfig, device: torch.device) -> None:
    """One-line :class:`ConfigError` before any work when a training step of ``batch_size`` images at ``size``
    (VGG activations kept for backward, scaled by ``width``) needs more memory than ``device`` has free."""
    precision = resolve_precision(cfg.precision, device)
    need = vgg_pass_bytes(cfg.size, cfg.size, batch=cfg.batch_size, arch=cfg.arch, precision=precision)
    what = f"a step of batch_size {cfg.batch_size} at size {cfg.size}"
    require_memory(int(need * cfg.width), device, what, "lower batch_size or size", ("batch_size", "size"))


def _train(
    cfg: TrainConfig, ctx: DistContext, device: torch.device, callback: Callback | None, stop: Callable[[], bool] | None
) -> TrainResult:
    started = time.perf_counter()
    _check_memory(cfg, device)
    data = read_dataset(cfg.dataset, cfg.val_fraction, cfg.seed)
    run = Path(cfg.out)
    resume = prepare_run_dir(run, cfg, ctx.is_main)
    precision = resolve_precision(cfg.precision, device)
    model, params = build_classifier(cfg, data.class_names, resume)
    open_run_dir(run, cfg.overwrite and not resume, ctx.is_main)
    place(model, device, precision)
    if not resume:
        torch.manual_seed(cfg.seed + 1000 * ctx.rank)  # dropout: other masks on each process
    batches = TrainBatches(data, cfg.size, cfg.batch_size, cfg.seed, cfg.workers, ctx.rank, ctx.world_size)
    header = run_header(cfg, data, str(device), precision, ctx.world_size)
    task = ClassifierTask(cfg, model, batches, header, device, callback)
    fingerprint = {**cfg.fingerprint(), "classes": list(data.class_names)}
    loop = LoopConfig(
        cfg.epochs * batches.steps, run / RESUME, STATE_KIND, fingerprint, cfg.checkpoint_every,
        eval_every=batches.steps, resume=resume,
    )  # fmt: skip
    out = run_loop(task, torch.optim.Adam(params, lr=cfg.adam_lr), loop, ctx, device, task.report, stop)
    seconds = time.perf_counter() - started
    return TrainResult(run, task.epochs, task.best_epoch, task.best_score, out.interrupted, seconds, model)


class ClassifierTask(TrainTask):
    """The classifier as a :class:`TrainTask`: cross-entropy on each step's batch; every epoch's end
    validates and picks the best epoch (kept in the resume state), and rank 0 writes the epoch's files."""

    def __init__(
        self, cfg: TrainConfig, model: UniverseClassifier, batches: TrainBatches, header: dict[str, Any],
        device: torch.device, callback: Callback | None,
    ) -> None:  # fmt: skip
        self.cfg, self.model, self.net, self.batches, self.header = cfg, model, model, batches, header  # net: typed
        self.data, self.device, self.precision, self.callback = batches.data, device, header["precision"], callback
        self.epochs: list[dict[str, Any]] = []  # one row of metrics per epoch
        self.best_epoch: int | None = None
        self.best_score = -math.inf
        self._unsaved = False  # an epoch validated but not written yet

    def batch(self, step: int, ctx: DistContext) -> list[tuple[torch.Tensor, int]]:
        return self.batches(step)

    def losses(self, batch: list[tuple[torch.Tensor, int]], step: int) -> dict[str, torch.Tensor]:
        """Cross-entropy, and the batch's accuracy (logged: an epoch's train accuracy is their mean)."""
        x, y = torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch], device=self.device)
        logits = forward_batch(self.net, x, self.device, self.precision)
        hits = (logits.detach().argmax(1) == y).float().mean()
        return {"total": F.cross_entropy(logits, y), "accuracy": hits}

    def evaluate(self, step: int, history: list[dict[str, float]], ctx: DistContext) -> None:
        """The end of an epoch: its train loss and accuracy (from the loop's history), validation, best epoch."""
        epoch, rows = step // self.batches.steps, history[step - self.batches.steps : step]
        loss, hits = sum(r["total"] for r in rows) / len(rows), sum(r["accuracy"] for r in rows) / len(rows)
        row = {"epoch": epoch, "train_loss": loss, "train_accuracy": hits, **validate(self, ctx, epoch)}
        self.model.train()
        score = row[SELECTION]
        if not math.isnan(score) and score > self.best_score:
            self.best_epoch, self.best_score = epoch, score
        self.epochs.append(row)
        self._unsaved = True

    def save(self, step: int, history: list[dict[str, float]]) -> None:
        """Rank 0: the files of an epoch just validated, then its report."""
        if not self._unsaved:
            return
        save_epoch(Path(self.cfg.out), self.net, self.epochs, (self.best_epoch, self.best_score), self.header)
        self._unsaved = False
        row = self.epochs[-1]
        if self.callback:
            self.callback(EpochEnd(row["epoch"], self.cfg.epochs, row, row["epoch"] == self.best_epoch))

    def extra_state(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "best_epoch": self.best_epoch, "best_score": self.best_score}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        epochs, best = [dict(r) for r in state["epochs"]], state["best_epoch"]
        if not (best is None or (isinstance(best, int) and any(r.get("epoch") == best for r in epochs))):
            raise ValueError(f"task/best_epoch {best!r} is none of the {len(epochs)} epochs saved")
        self.epochs, self.best_epoch, self.best_score = epochs, best, float(state["best_score"])

    def report(self, ev: LoopEvent) -> None:
        """The loop's events in the classifier's terms (epochs and steps within them)."""
        if self.callback is None:
            return
        steps, data = self.batches.steps, self.data
        if isinstance(ev, LoopStart):
            self.callback(
                TrainStart(self.cfg.epochs, *divmod(ev.step, steps), steps, data.class_names,
                           tuple(data.counts("train")), tuple(data.counts("val")), str(self.device),
                           self.precision, ev.world_size)
            )  # fmt: skip
        elif isinstance(ev, StepEnd):
            epoch, done = divmod(ev.step - 1, steps)
            self.callback(TrainStep(epoch + 1, done + 1, steps, ev.losses["total"]))


def validate(task: ClassifierTask, ctx: DistContext, epoch: int) -> dict[str, Any]:
    """Validation metrics of the task's model, sharded over processes and summed (every process gets them)."""
    cfg, dev, data, n = task.cfg, task.device, task.data, len(task.data.class_names)
    val = data.val[ctx.rank :: ctx.world_size]
    logits = infer(task.net, [s.path for s in val], cfg.size, dev, task.precision, cfg.batch_size, cfg.workers,
                   task.callback)  # fmt: skip
    targets = torch.tensor([s.label for s in val], dtype=torch.long)
    conf = confusion_matrix(targets, logits.argmax(dim=1), n).double()
    vloss = float(F.cross_entropy(logits, targets, reduction="sum")) if val else 0.0
    prob_sums, nll = probability_sums(logits.softmax(dim=1), targets, n), temperature_nll(logits, targets)
    parts = [*conf.view(-1).tolist(), vloss, float(len(val)), *nll.tolist(), *prob_sums.tolist()]
    summed = all_sum(parts, ctx, dev)
    summary = summarize(torch.tensor(summed[: n * n]).view(n, n).round().long(), data.class_names)
    t = best_temperature(summed[n * n + 2 : n * n + 2 + len(nll)])
    probs = probability_summary(torch.tensor(summed[n * n + 2 + len(nll) :]), data.class_names)
    scaled = all_sum(probability_sums((logits / t).softmax(dim=1), targets, n).tolist(), ctx, dev)
    warnings = learning_warnings(summary, probs)
    if warnings and ctx.is_main:
        log.warning("epoch %d: %s; %s", epoch, "; ".join(warnings), lr_advice(cfg.init, cfg.adam_lr, cfg.width))
    shown = ("accuracy", "balanced_accuracy", "recall", "confusion", "prediction_share")
    row = {"val_loss": summed[n * n] / max(summed[n * n + 1], 1), **{f"val_{k}": summary[k] for k in shown}}
    row |= {"collapse": summary["collapse"], "val_ece": probs["ece"], "val_mean_confidence": probs["mean_confidence"]}
    row |= {"val_temperature": t, "val_ece_scaled": probability_summary(torch.tensor(scaled), data.class_names)["ece"]}
    return {**row, "val_probabilities": probs, "warnings": warnings}
