"""The handlers the real-time network commands (``fast``, ``adain``) share: train a network on
:mod:`styleverse.training.loop`, stylise images with it, check an ONNX export's output name."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import console, need, progress, setup_logging, stopping


def train_command(
    args: argparse.Namespace, label: str, cfg: Any, train: Callable[..., Any], summary: Callable[[Any], str]
) -> int:
    """The handler of a "train a network" command: under torchrun only rank 0 speaks; interrupted (Ctrl-C,
    SIGTERM), it says how to resume (exit 130); finished, it prints ``summary(result)``, the loss curves and
    the sample grids. ``train(cfg, callback, stop=...)`` is the library's trainer (on
    :mod:`styleverse.training.loop`), ``cfg`` its config; Ctrl-C, SIGTERM and SIGHUP set its stop flag."""
    rank0 = int(os.environ.get("RANK", "0")) == 0
    quiet = args.quiet or not rank0
    setup_logging(quiet)
    from styleverse.training.loop import CheckpointSaved, LoopStart, SampleSaved, StepEnd

    with progress(quiet) as bar, stopping() as flag:
        task = bar.add_task(label, total=cfg.steps, status="loading")

        def on_event(ev: Any) -> None:
            if isinstance(ev, LoopStart):
                bar.update(task, completed=ev.step, status=f"x{ev.world_size}" + (" resumed" if ev.resumed else ""))
            elif isinstance(ev, StepEnd):
                terms: list[str] = [k for k in ("feature", "style", "content") if ev.losses.get(k)]
                terms = terms or [k for k in ev.losses if k != "total"]
                bar.update(task, completed=ev.step, status=" ".join(f"{k} {ev.losses[k]:.3g}" for k in terms))
            elif isinstance(ev, CheckpointSaved | SampleSaved) and not quiet:
                bar.update(task, status=f"{type(ev).__name__} at {ev.step}")

        result = train(cfg, on_event, stop=flag)
    if not rank0:
        return 130 if result.interrupted else 0
    from styleverse.training.outputs import loss_plot_path, samples_path

    out = result.output
    if result.interrupted:
        console.print(f"[yellow]interrupted; state saved beside {out}; rerun the same command with --resume")
        return 130
    print(summary(result))
    print(f"loss curves: {loss_plot_path(out)}")
    if cfg.sample_every and samples_path(out).is_dir():
        print(f"samples: {samples_path(out)}/")
    return 0


def apply_command(args: argparse.Namespace, spec: Any, kinds: Any, label: str, planned: bool) -> int:
    """The handler of an "apply a network to images" command. ``planned``: check every output first and
    show a bar only for two images or more; otherwise the bar counts as the images come."""
    from styleverse.fast.job import ApplyJob, run_apply

    setup_logging(args.quiet)
    job = ApplyJob(spec, tuple(args.inputs), args.output, args.size, args.overwrite, kinds)
    pairs = job.plan() if planned else None
    with progress(args.quiet or (pairs is not None and len(pairs) < 2)) as bar:
        total, status = (None, "loading") if pairs is None else (len(pairs), "")
        task = bar.add_task(label, total=total, status=status)
        written = run_apply(job, lambda p: bar.update(task, advance=1, status=p.name), pairs)
    target = written[0] if len(written) == 1 else Path(args.output)
    print(f"wrote {len(written)} image{'s' if len(written) != 1 else ''}: {target}")
    return 0


def onnx_output(args: argparse.Namespace, inputs: list[str]) -> Path:
    """The checked ``-o`` of an ONNX export: named .onnx, not one of ``inputs``, new unless --overwrite."""
    from styleverse.io.images import check_output

    setup_logging(False)
    need(Path(args.output).suffix.lower() == ".onnx", f"{args.output}: the output name must end in .onnx")
    return check_output(args.output, inputs, args.overwrite)
