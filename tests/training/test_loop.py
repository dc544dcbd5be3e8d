"""The generic step loop: it trains, resumes bit for bit (stop flag and raw Ctrl-C), refuses other settings,
keeps sampling and evaluation from disturbing the training RNGs, and evaluates every N steps exactly once."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from styleverse.cancel import StopFlag, stop_on_signals
from styleverse.distributed import DistContext
from styleverse.errors import ConfigError
from styleverse.io.state import load_state
from styleverse.training.loop import (
    CheckpointSaved,
    LoopConfig,
    LoopStart,
    SampleSaved,
    StepEnd,
    TrainTask,
    deferred_interrupt,
    run_loop,
)


class Regression(TrainTask):
    """Fit y = x·w with dropout (draws from torch's global RNG) on a step-indexed data order."""

    def __init__(self, interrupt_at: int | None = None, noisy_sample: bool = False) -> None:
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 1))
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(32, 4, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self.interrupt_at, self.noisy_sample = interrupt_at, noisy_sample
        self.samples: list[int] = []
        self.saved: list[int] = []

    def batch(self, step: int, ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(32, generator=torch.Generator().manual_seed(step))[:8]
        return self.x[idx], self.y[idx]

    def losses(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        if step == self.interrupt_at:
            torch.rand(3)  # the RNG moves before the interrupt: the saved state must not include it
            raise KeyboardInterrupt
        x, y = batch
        mse = ((self.model(x) - y) ** 2).mean()
        l1 = self.model[0].weight.abs().mean() * 1e-3
        return {"total": mse + l1, "mse": mse, "l1": l1}

    def save(self, step: int, history: list[dict[str, float]]) -> None:
        self.saved.append(step)

    def sample(self, step: int) -> None:
        self.samples.append(step)
        if self.noisy_sample:
            torch.rand(100)


def cfg(tmp_path: Path, **kw: Any) -> LoopConfig:
    base = dict(steps=12, state_path=tmp_path / "run.state.safetensors", kind="test_loop", fingerprint={"lr": 0.01})
    return LoopConfig(**{**base, **kw})


def train(task: Regression, config: LoopConfig, **kw: Any):
    opt = torch.optim.Adam(task.model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.8)
    return run_loop(task, opt, config, scheduler=sched, **kw)


def params(task: Regression) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in task.model.state_dict().items()}


def test_trains_reports_events_and_saves_at_checkpoints_and_end(tmp_path: Path) -> None:
    events: list[Any] = []
    task = Regression()
    result = train(task, cfg(tmp_path, steps=40, checkpoint_every=15, sample_every=20), callback=events.append)
    assert not result.interrupted and result.step == 40 and len(result.history) == 40
    assert [h["step"] for h in result.history] == list(range(1, 41))
    assert set(result.history[0]) == {"step", "total", "mse", "l1"}
    first = sum(h["mse"] for h in result.history[:5])
    last = sum(h["mse"] for h in result.history[-5:])
    assert last < 0.5 * first, (first, last)
    assert isinstance(events[0], LoopStart) and not events[0].resumed
    assert sum(isinstance(e, StepEnd) for e in events) == 40
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [15, 30, 40]
    assert [e.step for e in events if isinstance(e, SampleSaved)] == [20, 40]
    assert task.saved == [15, 30, 40] and task.samples == [20, 40]
    state = load_state(tmp_path / "run.state.safetensors", "test_loop", {"lr": 0.01, "world_size": 1})
    assert state["step"] == 40 and len(state["history"]) == 40


@pytest.mark.parametrize("how", ["stop", "keyboard"])
def test_resume_continues_bit_for_bit(tmp_path: Path, how: str) -> None:
    whole = Regression()
    ref = train(whole, cfg(tmp_path / "a"))
    if how == "stop":
        calls = iter(range(100))
        first = train(Regression(), cfg(tmp_path / "b"), stop=lambda: next(calls) == 4)
        assert first.interrupted and first.step == 5
    else:
        first = train(Regression(interrupt_at=7), cfg(tmp_path / "b"))
        assert first.interrupted and first.step == 7
    again = Regression()
    torch.manual_seed(123)  # the RNGs must come from the saved state, not from whatever they are now
    rest = train(again, cfg(tmp_path / "b", resume=True))
    assert not rest.interrupted and rest.step == 12
    assert rest.history == ref.history
    for k, v in params(whole).items():
        assert torch.equal(params(again)[k], v), k


def test_sampling_does_not_change_training(tmp_path: Path) -> None:
    quiet = Regression()
    train(quiet, cfg(tmp_path / "a"))
    noisy = Regression(noisy_sample=True)
    train(noisy, cfg(tmp_path / "b", sample_every=2))
    assert noisy.samples == [2, 4, 6, 8, 10, 12]
    for k, v in params(quiet).items():
        assert torch.equal(params(noisy)[k], v), k


def test_resume_refuses_other_settings_and_missing_state(tmp_path: Path) -> None:
    train(Regression(), cfg(tmp_path, steps=2))
    with pytest.raises(ConfigError, match=r"lr: 0.01 then, 0.02 now"):
        train(Regression(), cfg(tmp_path, fingerprint={"lr": 0.02}, resume=True))
    with pytest.raises(ConfigError, match="no saved state"):
        train(Regression(), cfg(tmp_path / "none", resume=True))


def test_finished_run_trains_on_with_more_steps(tmp_path: Path) -> None:
    whole = Regression()
    ref = train(whole, cfg(tmp_path / "a", steps=12))
    train(Regression(), cfg(tmp_path / "b", steps=6))
    more = Regression()
    out = train(more, cfg(tmp_path / "b", steps=12, resume=True))
    assert out.history == ref.history


def test_divergence_is_one_clear_error(tmp_path: Path) -> None:
    class Nan(Regression):
        def losses(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
            out = super().losses(batch, step)
            return {**out, "total": out["total"] * float("nan")} if step == 2 else out

    with pytest.raises(ConfigError, match="diverged at step 3"):
        train(Nan(), cfg(tmp_path))


@pytest.mark.parametrize("ending", ["finished", "diverged"])
def test_the_tasks_batches_are_closed_however_the_run_ends(tmp_path: Path, ending: str) -> None:
    class Batches:
        closed = 0

        def close(self) -> None:
            self.closed += 1

    class Prefetched(Regression):
        def losses(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
            out = super().losses(batch, step)
            return {**out, "total": out["total"] * float("nan")} if ending == "diverged" else out

    task = Prefetched()
    task.batches = Batches()  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) if ending == "diverged" else contextlib.nullcontext():
        train(task, cfg(tmp_path))
    assert task.batches.closed == 1  # type: ignore[attr-defined]


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        train(Regression(), cfg(tmp_path, steps=0))
    with pytest.raises(ConfigError):
        train(Regression(), cfg(tmp_path, checkpoint_every=-1))
    with pytest.raises(ConfigError):
        train(Regression(), cfg(tmp_path, eval_every=-1))


def test_ctrl_c_during_an_optimizer_step_reaches_the_stop_flag_after_it() -> None:
    """The step is never cut in half; the held-back Ctrl-C then goes to the handler it was meant for: the
    stop flag of :func:`~styleverse.cancel.stop_on_signals` (not a KeyboardInterrupt), or Python's default."""
    with stop_on_signals(StopFlag()) as flag:
        with deferred_interrupt():
            signal.raise_signal(signal.SIGINT)
            assert not flag()
        assert flag() and flag.reason == "interrupted"
    with pytest.raises(KeyboardInterrupt), deferred_interrupt():
        signal.raise_signal(signal.SIGINT)


class Evaluated(Regression):
    """Regression with an evaluation hook that records what it saw, draws random numbers, and can be interrupted."""

    def __init__(self, interrupt_eval_at: int | None = None) -> None:
        super().__init__()
        self.evals: list[list[float]] = []
        self.interrupt_eval_at = interrupt_eval_at

    def evaluate(self, step: int, history: list[dict[str, float]], ctx: DistContext) -> None:
        torch.rand(50)  # must not move the training RNGs
        if step == self.interrupt_eval_at:
            raise KeyboardInterrupt
        self.evals.append([float(step), float(len(history)), history[-1]["mse"]])

    def extra_state(self) -> dict[str, Any]:
        return {"evals": self.evals}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.evals = [list(e) for e in state["evals"]]


def test_evaluation_every_n_steps_is_checkpointed_and_leaves_training_alone(tmp_path: Path) -> None:
    events: list[Any] = []
    ref = train(Regression(), cfg(tmp_path / "a"))
    evaluated = Evaluated()
    out = train(evaluated, cfg(tmp_path / "b", eval_every=4), callback=events.append)
    assert out.history == ref.history
    assert [e[:2] for e in evaluated.evals] == [[4, 4], [8, 8], [12, 12]]
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [4, 8, 12]  # one checkpoint per step
    assert evaluated.saved == [4, 8, 12]
    state = load_state(tmp_path / "b" / "run.state.safetensors", "test_loop", {"lr": 0.01, "world_size": 1})
    assert state["task"]["evals"] == evaluated.evals and state["evaluated"] == 12


def test_interrupted_evaluation_runs_again_on_resume(tmp_path: Path) -> None:
    whole = Evaluated()
    train(whole, cfg(tmp_path / "a", eval_every=4))
    first = train(Evaluated(interrupt_eval_at=8), cfg(tmp_path / "b", eval_every=4))
    assert first.interrupted and first.step == 8  # stepped to 8, then stopped inside its evaluation
    again = Evaluated()
    rest = train(again, cfg(tmp_path / "b", eval_every=4, resume=True))
    assert again.evals == whole.evals  # step 8 evaluated once, on resume, and the rest as before
    assert rest.history == train(Evaluated(), cfg(tmp_path / "c", eval_every=4)).history
    for k, v in params(whole).items():
        assert torch.equal(params(again)[k], v), k
