"""The Stylise tab's handlers without a browser: the page's values to a request (Advanced settings reaching
the run, bad values refused in one line), presets, examples, the visit's history run again, the batch of
photos, and the timed progress line every tab uses."""

from __future__ import annotations

import html
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fixtures.app import make_ctx, upload
from fixtures.images import make_image
from styleverse.app import batch, history, stylise
from styleverse.app.config import Limits
from styleverse.app.disk import sweep
from styleverse.app.jobs import Ticket
from styleverse.app.server import build_app
from styleverse.app.stylise_page import (
    INPUTS,
    job_of,
    preset_choices,
    preset_values,
    request_from,
    shower,
)
from styleverse.app.views import Pace, timed_progress
from styleverse.errors import ConfigError
from styleverse.samples import content_photo, sample_style
from styleverse.transfer.config import QUALITY, QUALITY_SECONDS, TransferConfig


def _values(ctx: Any, tmp_path: Path, **kw: Any) -> dict[str, Any]:
    """The page's raw values for a tiny run (as Gradio sends them unprocessed)."""
    photo = upload(ctx, make_image(tmp_path / "photo.png", (48, 36), 1))
    style = upload(ctx, make_image(tmp_path / "style.png", (40, 40), 2))
    v = dict.fromkeys(INPUTS)
    v |= {"photo": {"path": photo}, "universes": [], "images": [{"path": style}], "banks": None,
          "weights": {"data": [["image · style.png", 1.0]]}, "quality": "balanced", "size": 32, "steps": 3,
          "strength": 1.0, "color": "none", "content_weight": 1.0, "tv_weight": 0.01, "optimizer": "lbfgs",
          "init": "content", "seed": 0, "scales": "", "history": [], "picked": None, "batch": None}  # fmt: skip
    return v | kw


def test_advanced_settings_reach_the_run_and_its_sidecar(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    v = _values(ctx, tmp_path, content_weight="2.5", tv_weight=0, optimizer="adam", init="noise", seed=7,
                scales="24, 32", quality="draft")  # fmt: skip
    req = request_from(v)
    assert (req.content_weight, req.tv_weight, req.optimizer, req.init, req.seed, req.scales) == (
        2.5, 0.0, "adam", "noise", 7, (24, 32))  # fmt: skip
    last = list(stylise.run(ctx, req, Ticket()))[-1]
    assert last.downloads is not None, last.status
    config = json.loads(Path(last.downloads[1]).read_text())["settings"]["config"]
    assert (config["content_weight"], config["tv_weight"], config["optimizer"], config["init"], config["seed"]) == (
        2.5, 0.0, "adam", "noise", 7)  # fmt: skip
    assert config["sizes"] == [24, 32] and config["tol"] == QUALITY["draft"]["tol"]  # the preset's --quality level
    assert config["steps"] == 3  # the steps slider wins over the level's cap, as --steps does
    assert last.image is not None and Path(last.image[0]).name == "photo.png"  # before/after: the photo, the result


def test_defaults_of_the_advanced_settings_are_the_librarys() -> None:
    d = TransferConfig()
    req = stylise.Request(None, stylise.StyleChoice())
    assert (req.content_weight, req.tv_weight, req.optimizer, req.init, req.seed, req.scales) == (
        d.content_weight, d.tv_weight, d.optimizer, d.init, d.seed, d.scales)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": "x"}, "“Seed” must be a number, not 'x'"),
        ({"seed": 1.5}, "“Seed” must be a whole number"),
        ({"tv_weight": None}, "“Smoothing (TV weight)” must be a number"),
        ({"scales": "256 big"}, "“Scales (px, coarse to fine)”: '256 big' is not a list of sizes"),
        ({"scales": "8 32"}, "“Scales (px, coarse to fine)” must be between 16 and"),
        ({"optimizer": "sgd"}, "“Optimiser” must be one of lbfgs, adam"),
        ({"init": "fast:x"}, "“Start from” must be one of content, noise"),
        ({"content_weight": -1}, "“Content weight” must be a number >= 0"),
        ({"quality": "ultra"}, "“Preset” must be one of draft, balanced, best"),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_their_control(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    ctx = make_ctx(tmp_path)
    views = list(job_of(ctx, "run", _values(ctx, tmp_path, **change))(Ticket()))
    assert message in html.unescape(views[-1].status or "") and "sv-error" in (views[-1].status or "")
    assert [p.name for p in ctx.workspace.root.iterdir()] == [".uploads"]  # no job folder made


def test_presets_are_the_clis_quality_levels_with_a_size_and_their_time() -> None:
    assert preset_values("draft", 1024) == (256, QUALITY["draft"]["steps"])
    assert preset_values("balanced", 1024) == (TransferConfig().size, TransferConfig().steps)
    assert preset_values("best", 300) == (300, TransferConfig().steps)  # never past the server's --max-size
    labels = dict((v, k) for k, v in preset_choices())
    assert labels["draft"].startswith("quick preview (") and QUALITY_SECONDS["balanced"] in labels["balanced"]


def test_the_examples_are_the_demos_photo_and_drawn_styles_and_the_sweep_keeps_them(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    build_app(ctx)
    held = {p.name: p for f in ctx.holds.held() for p in f.iterdir()}  # Gradio's copies, held for the server
    assert sorted(held) == ["content.png", "halftone.png", "hatching.png", "poster.png"]
    with Image.open(held["content.png"]) as im:
        assert im.size == content_photo().size
    with Image.open(held["halftone.png"]) as im:
        assert im.tobytes() == sample_style("halftone").tobytes()
    mine = Path(upload(ctx, make_image(tmp_path / "p.png")))
    sweep(ctx.workspace, keep_hours=1e-9, max_disk_gb=1.0, held=ctx.holds.held())  # everything has expired
    assert not mine.exists() and all(p.is_file() for p in held.values())
    assert sorted(p.name for p in ctx.workspace.root.iterdir()) == [".uploads"]  # nothing outside the sweep


def test_the_history_keeps_each_result_and_runs_one_again_with_its_settings(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    v = _values(ctx, tmp_path, seed=3)
    show = shower([])
    outs = [show(view) for view in job_of(ctx, "run", v)(Ticket())]
    entries = outs[-1][6]
    assert len(entries) == 1 and entries[0].request.seed == 3 and "seed 3" in entries[0].summary
    assert outs[-1][7]["value"] == [(entries[0].image, f"1. {entries[0].summary}")]
    # the page's settings change; running the entry again uses the entry's own
    again = _values(ctx, tmp_path, seed=99, history=entries, picked=0)
    show = shower(list(entries), 0)
    outs = [show(view) for view in job_of(ctx, "again", again)(Ticket())]
    entries = outs[-1][6]
    assert [e.request.seed for e in entries] == [3, 3] and entries[0].image != entries[1].image
    assert [c for _, c in outs[-1][7]["value"]] == [f"2. {entries[0].summary}", f"1. {entries[1].summary}"]
    assert outs[-1][7]["selected_index"] == outs[-1][9] == 1  # the entry run again is still the one picked
    assert history.still_picked(None, 1) is None and history.still_picked(history.MAX_ENTRIES - 1, 1) is None
    with pytest.raises(ConfigError, match="click a result"):
        history.chosen(entries, None)
    with pytest.raises(ConfigError, match="no result in this visit yet"):
        history.chosen([], 0)
    assert len(history.add(entries * 40, entries[0])) == history.MAX_ENTRIES


def test_a_batch_of_photos_is_one_job_with_a_zip_and_a_history_entry_each(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    photos = [upload(ctx, make_image(tmp_path / f"p{i}.png", (40, 30), i)) for i in range(3)]
    v = _values(ctx, tmp_path, steps=2, batch=[{"path": p} for p in photos])
    views = list(job_of(ctx, "batch", v)(Ticket()))
    lines = [x.progress for x in views if x.progress and "photo " in x.progress]
    assert any("photo 2 / 3" in line and "elapsed" in line for line in lines), lines
    last = views[-1]
    assert "Done: 3 of 3 photos" in (last.status or ""), last.status
    assert last.archive is not None and len(last.entries) == 3
    with zipfile.ZipFile(last.archive) as z:
        assert sorted(z.namelist()) == [f"p{i}.png{x}" for i in range(3) for x in ("", ".json")]
        text = z.read("p0.png.json").decode()
        assert str(tmp_path) not in text and Image.open(z.open("p1.png")).size == (32, 24)
    assert [Path(e.request.photo).name for e in last.entries] == ["p0.png", "p1.png", "p2.png"]
    assert [Path(e.image).name for e in history.add([], *last.entries)] == ["p2.png", "p1.png", "p0.png"]
    assert all(Path(e.request.photo).is_relative_to(ctx.workspace.uploads) for e in last.entries)  # runnable again


def test_a_batch_is_refused_before_any_work_when_too_big_or_empty(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, limits=Limits(max_batch_photos=2))
    photos = [upload(ctx, make_image(tmp_path / f"p{i}.png", (40, 30), i)) for i in range(3)]
    too_many = list(job_of(ctx, "batch", _values(ctx, tmp_path, batch=[{"path": p} for p in photos]))(Ticket()))
    assert "3 photos; this server takes 2 in one batch" in (too_many[-1].status or "")
    empty = list(job_of(ctx, "batch", _values(ctx, tmp_path, batch=None))(Ticket()))
    assert "add the photos of the batch first" in (empty[-1].status or "")
    assert sorted(p.name for p in ctx.workspace.root.iterdir()) == [".uploads"]


def test_cancel_in_a_batch_keeps_and_zips_the_photos_done(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    photos = [upload(ctx, make_image(tmp_path / f"p{i}.png", (40, 30), i)) for i in range(3)]
    ticket, views = Ticket(), []
    req = stylise.Request(None, request_from(_values(ctx, tmp_path)).styles, size=32, steps=50)
    for view in batch.run(ctx, req, photos, ticket):
        views.append(view)
        if view.progress and "photo 2 / 3" in view.progress:
            ticket.cancel()
    last = views[-1]
    assert "Cancelled: 1 of 3 photos" in (last.status or ""), last.status
    with zipfile.ZipFile(last.archive or "") as z:
        assert sorted(z.namelist()) == ["p0.png", "p0.png.json"]


def test_every_progress_line_says_done_of_total_elapsed_and_left() -> None:
    line = timed_progress(3, 12, "step 3 / 12", started=100.0, now=106.0)
    assert 'value="3" max="12"' in line and "step 3 / 12 · 6 s elapsed · about 18 s left" in line
    assert "about" not in timed_progress(0, 12, "step 0 / 12", started=100.0, now=101.0)  # no pace yet
    assert "1 min 5 s elapsed" in timed_progress(1, 2, "x", started=0.0, now=65.0)
    assert "x · 5 s elapsed · about 40 s left" in timed_progress(1, 2, "x", started=0.0, now=5.0, left=40.0)
    assert "about" not in timed_progress(1, 2, "x", started=0.0, now=5.0, left=math.nan)  # no estimate yet


def test_a_job_in_stages_estimates_each_stage_at_its_own_pace() -> None:
    pace = Pace(started=0.0)
    assert "a: 1 / 4 · 10 s elapsed</span>" in pace.line(1, 4, "a: 1 / 4", "a", now=10.0)  # no pace yet
    assert "a: 2 / 4 · 14 s elapsed · about 8 s left" in pace.line(2, 4, "a: 2 / 4", "a", now=14.0)  # 4 s each
    assert "b: 1 / 10 · 20 s elapsed</span>" in pace.line(1, 10, "b: 1 / 10", "b", now=20.0)  # a new stage
    assert "b: 3 / 10 · 24 s elapsed · about 14 s left" in pace.line(3, 10, "b: 3 / 10", "b", now=24.0)  # 2 s each
