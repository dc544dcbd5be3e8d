"""The Universes tab: upload a set of style images, see how well they hang together, and build a bank; or
find the universes in a film (:mod:`styleverse.app.discover`).

*Analyse* runs :func:`styleverse.styles.job.run_analyze`: each image's distance from the set's average style
ranked, outliers, groups, and the 2-D map (the pictures of :mod:`styleverse.styles.report`), plus a bank of
the suggested coherent subset. *Build bank* runs :func:`styleverse.styles.job.run_bank` on the whole set:
the universe's averaged style as one file, for the Stylise and Real time tabs or ``stylize --style-bank``.
Both run in the job queue with progress and can be cancelled (the job's ``stop``, as Ctrl-C sets it).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr

from styleverse.app.context import BUILT, AppContext
from styleverse.app.controls import capped_slider, download, job_buttons, progress_and_status, shown, streamed
from styleverse.app.files import public_json, safe_name
from styleverse.app.jobs import Finished, Ticket, error_line, follow
from styleverse.app.views import Pace, payload_paths, progress_html, status_html
from styleverse.errors import ConfigError, StyleverseError
from styleverse.progress import Progress
from styleverse.styles.analysis import Analysis, AnalysisSettings
from styleverse.styles.job import AnalyzeJob, BankJob, StyleInputs, run_analyze, run_bank

TAB = "universes"
DEFAULTS = AnalysisSettings()
BANK_SUFFIX = ".style.safetensors"
TABLE_HEADERS = ["rank", "image", "distance", "outlier", "group", "in subset"]
# a setting -> its control's label: the page shows it, and an error naming the setting says it so
LABELS = {"size": "Analysis size (px)", "mad_k": "Outlier strictness (higher: fewer)"}


@dataclass(frozen=True)
class Request:
    """The uploaded set (paths in the uploads folder), the size images are seen at, the outlier rule's k and
    the name the bank file gets."""

    images: tuple[str, ...]
    size: int = DEFAULTS.size or 256
    mad_k: float = DEFAULTS.mad_k
    name: str = "universe"


@dataclass
class View:
    """What to change on the page; None leaves an element as it is."""

    progress: str | None = None
    status: str | None = None
    pictures: tuple[str, str, str] | None = None  # distances, map, contact sheet
    table: list[list[Any]] | None = None
    report: str | None = None
    bank: str | None = None


def prepare(ctx: AppContext, req: Request, kind: str) -> tuple[Path, StyleInputs]:
    """Check the set and the settings, make the job's folder and copy the images into it."""
    lim = ctx.config.limits
    if not req.images:
        raise ConfigError("upload a set of style images first")
    if len(req.images) > lim.max_style_images:
        raise ConfigError(f"{len(req.images)} images; this server takes {lim.max_style_images} at a time")
    if not 16 <= req.size <= lim.max_size:
        raise ConfigError(f"size must be between 16 and {lim.max_size} pixels on this server")
    checked = [ctx.workspace.upload(p, "style image", "image") for p in req.images]
    folder = ctx.workspace.new_job(kind)
    (folder / "styles").mkdir()
    staged = [ctx.workspace.stage(p, folder / "styles", "style") for p in checked]
    source = StyleInputs(
        tuple(str(p) for p in staged), size=req.size, features=ctx.config.features(), device=ctx.config.device
    )
    return folder, source


def bank_name(req: Request) -> str:
    """The bank's file name from the name typed in (made safe)."""
    return safe_name(req.name or "universe", "universe") + BANK_SUFFIX


def table(a: Analysis) -> list[list[Any]]:
    """One row per image, most typical first."""
    rows = sorted(a.images, key=lambda r: r.rank)
    return [
        [r.rank, Path(r.path).name, round(r.distance, 4), _flag(r), r.group, "yes" if r.in_subset else "no"]
        for r in rows
    ]  # fmt: skip


def _flag(r: Any) -> str:
    """The outlier column: by density (apart from every group), by distance from the average, or both."""
    flags = ["apart from the rest"] * r.outlier + ["far from the average"] * r.far_from_mean
    return ", ".join(flags)


def _progress(ev: Progress, pace: Pace) -> str:
    """``seeing the images: 3 / 11 · 4 s elapsed · about 10 s left`` (the time left at this stage's pace)."""
    label = {"grams": "seeing the images", "distances": "distances", "subset": "subset and map"}.get(ev.stage, ev.stage)
    total = ev.total or max(ev.done, 1)
    return pace.line(ev.done, total, f"{label}: {ev.done} / {total}", ev.stage)


def _checked(ctx: AppContext, req: Request, kind: str) -> Generator[View, None, tuple[Path, StyleInputs] | None]:
    """:func:`prepare`, shown on the page; None (after a view that says why) when the images do not pass."""
    yield View(progress_html(0, 1, "checking the images…"), status_html("Checking the images…"))
    try:
        return prepare(ctx, req, kind)
    except StyleverseError as e:
        yield View(progress_html(0, 1, "not started"), status_html(error_line(e, LABELS), "error"))
        return None


def analyse(ctx: AppContext, req: Request, ticket: Ticket) -> Iterator[View]:
    """The analysis as page updates: progress per image, then the pictures, the ranked table and downloads."""
    prepared = yield from _checked(ctx, req, "analysis")
    if prepared is None:
        return
    folder, source = prepared
    ctx.hold(ticket, folder)
    subset = folder / ("subset-" + bank_name(req))
    job = AnalyzeJob(source, folder / "report", AnalysisSettings(mad_k=req.mad_k))
    yield View(status=status_html(f"Analysing {_images(len(source.inputs))} in {folder.name}/ …"))
    pace = Pace()
    for item in follow(lambda emit: _analyse_and_bank(job, subset, emit, ticket), ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _analysed(item, folder, subset)
            return
        last = [e for e in item if isinstance(e, Progress)]
        if last:
            yield View(progress=_progress(last[-1], pace))


def _analyse_and_bank(job: AnalyzeJob, subset: Path, emit: Any, ticket: Ticket) -> Analysis:
    """The analysis, then a bank of its suggested subset built as the Build bank button builds one (with the
    AdaIN statistics an analysis does not gather), so every tab that takes a bank takes it."""
    analysis = run_analyze(job, emit, ticket.stop)
    if analysis.subset:
        run_bank(BankJob(replace(job.source, inputs=tuple(analysis.subset)), subset), emit, ticket.stop)
    return analysis


def _images(n: int) -> str:
    return "1 image" if n == 1 else f"{n} images"


def _analysed(done: Finished, folder: Path, subset: Path) -> View:
    if done.cancelled:
        return View(progress_html(0, 1, "cancelled"), status_html("Cancelled."))
    if done.error is not None:
        return View(progress_html(0, 1, "failed"), status_html(done.error, "error"))
    a: Analysis = done.result
    report = folder / "report"
    n_out, n_far = len(a.outliers), sum(r.far_from_mean for r in a.images)
    text = (
        f"{_images(len(a.images))}, spread {a.spread:.4g}; {n_out} apart from the rest, {n_far} far from the "
        f"average (strictness {a.settings.get('mad_k', '')}); suggested subset of {len(a.subset)} "
        f"(bank of it below). Files in {folder.name}/"
    )
    pics = (str(report / "distances.png"), str(report / "map.png"), str(report / "typical.png"))
    bank = str(subset) if subset.is_file() else None
    public = str(public_json(report / "report.json", folder))  # the download names no server path
    return View(progress_html(1, 1, "done"), status_html(text, "done"), pics, table(a), public, bank)


def make_bank(ctx: AppContext, req: Request, ticket: Ticket) -> Iterator[View]:
    """The bank build as page updates: progress per image, then the bank file to download."""
    prepared = yield from _checked(ctx, req, "bank")
    if prepared is None:
        return
    folder, source = prepared
    ctx.hold(ticket, folder)
    job, pace = BankJob(source, folder / bank_name(req)), Pace()
    for item in follow(lambda emit: run_bank(job, emit, ticket.stop), ticket, labels=LABELS):
        if isinstance(item, Finished):
            if item.cancelled or item.error is not None:
                text, kind = ("Cancelled.", "info") if item.cancelled else (str(item.error), "error")
                yield View(progress_html(0, 1, "stopped"), status_html(text, kind))
                return
            _, path = item.result
            yield View(
                progress_html(1, 1, "done"),
                status_html(
                    f"Bank of {_images(len(source.inputs))}: {path.name}, now a universe in every tab "
                    f"({BUILT}{path.parent.name}/…).",
                    "done",
                ),
                bank=str(path),
            )
            return
        last = [e for e in item if isinstance(e, Progress)]
        if last:
            yield View(progress=_progress(last[-1], pace))


# --- the page ---------------------------------------------------------------------------------------------


def build(ctx: AppContext) -> gr.DownloadButton:
    """The tab's elements and events (inside a ``gr.Tab``): a set of style images analysed or made a bank, and
    the universes of a film found (:mod:`styleverse.app.discover`). Returns the bank download, which changes
    when a bank was built (the other tabs' universe lists are read again then)."""
    from styleverse.app import discover

    with gr.Tabs():
        with gr.Tab("A universe's images", id="uv-set", elem_id="tab-uv-set"):
            bank = _build_set(ctx)
        with gr.Tab("Find the universes in a film", id="uv-film", elem_id="tab-uv-film"):
            discover.build(ctx)
    return bank


def _build_set(ctx: AppContext) -> gr.DownloadButton:
    """Analyse and Build bank on a set of style images (see :func:`build`)."""
    lim = ctx.config.limits
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            images = gr.File(
                label=f"Style images of one universe (up to {lim.max_style_images})", file_count="multiple",
                file_types=["image"], height=200, elem_id="uv-images",
            )  # fmt: skip
            with gr.Row():
                size = capped_slider(64, min(1024, lim.max_size), DEFAULTS.size or 256, 16, LABELS["size"], "uv-size")
                mad_k = gr.Slider(1, 6, value=DEFAULTS.mad_k, step=0.5, label=LABELS["mad_k"], elem_id="uv-k")
            name = gr.Textbox("universe", label="Universe name (bank file name)", max_lines=1, elem_id="uv-name")
        with gr.Column(scale=2):  # the buttons, progress and downloads above the pictures: all in view
            with gr.Row():
                go = gr.Button("Analyse", variant="primary", elem_id="uv-analyse")
                bank_btn = gr.Button("Build bank", elem_id="uv-bank")
                stop = gr.Button("Cancel", variant="stop", elem_id="uv-cancel")
            progress, status = progress_and_status(
                "uv", "Upload the style images of one universe, then Analyse or Build bank."
            )
            with gr.Row():
                report = gr.DownloadButton("Download report (JSON)", visible=False, elem_id="uv-report")
                bank = gr.DownloadButton("Download bank", visible=False, elem_id="uv-bank-file")
            distances = gr.Image(label="Ranked distances (red: outlier)", interactive=False, format="png", height=240)
            with gr.Row():
                the_map = gr.Image(label="Map", interactive=False, format="png", height=320)
                sheet = gr.Image(label="Most to least typical", interactive=False, format="png", height=320)
            ranked = gr.Dataframe(
                headers=TABLE_HEADERS, value=[], interactive=False, label="Ranked", elem_id="uv-table"
            )
    outputs = [progress, status, distances, the_map, sheet, ranked, report, bank]

    def runner(fn: Any) -> Any:
        def go_fn(images_v: Any, size_v: Any, k_v: Any, name_v: Any, request: gr.Request) -> Iterator[tuple[Any, ...]]:
            req = Request(tuple(payload_paths(images_v)), int(size_v), float(k_v), str(name_v or "universe"))
            yield from streamed(ctx, TAB, request, lambda ticket: fn(ctx, req, ticket), _outputs)

        return go_fn

    runs = [(go, runner(analyse)), (bank_btn, runner(make_bank))]
    job_buttons(ctx, TAB, runs, stop, status, [images, size, mad_k, name], outputs)
    return bank


def _outputs(v: View, reset: bool) -> tuple[Any, ...]:
    """A :class:`View` as the tab's outputs (the first view of a run clears the last run's results)."""
    pics = v.pictures or (None, None, None)
    return (
        *(shown(x, reset) for x in (v.progress, v.status, *pics)), shown(v.table, reset, []), download(v.report, reset),
        download(v.bank, reset),
    )  # fmt: skip
