"""Each tab of the app, timed from the click to its first progress line and to its result.

The tabs' handlers are driven directly, not through a browser: each row runs the generator a button click
starts (:func:`styleverse.app.stylise.run`, :func:`styleverse.app.video.run`,
:func:`styleverse.app.universes.make_bank`, the Real time tab's :meth:`~styleverse.app.realtime.Realtime.render`)
in one app (random VGG19, a random default-width fast network in ``--models``; the server's threads per job),
one job at a time. What the browser adds (the queue, sending the updates) is not in these numbers.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_app_presets.py [--max-size 512] [--tabs stylise video ...]

Rows: Stylise with each preset (the bundled photo and the three drawn styles of ``styleverse demo``, the
tab's "all three" example; the preset's size capped at ``--max-size`` as the server's ``--max-size`` caps
it), Video on a ``--frames``-frame gradient clip at ``--video-size`` with the tab's default steps and passes,
Universes building a bank of the three drawn styles, Real time applying the fast network to the photo
(first apply: the model loads; the tab shows no progress line). "first progress s" is the time to the first
update whose line says the time elapsed (the job's own progress), "result s" to the last update. Each row
carries the load average when it started: on a shared machine the numbers move with it. The preset labels
(``PRESET_SECONDS``) are the idle machine's times at 512 px.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_fast import make_model
from fixtures.clips import gradient_clip
from styleverse.app import realtime, stylise, universes, video
from styleverse.app.config import AppConfig
from styleverse.app.context import AppContext
from styleverse.app.jobs import Ticket, configure_threads
from styleverse.app.sources import StyleChoice
from styleverse.app.stylise_page import preset_values
from styleverse.fast.model import save_model
from styleverse.transfer.config import QUALITY
from styleverse.transfer.demo import write_samples

TABS = ("stylise", "video", "universes", "realtime")


def _upload(ctx: AppContext, src: Path) -> str:
    """``src`` copied where Gradio puts an upload."""
    folder = Path(tempfile.mkdtemp(dir=ctx.workspace.uploads))
    return str(shutil.copy(src, folder / src.name))


def timed(views: Iterable[Any]) -> tuple[float | None, float, str]:
    """Seconds to the first update with a timed progress line and to the last; the last status's text."""
    t0, first, last = time.monotonic(), None, None
    for v in views:
        if first is None and " elapsed" in (getattr(v, "progress", None) or ""):
            first = time.monotonic() - t0
        last = v
    status = getattr(last, "status", None) or ""
    return first, time.monotonic() - t0, status.split(">")[-2].split("<")[0] if ">" in status else status


def rows(ctx: AppContext, args: argparse.Namespace) -> Iterable[list[str]]:
    """One row per timed run: tab, run, size, result, first progress s, result s."""
    content, styles = write_samples(ctx.workspace.root / "samples")
    choice = lambda: StyleChoice(image_uploads=tuple(_upload(ctx, s) for s in styles))  # noqa: E731
    if "stylise" in args.tabs:
        for q in args.presets:
            size, steps = preset_values(q, args.max_size)
            req = stylise.Request(_upload(ctx, content), choice(), size=size, steps=steps, quality=q)
            cells = _cells(stylise.run(ctx, req, Ticket()))
            yield ["Stylise", stylise.PRESETS[q][0], f"{size} px, {steps} steps", *cells]
    if "video" in args.tabs:
        clip = _upload(ctx, gradient_clip(ctx.workspace.root / "clip.mp4", args.frames, (96, 64)))
        req_v = video.Request(clip, choice(), size=args.video_size, max_frames=args.frames)
        run = f"{args.frames} frames, tab defaults"
        yield ["Video", run, f"{args.video_size} px", *_cells(video.run(ctx, req_v, Ticket()))]
    if "universes" in args.tabs:
        req_u = universes.Request(tuple(_upload(ctx, s) for s in styles), name="bench")
        yield ["Universes", "build a bank", f"{req_u.size} px", *_cells(universes.make_bank(ctx, req_u, Ticket()))]
    if "realtime" in args.tabs:
        rt, photo = realtime.Realtime(ctx), _upload(ctx, content)
        req_r = realtime.Request("fast.safetensors", None, photo, size=args.rt_size)
        for run in ("first apply", "again"):
            t0 = time.monotonic()
            _, status = rt.render(req_r)
            yield ["Real time", run, f"{args.rt_size} px", _short(status), "-", f"{time.monotonic() - t0:.2f}"]


def _cells(views: Iterable[Any]) -> list[str]:
    first, took, status = timed(views)
    return [_short(status), "-" if first is None else f"{first:.2f}", f"{took:.2f}"]


def _short(status: str) -> str:
    """A status line's first clause (``Done: 50 steps in 9.1 s``), at most 40 characters."""
    return status.split(". ")[0].split(" (")[0].split(", now")[0][:40]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tabs", nargs="+", choices=TABS, default=list(TABS), help="tabs to time (default: all)")
    p.add_argument("--presets", nargs="+", choices=tuple(QUALITY), default=list(QUALITY),
                   help="Stylise presets to time (default: all three)")  # fmt: skip
    p.add_argument("--max-size", type=int, default=512, help="the cap on a preset's size, as the server's "
                   "--max-size caps it (default 512: the presets' own sizes)")  # fmt: skip
    p.add_argument("--video-size", type=int, default=128, help="Video frame size in px (default 128)")
    p.add_argument("--frames", type=int, default=3, help="Video clip frames (default 3)")
    p.add_argument("--rt-size", type=int, default=512, help="Real time photo size in px (default 512)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        models.mkdir()
        save_model(make_model(), models / "fast.safetensors")
        cfg = AppConfig(outputs=Path(tmp) / "out", models=models, backbone="random", device="cpu")
        ctx = AppContext.create(cfg)
        configure_threads(cfg.threads_per_job())
        table = Table(title=f"The app's tabs, handlers driven directly, random VGG19, {os.cpu_count()} CPUs, "
                      f"{cfg.threads_per_job()} threads per job")  # fmt: skip
        for col in ("tab", "run", "size", "result", "first progress s", "result s", "load before"):
            table.add_column(col)
        load = os.getloadavg()[0]
        for row in rows(ctx, args):
            row = [*row, f"{load:.1f}"]
            print(" | ".join(row), flush=True)  # each row at once: a long run stopped early keeps the rest
            table.add_row(*row)
            load = os.getloadavg()[0]
        Console(width=160).print(table)


if __name__ == "__main__":
    main()
