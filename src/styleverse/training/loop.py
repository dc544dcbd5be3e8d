"""A generic step-based training loop: optimizer steps, checkpoints, exact resume, DDP averaging, events.

Every feed-forward trainer (the multi-universe transform network of ``styleverse.fast``, the AdaIN decoder,
...) is a :class:`TrainTask`: it owns the model, makes the batch of a given step and turns it into a dict of
loss tensors. :func:`run_loop` does the rest, the same way for all of them:

* optimizer steps on ``losses["total"]`` (other entries are logged only), optional gradient clipping;
* under ``torchrun`` (see :mod:`styleverse.distributed`) it broadcasts rank 0's weights once and
  averages gradients over processes after every backward pass, which is what DistributedDataParallel does;
  each process makes its own share of the step's global batch, so N processes x B images train like one
  process with N·B images when the loss is a mean over images;
* a resume state every ``checkpoint_every`` steps, when ``stop()`` says so (the CLI wires Ctrl-C to it) and
  on a KeyboardInterrupt in a single process, written with :func:`styleverse.io.state.save_state`: model,
  optimizer, scheduler, step, loss history, the task's own extra state and every process's RNGs
  (:mod:`styleverse.training.rng`). With ``resume=True`` the run continues bit for bit as if it had never
  stopped, provided the task makes its batches from the step number (or from the RNGs, which are restored);
* every ``eval_every`` steps :meth:`TrainTask.evaluate` on every process (validation, the best model so far)
  and a checkpoint that keeps what it decided; a run stopped before an evaluation it owed does it on resume;
* progress as small event dataclasses to a callback, on rank 0 only (the library never prints);
* the history: one dict per step ``{"step": n, "total": ..., <loss name>: ...}`` averaged over processes.

How a task plugs in::

    class MyTask(TrainTask):
        def __init__(self, model, data):
            self.model, self.data = model, data          # the module whose parameters are trained

        def batch(self, step, ctx):                      # this process's share of global step ``step``
            idx = order(self.data, seed, step)[ctx.rank :: ctx.world_size]
            return torch.stack([self.data[i] for i in idx])

        def losses(self, batch, step):                   # "total" is what is minimised
            out = self.model(batch)
            c, s = content(out), style(out)
            return {"total": c + s, "content": c, "style": s}

        def save(self, step, history):                   # rank 0: write the deliverable (model file, plot)
            save_model(self.model, "model.safetensors")

        def sample(self, step):                          # rank 0, every ``sample_every`` steps
            ...

    cfg = LoopConfig(steps=1000, state_path="model.safetensors.resume.safetensors", kind="my_task",
                     fingerprint={"lr": 1e-3, "size": 256}, checkpoint_every=100, sample_every=250)
    result = run_loop(MyTask(model, data), torch.optim.Adam(model.parameters(), 1e-3), cfg, ctx, device,
                      callback=print_events, stop=lambda: ctrl_c_pressed)

``save`` runs at every checkpoint (before the resume state is written, so both describe the same step) and
at the end; ``save``, ``sample`` and ``evaluate`` run with the RNGs saved and restored around them, so
writing more or fewer samples, or evaluating more often, never changes the training itself.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from styleverse.distributed import DistContext, all_sum, gather_objects
from styleverse.errors import ConfigError, OutputError
from styleverse.io.state import Describe, check_like, check_tensors_like, load_state, save_state, unfit
from styleverse.training.rng import rng_state, set_rng_state


class TrainTask:
    """What :func:`run_loop` trains: a model, the batch of each step and its losses (see the module doc).

    Subclasses set ``model`` and implement :meth:`batch` and :meth:`losses`; the other hooks are optional."""

    model: nn.Module

    def batch(self, step: int, ctx: DistContext) -> Any:
        """This process's share of the batch of global step ``step`` (0-based)."""
        raise NotImplementedError

    def losses(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        """Scalar loss tensors for ``batch``; ``"total"`` is backpropagated, every entry is logged."""
        raise NotImplementedError

    def save(self, step: int, history: list[dict[str, float]]) -> None:
        """Rank 0, at every checkpoint and at the end: write the run's outputs (model file, loss plot)."""

    def sample(self, step: int) -> None:
        """Rank 0, every ``sample_every`` steps: write samples (e.g. a grid of validation outputs)."""

    def evaluate(self, step: int, history: list[dict[str, float]], ctx: DistContext) -> None:
        """Every process, every ``eval_every`` steps (collectives allowed): e.g. validate and keep the score in
        :meth:`extra_state`; a checkpoint follows. ``history`` holds the steps so far."""

    def close(self) -> None:
        """However the run ends: stop what makes batches ahead of the steps (by default ``self.batches``, where
        the task has one that closes, such as a prefetcher)."""
        close = getattr(getattr(self, "batches", None), "close", None)
        if close is not None:
            close()

    def extra_state(self) -> dict[str, Any]:
        """Task state beyond the model, optimizer and RNGs that a resume needs (tensors and JSON values)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`extra_state`."""


@dataclass(frozen=True)
class LoopConfig:
    """How long to train and where the resume state goes.

    ``fingerprint`` holds the settings a saved state must share to be continued (``steps`` is not one of
    them: a finished run can be resumed with more steps). ``kind`` names the job in the state file."""

    steps: int
    state_path: str | Path
    kind: str
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 0  # 0: only on stop/interrupt and at the end
    sample_every: int = 0  # 0: never
    resume: bool = False
    max_grad_norm: float = 0.0  # 0: no clipping
    describe: Mapping[str, Describe] | None = None  # sentences for fingerprint entries such as digests
    eval_every: int = 0  # 0: never

    def validate(self) -> None:
        if self.steps < 1:
            raise ConfigError("steps must be at least 1", setting="steps")
        if self.checkpoint_every < 0 or self.sample_every < 0:
            raise ConfigError(
                "checkpoint_every and sample_every must be >= 0", setting=("checkpoint_every", "sample_every")
            )
        if self.eval_every < 0:
            raise ConfigError("eval_every must be >= 0", setting="eval_every")
        if not (self.max_grad_norm >= 0 and math.isfinite(self.max_grad_norm)):
            raise ConfigError("max_grad_norm must be a finite number >= 0")


@dataclass(frozen=True)
class LoopStart:
    """The loop begins at ``step`` (0 for a new run) of ``steps``."""

    step: int
    steps: int
    world_size: int
    resumed: bool


@dataclass(frozen=True)
class StepEnd:
    """One optimizer step done; ``losses`` are averaged over processes."""

    step: int  # 1-based: steps done so far
    steps: int
    losses: dict[str, float]
    seconds: float  # wall time of this step


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class SampleSaved:
    step: int


Event = LoopStart | StepEnd | CheckpointSaved | SampleSaved
Callback = Callable[[Event], None]


@dataclass
class LoopResult:
    """History (one row per step, from the first step of the run, resumed or not) and how it ended."""

    history: list[dict[str, float]]
    step: int
    interrupted: bool = False
    seconds: float = 0.0


def broadcast_model(model: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every process (what DDP does when it wraps a model)."""
    if ctx.world_size == 1:
        return
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t.data, 0)


def average_gradients(params: list[nn.Parameter], ctx: DistContext) -> None:
    """Mean of every gradient over processes, in one flat all-reduce (DDP's averaging, without buckets).

    A parameter without a gradient on this process contributes zeros, so every rank reduces the same shapes."""
    if ctx.world_size == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def _param_ids(state: Mapping[str, Any]) -> list[int]:
    """The parameter ids of an optimiser state dict, in order."""
    return [pid for g in state["param_groups"] for pid in g["params"]]


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C back until the block ends, so an optimizer step is never cut in half; then hand it to
    the handler it was meant for (a :func:`~styleverse.cancel.stop_on_signals` flag, or KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[bool] = []
    old = signal.signal(signal.SIGINT, lambda *_: pending.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if pending and callable(old):
        old(signal.SIGINT, None)
    elif pending and old != signal.SIG_IGN:
        raise KeyboardInterrupt


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    """Run a block (sampling, saving) without moving any RNG the training draws from."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


@dataclass
class _Loop:
    task: TrainTask
    opt: torch.optim.Optimizer
    cfg: LoopConfig
    ctx: DistContext
    device: torch.device
    callback: Callback | None
    scheduler: Any = None
    history: list[dict[str, float]] = field(default_factory=list)
    step: int = 0
    evaluated: int = 0  # the step of the last evaluation

    def emit(self, event: Event) -> None:
        if self.callback is not None and self.ctx.is_main:
            self.callback(event)

    def fingerprint(self) -> dict[str, Any]:
        return {**self.cfg.fingerprint, "world_size": self.ctx.world_size}

    def restore(self) -> None:
        """Load the saved state: model, optimizer, scheduler, position, history, task state, RNGs."""
        st = load_state(self.cfg.state_path, self.cfg.kind, self.fingerprint(), describe=self.cfg.describe)
        try:
            self.check_saved(st)
            self.task.model.load_state_dict(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(st["scheduler"])
            self.task.load_extra_state(st.get("task", {}))
            set_rng_state(st["ranks"][self.ctx.rank])
        except (KeyError, RuntimeError, ValueError, IndexError, TypeError, AttributeError) as e:
            raise unfit(str(e)[:160], self.cfg.state_path) from None
        self.step, self.history = int(st["step"]), [dict(h) for h in st["history"]]
        self.evaluated = int(st.get("evaluated", 0))

    def check_saved(self, st: Mapping[str, Any]) -> None:
        """ValueError naming the first part of a loaded state that this run would not have saved (an edited
        file): the model's tensors, the optimiser's groups and per-parameter tensors, this process's RNGs and
        the step counters, each against what this run holds now."""
        check_like(st["model"], self.task.model.state_dict(), "model")
        saved, fresh = st["optimizer"], self.opt.state_dict()
        check_like([g["params"] for g in saved["param_groups"]], [g["params"] for g in fresh["param_groups"]],
                   "optimizer/param_groups")  # fmt: skip
        params = dict(zip(_param_ids(fresh), (p for g in self.opt.param_groups for p in g["params"]), strict=True))
        for pid, entry in saved["state"].items():
            check_tensors_like(entry, params[pid], f"optimizer/state/{pid}")
        rng = st["ranks"][self.ctx.rank]
        check_like(rng["torch"], torch.get_rng_state(), "ranks/torch")
        check_like(rng["numpy"], rng_state()["numpy"], "ranks/numpy")
        step, evaluated, logged = st["step"], st.get("evaluated", 0), len(st["history"])
        if not (isinstance(step, int) and isinstance(evaluated, int) and 0 <= evaluated <= step == logged):
            raise ValueError(f"step {step!r}, evaluation {evaluated!r} and {logged} logged steps do not fit")

    def checkpoint(self, rng: dict[str, Any] | None = None) -> None:
        """Collective: the task's outputs, then the resume state (rank 0 writes; every rank sends its RNGs)."""
        ranks = gather_objects(rng if rng is not None else rng_state(), self.ctx)
        if not self.ctx.is_main:
            return
        with rng_preserved():
            self.task.save(self.step, self.history)
        state = {
            "step": self.step,
            "history": self.history,
            "model": self.task.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "task": self.task.extra_state(),
            "ranks": ranks,
            "evaluated": self.evaluated,
        }
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        path = Path(self.cfg.state_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_state(path, self.cfg.kind, self.fingerprint(), state)
        except OSError as e:
            raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
        self.emit(CheckpointSaved(self.step, Path(self.cfg.state_path)))

    def one_step(self) -> dict[str, float]:
        """Batch, losses, backward, gradient averaging, optimizer step; the step's losses as floats."""
        params = [p for p in self.task.model.parameters() if p.requires_grad]
        batch = self.task.batch(self.step, self.ctx)
        losses = self.task.losses(batch, self.step)
        if "total" not in losses:
            raise KeyError("TrainTask.losses must return a 'total' entry")
        self.opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        names = sorted(losses)
        values = all_sum([float(losses[k].detach()) for k in names], self.ctx, self.device)
        row = {k: v / self.ctx.world_size for k, v in zip(names, values, strict=True)}
        if not all(math.isfinite(v) for v in row.values()):
            raise ConfigError(
                f"training diverged at step {self.step + 1} (loss {row['total']}); lower lr or the loss weights "
                "and resume from the last checkpoint",
                setting=("lr", "resume"),
            )
        average_gradients(params, self.ctx)
        if self.cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        with deferred_interrupt():
            self.opt.step()
            if self.scheduler is not None:
                self.scheduler.step()
            self.step += 1
            self.history.append({"step": self.step, **row})
        return row

    def run(self, stop: Callable[[], bool] | None) -> bool:
        """Train to ``cfg.steps``; True when stopped early (the resume state is then saved)."""
        cfg = self.cfg
        while self.step < cfg.steps:
            at, before = self.step, rng_state() if self.ctx.world_size == 1 else None
            try:
                halt = self.iteration(stop)
            except KeyboardInterrupt:
                if self.ctx.world_size > 1:  # the other processes are not at a step boundary: no state to save
                    raise
                # a step cut short left model and optimizer untouched: save the RNGs from before it began
                self.checkpoint(before if self.step == at else None)
                return True
            if halt and self.step < cfg.steps:
                return True
        return False

    def iteration(self, stop: Callable[[], bool] | None) -> bool:
        """One step with its events, samples and checkpoint; True when ``stop`` asked to halt."""
        cfg, started = self.cfg, time.perf_counter()
        row = self.one_step()
        self.emit(StepEnd(self.step, cfg.steps, row, time.perf_counter() - started))
        if cfg.sample_every and self.step % cfg.sample_every == 0 and self.ctx.is_main:
            with rng_preserved():
                self.task.sample(self.step)
            self.emit(SampleSaved(self.step))
        evaluated = self.evaluate_due()
        halt = all_sum([float(bool(stop and stop()))], self.ctx, self.device)[0] > 0
        every = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
        if halt or evaluated or every or self.step == cfg.steps:
            self.checkpoint()
        return halt

    def evaluate_due(self) -> bool:
        """Collective: the evaluation of this step if one is due and not done yet; True when it ran."""
        every = self.cfg.eval_every
        if not (every and self.step % every == 0 and self.step > self.evaluated):
            return False
        with rng_preserved():
            self.task.evaluate(self.step, self.history, self.ctx)
        self.evaluated = self.step
        return True


def run_loop(
    task: TrainTask,
    optimizer: torch.optim.Optimizer,
    config: LoopConfig,
    ctx: DistContext | None = None,
    device: torch.device | None = None,
    callback: Callback | None = None,
    stop: Callable[[], bool] | None = None,
    scheduler: Any = None,
) -> LoopResult:
    """Train ``task`` with ``optimizer`` for ``config.steps`` steps (continuing a saved state with
    ``config.resume``); see the module doc. ``ctx``/``device`` come from
    :func:`styleverse.distributed.setup_distributed` (default: one process on the model's device).

    A new run does not seed anything: seed the RNGs (and build the model) before calling. A finished run
    saves its state too, so ``resume`` with a larger ``steps`` trains on. :meth:`TrainTask.close` runs
    however the run ends."""
    config.validate()
    ctx = ctx or DistContext()
    device = device or next(task.model.parameters()).device
    loop = _Loop(task, optimizer, config, ctx, device, callback, scheduler)
    started = time.perf_counter()
    try:
        if config.resume:
            loop.restore()
        broadcast_model(task.model, ctx)
        task.model.train()
        loop.emit(LoopStart(loop.step, config.steps, ctx.world_size, config.resume))
        if loop.evaluate_due():  # stopped after a step but before its evaluation
            loop.checkpoint()
        interrupted = loop.run(stop)  # False at once when a resumed run is already done
    finally:
        task.close()
    return LoopResult(loop.history, loop.step, interrupted, time.perf_counter() - started)
