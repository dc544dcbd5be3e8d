"""``styleverse stylize``: one content image in the look of one or many style images (or banks)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from styleverse.styles.spec import COLOR_MODES, StyleSpec
from styleverse.transfer.config import (
    INITS,
    QUALITY,
    QUALITY_SECONDS,
    StepEvent,
    TransferConfig,
    with_quality,
)
from styleverse.transfer.job import StylizeJob, run_stylize

from .common import (
    Parser,
    add_model_args,
    console,
    features_from_args,
    fields_from,
    non_negative_float,
    non_negative_int,
    positive_int,
    progress,
    setup_logging,
    stopping,
    style_from_args,
    warm_from_args,
)
from .flags import add_gatys_args, add_style_args

D = TransferConfig()
J = StylizeJob(Path("in"), Path("out"))
S = StyleSpec()


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "stylize",
        help="stylise an image with one or many style images",
        description="Gatys-style optimisation of CONTENT towards the averaged Gram matrices of the style "
        "images. Writes OUT, OUT.json (settings, losses, timing, versions) and optional plot/snapshots.",
    )
    p.add_argument(
        "content", help="content image (any format Pillow reads), or a folder of them: each becomes -o OUT/NAME.png"
    )
    add_style_args(
        p,
        "style images or folders of them",
        "style banks (.style.safetensors from 'styleverse styles bank'): a universe's averaged style; "
        "they mix with --style images, weighted after them by --style-weights",
        "one weight per --style entry, then per --style-bank (normalised to sum 1; a folder shares its "
        "weight among its images)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output image; format from the extension (.png, .jpg, ...); a folder for a folder of photos",
    )
    _add_optimisation_args(p)
    add_model_args(p, from_bank=True)
    p.add_argument("--seed", type=int, default=D.seed, help="random seed; the same seed and settings repeat a run")
    _add_output_args(p)
    p.set_defaults(func=cmd_stylize)


def _add_optimisation_args(p: Parser) -> None:
    """--quality, --size to --preserve-color: what the optimisation does, scale by scale."""
    levels = "; ".join(f"{q}: {QUALITY_SECONDS[q]}" for q in QUALITY)
    p.add_argument(
        "--quality", choices=tuple(QUALITY), default="balanced",
        help="draft (at most 50 steps per scale, looser convergence), balanced (the defaults) or best (then a "
        f"float32 polish at full size). Time at 512 px on a 2-core bf16 CPU: {levels}. --steps or --tol set "
        "to other values than their defaults win",
    )  # fmt: skip
    p.add_argument("--size", type=positive_int, default=D.size, help="longest side of the output in pixels")
    p.add_argument(
        "--scales",
        nargs="+",
        type=positive_int,
        metavar="PX",
        help="coarse-to-fine sizes, e.g. 256 512 1024; each starts from the previous result "
        "(overrides --size; default: --size and its halves down to 256 px)",
    )
    p.add_argument(
        "--steps", type=positive_int, default=D.steps,
        help="most optimiser steps per scale (a scale stops earlier when converged, see --tol)",
    )  # fmt: skip
    p.add_argument(
        "--tol",
        type=non_negative_float,
        default=D.tol,
        help=f"a scale stops when its best loss improved by less than this fraction over the last {D.tol_window} "
        "steps (0: always run --steps); the sidecar records where and why each scale stopped",
    )
    helps = {
        "optimizer": "L-BFGS (fast convergence) or Adam", "content_weight": "weight of the content loss",
        "style_weight": "weight of the style loss", "tv_weight": "total-variation weight (denoising)",
        "style_scale": "style images are seen at this multiple of the size",
    }  # fmt: skip
    add_gatys_args(p, D, helps)
    p.add_argument(
        "--init", default=J.init,
        help=f"starting image: {' | '.join(INITS)} | PATH to an image | fast:MODEL[:UNIVERSE] or adain:DECODER "
        f"(warm start: the network's result, an AdaIN decoder fed these styles); default {J.init}, as the paper; "
        "noise keeps little of the photo, only what the content loss rebuilds: for seed-dependent variations, "
        "and it warns",
    )  # fmt: skip
    p.add_argument(
        "--preserve-color", choices=COLOR_MODES, default=S.preserve_color,
        help="keep the content's colours: transfer luminance only, or match style colours to the content first",
    )  # fmt: skip


def _add_output_args(p: Parser) -> None:
    """--plot to --quiet: what is written besides the image, and how a run restarts."""
    p.add_argument("--plot", metavar="FILE", help="write style/content loss curves (log scale) to FILE (.png/.svg)")
    p.add_argument(
        "--save-every", type=non_negative_int, default=D.save_every,
        help="save a snapshot every N steps (0: none) and a strip",
    )  # fmt: skip
    p.add_argument("--snapshot-dir", help="folder for snapshots (default: OUT's name + '_snapshots' beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT.resume.safetensors")
    p.add_argument("--quiet", action="store_true", help="no progress bar or info messages, only errors")


def job_from_args(args: argparse.Namespace) -> StylizeJob:
    """The library job the flags describe."""
    init = args.init if args.init in INITS else "content"
    config = TransferConfig(**fields_from(args, TransferConfig, scales=tuple(args.scales or ()), init=init))
    config = with_quality(config, args.quality, keep={k for k in ("steps", "tol") if getattr(args, k) != getattr(D, k)})
    style = style_from_args(args)
    return StylizeJob(
        content=Path(args.content), output=Path(args.output), style=style, config=config,
        features=features_from_args(args), init=args.init, plot=Path(args.plot) if args.plot else None,
        warm=warm_from_args(args, style),
        snapshot_dir=Path(args.snapshot_dir) if args.snapshot_dir else None, overwrite=args.overwrite,
        resume=args.resume,
    )  # fmt: skip


class StepReporter:
    """Turns transfer events into progress: a bar on a terminal, plain lines otherwise."""

    def __init__(self, bar: Any, task: int):
        self.bar, self.task = bar, task
        self.t0 = time.perf_counter()
        self.first: int | None = None

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, StepEvent):
            if self.first is None:
                self.first = ev.step - 1
            rate = (ev.step - self.first) / max(1e-9, time.perf_counter() - self.t0)
            status = f"style {ev.losses['style']:.2e} content {ev.losses['content']:.2e} {rate:.2f} it/s"
            self.bar.update(self.task, completed=ev.step, total=ev.total_steps, status=status)


def cmd_batch(job: StylizeJob, quiet: bool) -> int:
    """A folder of photos into the folder -o (see :mod:`styleverse.transfer.batch`)."""
    from styleverse.progress import Progress
    from styleverse.transfer.batch import run_batch

    with progress(quiet) as bar, stopping() as stop:
        task = bar.add_task("stylize", total=None, status="photos")
        steps = StepReporter(bar, bar.add_task("image", total=None, status=""))

        def report(ev: Any) -> None:
            if isinstance(ev, Progress):
                bar.update(task, completed=ev.done, total=ev.total, status=Path(ev.item).name if ev.item else "")
            else:
                steps(ev)

        outcome = run_batch(job, report, stop)
    if outcome.interrupted:
        console.print("[yellow]interrupted; rerun the same command to continue (finished photos are kept)")
        return 130
    if not quiet:
        done = len(outcome.written) + len(outcome.skipped)
        console.print(
            f"wrote {len(outcome.written)} photos into {job.output} ({done} of this process's {outcome.total} done)"
        )
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    setup_logging(args.quiet)
    job = job_from_args(args)
    if job.content.is_dir():
        return cmd_batch(job, args.quiet)
    cfg = job.config
    with progress(args.quiet) as bar, stopping() as stop:
        task = bar.add_task("stylize", total=cfg.steps * len(cfg.sizes), status="style targets")
        outcome = run_stylize(job, callback=StepReporter(bar, task), stop=stop)
    if outcome.interrupted:
        from styleverse.io.tensorfile import human_size

        saved = outcome.paths["resume"]
        console.print(
            f"[yellow]interrupted; state saved to {saved} ({human_size(saved.stat().st_size)}); "
            "rerun the same command with --resume"
        )
        return 130
    r = outcome.result
    if not args.quiet:
        cap = cfg.steps * len(cfg.sizes)
        steps = f"{r.stopped_at} of at most {cap} steps ({r.stop_reason}), " if r.stopped_at is not None else ""
        console.print(f"wrote {outcome.paths['image']} ({steps}{r.seconds:.1f} s, {r.precision}, {r.device})")
    return 0
