"""The Video tab: a short clip -> a stylised MP4, with progress per frame (and per step within a frame).

:func:`run` calls :func:`styleverse.video.job.run_video`: the Gatys stylizer with a temporal loss (Ruder et
al. 2016) on the chosen universes and style images, or a real-time model from the Real time tab's list made
steadier by flow-guided blending. Limits: the clip's file size, frames (``max_video_frames``) and frame
size (``max_video_side``). The uploaded clip plays in the page before anything runs, with its facts (frames,
rate, size, length) and the time the chosen settings would take (:func:`facts`); while it runs the latest
finished frame is shown. Cancel stops it as Ctrl-C does and keeps what is done: the finished frames are
offered as a partial clip, and Resume continues the same job from its work folder (the library's resume,
which refuses a job whose settings changed) to the full clip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from styleverse.app import sources
from styleverse.app.context import AppContext
from styleverse.app.controls import (
    capped_slider,
    download,
    job_buttons,
    progress_and_status,
    run_and_cancel,
    shown,
    streamed,
    style_pickers,
)
from styleverse.app.jobs import Finished, Ticket, error_line, follow
from styleverse.app.sources import StyleChoice
from styleverse.app.views import (
    duration_text,
    payload_path,
    payload_paths,
    progress_html,
    status_html,
    timed_progress,
)
from styleverse.errors import ConfigError, StyleverseError
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.config import StepEvent
from styleverse.video.config import GatysSettings

TAB = "video"
# a setting -> its control's label: the page shows it, and an error naming the setting says it so
LABELS = {
    "size": "Frame size (px)",
    "max_frames": "Frames",
    "steps_first": "Steps, first frame",
    "steps": "Steps, later frames",
    "temporal_weight": "Temporal weight (0: flickers)",
}
GATYS = "optimisation (Gatys, slow, best)"
# What a frame costs, for the estimate shown before a run until a video job of this server measured it (then
# the last job's cost is used, :func:`learn`). Seconds per optimiser step per megapixel of frame:
# a 256x192 clip's first frame, VGG19 in float32, L-BFGS, 2 torch threads, measured on this project's 2-core
# CPU while other jobs shared it (so the estimate errs long on an idle machine, more so with more cores or a
# GPU). Seconds per frame per megapixel of a real-time model: README "Real-time models" (the default fast
# network stylises a 512 px photo, taken as 512x384, in 0.40 s on the idle 2-core CPU).
GATYS_SECONDS_PER_STEP_MPX = 28.0
MODEL_SECONDS_PER_MPX = 2.0


@dataclass(frozen=True)
class Request:
    """One clip job: the upload, the styles (Gatys) or a real-time model name (``--models``), the frame
    size, how many frames, the optimiser steps and the temporal weight."""

    clip: str | None
    styles: StyleChoice
    model: str | None = None
    size: int = 256
    max_frames: int = 24
    steps_first: int | None = None  # None: the library's defaults (VideoConfig)
    steps: int | None = None
    temporal_weight: float | None = None


@dataclass(frozen=True)
class Paused:
    """A cancelled clip job, kept in the page's session (server side) for Resume: the job, its stylizer (None:
    Gatys) and what identifies it."""

    job: Any
    stylizer: Any = None
    info: dict[str, Any] | None = None


CLEAR = "clear"


class Update(NamedTuple):
    """An update of :func:`run`: progress, status, the finished or partial MP4, the Resume state (None leaves
    it, :data:`CLEAR` forgets it) and the latest finished frame (a PNG) while it runs."""

    progress: str | None = None
    status: str | None = None
    mp4: str | None = None
    paused: Paused | str | None = None
    preview: str | None = None


def prepare(ctx: AppContext, req: Request) -> tuple[Any, Any, dict[str, Any] | None]:
    """Check everything, make the job's folder, copy the inputs; returns the video job, the stylizer (None:
    Gatys) and what identifies it."""
    from styleverse.app.realtime import Realtime
    from styleverse.app.realtime import Request as ModelRequest
    from styleverse.video.config import VideoConfig, VideoJob
    from styleverse.video.loop import FlowBlended

    lim = ctx.config.limits
    if not req.clip:
        raise ConfigError("upload a video clip first")
    if not 16 <= req.size <= lim.max_video_side:
        raise ConfigError(f"frame size must be between 16 and {lim.max_video_side} pixels on this server")
    if not 1 <= req.max_frames <= lim.max_video_frames:
        raise ConfigError(f"frames must be between 1 and {lim.max_video_frames} on this server")
    d = VideoConfig()
    steps_first, steps = req.steps_first or d.steps_first, req.steps or d.steps
    temporal = d.temporal_weight if req.temporal_weight is None else req.temporal_weight
    if max(steps_first, steps) > lim.max_steps:
        raise ConfigError(f"steps must be at most {lim.max_steps} on this server")
    clip = ctx.workspace.upload(req.clip, "video", "video")
    model = req.model if req.model and req.model != GATYS else None
    checked = sources.check_styles(ctx, req.styles, required=model is None)
    stylizer, info = None, None
    if model is not None:
        rt = Realtime(ctx)
        mreq = ModelRequest(model, None, None, req.styles.universes, req.styles.image_uploads + req.styles.bank_uploads)
        apply, info, _ = rt.stylizer(mreq)
        stylizer = FlowBlended(apply)
    folder = ctx.workspace.new_job(TAB)
    staged = ctx.workspace.stage(clip, folder, "clip")
    styles, banks = sources.stage_styles(ctx, checked, folder) if model is None else ((), ())
    out = folder / f"{staged.stem}-stylised.mp4"  # downloads named after the clip
    style = StyleSpec(tuple(styles), tuple(banks), checked.weights or None)
    video = VideoConfig(
        temporal_weight=temporal, steps_first=steps_first, steps=steps, max_frames=req.max_frames, size=req.size,
        max_pixels=lim.max_video_side**2,
    )  # fmt: skip
    features, gatys = ctx.config.features(banks=bool(banks)), GatysSettings(device=ctx.config.device)
    return VideoJob(staged, out, style, video, features, gatys, plot=folder / "frames.png"), stylizer, info


def facts(ctx: AppContext, req: Request) -> str:
    """The uploaded clip's facts (frames, rate, size, length, read with the library's probe) and about how long
    the chosen settings would take here, as a status line; a file that is not a video gets its one-line error."""
    from styleverse.io.video import VideoReader

    if not req.clip:
        return status_html("Upload a short clip to see its frames, size and length.")
    try:
        path = ctx.workspace.upload(req.clip, "video", "video")
        with VideoReader(path) as reader:
            info = reader.info
    except StyleverseError as e:
        return status_html(error_line(e, LABELS), "error")
    total = clip_frames(info)
    frames, (w, h), seconds = estimate(info, req, ctx.costs)
    rate = f" at {info.fps:.3g} fps" if info.fps else ""
    length = f"{info.duration:.1f} s" if info.duration else "length unknown"
    clip = (
        f"{path.name}: {_frames(total) if total else 'frames unknown'}{rate}, {info.width}×{info.height} px, {length}."
    )
    which = f"all {_frames(frames)}" if frames == total else f"the first {_frames(frames)}"
    kind = "model" if req.model and req.model != GATYS else "gatys"
    basis = "as the last clip ran here" if kind in ctx.costs else "here"
    return status_html(f"{clip} These settings: {which} at {w}×{h} px, about {duration_text(seconds)} {basis}.")


def clip_frames(info: Any) -> int | None:
    """Frames in a clip: as its container says, else its length times its rate (None: not known)."""
    if info.frames:
        return int(info.frames)
    return round(info.duration * info.fps) if info.duration and info.fps else None


def estimate(info: Any, req: Request, costs: Mapping[str, float] | None = None) -> tuple[int, tuple[int, int], float]:
    """(frames, (width, height), seconds) a job on a clip of ``info`` would take with ``req``'s settings: the
    frames it stylises, at the size it writes, at the ``costs`` a job measured (:func:`learn`) or else
    :data:`GATYS_SECONDS_PER_STEP_MPX` (frame 1 ``steps_first`` steps, later frames ``steps``, or
    ``steps_first`` each when the temporal weight is 0; each later pass ``steps`` on every frame) and
    :data:`MODEL_SECONDS_PER_MPX`."""
    costs = costs or {}
    from styleverse.io.video import display_size
    from styleverse.video.config import VideoConfig

    d = VideoConfig()
    total = clip_frames(info)
    frames = min(req.max_frames, total) if total else req.max_frames
    w, h = display_size(info.width, info.height, info.pixel_aspect, 0, req.size)
    mpx = w * h / 1e6
    if req.model and req.model != GATYS:
        return frames, (w, h), frames * mpx * costs.get("model", MODEL_SECONDS_PER_MPX)
    first, later = req.steps_first or d.steps_first, req.steps or d.steps
    temporal = d.temporal_weight if req.temporal_weight is None else req.temporal_weight
    steps = first + (frames - 1) * (later if temporal > 0 else first)
    if temporal > 0:  # the later passes run ``steps`` on every frame (video.config.VideoConfig.passes)
        steps += (d.passes - 1) * frames * later
    return frames, (w, h), steps * mpx * costs.get("gatys", GATYS_SECONDS_PER_STEP_MPX)


def learn(costs: dict[str, float], job: Any, model: bool, size: tuple[int, int], ev: Any) -> None:
    """Keep what finished frame ``ev`` (a FrameDone of ``job``, frames of ``size``) cost: seconds per step
    and megapixel (Gatys: ``steps_first`` for frame 1 or every frame without the temporal loss, else
    ``steps``), or per megapixel for a real-time ``model``."""
    mpx = size[0] * size[1] / 1e6
    if mpx <= 0:
        return
    if model:
        costs["model"] = ev.seconds / mpx
        return
    v = job.video
    first = ev.index == 0 and ev.pass_index == 0
    costs["gatys"] = ev.seconds / mpx / (v.steps_first if first or v.temporal_weight <= 0 else v.steps)


def run(ctx: AppContext, req: Request, ticket: Ticket, paused: Paused | None = None) -> Iterator[Update]:
    """The job as page updates (:data:`Update`); with ``paused``, that cancelled job continued instead."""
    from dataclasses import replace

    from styleverse.video.config import FrameDone, StageStarted, VideoStarted
    from styleverse.video.job import run_video

    yield Update(progress_html(0, 1, "checking the inputs…"), status_html("Checking the clip and the styles…"))
    try:
        job, stylizer, info = (
            (replace(paused.job, resume=True), paused.stylizer, paused.info) if paused else prepare(ctx, req)
        )
        ctx.hold(ticket, job.output.parent)
    except StyleverseError as e:
        yield Update(progress_html(0, 1, "not started"), status_html(error_line(e, LABELS), "error"))
        return
    verb = "Resuming" if paused else "Running"
    yield Update(None, status_html(f"{verb} in {job.output.parent.name}/ …"))
    passes = job.video.passes_run(optimised=stylizer is None)
    total, done, step, size = (job.video.max_frames or req.max_frames) * passes, 0, "", (0, 0)
    left, started = math.nan, time.monotonic()  # the job's own estimate (this session's pace); none at first
    work = (
        (lambda emit: run_video(job, emit, stop=ticket.stop))
        if stylizer is None
        else (lambda emit: run_video(job, emit, stylizer, info, stop=ticket.stop))
    )
    for item in follow(work, ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _finished(item, done, total, Paused(job, stylizer, info))
            return
        stage, preview = None, None  # the frame finished since the last update, shown once
        for ev in item:
            if isinstance(ev, VideoStarted):
                total, size = ev.total or total, ev.size
            elif isinstance(ev, FrameDone):
                done, total, step, left = ev.done, ev.total or total, "", math.nan if ev.eta is None else ev.eta
                preview = _frame_png(job, ev.index)
                learn(ctx.costs, job, stylizer is not None, size, ev)
            elif isinstance(ev, StepEvent):
                step = f", step {ev.step}/{ev.total_steps}"
            elif isinstance(ev, StageStarted):
                stage = ev.name
        label = _stage_label(stage) if stage else f"{_frame_of_pass(done, total, passes)}{step}"
        shown_frame = str(preview) if preview is not None and preview.is_file() else None
        yield Update(timed_progress(done, total, label, started, left=math.nan if stage else left), preview=shown_frame)


def _stage_label(stage: str) -> str:
    """A stage's progress label: the shots are found before the frames; the clip, comparison, plot and
    measures are written after them."""
    return "finding the shots…" if stage == "finding shots" else f"writing the {stage}…"


def _frame_of_pass(done: int, total: int, passes: int) -> str:
    """``frame 2 / 3 (pass 1 of 4)``: where the job is, ``done`` of ``total`` frame passes finished."""
    frames, n = max(1, total // passes), max(0, min(done, total - 1))
    return f"frame {n % frames + 1} / {frames}" + (f" (pass {n // frames + 1} of {passes})" if passes > 1 else "")


def _finished(item: Finished, done: int, total: int, paused: Paused) -> Update:
    """The last update: the clip; or after Cancel the frames done as a partial clip, and Resume."""
    if item.cancelled or (item.result is not None and item.result.interrupted):
        done = item.result.done if item.result is not None else done
        partial = partial_clip(paused.job, done)
        kept = " The partial clip is below; Resume continues it." if partial else " Resume starts it again."
        several = paused.job.video.passes_run(optimised=paused.stylizer is None) > 1
        after = f"{done} frame passes" if several and done > 1 else _frames(done)
        text = f"Cancelled after {after}.{kept}"
        return Update(
            progress_html(done, total, "cancelled"), status_html(text), str(partial) if partial else None, paused
        )
    if item.error is not None:
        return Update(progress_html(done, total, "failed"), status_html(item.error, "error"), None, CLEAR)
    outcome = item.result
    out = outcome.paths.get("output")
    if out is None:  # nothing written: it had been finished before
        return Update(progress_html(1, 1, "done"), status_html("This clip was already done.", "done"), None, CLEAR)
    text = f"Done: {_frames(outcome.done)}. Files in {Path(out).parent.name}/"
    return Update(progress_html(1, 1, "done"), status_html(text, "done"), str(out), CLEAR)


def partial_clip(job: Any, done: int) -> Path | None:
    """The finished frames of a cancelled job (its work folder's PNGs) as ``NAME-partial.mp4`` beside its
    output, at the clip's frame rate; None when no frame was finished."""
    from fractions import Fraction

    import numpy as np
    from PIL import Image

    from styleverse.io.video import VideoReader
    from styleverse.io.video_writer import VideoWriter

    # with several passes ``done`` counts frame passes: the frames are those the first pass finished
    frames = list(takewhile(Path.is_file, (_frame_png(job, i) for i in range(done))))
    if not frames:
        return None
    with VideoReader(job.input) as reader:
        fps = Fraction(reader.info.fps or 25.0).limit_denominator(1001)
    out = job.output.with_name(f"{job.output.stem}-partial.mp4")

    def rgb(path: Path) -> Any:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    first = rgb(frames[0])
    h, w = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2  # H.264 4:2:0 needs even sizes
    with VideoWriter(out, w, h, 1 / fps, fps) as writer:
        for i, f in enumerate(frames):
            writer.write(rgb(f)[:h, :w], i)
    return out


def _frame_png(job: Any, index: int) -> Path:
    """Where the job keeps its finished frame ``index`` (its work folder's PNG)."""
    from styleverse.video.work import WorkFolder, work_folder

    return WorkFolder(work_folder(job.output), {}).frame_path(index)


def _frames(n: int) -> str:
    return f"{n} frame" if n == 1 else f"{n} frames"


# --- the page ---------------------------------------------------------------------------------------------


def build(ctx: AppContext) -> None:
    """The tab's elements and events (inside a ``gr.Tab``)."""
    from styleverse.video.config import VideoConfig

    lim, d = ctx.config.limits, VideoConfig()
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            clip = gr.Video(  # plays what the browser can; the job reads any format PyAV reads either way
                label=f"Clip (up to {lim.max_video_mb:g} MB)", sources=["upload"], height=220, elem_id="video-clip"
            )
            about = gr.HTML(status_html("Upload a short clip to see its frames, size and length."),
                            elem_id="video-facts")  # fmt: skip
            method = ctx.offer(gr.Dropdown(
                [GATYS, *ctx.model_names()], value=GATYS, label="Method",
                info="or a real-time model from --models (much faster)", elem_id="video-method",
            ), lambda: [GATYS, *ctx.model_names()])  # fmt: skip
            universes, images = style_pickers(ctx, "video")
            with gr.Row():
                size = capped_slider(64, lim.max_video_side, 256, 16, LABELS["size"], "video-size")
                frames = capped_slider(1, lim.max_video_frames, 24, 1, LABELS["max_frames"], "video-frames")
            with gr.Row():
                steps_first = capped_slider(
                    1, lim.max_steps, d.steps_first, 1, LABELS["steps_first"], "video-steps-first"
                )
                steps = capped_slider(1, lim.max_steps, d.steps, 1, LABELS["steps"], "video-steps")
            temporal = gr.Slider(  # from 0 (independent frames) to ten times the library's default
                0,
                10 * d.temporal_weight if d.temporal_weight > 0 else 1.0,
                value=d.temporal_weight,
                step=d.temporal_weight / 20 if d.temporal_weight > 0 else 0.01,
                label=LABELS["temporal_weight"],
                elem_id="video-temporal",
            )
        with gr.Column(scale=1):  # Run, progress and result together at the top
            go, stop = run_and_cancel("Stylise the clip", "video")
            resume = gr.Button("Resume", visible=False, elem_id="video-resume")
            progress, status = progress_and_status("video", "Upload a short clip and pick a style.")
            latest = gr.Image(label="Latest frame", interactive=False, format="png", height=200, visible=False,
                              elem_id="video-latest")  # fmt: skip
            result = gr.Video(label="Result", interactive=False, height=360, elem_id="video-result")
            download = gr.DownloadButton("Download MP4", visible=False, elem_id="video-download")
            paused = gr.State(None)  # the cancelled job, on the server only

    def go_fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
        # Gradio passes the request to the parameter annotated gr.Request, the inputs below in order
        clip_v, method_v, universes_v, images_v, size_v, frames_v, first_v, steps_v, temporal_v, _ = values
        choice = sources.choice_from(universes_v, [], payload_paths(images_v), [])
        method, numbers = str(method_v or GATYS), (int(size_v), int(frames_v), int(first_v), int(steps_v))
        req = Request(payload_path(clip_v), choice, method, *numbers, float(temporal_v))
        yield from streamed(ctx, TAB, request, lambda ticket: run(ctx, req, ticket), _outputs)

    def resume_fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
        held = values[-1]
        if not isinstance(held, Paused):
            yield (gr.skip(), status_html("Nothing to resume."), *[gr.skip()] * 5)
            return
        yield from streamed(ctx, TAB, request, lambda ticket: run(ctx, Request(None, StyleChoice()), ticket, held),
                            _outputs)  # fmt: skip

    def facts_fn(*values: Any) -> str:
        clip_v, method_v, size_v, frames_v, first_v, steps_v, temporal_v = values
        numbers = (int(size_v), int(frames_v), int(first_v), int(steps_v))
        return facts(
            ctx, Request(payload_path(clip_v), StyleChoice(), str(method_v or GATYS), *numbers, float(temporal_v))
        )

    inputs = [clip, method, universes, images, size, frames, steps_first, steps, temporal, paused]
    outputs = [progress, status, result, download, paused, resume, latest]
    job_buttons(ctx, TAB, [(go, go_fn), (resume, resume_fn)], stop, status, inputs, outputs)
    settings = [clip, method, size, frames, steps_first, steps, temporal]
    for element in settings:
        element.change(facts_fn, settings, about, queue=False, preprocess=False)


def _outputs(update: Update, first: bool) -> tuple[Any, ...]:
    """An update of :func:`run` as the tab's outputs: progress, status, the result, its download, the Resume
    state and button (shown while there is a cancelled job to continue), the latest frame (shown while the
    clip is being stylised, hidden once it ends)."""
    prog, stat, mp4, held, preview = update
    state = gr.skip() if held is None else (None if held == CLEAR else held)
    button = gr.skip() if held is None else gr.update(visible=held != CLEAR)
    if first:
        state, button = None, gr.update(visible=False)
    latest = gr.update(value=preview, visible=True) if preview else gr.skip()
    if first or held is not None:  # a new run starts or the run ended: the result takes its place
        latest = gr.update(value=None, visible=False)
    return shown(prog), shown(stat), shown(mp4, first), download(mp4, first), state, button, latest
