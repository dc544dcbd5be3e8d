"""The Stylise tab's second version in a real browser (Chromium driven by Playwright, the server and helpers
of ``test_browser``): a bank built earlier in this outputs folder shows as a card in the gallery and a click
picks it; an example fills the photo and the styles; a preset sets size and steps; the Run button and the
progress are in view together at 1366x768 and at 390 px wide; a run shows an elapsed/left progress line,
the before/after slider and an entry in the visit's history. Screenshots at both widths are kept (their
paths printed; ``docs/app-stylise-*.png`` are these)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from app.test_browser import _artifacts, _set_slider, app_url, pytestmark  # noqa: F401 (fixture and skip mark)
from fixtures.app import make_ctx, upload
from fixtures.images import make_image
from styleverse.app import universes
from styleverse.app.jobs import Ticket

WATCH_LINES = """() => {
  window.__lines = [];
  const box = document.querySelector('#stylise-progress');
  new MutationObserver(() => window.__lines.push(box.innerText)).observe(
    box, {subtree: true, childList: true, characterData: true});
}"""


def _bank_built_before(tmp_path: Path) -> str:
    """A universe built by the Universes tab's job in the server's outputs folder (as an earlier visit would
    have built it); its name as the page lists it."""
    ctx = make_ctx(tmp_path)  # the same outputs folder as the server's (tmp_path/out)
    paths = []
    for i, colour in enumerate([(230, 40, 40), (40, 40, 230), (240, 220, 30)]):
        Image.new("RGB", (40, 30), colour).save(tmp_path / f"flat{i}.png")
        paths.append(upload(ctx, tmp_path / f"flat{i}.png"))
    done = list(universes.make_bank(ctx, universes.Request(tuple(paths), size=32, name="primaries"), Ticket()))[-1]
    assert done.bank is not None, done.status
    return "primaries.style.safetensors"


def _together(page: Any, *elems: str) -> None:
    """Each element lies wholly inside the viewport (after scrolling the first into view)."""
    page.locator(f"#{elems[0]}").scroll_into_view_if_needed()
    view = page.viewport_size
    for elem in elems:
        box = page.locator(f"#{elem}").bounding_box()
        assert box is not None, elem
        bottom, right = box["y"] + box["height"], box["x"] + box["width"]
        inside = box["y"] >= 0 and bottom <= view["height"] and right <= view["width"]
        assert inside, f"#{elem} at {box} is not in the {view} viewport with #{elems[0]}"


def test_gallery_example_preset_run_before_after_and_history(app_url: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    bank = _bank_built_before(tmp_path)
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(app_url)
            status = page.locator("#stylise-status")

            # the gallery: the bank as a card (name and image count); a click picks it
            card = page.locator("#stylise-gallery").get_by_text("primaries · 3 images")
            expect(card).to_be_visible(timeout=60_000)
            card.click()
            expect(page.locator("#stylise-weights")).to_contain_text(bank, timeout=30_000)
            expect(page.locator("#stylise-universes")).to_contain_text(bank)

            # an example: the bundled photo and the three drawn styles
            page.locator("#stylise-examples").get_by_text("all three").click()
            expect(page.locator("#stylise-weights")).to_contain_text("poster.png", timeout=30_000)
            expect(page.locator("#stylise-photo img")).to_be_visible()

            # a preset sets size and steps (the CLI's draft level: 50 steps), then a tiny run
            page.locator("#stylise-preset").get_by_text("quick preview").click()
            expect(page.locator("#stylise-size input[type=number]")).to_have_value("256", timeout=30_000)
            expect(page.locator("#stylise-steps input[type=number]")).to_have_value("50")
            _set_slider(page, "stylise-size", 64)
            _set_slider(page, "stylise-steps", 6)

            _together(page, "stylise-run", "stylise-progress", "stylise-status")
            page.evaluate(WATCH_LINES)
            page.click("#stylise-run")
            expect(status).to_contain_text("Done:", timeout=180_000)
            lines = page.evaluate("window.__lines")
            assert any("elapsed" in t and "left" in t and "step " in t for t in lines), lines

            # before/after: the slider holds the photo and the result; the history has the run with its settings
            expect(page.locator("#stylise-result img")).to_have_count(2, timeout=30_000)
            entry = page.locator("#stylise-history").get_by_text("1. content.png")
            expect(entry).to_be_visible(timeout=30_000)
            expect(entry).to_contain_text("64 px · 6 steps · quick preview")
            page.locator("#stylise-result").scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, 0)")
            wide = _artifacts() / "app-stylise-1366.png"
            page.screenshot(path=str(wide))

            # a phone: Run and progress in view together
            page.set_viewport_size({"width": 390, "height": 844})
            _together(page, "stylise-run", "stylise-progress")
            narrow = _artifacts() / "app-stylise-390.png"
            page.screenshot(path=str(narrow))
            page.set_viewport_size({"width": 1366, "height": 768})
            page.locator("#stylise-advanced").click()  # the whole page, Advanced open, for a look
            page.screenshot(path=str(_artifacts() / "app-stylise-full.png"), full_page=True)
            print(f"\nscreenshots: {wide} {narrow} ({time.monotonic() - t0:.1f} s in the browser)")
        finally:
            browser.close()


def test_a_batch_gives_two_results_and_run_again_repeats_one(app_url: str, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    photos = [str(make_image(tmp_path / f"p{i}.png", (80, 60), 10 + i)) for i in range(2)]
    style = make_image(tmp_path / "style.png", (48, 48), 2)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
            page.goto(app_url)
            status, shelf = page.locator("#stylise-status"), page.locator("#stylise-history")
            page.locator("#stylise-styles input[type=file]").set_input_files(str(style))
            expect(page.locator("#stylise-weights")).to_contain_text("style.png", timeout=30_000)
            _set_slider(page, "stylise-size", 64)
            _set_slider(page, "stylise-steps", 3)

            # a batch of two photos in one job: two results, in the zip and in the history
            page.locator("#stylise-batch").click()
            page.locator("#stylise-batch-photos input[type=file]").set_input_files(photos)
            expect(page.locator("#stylise-batch-photos tbody tr")).to_have_count(2, timeout=30_000)
            page.click("#stylise-batch-run")
            expect(status).to_contain_text("Done: 2 of 2 photos stylised", timeout=180_000)
            with page.expect_download() as got:
                page.locator("#stylise-batch-download").click()
            got.value.save_as(tmp_path / "batch.zip")
            with zipfile.ZipFile(tmp_path / "batch.zip") as z:
                assert sorted(z.namelist()) == ["p0.png", "p0.png.json", "p1.png", "p1.png.json"]
                for name in ("p0.png", "p1.png"):
                    with Image.open(io.BytesIO(z.read(name))) as im:
                        assert im.size == (64, 48)
            first = shelf.get_by_text("1. p0.png")
            expect(first).to_contain_text("64 px · 3 steps", timeout=30_000)
            expect(shelf.get_by_text("2. p1.png")).to_contain_text("64 px · 3 steps")

            # Run again on the first: the same settings, a new result (a new file beside the old ones)
            summary = first.inner_text().removeprefix("1. ")
            first.click()
            page.click("#stylise-rerun")
            expect(status).to_contain_text("Done: 3 steps", timeout=180_000)
            again = shelf.get_by_text("3. p0.png")
            expect(again).to_have_text(f"3. {summary}", timeout=30_000)
            sources = shelf.locator("img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
            assert len(sources) == 3 and len(set(sources)) == 3, sources  # three results, none the same file
            expect(page.locator("#stylise-result img")).to_have_count(2)
            picked = shelf.locator(".thumbnail-item.selected")
            expect(picked).to_have_count(1)
            expect(picked).to_contain_text("1. p0.png")  # still the entry run again, not the one now in its place
            shot = _artifacts() / "app-stylise-batch-again.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
        finally:
            browser.close()
