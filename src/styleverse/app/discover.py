"""The Universes tab's "Find the universes in a film": upload the clips of a film, get its universes proposed.

:func:`find` runs :func:`styleverse.frames.discover.discover`, the job ``styleverse frames discover`` runs,
on the uploaded clips in a job folder of the app's outputs (so :mod:`styleverse.app.disk` expires it): the
progress in seconds of film described, Cancel as Ctrl-C does (the shots described so far are kept, and
Resume continues at the next one). The page then shows the timeline, each universe's contact sheet and a
table of the universes (shots, screen time, nearest other universe and how far), and :func:`change`
renames, merges or drops universes with :func:`styleverse.frames.discover.edit`. The downloads are copies
without server paths: ``proposal.csv`` naming each film by its file name (keep it beside the films for
``frames harvest --segments``) and ``report.md``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from styleverse.app.context import AppContext
from styleverse.app.controls import (
    capped_slider,
    download,
    job_buttons,
    progress_and_status,
    run_and_cancel,
    shown,
    streamed,
)
from styleverse.app.files import public_copy
from styleverse.app.jobs import Finished, Ticket, error_line, follow
from styleverse.app.views import Pace, payload_paths, progress_html, status_html
from styleverse.errors import ConfigError, StyleverseError
from styleverse.frames.cluster import ClusterSettings
from styleverse.frames.discover import DiscoverConfig, discover, edit
from styleverse.frames.proposal import format_time, load
from styleverse.frames.segments import UNSURE
from styleverse.nn.features import FeatureSpec
from styleverse.progress import Progress

TAB = "discover"
DEFAULTS = DiscoverConfig()
# a setting -> its control's label: the page shows it, and an error naming the setting says it so
LABELS = {"universes": "Universes (0: chosen for you)", "size": "Detail (px)", "films": "Clips of the film"}
PIXELS = "colour and edge statistics only (fast)"
TABLE_HEADERS = ["universe", "shots", "screen time", "nearest", "distance to it"]
EDITS = ("rename", "merge", "drop")


@dataclass(frozen=True)
class Request:
    """The uploaded clips (paths in the uploads folder), the number of universes (0: chosen by silhouette),
    whether shots are described by colour and edge statistics alone (no network), and the size frames are
    described at."""

    films: tuple[str, ...]
    universes: int = 0
    pixels_only: bool = False
    size: int = DEFAULTS.size


@dataclass(frozen=True)
class Work:
    """One discover job of a page (kept in its session, on the server, for Resume and the edits): the films
    staged in its folder, the output folder and the settings."""

    films: tuple[Path, ...]
    out: Path
    config: DiscoverConfig
    features: FeatureSpec


@dataclass
class View:
    """What to change on the page; None leaves an element as it is. ``work``: the job to remember;
    ``paused``: show Resume (True) or hide it (False); ``labels``: the universes the edit pickers offer."""

    progress: str | None = None
    status: str | None = None
    timeline: str | None = None
    sheets: list[tuple[str, str]] | None = None
    table: list[list[Any]] | None = None
    csv: str | None = None
    report: str | None = None
    work: Work | None = None
    paused: bool | None = None
    labels: list[str] | None = None


def prepare(ctx: AppContext, req: Request) -> Work:
    """Check the clips and settings, make the job's folder and copy the clips into ``films/`` in it."""
    lim, most = ctx.config.limits, ClusterSettings().max_universes
    if not req.films:
        raise ConfigError("upload the clips of a film first")
    if not 0 <= req.universes <= most:
        raise ConfigError(f"universes must be between 0 and {most}", setting="universes")
    if not 16 <= req.size <= lim.max_video_side:
        raise ConfigError(f"size must be between 16 and {lim.max_video_side} pixels on this server", setting="size")
    checked = [ctx.workspace.upload(p, "clip", "video") for p in req.films]
    folder = ctx.workspace.new_job(TAB)
    (folder / "films").mkdir()
    staged = tuple(ctx.workspace.stage(p, folder / "films", "clip") for p in checked)
    pixel_weight = 1.0 if req.pixels_only else ClusterSettings().pixel_weight
    cluster = ClusterSettings(universes=req.universes or None, pixel_weight=pixel_weight)
    config = DiscoverConfig(size=req.size, cluster=cluster, device=ctx.config.device)
    return Work(staged, folder / "universes", config, ctx.config.features())


class _Clock:
    """The progress line: which film, seconds of it described, the time since the start and the time left at
    the pace of this film so far."""

    def __init__(self, films: int) -> None:
        self.films, self.film, self.name, self.pace = films, 0, "", Pace()

    def line(self, ev: Progress) -> str:
        if ev.stage == "films":
            self.film, self.name = ev.done, ev.item or ""
        if ev.stage == "sheets":
            return self.pace.line(1, 1, "drawing the timeline and contact sheets…", "sheets")
        if ev.stage != "describe":
            return self.pace.line(self.film, self.films, f"opening {self.name}…", ("open", self.film))
        total = ev.total or max(ev.done, 1)
        which = f" ({self.film + 1} of {self.films})" if self.films > 1 else ""
        return self.pace.line(ev.done, total, f"{self.name}{which}: {ev.done} / {total} s described", self.film)


def find(ctx: AppContext, req: Request, ticket: Ticket, work: Work | None = None) -> Iterator[View]:
    """The job as page updates: progress, then the proposal; with ``work``, that stopped job continued."""
    yield View(progress_html(0, 1, "checking the clips…"), status_html("Checking the clips…"), paused=False)
    try:
        work = work or prepare(ctx, req)
    except StyleverseError as e:
        yield View(progress_html(0, 1, "not started"), status_html(error_line(e, LABELS), "error"))
        return
    ctx.hold(ticket, work.out.parent)
    verb = "Continuing" if (work.out / ".discover").is_dir() else "Looking for"
    names = ", ".join(f.name for f in work.films)
    yield View(status=status_html(f"{verb} the universes of {names} in {work.out.parent.name}/ …"), work=work)
    clock = _Clock(len(work.films))

    def job(emit: Any) -> Any:
        return discover(work.films, work.out, work.config, work.features, emit, ticket.stop)

    for item in follow(job, ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _found(item, work.out)
            return
        last = [e for e in item if isinstance(e, Progress)]
        if last:
            yield View(progress=clock.line(last[-1]))


def _found(done: Finished, out: Path) -> View:
    if done.cancelled:
        text = "Cancelled. The shots described so far are kept: Resume continues from there."
        return View(progress_html(0, 1, "cancelled"), status_html(text), paused=True)
    if done.error is not None:
        return View(progress_html(0, 1, "failed"), status_html(done.error, "error"), paused=False)
    view = proposal_view(out)
    n = len([x for x in view.labels or [] if x != UNSURE])
    view.status = status_html(
        f"{n} universe{'' if n == 1 else 's'} proposed; name them (or merge, drop) on the left, then download "
        f"proposal.csv. Files in {out.parent.name}/",
        "done",
    )
    return view


def proposal_view(out: Path) -> View:
    """The proposal in ``out`` as the page shows it: timeline, contact sheets, table, downloads and the
    universes the edit pickers offer."""
    p, data = load(out), json.loads((out / "report.json").read_text(encoding="utf-8"))
    rows = [
        [u["label"], u["shots"], format_time(u["seconds"])[:-4], u["nearest"] or "-",
         "-" if u["separation"] is None else round(u["separation"], 2)]
        for u in data["universes"]
    ]  # fmt: skip
    unsure = sum(1 for x in p.labels if x == UNSURE)
    if unsure:
        rows.append([UNSURE, unsure, format_time(sum(data["unsure_seconds"].values()))[:-4], "-", "-"])
    labels = [u["label"] for u in data["universes"]] + [UNSURE] * bool(unsure)
    pngs = [(out / "sheets" / f"{n}.png", f"{n}: {r[1]} shots, {r[2]}") for n, r in zip(labels, rows, strict=True)]
    sheets = [(str(png), caption) for png, caption in pngs if png.is_file()]
    folder = out.parent
    report = public_copy(out / "report.md", folder)
    return View(progress_html(1, 1, "done"), None, str(out / "timeline.png"), sheets, rows,
                str(_public_csv(out, folder)), str(report), paused=False, labels=labels)  # fmt: skip


def _public_csv(out: Path, folder: Path) -> Path:
    """proposal.csv for the browser: each film named by its file name alone (the CSV names them relative to
    its folder, ``../films/NAME``: a download kept beside the films reads the same)."""
    rows = list(csv.reader(io.StringIO((out / "proposal.csv").read_text(encoding="utf-8"))))
    col = rows[0].index("video")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(rows[0])
    writer.writerows([*r[:col], Path(r[col]).name, *r[col + 1 :]] for r in rows[1:])
    return public_copy(out / "proposal.csv", folder, buf.getvalue())


def change(ctx: AppContext, action: str, work: Any, pick: str, name: str, into: str, ticket: Ticket) -> Iterator[View]:
    """Rename ``pick`` to ``name``, merge ``pick`` into ``into``, or drop ``pick`` (``action``), and show the
    proposal redrawn."""
    try:
        edits = _edits(action, work, pick.strip(), name.strip(), into.strip())
    except StyleverseError as e:
        yield View(status=status_html(error_line(e, LABELS), "error"))
        return
    yield View(progress_html(0, 1, f"{action}…"), status_html(f"Applying {action} {pick}…"))
    ctx.hold(ticket, work.out.parent)
    for item in follow(lambda emit: edit(work.out, *edits, on_event=emit), ticket, labels=LABELS):
        if isinstance(item, Finished):
            if item.error is not None or item.cancelled:
                yield View(progress_html(0, 1, "not changed"), status_html(item.error or "Cancelled.", "error"))
                return
            view = proposal_view(work.out)
            edits_done = "; ".join(load(work.out).edits)
            view.status = status_html(f"Changed ({edits_done}). proposal.csv and report.md follow.", "done")
            yield view
            return


def _edits(action: str, work: Any, pick: str, name: str, into: str) -> tuple[list[Any], list[Any], list[str]]:
    """(rename, merge, drop) of one edit as :func:`~styleverse.frames.discover.edit` takes them; a one-line
    error for what is missing."""
    if not isinstance(work, Work) or not (work.out / "proposal.csv").is_file():
        raise ConfigError("find the universes of a film first")
    if not pick:
        raise ConfigError("pick a universe first")
    if action == "rename":
        if not name:
            raise ConfigError(f"type the new name of {pick} first")
        return [(pick, name)], [], []
    if action == "merge":
        if not into:
            raise ConfigError(f"choose the universe to merge {pick} into")
        return [], [(into, pick)], []
    return [], [], [pick]


# --- the page ---------------------------------------------------------------------------------------------


def build(ctx: AppContext) -> None:
    """The section's elements and events (inside the Universes tab)."""
    lim, c = ctx.config.limits, ClusterSettings()
    network = f"feature network ({Path(ctx.config.backbone).name}) + colour and edge statistics"
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            films = gr.File(
                label=f"Clips of a film (up to {lim.max_video_mb:g} MB each)", file_count="multiple",
                file_types=["video"], height=150, elem_id="disc-films",
            )  # fmt: skip
            described = gr.Radio([network, PIXELS], value=network, label="Shots described by", elem_id="disc-network")
            with gr.Row():
                universes = gr.Slider(0, c.max_universes, value=0, step=1, label=LABELS["universes"],
                                      elem_id="disc-universes")  # fmt: skip
                size = capped_slider(32, min(512, lim.max_video_side), DEFAULTS.size, 16, LABELS["size"], "disc-size")
            with gr.Group():
                pick = gr.Dropdown([], label="Universe to change", elem_id="disc-pick")
                with gr.Row():
                    name = gr.Textbox(label="New name", max_lines=1, elem_id="disc-name", scale=2)
                    rename = gr.Button("Rename", elem_id="disc-rename", scale=1)
                with gr.Row():
                    into = gr.Dropdown([], label="Merge it into", elem_id="disc-into", scale=2)
                    merge = gr.Button("Merge", elem_id="disc-merge", scale=1)
                drop = gr.Button("Drop it from the proposal", elem_id="disc-drop")
        with gr.Column(scale=2):
            go, stop = run_and_cancel("Find the universes", "disc")
            resume = gr.Button("Resume", visible=False, elem_id="disc-resume")
            progress, status = progress_and_status("disc", "Upload the clips of a film, then Find the universes.")
            with gr.Row():
                csv_file = gr.DownloadButton("Download proposal.csv", visible=False, elem_id="disc-csv")
                report = gr.DownloadButton("Download report.md", visible=False, elem_id="disc-report")
            timeline = gr.Image(label="Timeline, coloured by universe", interactive=False, format="png",
                                elem_id="disc-timeline")  # fmt: skip
            table = gr.Dataframe(
                headers=TABLE_HEADERS, value=[], interactive=False, elem_id="disc-table",
                label="Universes proposed (distance: between centres, in units of a universe's spread; above 1, apart)",
            )  # fmt: skip
            sheets = gr.Gallery(label="Contact sheets (most typical shots first)", columns=1, height=560,
                                object_fit="contain", elem_id="disc-sheets")  # fmt: skip
            work = gr.State(None)  # the page's discover job, on the server only

    def find_fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
        films_v, described_v, universes_v, size_v = values[:4]
        req = Request(tuple(payload_paths(films_v)), int(universes_v or 0), described_v == PIXELS, int(size_v))
        yield from streamed(ctx, TAB, request, lambda ticket: find(ctx, req, ticket), _outputs)

    def resume_fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
        held = values[-1] if isinstance(values[-1], Work) else None
        if held is None:
            yield from streamed(ctx, TAB, request, lambda t: iter([View(status=status_html("Nothing to resume."))]),
                                _edited)  # fmt: skip
            return
        yield from streamed(ctx, TAB, request, lambda ticket: find(ctx, Request(()), ticket, held), _outputs)

    def editor(action: str) -> Any:
        def edit_fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
            pick_v, name_v, into_v, held = values[4:]
            texts = (str(pick_v or ""), str(name_v or ""), str(into_v or ""))
            yield from streamed(ctx, TAB, request, lambda ticket: change(ctx, action, held, *texts, ticket), _edited)

        return edit_fn

    inputs = [films, described, universes, size, pick, name, into, work]
    outputs = [progress, status, timeline, sheets, table, csv_file, report, work, resume, pick, into]
    runs = [
        (go, find_fn),
        (resume, resume_fn),
        *((b, editor(a)) for b, a in zip((rename, merge, drop), EDITS, strict=True)),
    ]
    job_buttons(ctx, TAB, runs, stop, status, inputs, outputs)


def _outputs(v: View, reset: bool) -> tuple[Any, ...]:
    """A :class:`View` as the section's outputs (the first view of a Find clears the last run's results)."""
    work = v.work if v.work is not None else (None if reset else gr.skip())
    button = gr.skip() if v.paused is None else gr.update(visible=v.paused)
    pickers = (gr.skip(), gr.skip())
    if v.labels is not None or reset:
        labels = v.labels or []
        first = labels[0] if labels else None
        merge_into = [x for x in labels if x != UNSURE]
        pickers = (gr.update(choices=labels, value=first), gr.update(choices=merge_into, value=None))
    return (
        *(shown(x, reset) for x in (v.progress, v.status, v.timeline)), shown(v.sheets, reset, []),
        shown(v.table, reset, []), download(v.csv, reset), download(v.report, reset), work, button, *pickers,
    )  # fmt: skip


def _edited(v: View, first: bool) -> tuple[Any, ...]:
    """An edit's views: nothing is cleared first (the proposal stays until it is redrawn)."""
    return _outputs(v, False)
