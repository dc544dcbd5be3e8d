"""``styleverse evaluate``: how good results are, in numbers and pictures; ``--sweep`` runs a grid first."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from styleverse.errors import OutputError
from styleverse.evaluation.evaluate import EvaluateSettings, Evaluation, ResultScored
from styleverse.evaluation.sweep import SweepRunStarted, SweepSettings
from styleverse.io.images import probe_folder, remove_temp_files
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs, network_files
from styleverse.nn.features import FeatureSpec
from styleverse.transfer.config import StepEvent

from .common import (
    Parser,
    add_model_args,
    features_from_args,
    fields_from,
    positive_float,
    positive_int,
    progress,
    setup_logging,
    stopping,
    style_from_args,
)
from .flags import add_content_layers, add_style_args

E, F = EvaluateSettings(), FeatureSpec()
S = SweepSettings((), Path("."))
DEFAULT_OUT = "styleverse-eval"


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "evaluate",
        help="measure results: style distance, content fidelity, universe judge, video steadiness, cost",
        description="Measure each RESULT (an image, a video, or a folder of frames) against its content photo "
        "and target style, which default to what the result's sidecar RESULT.json records: style distance "
        "(Gram MSE per layer and overall, also relative to the content photo's own distance: 1 unmoved, 0 "
        "reached), content loss and SSIM, the probability a universe classifier gives the intended universe, "
        "for videos the temporal warping error and flicker, and the seconds and memory the sidecar records. "
        "Prints a table and writes report.json, report.md, results.png, layers.png and tradeoff.png. "
        "With --sweep, RESULT... are photos: a grid of methods and settings is run on them first.",
    )
    p.add_argument("results", nargs="+", metavar="RESULT", help="results to measure (with --sweep: photos)")
    p.add_argument(
        "-o", "--output", default=DEFAULT_OUT, help="report folder (created; replaced files need --overwrite)"
    )
    p.add_argument("--content", help="content photo (or input video) of every RESULT, instead of the sidecar's")
    add_style_args(
        p, "target style images or folders", "target style banks",
        "one weight per --style entry, then per --style-bank (normalised; a folder shares its weight)",
    )  # fmt: skip
    p.add_argument(
        "--classifier", metavar="CKPT",
        help="universe classifier checkpoint: judge each result, beside the checkpoint's own validation accuracy "
        "and ECE; 'no verdict' when that validation fails the trust rule 'classifier train' warns with (balanced "
        "accuracy within 0.15 of chance, a class given at most chance + 0.1 on its own images, ECE above 0.2, "
        "one-class collapse, a class almost never recognised)",
    )  # fmt: skip
    p.add_argument("--universe", help="the universe every result should look like (default: what the result records)")
    add_content_layers(p)
    p.add_argument(
        "--size",
        type=positive_int,
        help=f"measure at this longest side (default: each result's own); with --sweep: the size photos are "
        f"stylised at (default {S.size})",
    )
    p.add_argument("--frames", type=positive_int, default=E.frames, help="video frames sampled for style and judge")
    p.add_argument(
        "--max-frames", type=positive_int, default=E.max_frames, help="video frames read for warping error/flicker"
    )
    p.add_argument("--seed", type=int, default=F.seed, help="seed of --backbone random (and of sweep runs)")
    p.add_argument("--overwrite", action="store_true", help="replace existing report (and sweep) files")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table, only errors")
    backbone = (
        "feature network every result is measured under (one for all, so numbers compare): imagenet, random, or a "
        "PATH to VGG weights or a classifier checkpoint (default: the network the first result's sidecar records, "
        "else the first --style-bank's, else imagenet)"
    )
    add_model_args(p, from_bank=True, backbone_help=backbone)
    p.set_defaults(precision=E.precision)
    _add_sweep_args(p)
    p.set_defaults(func=cmd_evaluate)


def _add_sweep_args(p: Parser) -> None:
    """--sweep and the grid it runs (defaults from :class:`~styleverse.evaluation.sweep.SweepSettings`)."""
    g = p.add_argument_group("sweep")
    g.add_argument("--sweep", action="store_true", help="RESULT... are photos: run a grid on them, then measure")
    g.add_argument(
        "--methods", nargs="+", default=list(S.methods), metavar="METHOD",
        help="lbfgs, adam (Gatys optimisation), fast:MODEL (feed-forward network), adain:DECODER",
    )  # fmt: skip
    g.add_argument(
        "--style-weights-grid", nargs="+", type=positive_float, default=list(S.style_weight_grid), metavar="W",
        help="style loss weights for lbfgs/adam",
    )  # fmt: skip
    g.add_argument(
        "--steps-grid", nargs="+", type=positive_int, default=list(S.steps_grid), metavar="N",
        help="steps for lbfgs/adam",
    )  # fmt: skip


def settings_from_args(args: argparse.Namespace) -> EvaluateSettings:
    """The measurement settings the flags describe."""
    classifier = Path(args.classifier) if args.classifier else None
    return EvaluateSettings(
        **fields_from(args, EvaluateSettings, features=features_from_args(args), classifier=classifier)
    )


class _Progress:
    """Evaluation and sweep events as one progress bar (steps of the current run in the status)."""

    def __init__(self, bar: Any, task: Any):
        self.bar, self.task, self.run = bar, task, ""

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, SweepRunStarted):
            self.run = f"{ev.photo.name}: {ev.label}"
            self.bar.update(self.task, completed=ev.index - 1, total=ev.total, status=self.run)
        elif isinstance(ev, StepEvent):
            self.bar.update(self.task, status=f"{self.run} step {ev.step}/{ev.total_steps}")
        elif isinstance(ev, ResultScored):
            self.bar.update(self.task, completed=ev.index, total=ev.total, status=f"measured {ev.path.name}")


def _print_table(ev: Evaluation, out_dir: Path) -> None:
    from styleverse.evaluation.report import table

    cols, rows = table(ev)
    t = Table(title=f"evaluation under {ev.backbone.identity}")
    for c in cols:
        t.add_column(c, justify="left" if c in ("result", "method", "P(intended)", "looks like") else "right")
    for r in rows:
        t.add_row(*r)
    out = Console() if sys.stdout.isatty() else Console(width=200)  # piped: whole numbers, no "…"
    out.print(t)
    out.print(
        f"Report: {out_dir / 'report.md'} (style (layers): each layer's distance over the photo's, averaged; "
        "rel. style: the raw sum's; 1 = unmoved, 0 = reached; SSIM: 1 = same structure)"
    )


@contextlib.contextmanager
def _report_folder(
    out_dir: Path, outputs: dict[str, Any] | None = None, protect: list[Path] | None = None, overwrite: bool = False
) -> Any:
    """Check every output up front (``outputs``: a sweep checks its own), create the folder, hold its lock;
    a failed run leaves no empty folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"-o {out_dir}: exists and is not a folder; -o takes the report folder")
    if outputs is not None:
        check_outputs(outputs, protect or [], overwrite)
    created = not out_dir.exists()
    probe_folder(out_dir)
    try:
        with output_lock(out_dir, folder=True):
            if outputs is not None:  # again: another run may have written them since
                check_outputs(outputs, protect or [], overwrite)
            remove_temp_files(out_dir)
            yield
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise


def cmd_evaluate(args: argparse.Namespace) -> int:
    setup_logging(args.quiet)
    settings = settings_from_args(args)
    return _sweep(args, settings) if args.sweep else _evaluate(args, settings)


def _evaluate(args: argparse.Namespace, settings: EvaluateSettings) -> int:
    from styleverse.evaluation.evaluate import evaluate_sources
    from styleverse.evaluation.report import report_paths, write_report
    from styleverse.evaluation.sources import Overrides, describe_result

    settings.validate()
    over = Overrides(content=Path(args.content) if args.content else None, style=style_from_args(args))
    sources = [describe_result(r, over) for r in args.results]
    out_dir = Path(args.output)
    protect = [p for s in sources for p in (s.path, s.content, *(x for x, _ in s.styles.images))]
    protect += network_files(settings.classifier, settings.features.backbone)
    outputs: dict[str, Any] = {"-o": Output(out_dir, "folder")}
    outputs |= {f"-o ({p.name})": p for p in report_paths(out_dir).values()}
    with _report_folder(out_dir, outputs, protect, args.overwrite), progress(args.quiet) as bar, stopping() as stop:
        task = bar.add_task("evaluate", total=len(sources), status="feature network")
        ev = evaluate_sources(sources, settings, _Progress(bar, task), stop=stop)
        write_report(ev, out_dir, {"command": "evaluate", "inputs": list(args.results)})
    if not args.quiet:
        _print_table(ev, out_dir)
    return 0


def _sweep(args: argparse.Namespace, settings: EvaluateSettings) -> int:
    from styleverse.evaluation.sweep import run_sweep

    if args.content:
        raise OutputError("--content does not apply to --sweep: the photos are the content")
    out_dir = Path(args.output)
    sweep = SweepSettings(
        photos=tuple(map(Path, args.results)), out_dir=out_dir, style=style_from_args(args),
        style_weight_grid=tuple(args.style_weights_grid), steps_grid=tuple(args.steps_grid),
        methods=tuple(args.methods), size=args.size or S.size, seed=args.seed, overwrite=args.overwrite,
        evaluation=replace(settings, size=None),
    )  # fmt: skip
    sweep.validate()
    with _report_folder(out_dir), progress(args.quiet) as bar, stopping() as stop:
        task = bar.add_task("sweep", total=None, status="planning")
        outcome = run_sweep(sweep, _Progress(bar, task), stop)
    if not args.quiet:
        _print_table(outcome.evaluation, out_dir)
        Console().print(f"Contact sheet: {outcome.paths['sweep']}; trade-off plot: {outcome.paths['tradeoff']}")
    return 0
