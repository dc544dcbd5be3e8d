"""The Video tab: a short clip -> a stylised MP4, with progress per frame (and per step within a frame).

:func:`run` calls :func:`styleverse.video.job.run_video`: the Gatys stylizer with a temporal loss (Ruder et
al. 2016) on the chosen universes and style images, or a real-time model from the Real time tab's list made
steadier by flow-guided blending. Limits: the clip's file size, frames (``max_video_frames``) and frame
size (``max_video_side``). Cancel stops it as Ctrl-C does and keeps what is done: the finished frames are
offered as a partial clip, and Resume continues the same job from its work folder (the library's resume,
which refuses a job whose settings changed) to the full clip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any

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
from styleverse.app.views import eta_text, payload_path, payload_paths, progress_html, status_html
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


# an update of :func:`run`: progress, status, finished or partial MP4, and the Resume state (None leaves it,
# CLEAR forgets it)
CLEAR = "clear"
Update = tuple[str | None, str | None, str | None, Paused | str | None]


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


def run(ctx: AppContext, req: Request, ticket: Ticket, paused: Paused | None = None) -> Iterator[Update]:
    """The job as page updates (:data:`Update`); with ``paused``, that cancelled job continued instead."""
    from dataclasses import replace

    from styleverse.video.config import FrameDone, StageStarted, VideoStarted
    from styleverse.video.job import run_video

    yield progress_html(0, 1, "checking the inputs…"), status_html("Checking the clip and the styles…"), None, None
    try:
        job, stylizer, info = (
            (replace(paused.job, resume=True), paused.stylizer, paused.info) if paused else prepare(ctx, req)
        )
        ctx.hold(ticket, job.output.parent)
    except StyleverseError as e:
        yield progress_html(0, 1, "not started"), status_html(error_line(e, LABELS), "error"), None, None
        return
    verb = "Resuming" if paused else "Running"
    yield None, status_html(f"{verb} in {job.output.parent.name}/ …"), None, None
    total, done, step, eta, of_pass = job.video.max_frames or req.max_frames, 0, "", "", ""
    work = (
        (lambda emit: run_video(job, emit, stop=ticket.stop))
        if stylizer is None
        else (lambda emit: run_video(job, emit, stylizer, info, stop=ticket.stop))
    )
    for item in follow(work, ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _finished(item, done, total, Paused(job, stylizer, info))
            return
        stage = None
        for ev in item:
            if isinstance(ev, VideoStarted):
                total = ev.total or total
            elif isinstance(ev, FrameDone):
                done, total, step, eta = ev.done, ev.total or total, "", eta_text(ev.eta)
                of_pass = f" (pass {ev.pass_index + 1} of {ev.passes})" if ev.passes > 1 else ""
            elif isinstance(ev, StepEvent):
                step = f", step {ev.step}/{ev.total_steps}"
            elif isinstance(ev, StageStarted):
                stage = ev.name
        label = f"writing the {stage}…" if stage else f"frame {min(done + 1, total)} / {total}{of_pass}{step}{eta}"
        yield progress_html(done, total, label), None, None, None


def _finished(item: Finished, done: int, total: int, paused: Paused) -> Update:
    """The last update: the clip; or after Cancel the frames done as a partial clip, and Resume."""
    if item.cancelled or (item.result is not None and item.result.interrupted):
        done = item.result.done if item.result is not None else done
        partial = partial_clip(paused.job, done)
        kept = " The partial clip is below; Resume continues it." if partial else " Resume starts it again."
        several = paused.job.video.passes_run(optimised=paused.stylizer is None) > 1
        after = f"{done} frame passes" if several and done > 1 else _frames(done)
        return progress_html(done, total, "cancelled"), status_html(f"Cancelled after {after}.{kept}"), (
            str(partial) if partial else None
        ), paused  # fmt: skip
    if item.error is not None:
        return progress_html(done, total, "failed"), status_html(item.error, "error"), None, CLEAR
    outcome = item.result
    out = outcome.paths.get("output")
    if out is None:  # nothing written: it had been finished before
        return progress_html(1, 1, "done"), status_html("This clip was already done.", "done"), None, CLEAR
    text = f"Done: {_frames(outcome.done)}. Files in {Path(out).parent.name}/"
    return progress_html(1, 1, "done"), status_html(text, "done"), str(out), CLEAR


def partial_clip(job: Any, done: int) -> Path | None:
    """The finished frames of a cancelled job (its work folder's PNGs) as ``NAME-partial.mp4`` beside its
    output, at the clip's frame rate; None when no frame was finished."""
    from fractions import Fraction

    import numpy as np
    from PIL import Image

    from styleverse.io.video import VideoReader
    from styleverse.io.video_writer import VideoWriter
    from styleverse.video.work import work_folder

    # with several passes ``done`` counts frame passes: the frames are those the first pass finished
    frames = list(takewhile(Path.is_file, (work_folder(job.output) / "frames" / f"{i:06d}.png" for i in range(done))))
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


def _frames(n: int) -> str:
    return f"{n} frame" if n == 1 else f"{n} frames"


# --- the page ---------------------------------------------------------------------------------------------


def build(ctx: AppContext) -> None:
    """The tab's elements and events (inside a ``gr.Tab``)."""
    from styleverse.video.config import VideoConfig

    lim, d = ctx.config.limits, VideoConfig()
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            clip = gr.File(  # a file box, not a player: browsers play few of the formats PyAV reads
                label=f"Clip (up to {lim.max_video_mb:g} MB)", file_types=["video"], height=130, elem_id="video-clip"
            )
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
            yield (gr.skip(), status_html("Nothing to resume."), gr.skip(), gr.skip(), gr.skip(), gr.skip())
            return
        yield from streamed(ctx, TAB, request, lambda ticket: run(ctx, Request(None, StyleChoice()), ticket, held),
                            _outputs)  # fmt: skip

    inputs = [clip, method, universes, images, size, frames, steps_first, steps, temporal, paused]
    outputs = [progress, status, result, download, paused, resume]
    job_buttons(ctx, TAB, [(go, go_fn), (resume, resume_fn)], stop, status, inputs, outputs)


def _outputs(update: Update, first: bool) -> tuple[Any, ...]:
    """An update of :func:`run` as the tab's outputs: progress, status, the result, its download, the Resume
    state and button (shown while there is a cancelled job to continue)."""
    prog, stat, mp4, held = update
    state = gr.skip() if held is None else (None if held == CLEAR else held)
    button = gr.skip() if held is None else gr.update(visible=held != CLEAR)
    if first:
        state, button = None, gr.update(visible=False)
    return shown(prog), shown(stat), shown(mp4, first), download(mp4, first), state, button
