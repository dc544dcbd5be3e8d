"""``styleverse video``: stylise a clip frame by frame, coherent in time (Ruder et al. 2016), with its sound."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from styleverse.frames.segments import parse_time
from styleverse.io.video_writer import CHROMA
from styleverse.styles.spec import COLOR_MODES, StyleSpec
from styleverse.transfer.config import StepEvent
from styleverse.video.config import FrameDone, GatysSettings, StageStarted, VideoConfig, VideoJob, VideoStarted
from styleverse.video.job import run_video
from styleverse.video.loop import FlowBlended

from .common import (
    Parser,
    add_model_args,
    console,
    features_from_args,
    fields_from,
    need,
    non_negative_float,
    non_negative_int,
    positive_int,
    progress,
    setup_logging,
    stopping,
    style_from_args,
    warm_from_args,
)
from .flags import add_gatys_args, add_mix_args, add_style_args, parse_mix

D = GatysSettings()
S, V = StyleSpec(), VideoConfig()
J = VideoJob(Path(), Path())


def time_arg(text: str) -> float:
    """Seconds (``90.5``) or ``[HH:]MM:SS[.mmm]``."""
    try:
        return parse_time(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def crf_arg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if not 0 <= v <= 51:
        raise argparse.ArgumentTypeError(f"expected 0 (lossless) .. 51, got {v}")
    return v


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "video",
        help="stylise a video, coherent from frame to frame, keeping its timing and sound",
        description="Stylise every frame of IN (Gatys optimisation with Ruder et al.'s temporal loss: each "
        "frame starts from the previous output warped by DIS optical flow and is kept close to it where the "
        "flow is reliable). Writes OUT (H.264 with the input's timestamps and audio, or PNG frames for "
        "-o DIR/) and OUT.json (settings, per-frame losses and times, the temporal warping error). "
        "Interrupted, the same command continues where it stopped.",
    )
    p.add_argument("input", help="input video (any format FFmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .mov, .m4v) or DIR/ for PNGs")
    _style_args(p)
    _model_args(p)
    _video_args(p)
    p.add_argument("--plot", metavar="FILE", help="write per-frame losses and warping error to FILE (.png/.svg)")
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run, and fail if there is none (without it an unfinished run "
        "with the same settings is continued anyway)",
    )
    again.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs and discard an unfinished run"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or info messages, only errors")
    p.set_defaults(func=cmd_video)


def _style_args(p: Parser) -> None:
    add_style_args(
        p, "style images or folders of them", "style banks (.style.safetensors) to mix in",
        "one weight per --style entry, then per --style-bank (normalised to sum 1)",
    )  # fmt: skip
    helps = {
        "optimizer": "L-BFGS or Adam", "content_weight": "content loss weight", "style_weight": "style loss weight",
        "tv_weight": "total-variation weight", "style_scale": "style images' size multiple",
    }  # fmt: skip
    add_gatys_args(p, D, helps)
    p.add_argument(
        "--preserve-color", choices=COLOR_MODES, default=S.preserve_color,
        help="keep each frame's colours (luminance) or match the style colours to the first frame (histogram)",
    )  # fmt: skip
    add_model_args(p, from_bank=True)
    p.add_argument("--seed", type=int, default=D.seed, help="random seed; same seed and settings give the same frames")
    p.add_argument(
        "--init", default=J.init, metavar="content|fast:MODEL[:UNIVERSE]|adain:DECODER",
        help="where each frame's optimisation starts: frame 1 (and every frame with --temporal-weight 0) from the "
        "photo (content), or from a network's stylisation of it (a fast network, an AdaIN decoder fed these "
        "styles); later frames start from the previous output warped in and take the network's result where "
        f"the flow cannot carry it; default {J.init}",
    )  # fmt: skip


def _model_args(p: Parser) -> None:
    g = p.add_argument_group(
        "feed-forward network",
        "stylise with a network from 'styleverse fast train' (--model) or an AdaIN decoder (--adain) instead of "
        "optimising every frame: real time, steadied by flow-guided blending (the optimisation flags above are "
        "then not used)",
    )
    which = g.add_mutually_exclusive_group()
    which.add_argument("--model", metavar="FILE", help="the network (.safetensors or exported .onnx)")
    which.add_argument(
        "--adain",
        metavar="FILE",
        help="an AdaIN decoder from 'styleverse adain train': any --style images or --style-bank banks, mixed by "
        "--style-weights, in real time",
    )
    g.add_argument(
        "--alpha", type=non_negative_float, default=1.0, help="with --adain: 0 keeps the content, 1 the full style"
    )
    add_mix_args(g)
    g.add_argument(
        "--blend",
        type=non_negative_float,
        default=V.blend,
        help="where the flow is reliable, this share of each frame comes from the previous output warped "
        "into it (0: none; less than 1)",
    )


def realtime_stylizer(args: argparse.Namespace) -> tuple[FlowBlended, dict[str, Any], list[Path]]:
    """The --model network or the --adain decoder (with the --style images and --style-bank banks) as a
    flow-blended frame stylizer, what identifies it (sidecar, resume), and the files it reads (never to be
    overwritten)."""
    from styleverse.fast.open import ADAIN_KINDS, FAST_KINDS, StylizerSpec, open_stylizer

    if args.adain:
        need(bool(args.style or args.style_bank), "--adain needs --style images or --style-bank banks")
    need(0 <= args.blend < 1, "--blend must be at least 0 and less than 1")
    common = {"preserve_color": args.preserve_color, "device": args.device, "precision": args.precision}
    if args.adain:
        spec = StylizerSpec(
            args.adain, styles=tuple(args.style), banks=tuple(args.style_bank), alpha=args.alpha,
            style_weights=tuple(args.style_weights) if args.style_weights else None, **common,
        )  # fmt: skip
    else:
        spec = StylizerSpec(args.model, mix=parse_mix(args.universe, args.mix), **common)
    stylizer = open_stylizer(spec, ADAIN_KINDS if args.adain else FAST_KINDS)
    info = {**stylizer.identity, "universes": list(stylizer.universes), "blend": args.blend}  # what the model knows
    return FlowBlended(stylizer, args.blend), info, [Path(p) for p in spec.inputs()]


def _video_args(p: Parser) -> None:
    p.add_argument(
        "--temporal-weight",
        type=non_negative_float,
        default=V.temporal_weight,
        help="weight of the temporal loss, in units of frame 1's style+content loss per 8-bit level² of change "
        "where the flow is reliable; 0 = independent frames (flickers)",
    )
    p.add_argument("--steps-first", type=positive_int, default=V.steps_first, help="optimiser steps for frame 1")
    p.add_argument(
        "--steps", type=positive_int, default=V.steps,
        help="steps for each later frame (it starts warm), plus the share of --steps-first of its pixels that the "
        "flow cannot carry",
    )  # fmt: skip
    p.add_argument(
        "--passes", type=positive_int, default=V.passes, metavar="N",
        help="passes over each shot, forward then backward in turn (Ruder et al.'s multi-pass): each later pass "
        "re-optimises every frame for --steps more, starting from its neighbour's output warped in where the flow "
        "holds and its own earlier result where it does not; 1 = one forward pass (always for --temporal-weight 0 "
        "and --model/--adain)",
    )  # fmt: skip
    p.add_argument("--start", type=time_arg, default=V.start, help="start time (seconds or HH:MM:SS.mmm)")
    p.add_argument("--end", type=time_arg, default=V.end, help="end time (exclusive; default: the end)")
    p.add_argument("--max-frames", type=positive_int, default=V.max_frames, help="stop after N frames")
    p.add_argument(
        "--size", type=positive_int, default=V.size, help="longest side of the output frames (default: the input's)"
    )
    p.add_argument(
        "--chunk-frames", type=positive_int, default=V.chunk_frames, metavar="N",
        help="split shots longer than N frames into chunks that processes share (under torchrun; default: "
        "never, a shot is the unit)",
    )  # fmt: skip
    p.add_argument(
        "--overlap", type=non_negative_int, default=V.overlap, metavar="N",
        help="frames each chunk after a shot's first starts early, blended with the chunk before (hides the seam)",
    )  # fmt: skip
    p.add_argument("--crf", type=crf_arg, default=V.crf, help="H.264 quality: 0 lossless .. 51 worst")
    p.add_argument(
        "--chroma", choices=sorted(CHROMA), default=V.chroma,
        help="H.264 colour resolution: 420 plays everywhere; 444 keeps each pixel's colour (a style's per-pixel "
        "colour grain; no steadier on bench_video's clip) but browsers and phones cannot play it",
    )  # fmt: skip
    p.add_argument(
        "--compare", action="store_true", help="also write input | output side by side (OUT_compare.mp4 / DIR_compare/)"
    )


def job_from_args(args: argparse.Namespace) -> VideoJob:
    """The library job the flags describe; a network --init names is opened here (one line if it cannot be)."""
    need(args.init == J.init or not (args.model or args.adain), "--init is for the optimisation, not --model/--adain")
    gatys = GatysSettings(**fields_from(args, GatysSettings))
    video = VideoConfig(**fields_from(args, VideoConfig))
    style = style_from_args(args)
    return VideoJob(
        Path(args.input), Path(args.output), style, video, features_from_args(args), gatys,
        plot=Path(args.plot) if args.plot else None, overwrite=args.overwrite, resume=args.resume,
        png_sequence=args.output.endswith(("/", os.sep)), init=args.init,
        warm=warm_from_args(args, style),
    )  # fmt: skip


class FrameReporter:
    """Turns video events into a progress bar: frames done/total, seconds per frame, ETA, step in the frame."""

    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task = bar, task
        self.last = ""

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, VideoStarted):
            self.bar.update(self.task, total=ev.total, completed=ev.done, status="stylising")
        elif isinstance(ev, FrameDone):
            eta = f" ETA {_hms(ev.eta)}" if ev.eta is not None else ""
            err = f" E_warp {ev.warp_error:.2e}" if ev.warp_error is not None else ""
            of = f"pass {ev.pass_index + 1}/{ev.passes}, " if ev.passes > 1 else ""
            self.last = f"{of}{ev.seconds_per_frame:.1f} s/frame{eta}{err}"
            total = ev.total if ev.total is not None and ev.total >= ev.done else None
            self.bar.update(self.task, completed=ev.done, total=total, status=self.last)
        elif isinstance(ev, StepEvent):
            self.bar.update(self.task, status=f"{self.last} (step {ev.step}/{ev.total_steps})".strip())
        elif isinstance(ev, StageStarted):
            self.bar.update(self.task, status=ev.name)


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cmd_video(args: argparse.Namespace) -> int:
    setup_logging(args.quiet)
    job = job_from_args(args)
    with progress(args.quiet) as bar, stopping() as stop:
        task = bar.add_task("video", total=None, status="opening")
        if args.model or args.adain:
            stylizer, info, files = realtime_stylizer(args)
            outcome = run_video(job, FrameReporter(bar, task), stylizer, info, files, stop)
        else:
            outcome = run_video(job, callback=FrameReporter(bar, task), stop=stop)
    if outcome.already_finished:
        console.print(f"{job.output} is already finished with these settings; nothing to do (--overwrite redoes it)")
        return 0
    if outcome.interrupted:
        of = f" of {outcome.total}" if outcome.total else ""
        unit = "frame passes" if job.video.passes_run(optimised=not (args.model or args.adain)) > 1 else "frames"
        console.print(
            f"[yellow]interrupted after {outcome.done}{of} {unit}; finished frames are kept in "
            f"{outcome.paths['work']}; run the same command again to continue"
        )
        return 130
    if outcome.part:
        console.print(f"stylised this process's {outcome.done} frames; rank 0 writes {job.output}")
        return 0
    if not args.quiet:
        _print_steadiness(outcome.sidecar["metric"])
        console.print(f"wrote {outcome.paths['output']} ({outcome.done} frames) and {outcome.paths['sidecar']}")
    return 0


def _print_steadiness(m: dict[str, Any]) -> None:
    """The steadiness of the frames as written, and a warning when the output does not follow the motion."""
    from styleverse.video.steadiness import FOLLOW_MIN

    err, ref, follow = m.get("warping_error"), m.get("input_warping_error"), m.get("following")
    if err is not None and ref:
        line = f"temporal warping error {err:.3e} as written (input {ref:.3e}, ratio {err / ref:.2f})"
        if follow is not None:
            line += f"; follows the motion {follow:.2f} (input {m.get('input_following') or 0:.2f}, 1 = exactly)"
        console.print(line, markup=False, soft_wrap=True)
    if follow is not None and follow < FOLLOW_MIN:
        console.print(
            "warning: the output does not follow the input's motion (it stands still where the input moves); its "
            "low warping error is a frozen video's, not a steady one's: give each frame more steps",
            style="red", markup=False, soft_wrap=True,
        )  # fmt: skip
