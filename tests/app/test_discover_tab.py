"""The Universes tab's "Find the universes in a film" without a browser: a synthetic film cut from three
universes (the discover tests' film) run through the tab's handler on the server's random network; the
page's timeline, contact sheets, table and downloads; renaming, merging and dropping; Cancel and Resume;
refusals in one line and no server path in anything shown."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.app import make_ctx, timed_lines, upload
from fixtures.films import cut_film
from styleverse.app import discover
from styleverse.app.config import Limits
from styleverse.app.jobs import Ticket
from styleverse.frames.proposal import load


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_film(tmp_path_factory.mktemp("film") / "film.mp4", seed=0)[0]


@pytest.fixture(scope="module")
def found(film: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[discover.View]]:
    """One Find on the film: the app and the views it streamed."""
    tmp = tmp_path_factory.mktemp("app")
    ctx = make_ctx(tmp)
    req = discover.Request((upload(ctx, film),), size=64)
    return ctx, list(discover.find(ctx, req, Ticket()))


def _bar(html: str) -> tuple[float, float]:
    m = re.search(r'value="([\d.]+)" max="([\d.]+)"', html)
    assert m, html
    return float(m.group(1)), float(m.group(2))


def _csv(path: str | Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


def test_find_streams_progress_and_shows_the_proposal(found: tuple[Any, list[discover.View]]) -> None:
    ctx, views = found
    bars = [v.progress for v in views if v.progress and "described" in v.progress]
    assert len({_bar(b) for b in bars}) >= 2, "the progress bar never moved"
    lines = timed_lines(v.progress for v in views)  # opening, describing, drawing: each with the time elapsed
    assert any(m["label"].endswith("s described") and m["left"] for m in lines), "no estimate of the time left"
    last = views[-1]
    assert "3 universes proposed" in (last.status or ""), last.status
    assert last.timeline is not None and Path(last.timeline).name == "timeline.png"
    assert [row[0] for row in last.table or []] == ["u1", "u2", "u3", "unsure"]
    assert all(isinstance(row[1], int) and row[1] >= 3 for row in last.table or [])
    assert [Path(p).name for p, _ in last.sheets or []] == ["u1.png", "u2.png", "u3.png", "unsure.png"]
    assert last.labels == ["u1", "u2", "u3", "unsure"] and isinstance(views[1].work, discover.Work)
    work = views[1].work
    assert work.out.parent.parent == ctx.workspace.root  # a job folder of the outputs: disk expiry applies
    rows = _csv(last.csv or "")
    assert {r["video"] for r in rows} == {"film.mp4"} and {r["label"] for r in rows} == {"u1", "u2", "u3", "unsure"}
    assert (work.out / "proposal.csv").read_text().count("../films/film.mp4") == len(rows)
    report = Path(last.report or "").read_text()
    assert "| u1 |" in report and str(ctx.workspace.root) not in report and "/tmp" not in report
    assert "Files in discover-" in (last.status or "") and str(ctx.workspace.root) not in (last.status or "")


def test_rename_merge_and_drop_redraw_the_proposal(found: tuple[Any, list[discover.View]], tmp_path: Path) -> None:
    ctx, views = found
    work: discover.Work = views[1].work
    copy = discover.Work(work.films, tmp_path / "universes", work.config, work.features)
    shutil.copytree(work.out, copy.out)
    renamed = list(discover.change(ctx, "rename", copy, "u1", " miles ", "", Ticket()))[-1]
    assert [r[0] for r in renamed.table or []] == ["miles", "u2", "u3", "unsure"], renamed.status
    assert {r["label"] for r in _csv(renamed.csv or "")} == {"miles", "u2", "u3", "unsure"}
    assert "rename u1=miles" in (renamed.status or "") and renamed.labels == ["miles", "u2", "u3", "unsure"]
    merged = list(discover.change(ctx, "merge", copy, "u3", "", "u2", Ticket()))[-1]
    assert sorted(r[0] for r in merged.table or []) == ["miles", "u2", "unsure"]  # by screen time
    dropped = list(discover.change(ctx, "drop", copy, "unsure", "", "", Ticket()))[-1]
    assert {r["label"] for r in _csv(dropped.csv or "")} == {"miles", "u2"}
    assert sorted(Path(p).name for p, _ in dropped.sheets or []) == ["miles.png", "u2.png"]
    assert load(copy.out).edits == ["rename u1=miles", "merge u2=u3", "drop unsure"]


@pytest.mark.parametrize(
    ("action", "pick", "name", "into", "message"),
    [
        ("rename", "u1", "u2", "", "&#x27;u2&#x27; is already a universe"),
        ("rename", "u1", "a/b", "", "cannot be a folder name"),
        ("rename", "u1", "", "", "type the new name of u1 first"),
        ("merge", "u1", "", "", "choose the universe to merge u1 into"),
        ("drop", "", "", "", "pick a universe first"),
    ],
)
def test_a_refused_edit_says_why_in_one_line_and_changes_nothing(
    found: tuple[Any, list[discover.View]], action: str, pick: str, name: str, into: str, message: str
) -> None:
    ctx, views = found
    work = views[1].work
    before = (work.out / "proposal.csv").read_bytes()
    last = list(discover.change(ctx, action, work, pick, name, into, Ticket()))[-1]
    assert message in (last.status or "") and "sv-error" in (last.status or ""), last.status
    assert last.table is None and (work.out / "proposal.csv").read_bytes() == before


def test_edits_before_any_proposal_are_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    last = list(discover.change(ctx, "drop", None, "u1", "", "", Ticket()))[-1]
    assert "find the universes of a film first" in (last.status or "")


def test_cancel_keeps_the_shots_described_and_resume_continues(film: Path, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    req = discover.Request((upload(ctx, film),), pixels_only=True, size=64)
    ticket, views = Ticket(), []
    for v in discover.find(ctx, req, ticket):
        views.append(v)
        if v.progress and "described" in v.progress and _bar(v.progress)[0] >= 8:
            ticket.cancel()
    assert "Cancelled" in (views[-1].status or "") and views[-1].paused is True, views[-1].status
    work = next(v.work for v in views if v.work is not None)
    assert not (work.out / "proposal.csv").exists() and list((work.out / ".discover").glob("*/chunk-*"))
    resumed = list(discover.find(ctx, discover.Request(()), Ticket(), work))
    assert any("Continuing" in (v.status or "") for v in resumed)
    described = [_bar(v.progress)[0] for v in resumed if v.progress and "described" in v.progress]
    assert described and described[0] >= 4, described  # it went on from the last shot saved, not from 0 s
    assert "universes proposed" in (resumed[-1].status or "") and resumed[-1].table, resumed[-1].status


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"films": ()}, "upload the clips of a film first"),
        ({"universes": 99}, "“Universes (0: chosen for you)” must be between 0 and 8"),
        ({"size": 8}, "“Detail (px)” must be between 16 and 1024"),
    ],
)
def test_settings_are_checked_before_any_folder_is_made(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    ctx = make_ctx(tmp_path)
    req = discover.Request(**{"films": ("x.mp4",), **change})
    last = list(discover.find(ctx, req, Ticket()))[-1]
    assert message in (last.status or ""), last.status
    assert [p.name for p in ctx.workspace.root.iterdir()] == [".uploads"]


def test_a_file_that_is_not_a_film_and_one_over_the_limit_are_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, Limits(max_video_mb=0.001))
    (tmp_path / "notes.txt").write_text("a shopping list, not a film\n" * 10)
    fake = upload(ctx, tmp_path / "notes.txt", "holiday.mp4")
    last = list(discover.find(ctx, discover.Request((fake,), size=64), Ticket()))[-1]
    assert "holiday.mp4: not a video" in (last.status or "") and str(tmp_path) not in (last.status or ""), last.status
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 5000)
    last = list(discover.find(ctx, discover.Request((upload(ctx, big),)), Ticket()))[-1]
    assert "big.mp4: 0.0 MB is more than the 0.001 MB" in (last.status or ""), last.status
