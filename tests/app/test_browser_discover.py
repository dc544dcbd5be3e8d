"""The Universes tab's film discovery and the Video tab's clip facts in a real browser (Chromium driven by
Playwright, the app started by :mod:`test_browser`'s fixture with ``--backbone random``).

Universes: a synthetic film cut from three universes (the discover tests' film) is uploaded, its universes
found on the random network at 64 px, the timeline and the table appear, u1 is renamed and the downloaded
proposal.csv carries the new name. Video: the uploaded clip plays in the page, its facts and an estimate
appear at once, and the latest stylised frame is shown while the job runs. Screenshots of both tabs at
1366×768 and 390 px wide are kept (``STYLEVERSE_TEST_ARTIFACTS`` chooses the folder; docs/ holds copies).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from app.test_browser import CHROMIUM, _artifacts, _no_server_paths, _set_slider, app_url, pytestmark
from fixtures.clips import gradient_clip
from fixtures.films import cut_film
from fixtures.images import noise_image

__all__ = ["app_url", "pytestmark"]  # the app fixture and the skip without Chromium, from test_browser


def _keep(responses: list[tuple[str, str]]) -> Any:
    def keep(r: Any) -> None:
        try:
            if any(k in (r.headers.get("content-type") or "") for k in ("text", "json")):
                responses.append((r.url, r.text()))
        except Exception:  # a stream still open when the page moves on
            pass

    return keep


def _screens(page: Any, name: str) -> list[Path]:
    """The page at 1366×768 and 390×844 (what is in view, as a person sees it), then the whole page at 1366."""
    shots = []
    for w, h in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": w, "height": h})
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(700)
        shots.append(_artifacts() / f"{name}-{w}.png")
        page.screenshot(path=str(shots[-1]))
    page.set_viewport_size({"width": 1366, "height": 768})
    shots.append(_artifacts() / f"{name}-whole.png")  # everything below the fold too, to look at
    page.screenshot(path=str(shots[-1]), full_page=True)
    print(f"\nscreenshots: {', '.join(map(str, shots))}")
    return shots


def test_find_a_films_universes_rename_one_and_download_the_proposal(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    film, _ = cut_film(tmp_path / "film.mp4", seed=0, shots=24)
    responses: list[tuple[str, str]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
            page.on("response", _keep(responses))
            page.goto(app_url)
            page.get_by_role("tab", name="Universes").click()
            page.get_by_role("tab", name="Find the universes in a film").click()
            page.locator("#disc-films input[type=file]").set_input_files(str(film))
            expect(page.locator("#disc-films")).to_contain_text("film.mp4", timeout=30_000)
            _set_slider(page, "disc-size", 64)
            page.click("#disc-run")
            status = page.locator("#disc-status")
            expect(page.locator("#disc-progress")).to_contain_text("s described", timeout=180_000)
            expect(status).to_contain_text("universes proposed", timeout=600_000)
            expect(page.locator("#disc-timeline img")).to_be_visible()
            table = page.locator("#disc-table")
            expect(table).to_contain_text("u1")
            expect(table).to_contain_text("unsure")
            _screens(page, "app-universes")

            page.fill("#disc-name textarea, #disc-name input", "miles")  # u1 is the universe picked first
            page.click("#disc-rename")
            expect(status).to_contain_text("rename u1=miles", timeout=120_000)
            expect(table).to_contain_text("miles")
            with page.expect_download() as got:
                page.click("#disc-csv")
            saved = tmp_path / "proposal.csv"
            got.value.save_as(saved)
            assert got.value.suggested_filename == "proposal.csv"
            with saved.open() as f:
                rows = list(csv.DictReader(f))
            assert "miles" in {r["label"] for r in rows} and "u1" not in {r["label"] for r in rows}
            assert {r["video"] for r in rows} == {"film.mp4"}  # the film's name, never where the server keeps it
            page.wait_for_timeout(500)
        finally:
            browser.close()
    _no_server_paths(responses, tmp_path / "out")


def test_video_plays_the_clip_with_its_facts_and_shows_the_latest_frame(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    clip = gradient_clip(tmp_path / "clip.mp4", frames=4, size=(96, 64))
    style = noise_image(tmp_path / "style.png", 1)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(app_url)
            page.get_by_role("tab", name="Video").click()
            page.locator("#video-clip input[type=file]").set_input_files(str(clip))
            expect(page.locator("#video-clip video")).to_have_count(1, timeout=30_000)  # it plays before any run
            facts = page.locator("#video-facts")
            expect(facts).to_contain_text("clip.mp4: 4 frames at 10 fps, 96×64 px, 0.4 s.", timeout=30_000)
            _set_slider(page, "video-size", 64)
            _set_slider(page, "video-frames", 3)
            expect(facts).to_contain_text("the first 3 frames at 64×42 px, about", timeout=30_000)
            page.locator("#video-styles input[type=file]").set_input_files(str(style))
            _set_slider(page, "video-steps-first", 3)
            _set_slider(page, "video-steps", 40)
            page.click("#video-run")
            expect(page.locator("#video-latest img")).to_be_visible(timeout=180_000)  # frame 1, while 2 runs
            expect(page.locator("#video-progress")).to_contain_text(" / 3")
            expect(page.locator("#video-progress")).to_contain_text(" elapsed")  # the line every tab's job shows
            _screens(page, "app-video")
            expect(page.locator("#video-status")).to_contain_text("Done: 3 frames", timeout=300_000)
            expect(page.locator("#video-latest")).to_be_hidden()
        finally:
            browser.close()
