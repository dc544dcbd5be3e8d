"""The Real time tab's webcam in Chromium: stylised frames per second as the page shows them.

For each ``--variants`` transform network (``WxB[s]`` as in bench_fast.py; random weights, which cost what
trained ones cost), ``--sizes`` and ``--jobs``, the app is started in this process (``serve``; torch threads
per frame: the CPUs over the jobs the server runs at once), Chromium plays a ``--camera``-sized .y4m pan as
its fake camera, and the page streams it at the tab's rate (a frame every 50 ms at most). After ``--warmup``
seconds from the first stylised frame, the pictures the result shows over ``--seconds`` are counted (frames/s
in the page) and the status line's own numbers are read (frames/s over its sliding window, the model's ms per
frame). Each row carries the machine's load average: on a shared machine the numbers move with it.
``--shots DIR`` also writes screenshots of the tab with the webcam running (the first row's), at 1366x768
and 390x844: ``DIR/app-webcam-1366.png``, ``DIR/app-webcam-390.png``.

    python benchmarks/bench_webcam.py                    # the default 32x5 network at 256 px
    python benchmarks/bench_webcam.py --sizes 256 512 --variants 32x5 16x3s --jobs auto 2
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_fast import make_model, table
from fixtures.app import free_port
from fixtures.webcam import camera_args, camera_clip, shown, start_webcam, stop_webcam
from styleverse.app.config import AppConfig
from styleverse.app.server import serve
from styleverse.fast.model import save_model

CHROMIUM = "/usr/bin/chromium"
STATUS = re.compile(r"Webcam: ([\d.]+) frames/s · model (\d+) ms per frame · (\d+)x(\d+) px")


def measure(page: Any, warmup: float, seconds: float) -> tuple[float, str]:
    """Frames/s the result shows over ``seconds`` after ``warmup``, and the status line at the end."""
    page.wait_for_function("window.__shown.length >= 1", timeout=600_000)
    page.wait_for_timeout(warmup * 1000)
    start = float(page.evaluate("performance.now()"))
    page.wait_for_timeout(seconds * 1000)
    end = float(page.evaluate("performance.now()"))
    frames = [t for t, _ in shown(page) if start <= t < end]
    return len(frames) / ((end - start) / 1000), str(page.locator("#rt-status").inner_text())


def screenshots(page: Any, folder: Path) -> None:
    """The tab at 1366x768 as it is, then at 390x844 scrolled to the source (the camera, its result below)."""
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "app-webcam-1366.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(1500)
    page.locator("#rt-source").evaluate("e => e.scrollIntoView()")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(folder / "app-webcam-390.png"))


def row(variant: str, size: int, jobs: int | None, args: argparse.Namespace, shots: Path | None) -> list[str]:
    """One measurement: a fresh app with the network in its --models, a fresh browser."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "models").mkdir()
        save_model(make_model(variant), root / "models" / f"net-{variant}.safetensors")
        clip = camera_clip(root / "clip.y4m", size=tuple(args.camera))  # type: ignore[arg-type]
        cfg = AppConfig(port=free_port(), outputs=root / "out", models=root / "models", backbone="random",
                        device="cpu", jobs=jobs)  # fmt: skip
        demo = serve(cfg, block=False)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=camera_args(clip))
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(f"http://127.0.0.1:{cfg.port}/")
                page.get_by_role("tab", name="Real time").click()
                box = page.locator("#rt-size input[type=number]")
                box.fill(str(size))
                box.press("Enter")
                start_webcam(page)
                fps, status = measure(page, args.warmup, args.seconds)
                if shots is not None:
                    screenshots(page, shots)
                stop_webcam(page)
                found = STATUS.search(status)
                page.wait_for_timeout(2 * int(found.group(2) if found else 0) + 1000)  # the frame in the model ends
                browser.close()
        finally:
            demo.close()
    window_fps, model_ms, w, h = found.groups() if found else ("?", "?", "?", "?")
    load = f"{os.getloadavg()[0]:.1f}"
    return [variant, f"{w}x{h}", str(cfg.threads_per_job()), f"{fps:.1f}", window_fps, model_ms, load]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--sizes", type=int, nargs="+", default=[256], help="longest side of the stylised frames, px (default: 256)")
    add("--variants", nargs="+", default=["32x5"], help="transform networks, WxB[s] (default: 32x5, fast train's)")
    add(
        "--jobs",
        nargs="+",
        default=["auto"],
        help="the app's --jobs: auto (its default) or a number; the threads per frame follow (default: auto)",
    )
    add(
        "--camera",
        type=int,
        nargs=2,
        default=[640, 480],
        metavar=("W", "H"),
        help="the fake camera's frame size (default: 640 480)",
    )
    add("--warmup", type=float, default=5.0, help="seconds after the first stylised frame before counting (default: 5)")
    add("--seconds", type=float, default=20.0, help="seconds the shown frames are counted over (default: 20)")
    add("--shots", type=Path, default=None, help="folder for screenshots of the first row's page (default: none)")
    args = ap.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    rows, shots = [], args.shots
    for variant in args.variants:
        for size in args.sizes:
            for jobs in args.jobs:
                t0 = time.monotonic()
                rows.append(row(variant, size, None if jobs == "auto" else int(jobs), args, shots))
                shots = None
                print(f"{variant} at {size} px, --jobs {jobs}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    header = ["network", "frame px", "torch threads", "frames/s (page)", "frames/s (status)", "model ms", "load avg"]
    Console().print(table(f"webcam in Chromium, {os.cpu_count()} CPUs", header, rows))


if __name__ == "__main__":
    main()
