"""Stylise a folder of photos into a folder: one :class:`~styleverse.transfer.job.StylizeJob` per image,
each with its own sidecar, shared by the processes of a ``torchrun`` launch or run by one as a plain batch.

``FOLDER -o OUT/`` writes ``OUT/NAME.png`` and ``OUT/NAME.png.json`` for every image ``NAME.ext`` of the
folder (sorted by name). The images are dealt to processes by pixel count
(:func:`styleverse.distributed.deal`), each stylised exactly as ``stylize IMAGE -o OUT/NAME.png`` would.
Rank 0 holds the output folder's lock, so a second launch on the same folder is refused. Interrupted (Ctrl-C,
a kill), the same command skips every image whose result and sidecar are written with the same settings,
continues an image whose state was saved, and does the rest.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from styleverse.cancel import Stop, never
from styleverse.distributed import deal, on_main, process_group
from styleverse.errors import ConfigError, InputError
from styleverse.io.images import header_size, list_images
from styleverse.io.lock import output_lock
from styleverse.io.state import state_path
from styleverse.progress import Progress
from styleverse.transfer.job import StylizeJob, output_paths, run_stylize


@dataclass
class BatchOutcome:
    """What this process did: results written, results found finished before (skipped), of the images
    dealt to it; ``interrupted`` when it stopped with work left (the state kept)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    total: int = 0
    interrupted: bool = False


def batch_jobs(job: StylizeJob) -> list[StylizeJob]:
    """One job per image of the folder ``job.content``, writing ``job.output / NAME.png`` (plot and
    snapshot folder are per-image settings a batch does not take)."""
    if job.plot is not None or job.snapshot_dir is not None or job.config.save_every:
        raise ConfigError("a folder of photos takes no plot or snapshots", setting=("plot", "snapshot_dir"))
    images = list_images([job.content])
    if not images:
        raise InputError(f"{job.content}: no images to stylise")
    out = Path(job.output)
    return [replace(job, content=p, output=out / f"{p.stem}.png") for p in images]


def finished(job: StylizeJob) -> bool:
    """True when the result and its sidecar are there and the sidecar says these settings made it."""
    paths = output_paths(job)
    try:
        side = json.loads(paths["sidecar"].read_text())
    except (OSError, ValueError):
        return False
    same = json.loads(json.dumps(job.settings(), default=str))
    return paths["image"].is_file() and isinstance(side, dict) and side.get("settings") == same


def run_batch(job: StylizeJob, callback: Callable[[Any], None] | None = None, stop: Stop = never) -> BatchOutcome:
    """Stylise every image of the folder ``job.content`` into the folder ``job.output`` (see the module
    doc); ``callback`` gets rank 0's :class:`~styleverse.progress.Progress` (images of its share) and each
    image's optimiser events. ``overwrite`` redoes finished results."""
    jobs = batch_jobs(job)
    with process_group(job.config.device) as (ctx, _), contextlib.ExitStack() as held:

        def claim() -> None:
            Path(job.output).mkdir(parents=True, exist_ok=True)
            held.enter_context(output_lock(job.output, folder=True))

        on_main(claim, ctx)
        sizes = [header_size(j.content) or (1, 1) for j in jobs]
        mine = [jobs[i] for i in deal([w * h for w, h in sizes], ctx.world_size)[ctx.rank]]
        emit = callback if ctx.is_main and callback else (lambda ev: None)
        outcome = BatchOutcome(total=len(mine))
        for n, one in enumerate(mine):
            emit(Progress("stylise", n, len(mine), str(one.content)))
            if not job.overwrite and finished(one):
                outcome.skipped.append(one.output)
                continue
            one = replace(one, resume=not job.overwrite and state_path(one.output).is_file())
            if run_stylize(one, emit, stop).interrupted or stop():  # a front end's Cancel starts no next image
                outcome.interrupted = True
                return outcome
            outcome.written.append(one.output)
        emit(Progress("stylise", len(mine), len(mine)))
    return outcome
