"""A batch of photos in one Stylise job: the same styles and settings for each, one zip to download.

The photos are checked like the single photo, copied into the job's ``photos/`` folder, and stylised by the
library's folder batch (:func:`styleverse.transfer.batch.run_batch`: each photo a
:class:`~styleverse.transfer.job.StylizeJob` of its own with its sidecar, in ``results/``). The page sees
photo and step progress in one line, each result as it is written (before/after), each result joins the
visit's history, and at the end ``stylised.zip`` holds every result with its sidecar (server paths taken out).
Cancel stops within the current photo; the results written by then are zipped and offered.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from styleverse.app import history, sources
from styleverse.app.context import AppContext
from styleverse.app.files import public_json
from styleverse.app.jobs import Finished, Ticket, error_line, follow
from styleverse.app.stylise import LABELS, Request, View, check, transfer_config
from styleverse.app.views import progress_html, status_html, timed_progress
from styleverse.errors import ConfigError, StyleverseError
from styleverse.io.images import atomic_path
from styleverse.progress import Progress
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.batch import BatchOutcome, batch_jobs, run_batch
from styleverse.transfer.config import StepEvent
from styleverse.transfer.job import StylizeJob

TAB = "stylise"  # the Stylise tab's Cancel stops a batch too
ARCHIVE = "stylised.zip"


def prepare(ctx: AppContext, req: Request, photos: Sequence[str]) -> tuple[StylizeJob, dict[Path, str]]:
    """Check everything (each photo as the single photo is checked, their number within the server's limit),
    then make the job's folder with the photos in ``photos/`` and describe the folder job; with it, each
    copied photo's upload (what a history entry runs again)."""
    check(ctx, req)
    config = transfer_config(ctx, req, save_every=0)  # a batch keeps no snapshots
    limit = ctx.config.limits.max_batch_photos
    if not photos:
        raise ConfigError("add the photos of the batch first")
    if len(photos) > limit:
        raise ConfigError(f"{len(photos)} photos; this server takes {limit} in one batch")
    checked_photos = [ctx.workspace.upload(p, "photo", "image") for p in photos]
    checked = sources.check_styles(ctx, req.styles)
    folder = ctx.workspace.new_job("batch")
    (folder / "photos").mkdir()
    pairs = zip(checked_photos, photos, strict=True)
    origin = {ctx.workspace.stage(p, folder / "photos", "photo"): up for p, up in pairs}
    styles, banks = sources.stage_styles(ctx, checked, folder)
    return StylizeJob(
        content=folder / "photos",
        output=folder / "results",
        style=StyleSpec(tuple(styles), tuple(banks), checked.weights, preserve_color=req.preserve_color),
        config=config,
        features=ctx.config.features(banks=bool(banks)),
        init=req.init,
    ), origin


@dataclass
class _Progress:
    """Photos done, the current photo's step, and the results written so far (newest last)."""

    jobs: list[StylizeJob]  # one per photo, in the batch's order
    steps: int  # of one photo (every scale)
    done: int = 0
    step: int = 0
    written: list[StylizeJob] = field(default_factory=list)
    fresh: bool = False  # a result was written since the last view
    started: float = field(default_factory=time.monotonic)

    def add(self, ev: Any) -> None:
        """Take in one event: a photo begun (those before it are finished) or an optimiser step."""
        if isinstance(ev, Progress) and ev.stage == "stylise":
            for one in self.jobs[self.done : ev.done]:
                if one.output.is_file():
                    self.written.append(one)
                    self.fresh = True
            self.done, self.step = max(self.done, ev.done), 0
        elif isinstance(ev, StepEvent):
            self.step, self.steps = ev.step, ev.total_steps

    def view(self) -> View:
        """The progress line (photos, the current photo's step, time so far and left) and the newest result."""
        n = len(self.jobs)
        units = self.done + (self.step / self.steps if self.steps else 0.0)
        label = f"photo {min(self.done + 1, n)} / {n} · step {self.step} / {self.steps}"
        v = View(progress=timed_progress(units, n, label, self.started))
        if self.fresh and self.written:
            v.image, self.fresh = (str(self.written[-1].content), str(self.written[-1].output)), False
        return v


def run(ctx: AppContext, req: Request, photos: Sequence[str], ticket: Ticket) -> Iterator[View]:
    """The whole batch as a stream of page updates (see the module doc); ``req.photo`` is not used."""
    yield View(progress=progress_html(0, 1, "checking the photos…"), status=status_html("Checking the photos…"),
               hide_downloads=True)  # fmt: skip
    try:
        job, origin = prepare(ctx, req, photos)
        ctx.hold(ticket, job.output.parent)
    except StyleverseError as e:
        yield View(progress=progress_html(0, 1, "not started"), status=status_html(error_line(e, LABELS), "error"))
        return
    state = _Progress(batch_jobs(job), job.config.steps * len(job.config.sizes))
    yield View(progress=progress_html(0, len(state.jobs), "building the feature network…"),
               status=status_html(f"Running {len(state.jobs)} photos in {job.output.parent.name}/ …"))  # fmt: skip
    for item in follow(lambda emit: run_batch(job, emit, stop=ticket.stop), ticket, labels=LABELS):
        if isinstance(item, Finished):
            yield _finished(item, state, job, replace(req, photo=None), origin)
            return
        for ev in item:
            state.add(ev)
        yield state.view()


def _finished(done: Finished, state: _Progress, job: StylizeJob, req: Request, origin: dict[Path, str]) -> View:
    """The last update: the zip of every result written (also after a Cancel) and their history entries."""
    n = len(state.jobs)
    if isinstance(done.result, BatchOutcome):
        state.add(Progress("stylise", n if not done.result.interrupted else state.done, n))
    if done.error is not None:
        return View(progress=progress_html(state.done, n, "failed"), status=status_html(done.error, "error"))
    if not state.written:
        return View(progress=progress_html(state.done, n, "cancelled"), status=status_html("Cancelled."))
    archive = zip_results(state.written, job.output.parent)
    stopped = done.cancelled or (isinstance(done.result, BatchOutcome) and done.result.interrupted)
    k = len(state.written)
    text = f"{'Cancelled' if stopped else 'Done'}: {k} of {n} photos stylised; the zip holds them with their settings."
    again = [replace(req, photo=origin.get(j.content, str(j.content))) for j in state.written]
    entries = tuple(history.Entry(r, str(j.output), r.summary()) for r, j in zip(again, state.written, strict=True))
    last = state.written[-1]
    return View(
        progress=progress_html(k, n, f"{k} / {n} photos · done"),
        status=status_html(f"{text} Files in {job.output.parent.name}/", "info" if stopped else "done"),
        image=(str(last.content), str(last.output)), entries=entries, archive=str(archive),
    )  # fmt: skip


def zip_results(written: Sequence[StylizeJob], folder: Path) -> Path:
    """``folder/stylised.zip``: each result PNG and its sidecar (with server paths taken out), written
    atomically."""
    out = folder / ARCHIVE
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for one in written:
            z.write(one.output, one.output.name)
            side = one.output.with_name(one.output.name + ".json")
            if side.is_file():
                z.write(public_json(side, folder), side.name)
    return out
