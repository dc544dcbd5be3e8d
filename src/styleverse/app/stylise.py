"""The Stylise tab: a photo, universes and style images with weights -> a Gatys stylisation, streamed.

:func:`run` is the job glue (no Gradio in it, so tests call it directly): it checks every upload, makes the
job's folder, copies the inputs there, and runs :func:`styleverse.transfer.job.run_stylize` in a worker,
turning its events into :class:`View` updates: the progress bar, the latest snapshot beside the photo (a
before/after slider), the loss curve, and at the end the PNG and its JSON sidecar to download and an entry
for the visit's history (:mod:`styleverse.app.history`). Cancel stops the optimiser before its next step;
what it reached is saved like a finished result (``stop_reason: stopped`` in the sidecar). The presets are
the CLI's ``--quality`` levels (:data:`styleverse.transfer.config.QUALITY`) with a size each; the Advanced
settings are :class:`~styleverse.transfer.config.TransferConfig` fields with its defaults. A batch of
photos is :mod:`styleverse.app.batch`; the page :mod:`styleverse.app.stylise_page`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from styleverse.app import history, sources
from styleverse.app.context import AppContext
from styleverse.app.files import public_json
from styleverse.app.jobs import Finished, Ticket, error_line, follow
from styleverse.app.sources import StyleChoice
from styleverse.app.views import loss_curve, progress_html, status_html, timed_progress
from styleverse.errors import ConfigError, StyleverseError
from styleverse.io.images import tensor_to_pil
from styleverse.styles.spec import COLOR_MODES, StyleSpec
from styleverse.transfer.config import (
    INITS,
    OPTIMIZERS,
    QUALITY,
    QUALITY_SECONDS,
    ScaleEvent,
    SnapshotEvent,
    StepEvent,
    TransferConfig,
    with_quality,
)
from styleverse.transfer.job import StylizeJob, StylizeOutcome, run_stylize

TAB = "stylise"
# a setting -> its control's label: the page shows it, and an error naming the setting says it so
LABELS = {
    "size": "Size (longest side, px)",
    "steps": "Steps",
    "preserve_color": "Keep the photo's colours",
    "style_weights": "Weights",
    "quality": "Preset",
    "content_weight": "Content weight",
    "tv_weight": "Smoothing (TV weight)",
    "optimizer": "Optimiser",
    "init": "Start from",
    "seed": "Seed",
    "scales": "Scales (px, coarse to fine)",
}
DEFAULTS = TransferConfig()
SNAPSHOTS = 10  # intermediate images shown during a run (at least)
LIVE_EVERY = 5  # steps between them at most: the image forms on the page from the first seconds
PLOT_EVERY = 1.0  # seconds between redraws of the loss curve
# Presets: a --quality level (its steps cap, tolerance, polish) and a size. The time each takes on this server
# (2-core AVX512-BF16 CPU, random VGG19, idle): balanced and best at 512 px are the CLI's measured
# QUALITY_SECONDS (bench_transfer.py); the quick preview at 256 px is one scale of at most 50 steps at the
# 0.35 s per step bench_transfer measured at 256 px. benchmarks/bench_app_presets.py times them through the tab.
PRESETS: dict[str, tuple[str, int]] = {
    "draft": ("quick preview", 256),
    "balanced": ("balanced", DEFAULTS.size),
    "best": ("best", DEFAULTS.size),
}
PRESET_SECONDS = {"draft": "under ~20 s", "balanced": QUALITY_SECONDS["balanced"], "best": QUALITY_SECONDS["best"]}


@dataclass(frozen=True)
class Request:
    """One Run click: the photo's upload path, the styles, and the knobs (``strength`` multiplies the default
    style weight; ``quality`` is the preset's --quality level; the rest are the Advanced settings, each
    :class:`TransferConfig`'s default; empty ``scales``: the size and its halves)."""

    photo: str | None
    styles: StyleChoice
    size: int = DEFAULTS.size
    steps: int = DEFAULTS.steps
    strength: float = 1.0
    preserve_color: str = "none"
    quality: str = "balanced"
    content_weight: float = DEFAULTS.content_weight
    tv_weight: float = DEFAULTS.tv_weight
    optimizer: str = DEFAULTS.optimizer
    init: str = DEFAULTS.init
    seed: int = DEFAULTS.seed
    scales: tuple[int, ...] = DEFAULTS.scales

    def summary(self) -> str:
        """The settings in one line (a history entry's caption)."""
        parts = [Path(self.photo or "").name, ", ".join(lbl.split(sources.SEP)[-1] for lbl in self.styles.labels()),
                 f"{self.size} px", f"{self.steps} steps", PRESETS.get(self.quality, (self.quality,))[0]]  # fmt: skip
        tweaks = {k: getattr(self, k) for k in ("strength", "content_weight", "tv_weight", "optimizer", "init", "seed")}
        parts += [f"{k} {v}" for k, v in tweaks.items() if v != getattr(Request(None, StyleChoice()), k)]
        if self.scales:
            parts.append("scales " + " ".join(map(str, self.scales)))
        return " · ".join(parts)


@dataclass
class View:
    """What to change on the page; None leaves an element as it is. ``image`` is (before, after);
    ``downloads`` (png, json) shows the download buttons; ``hide_downloads`` hides them (a new run);
    ``entries`` join the visit's history; ``archive`` is a batch's zip."""

    progress: str | None = None
    status: str | None = None
    image: tuple[Any, Any] | None = None
    losses: Any = None
    downloads: tuple[str, str] | None = None
    hide_downloads: bool = False
    entries: tuple[history.Entry, ...] = ()
    archive: str | None = None


def parse_scales(text: str | None) -> tuple[int, ...]:
    """``"256 512"`` (spaces or commas) -> (256, 512); empty or ``auto`` -> () (the size and its halves)."""
    words = (text or "").replace(",", " ").split()
    if words in ([], ["auto"]):
        return ()
    try:
        return tuple(int(w) for w in words)
    except ValueError:
        raise ConfigError(f"scales: '{text}' is not a list of sizes in pixels (256 512)", setting="scales") from None


def check(ctx: AppContext, req: Request) -> None:
    """The knobs within the server's limits (the controls enforce most in the page; API calls may not)."""
    lim = ctx.config.limits
    if not 16 <= req.size <= lim.max_size:
        raise ConfigError(f"size must be between 16 and {lim.max_size} pixels on this server", setting="size")
    if not 1 <= req.steps <= lim.max_steps:
        raise ConfigError(f"steps must be between 1 and {lim.max_steps} on this server", setting="steps")
    if not (req.strength > 0 and req.strength < 1e6):
        raise ConfigError("style strength must be a positive number")
    if req.preserve_color not in COLOR_MODES:
        raise ConfigError(f"colour preservation must be one of {', '.join(COLOR_MODES)}")
    if req.quality not in QUALITY:
        raise ConfigError(f"quality must be one of {', '.join(QUALITY)}", setting="quality")
    if req.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}", setting="optimizer")
    if req.init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}", setting="init")
    if any(not 16 <= s <= lim.max_size for s in req.scales):
        raise ConfigError(f"scales must be between 16 and {lim.max_size} pixels on this server", setting="scales")


def transfer_config(ctx: AppContext, req: Request, save_every: int) -> TransferConfig:
    """The run's settings: the request's knobs, then its preset's --quality fields (the steps slider wins,
    as a typed ``--steps`` does in the CLI); checked."""
    config = TransferConfig(
        steps=req.steps, size=req.size, style_weight=DEFAULTS.style_weight * req.strength,
        content_weight=req.content_weight, tv_weight=req.tv_weight, optimizer=req.optimizer, init=req.init,
        seed=req.seed, scales=req.scales, save_every=save_every, device=ctx.config.device,
    )  # fmt: skip
    config = with_quality(config, req.quality, keep={"steps"})
    config.validate()
    return config


def prepare(ctx: AppContext, req: Request) -> StylizeJob:
    """Check everything, then make the job's folder, copy the inputs into it and describe the job."""
    check(ctx, req)
    config = transfer_config(ctx, req, save_every=max(1, min(req.steps // SNAPSHOTS, LIVE_EVERY)))
    if not req.photo:
        raise ConfigError("upload a photo first")
    photo = ctx.workspace.upload(req.photo, "photo", "image")
    checked = sources.check_styles(ctx, req.styles)
    folder = ctx.workspace.new_job(TAB)
    content = ctx.workspace.stage(photo, folder, "photo")
    styles, banks = sources.stage_styles(ctx, checked, folder)
    return StylizeJob(
        content=content,
        output=folder / f"{Path(content.name).stem}-stylised.png",  # downloads named after the photo
        style=StyleSpec(tuple(styles), tuple(banks), checked.weights, preserve_color=req.preserve_color),
        config=config,
        features=ctx.config.features(banks=bool(banks)),  # a bank decides its own network
        init=req.init,
        plot=folder / "losses.png",
        snapshot_dir=folder / "snapshots",
    )


@dataclass
class _Progress:
    """Running totals of one job's events."""

    total: int
    before: str = ""  # the photo the job reads (the slider's left side)
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
            self.scale = f" · scale {ev.scale_index + 1}/{ev.n_scales} ({ev.size[1]}x{ev.size[0]})"
        elif isinstance(ev, SnapshotEvent):
            self.snapshot = ev.image

    def view(self) -> View:
        """The page update for the events so far (the loss curve at most every PLOT_EVERY seconds)."""
        label = f"step {self.step} / {self.total}{self.scale}"
        v = View(progress=timed_progress(self.step, self.total, label, self.started))
        if self.snapshot is not None:
            v.image, self.snapshot = (self.before, tensor_to_pil(self.snapshot)), None
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
    state = _Progress(total, before=str(job.content))
    for item in follow(lambda emit: run_stylize(job, emit, stop=ticket.stop), ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _finished(item, state, job, req)
            return
        for ev in item:
            state.add(ev)
        yield state.view()


def _finished(done: Finished, state: _Progress, job: StylizeJob, req: Request) -> View:
    """The last update: the result, its downloads and its history entry, or why there is none."""
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
        status=status_html(f"{text} Files in {job.output.parent.name}/", kind), image=(str(job.content), image),
        downloads=(image, side), losses=str(plot) if plot else (loss_curve(state.history) if steps else None),
        entries=(history.Entry(req, image, req.summary()),),
    )  # fmt: skip
    v.progress = progress_html(steps, steps if res.stop_reason != "stopped" else state.total, f"step {steps} · done")
    return v
