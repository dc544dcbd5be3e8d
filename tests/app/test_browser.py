"""The app in a real browser: Chromium from the system packages, driven by Playwright.

``styleverse app`` is started on 127.0.0.1 (a free port) with a random backbone; the test uploads a file that
is not an image (one clear error line, the app keeps serving), then a photo and a style image, runs a 5-step
stylise at 64 px, watches the progress bar move, downloads the PNG and checks it, and keeps a screenshot
(its path is printed; ``STYLEVERSE_TEST_ARTIFACTS`` chooses the folder). Playwright never downloads a
browser here: it launches ``/usr/bin/chromium`` (Debian's ``chromium`` package; ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from fixtures.app import free_port
from fixtures.images import make_image

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install the system browser with `apt-get install -y chromium` (CI does)",
)
# Records every value the progress bar shows, so a fast run cannot slip between two polls.
WATCH_PROGRESS = """() => {
  window.__progress = [];
  const box = document.querySelector('#stylise-progress');
  const note = () => { const p = box.querySelector('progress'); if (p) window.__progress.push([+p.value, +p.max]); };
  new MutationObserver(note).observe(box, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """``styleverse app`` in a process of its own; its URL once it answers."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "STYLEVERSE_NATIVE_BF16": "0"}
    cmd = [sys.executable, "-m", "styleverse.cli.main", "app", "--port", str(port), "--outputs", str(tmp_path / "out"),
           "--backbone", "random", "--jobs", "1", "--device", "cpu"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _artifacts() -> Path:
    folder = Path(os.environ.get("STYLEVERSE_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "styleverse-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _set_slider(page: object, elem: str, value: int) -> None:
    box = page.locator(f"#{elem} input[type=number]")  # type: ignore[attr-defined]
    box.fill(str(value))
    box.press("Enter")


def test_stylise_in_the_browser(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    t0 = time.monotonic()
    photo = make_image(tmp_path / "photo.png", (80, 60), 1)
    style = make_image(tmp_path / "style.png", (48, 48), 2)
    fake = tmp_path / "holiday.png"
    fake.write_text("this is a text file with an image's name")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
            page.goto(app_url)
            status = page.locator("#stylise-status")
            photo_input = page.locator("#stylise-photo input[type=file]")

            # a file that is not an image: one clear line in the page, and the app keeps serving
            photo_input.set_input_files(str(fake))
            expect(status).to_contain_text("holiday.png: not an image; upload a PNG", timeout=30_000)
            assert status.locator(".sv-error").count() == 1
            assert httpx.get(app_url, timeout=10).status_code == 200

            photo_input.set_input_files(str(photo))
            expect(status).to_contain_text("Photo ready", timeout=30_000)
            page.locator("#stylise-styles input[type=file]").set_input_files(str(style))
            expect(page.locator("#stylise-weights")).to_contain_text("style.png", timeout=30_000)
            _set_slider(page, "stylise-size", 64)
            _set_slider(page, "stylise-steps", 5)
            page.evaluate(WATCH_PROGRESS)
            page.click("#stylise-run")
            download_button = page.locator("#stylise-download")
            expect(download_button).to_be_visible(timeout=90_000)
            expect(status).to_contain_text("Done: 5 steps")

            seen = page.evaluate("window.__progress")
            assert any(0 < v < m for v, m in seen), f"the progress bar never showed a step in between: {seen}"
            assert seen[-1][0] == seen[-1][1] == 5, seen

            with page.expect_download() as got:
                download_button.click()
            saved = tmp_path / "downloaded.png"
            got.value.save_as(saved)
            with Image.open(saved) as im:
                assert (im.format, im.size) == ("PNG", (64, 48))
            shot = _artifacts() / "app-stylise.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nbrowser test screenshot: {shot} ({time.monotonic() - t0:.1f} s in the browser)")
        finally:
            browser.close()
