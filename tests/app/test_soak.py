"""The app's memory stays flat over many jobs (issue 27: 1.2 -> 5.6 GB over 132 tiny stylise jobs): 100 tiny
stylise jobs through the Stylise tab's job glue, each in its own worker thread as the server runs them, on
the tiny random VGG; the resident memory after the last is compared with that after the first ten.
``STYLEVERSE_SOAK_JOBS`` sets how many (default 100)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from fixtures.app import make_ctx, upload
from fixtures.images import make_image
from fixtures.networks import WIDTH
from styleverse.app import stylise
from styleverse.app.config import AppConfig
from styleverse.app.jobs import Ticket
from styleverse.app.sources import StyleChoice
from styleverse.nn.features import FeatureSpec

JOBS = int(os.environ.get("STYLEVERSE_SOAK_JOBS", "100"))
GROWTH_MB = 40  # allowed growth from job 10 to the last (allocator noise; the leak was ~35 MB per job)


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
def test_memory_stays_flat_over_many_stylise_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AppConfig, "features", lambda self, banks=False: FeatureSpec("random", width=WIDTH))
    ctx = make_ctx(tmp_path)
    photo, style = make_image(tmp_path / "p.png", (40, 30), 1), make_image(tmp_path / "s.png", (32, 32), 2)
    seen = []
    for i in range(JOBS):
        req = stylise.Request(upload(ctx, photo), StyleChoice(image_uploads=(upload(ctx, style),)), size=32, steps=2)
        last = list(stylise.run(ctx, req, Ticket()))[-1]
        assert last.downloads is not None, last.status
        if i + 1 == min(10, JOBS) or i + 1 == JOBS:
            gc.collect()
            seen.append(_rss_mb())
    assert seen[-1] - seen[0] < GROWTH_MB, (
        f"resident memory {seen[0]:.0f} MB after 10 jobs, {seen[-1]:.0f} MB after {JOBS}"
    )
