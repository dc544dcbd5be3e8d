"""The Stylise tab: a photo, universes and style images with weights -> a Gatys stylisation, streamed.

:func:`run` is the job glue (no Gradio in it, so tests call it directly): it checks every upload, makes the
job's folder, copies the inputs there, and runs :func:`styleverse.transfer.job.run_stylize` in a worker,
turning its events into :class:`View` updates: the progress bar, the latest snapshot, the loss curve, and at
the end the PNG and its JSON sidecar to download. Cancel stops the optimiser before its next step; what it
reached is saved like a finished result (``stop_reason: stopped`` in the sidecar).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from styleverse.app.files import public_json
from styleverse.app.jobs import Finished, Ticket, error_line, follow
from styleverse.app.sources import StyleChoice
from styleverse.app.views import (
    eta_text,
    loss_curve,
    payload_path,
    payload_paths,
    payload_rows,
    progress_html,
    status_html,
)
from styleverse.errors import ConfigError, StyleverseError
from styleverse.io.images import tensor_to_pil
from styleverse.styles.spec import COLOR_MODES, StyleSpec
from styleverse.transfer.config import ScaleEvent, SnapshotEvent, StepEvent, TransferConfig
from styleverse.transfer.job import StylizeJob, StylizeOutcome, run_stylize

TAB = "stylise"
# a setting -> its control's label: the page shows it, and an error naming the setting says it so
LABELS = {
    "size": "Size (longest side, px)",
    "steps": "Steps",
    "preserve_color": "Keep the photo's colours",
    "style_weights": "Weights",
}
DEFAULTS = TransferConfig()
SNAPSHOTS = 10  # intermediate images shown during a run (at least)
LIVE_EVERY = 5  # steps between them at most: the image forms on the page from the first seconds
PLOT_EVERY = 1.0  # seconds between redraws of the loss curve


@dataclass(frozen=True)
class Request:
    """One Run click: the photo's upload path, the styles, and the knobs (``strength`` multiplies the default
    style weight)."""

    photo: str | None
    styles: StyleChoice
    size: int = DEFAULTS.size
    steps: int = DEFAULTS.steps
    strength: float = 1.0
    preserve_color: str = "none"


@dataclass
class View:
    """What to change on the page; None leaves an element as it is. ``downloads`` (png, json) shows the
    download buttons; ``hide_downloads`` hides them (a new run)."""

    progress: str | None = None
    status: str | None = None
    image: Any = None
    losses: Any = None
    downloads: tuple[str, str] | None = None
    hide_downloads: bool = False


def check(ctx: AppContext, req: Request) -> None:
    """The knobs within the server's limits (the sliders enforce them in the page; API calls may not)."""
    lim = ctx.config.limits
    if not 16 <= req.size <= lim.max_size:
        raise ConfigError(f"size must be between 16 and {lim.max_size} pixels on this server", setting="size")
    if not 1 <= req.steps <= lim.max_steps:
        raise ConfigError(f"steps must be between 1 and {lim.max_steps} on this server", setting="steps")
    if not (req.strength > 0 and req.strength < 1e6):
        raise ConfigError("style strength must be a positive number")
    if req.preserve_color not in COLOR_MODES:
        raise ConfigError(f"colour preservation must be one of {', '.join(COLOR_MODES)}")


def prepare(ctx: AppContext, req: Request) -> StylizeJob:
    """Check everything, then make the job's folder, copy the inputs into it and describe the job."""
    check(ctx, req)
    if not req.photo:
        raise ConfigError("upload a photo first")
    photo = ctx.workspace.upload(req.photo, "photo", "image")
    checked = sources.check_styles(ctx, req.styles)
    folder = ctx.workspace.new_job(TAB)
    content = ctx.workspace.stage(photo, folder, "photo")
    styles, banks = sources.stage_styles(ctx, checked, folder)
    config = TransferConfig(
        steps=req.steps, size=req.size, style_weight=DEFAULTS.style_weight * req.strength,
        save_every=max(1, min(req.steps // SNAPSHOTS, LIVE_EVERY)), device=ctx.config.device,
    )  # fmt: skip
    return StylizeJob(
        content=content,
        output=folder / f"{Path(content.name).stem}-stylised.png",  # downloads named after the photo
        style=StyleSpec(tuple(styles), tuple(banks), checked.weights, preserve_color=req.preserve_color),
        config=config,
        features=ctx.config.features(banks=bool(banks)),  # a bank decides its own network
        plot=folder / "losses.png",
        snapshot_dir=folder / "snapshots",
    )


@dataclass
class _Progress:
    """Running totals of one job's events."""

    total: int
    step: int = 0
    scale: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    snapshot: Any = None
    plotted: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def add(self, ev: Any) -> None:
        """Take in one event of the job."""
        if isinstance(ev, StepEvent):
            self.step, self.total = ev.step, ev.total_steps
            self.history.append({"step": float(ev.step), **ev.losses})
        elif isinstance(ev, ScaleEvent):
            self.scale = f"scale {ev.scale_index + 1}/{ev.n_scales} ({ev.size[1]}x{ev.size[0]})"
        elif isinstance(ev, SnapshotEvent):
            self.snapshot = ev.image

    def view(self) -> View:
        """The page update for the events so far (the loss curve at most every PLOT_EVERY seconds)."""
        took = time.monotonic() - self.started
        eta = eta_text(took / self.step * (self.total - self.step) if self.step else None)
        v = View(progress=progress_html(self.step, self.total, f"step {self.step} / {self.total} {self.scale}{eta}"))
        if self.snapshot is not None:
            v.image, self.snapshot = tensor_to_pil(self.snapshot), None
        if self.history and time.monotonic() - self.plotted >= PLOT_EVERY:
            v.losses, self.plotted = loss_curve(self.history), time.monotonic()
        return v


def run(ctx: AppContext, req: Request, ticket: Ticket) -> Iterator[View]:
    """The whole job as a stream of page updates (see the module doc)."""
    yield View(
        progress=progress_html(0, 1, "checking the inputs…"),
        status=status_html("Checking the inputs…"),
        hide_downloads=True,
    )
    try:
        job = prepare(ctx, req)
        ctx.hold(ticket, job.output.parent)
    except StyleverseError as e:
        yield View(progress=progress_html(0, 1, "not started"), status=status_html(error_line(e, LABELS), "error"))
        return
    total = job.config.steps * len(job.config.sizes)
    yield View(
        progress=progress_html(0, total, "building the feature network…"),
        status=status_html(f"Running in {job.output.parent.name}/ …"),
    )
    state = _Progress(total)
    for item in follow(lambda emit: run_stylize(job, emit, stop=ticket.stop), ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _finished(item, state, job)
            return
        for ev in item:
            state.add(ev)
        yield state.view()


def _finished(done: Finished, state: _Progress, job: StylizeJob) -> View:
    """The last update: the result and its downloads, or why there is none."""
    if done.cancelled:
        return View(progress=progress_html(state.step, state.total, "cancelled"), status=status_html("Cancelled."))
    if done.error is not None:
        return View(progress=progress_html(state.step, state.total, "failed"), status=status_html(done.error, "error"))
    outcome: StylizeOutcome = done.result
    res = outcome.result
    steps = len(res.history)
    image, side = str(outcome.paths["image"]), str(public_json(outcome.paths["sidecar"], job.output.parent))
    if res.stop_reason == "stopped":
        text, kind = f"Stopped at step {steps}: the image reached so far is saved.", "info"
    else:
        why = {"converged": "it stopped improving", "max_steps": "every step run"}.get(str(res.stop_reason), "")
        text, kind = f"Done: {steps} steps in {res.seconds:.1f} s" + (f" ({why})." if why else "."), "done"
    plot = outcome.paths.get("plot")
    v = View(
        status=status_html(f"{text} Files in {job.output.parent.name}/", kind), image=image, downloads=(image, side),
        losses=str(plot) if plot else (loss_curve(state.history) if steps else None),
    )  # fmt: skip
    v.progress = progress_html(steps, steps if res.stop_reason != "stopped" else state.total, f"step {steps} · done")
    return v


# --- the page ---------------------------------------------------------------------------------------------


def build(ctx: AppContext) -> None:
    """The tab's elements and events (inside a ``gr.Tab``)."""
    lim = ctx.config.limits
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            photo = gr.Image(
                label="Photo", type="filepath", image_mode=None, sources=["upload"], height=260, elem_id="stylise-photo"
            )
            universes, images = style_pickers(ctx, "stylise", info="from the server's --banks folder")
            with gr.Accordion("Upload style banks (.safetensors from styles bank)", open=False):
                banks = gr.File(
                    label="Style banks", file_count="multiple", file_types=[".safetensors"], height=110,
                    elem_id="stylise-banks",
                )  # fmt: skip
            weights = gr.Dataframe(
                headers=["style", "weight"], datatype=["str", "number"], value=[], column_count=2, static_columns=[0],
                interactive=True, label=LABELS["style_weights"], elem_id="stylise-weights",
            )  # fmt: skip
            with gr.Row():
                size = capped_slider(64, lim.max_size, DEFAULTS.size, 16, LABELS["size"], "stylise-size")
                steps = capped_slider(1, lim.max_steps, DEFAULTS.steps, 1, LABELS["steps"], "stylise-steps")
            with gr.Row():
                strength = gr.Slider(
                    0.1, 10, value=1.0, step=0.1, label="Style strength (x default)", elem_id="stylise-strength"
                )
                color = gr.Radio(
                    list(COLOR_MODES), value="none", label=LABELS["preserve_color"], elem_id="stylise-color"
                )
        with gr.Column(scale=1):  # Run, progress and result together at the top: all in view at 1366x768
            go, stop = run_and_cancel("Stylise", "stylise")
            progress, status = progress_and_status(
                "stylise", "Upload a photo, pick a universe or style images, then Stylise."
            )
            result = gr.Image(label="Result", format="png", interactive=False, height=380, elem_id="stylise-result")
            with gr.Row():
                png = gr.DownloadButton("Download PNG", visible=False, elem_id="stylise-download")
                side = gr.DownloadButton("Download settings (JSON)", visible=False, elem_id="stylise-sidecar")
            losses = gr.Image(label="Loss curve", format="png", interactive=False, height=220, elem_id="stylise-losses")

    def check_photo(value: Any) -> tuple[Any, str]:
        path = payload_path(value)
        if path is None:
            return gr.skip(), gr.skip()
        try:
            ctx.workspace.upload(path, "photo", "image")
        except StyleverseError as e:
            return None, status_html(error_line(e, LABELS), "error")
        return gr.skip(), status_html("Photo ready.")

    def table(universes_v: Any, images_v: Any, banks_v: Any, rows_v: Any) -> list[list[Any]]:
        choice = sources.choice_from(universes_v, payload_paths(banks_v), payload_paths(images_v), payload_rows(rows_v))
        return sources.weight_rows(choice)

    def go_fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
        # Gradio passes the request to the parameter annotated gr.Request, the inputs below in order
        photo_v, universes_v, images_v, banks_v, rows_v, size_v, steps_v, strength_v, color_v = values
        choice = sources.choice_from(universes_v, payload_paths(banks_v), payload_paths(images_v), payload_rows(rows_v))
        req = Request(payload_path(photo_v), choice, int(size_v), int(steps_v), float(strength_v), str(color_v))
        yield from streamed(ctx, TAB, request, lambda ticket: run(ctx, req, ticket), _outputs)

    photo.upload(check_photo, photo, [photo, status], preprocess=False, queue=False)
    for src in (universes, images, banks):
        src.change(table, [universes, images, banks, weights], weights, preprocess=False, queue=False)
    inputs = [photo, universes, images, banks, weights, size, steps, strength, color]
    job_buttons(ctx, TAB, [(go, go_fn)], stop, status, inputs, [progress, status, result, losses, png, side])


def _outputs(v: View, _first: bool = False) -> tuple[Any, ...]:
    """A :class:`View` as the tab's outputs: progress, status, result, losses, PNG and JSON downloads."""
    files = v.downloads or (None, None)
    return (*map(shown, (v.progress, v.status, v.image, v.losses)), *(download(p, v.hide_downloads) for p in files))
