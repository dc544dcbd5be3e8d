"""Plots are made without pyplot, so jobs in threads (the web app) can draw at the same time."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from styleverse.plots import plot_losses


def test_threads_plot_at_once_and_each_file_is_its_own(tmp_path: Path) -> None:
    def draw(i: int) -> Path:
        history = [{"step": s, "style": (i + 1) * 10.0 / s, "content": 1.0 + s / 100} for s in range(1, 200)]
        return plot_losses(history, tmp_path / f"p{i}.png", title=f"run {i}")

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(draw, range(16)))
    pixels = [np.asarray(Image.open(p).convert("L")) for p in paths]
    assert all(px.shape[0] > 300 and px.shape[1] > 500 for px in pixels)
    assert len({px.tobytes() for px in pixels}) == 16  # distinct curves and titles: no figure was shared


def test_importing_plots_does_not_load_pyplot() -> None:
    code = "import sys, styleverse.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
