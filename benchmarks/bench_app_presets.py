"""The Stylise tab's presets, timed as the app runs them: the bundled photo with the three drawn styles of
``styleverse demo`` (the tab's "all three" example), random VGG19, through :func:`styleverse.app.stylise.run`
(the same job glue a Run click uses), one job at a time with the server's threads per job.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_app_presets.py [--presets draft balanced best] [--repeat 1]

Prints per preset the size, the steps cap, the steps run, why it stopped, seconds from the click to the
first progress line with a step and to the result, and the load average when it started. The preset labels
(``PRESET_SECONDS``) are the idle machine's times; on a loaded machine this table shows longer ones.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from styleverse.app import stylise
from styleverse.app.config import AppConfig
from styleverse.app.context import AppContext
from styleverse.app.jobs import Ticket, configure_threads
from styleverse.app.sources import StyleChoice
from styleverse.app.stylise_page import preset_values
from styleverse.transfer.config import QUALITY
from styleverse.transfer.demo import write_samples


def _upload(ctx: AppContext, src: Path) -> str:
    """``src`` copied where Gradio puts an upload."""
    folder = Path(tempfile.mkdtemp(dir=ctx.workspace.uploads))
    return str(shutil.copy(src, folder / src.name))


def one(ctx: AppContext, quality: str) -> list[object]:
    """Run one preset as the page would and return its table row."""
    content, styles = write_samples(ctx.workspace.root / "samples")
    size, steps = preset_values(quality, ctx.config.limits.max_size)
    choice = StyleChoice(image_uploads=tuple(_upload(ctx, s) for s in styles))
    req = stylise.Request(_upload(ctx, content), choice, size=size, steps=steps, quality=quality)
    t0, first, last = time.monotonic(), None, None
    for v in stylise.run(ctx, req, Ticket()):
        if first is None and v.progress and "step " in v.progress and "step 0" not in v.progress:
            first = time.monotonic() - t0
        last = v
    took = time.monotonic() - t0
    status = (last.status or "") if last else ""
    done = status.split("Done: ")[-1].split(". Files")[0] if "Done:" in status else status
    return [stylise.PRESETS[quality][0], size, steps, done, f"{first or 0:.1f}", f"{took:.1f}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", choices=tuple(QUALITY), default=list(QUALITY),
                   help="presets to time (default: all three)")  # fmt: skip
    p.add_argument("--repeat", type=int, default=1, help="runs of each preset (default 1)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext.create(AppConfig(outputs=Path(tmp) / "out", backbone="random", device="cpu"))
        configure_threads(ctx.config.threads_per_job())
        table = Table(title=f"Stylise presets, random VGG19, {os.cpu_count()} CPUs, "
                      f"{ctx.config.threads_per_job()} threads per job")  # fmt: skip
        for col in ("preset", "size", "steps cap", "result", "first step s", "total s", "load before"):
            table.add_column(col)
        load = os.getloadavg()[0]
        for q in args.presets:
            for _ in range(args.repeat):
                row = [*map(str, one(ctx, q)), f"{load:.1f}"]
                print(" | ".join(row), flush=True)  # each row at once: a long run stopped early keeps the rest
                table.add_row(*row)
                load = os.getloadavg()[0]
        Console().print(table)


if __name__ == "__main__":
    main()
