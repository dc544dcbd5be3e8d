"""The app in a real browser: Chromium from the system packages, driven by Playwright.

``styleverse app`` is started on 127.0.0.1 (a free port) with a random backbone; the test uploads a file that
is not an image (one clear error line, the app keeps serving), then a photo and a style image, runs a 5-step
stylise at 64 px, watches the progress bar move, downloads the PNG and checks it, and keeps a screenshot
(its path is printed; ``STYLEVERSE_TEST_ARTIFACTS`` chooses the folder). Playwright never downloads a
browser here: it launches ``/usr/bin/chromium`` (Debian's ``chromium`` package; ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from fixtures.app import free_port
from fixtures.clips import gradient_clip
from fixtures.images import make_image, noise_image
from fixtures.networks import adain_model

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
    """``styleverse app`` in a process of its own (an AdaIN model on its random VGG in ``--models``); its URL
    once it answers."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "STYLEVERSE_NATIVE_BF16": "0"}
    (tmp_path / "models").mkdir()
    adain_model(tmp_path / "models" / "dec.safetensors", encoder_width=1.0)
    cmd = [sys.executable, "-m", "styleverse.cli.main", "app", "--port", str(port), "--outputs", str(tmp_path / "out"),
           "--backbone", "random", "--jobs", "1", "--device", "cpu", "--models", str(tmp_path / "models")]  # fmt: skip
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


def _no_server_paths(responses: list[tuple[str, str]], root: Path) -> None:
    """No response names a server path: not the outputs folder (Gradio's file payloads and ``file=`` URLs
    name it ``~outputs``), not the folder around it, the working folder, the temp folder or a system one;
    and no file payload has an absolute ``path``."""
    places = [str(root), str(root.parent), str(Path.cwd()), tempfile.gettempdir() + "/", "/usr/", "/home/"]
    for url, body in responses:
        assert str(root) not in url, f"a request names the outputs folder: {url}"
        if url.startswith("blob:"):  # made in the browser from the front end's own scripts (the video box's ffmpeg)
            continue
        for path in places:
            assert path not in body, f"{url} carries the server path {path}"
        assert not re.search(r'"path":\s*"/', body), f"{url} carries a file payload with an absolute path"


def _pick(page: Any, elem: str, text: str) -> None:
    page.locator(f"#{elem} input").first.click()
    page.get_by_role("option", name=text).first.click()
    page.keyboard.press("Escape")


def test_a_visit_cancel_resume_banks_everywhere_and_no_server_paths(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    photo = make_image(tmp_path / "photo.png", (80, 60), 1)
    clip = gradient_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    styles = [str(noise_image(tmp_path / f"style{i}.png", i)) for i in range(3)]
    responses: list[tuple[str, str]] = []

    def keep(r: Any) -> None:
        try:
            if "text" in (r.headers.get("content-type") or "") or "json" in (r.headers.get("content-type") or ""):
                responses.append((r.url, r.text()))
        except Exception:  # a stream still open when the page moves on
            pass

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
            page.on("response", keep)
            page.goto(app_url)

            # Stylise: Cancel keeps the image reached so far
            page.locator("#stylise-photo input[type=file]").set_input_files(str(photo))
            expect(page.locator("#stylise-status")).to_contain_text("Photo ready", timeout=30_000)
            page.locator("#stylise-styles input[type=file]").set_input_files(styles[0])
            _set_slider(page, "stylise-size", 64)
            _set_slider(page, "stylise-steps", 400)
            page.click("#stylise-run")
            expect(page.locator("#stylise-progress")).to_contain_text("step 1", timeout=120_000)
            page.click("#stylise-cancel")
            expect(page.locator("#stylise-status")).to_contain_text("Stopped at step", timeout=60_000)
            expect(page.locator("#stylise-download")).to_be_visible()

            # Universes: a bank built here is offered at once in Stylise and Real time
            page.get_by_role("tab", name="Universes").click()
            page.locator("#uv-images input[type=file]").set_input_files(styles)
            _set_slider(page, "uv-size", 64)
            page.fill("#uv-name textarea, #uv-name input", "mine")
            page.click("#uv-bank")
            expect(page.locator("#uv-status")).to_contain_text("now a universe in every tab", timeout=180_000)
            page.get_by_role("tab", name="Stylise").click()
            _pick(page, "stylise-universes", "mine.style.safetensors")
            expect(page.locator("#stylise-weights")).to_contain_text("mine.style.safetensors", timeout=30_000)
            page.get_by_role("tab", name="Real time").click()
            _pick(page, "rt-universes", "mine.style.safetensors")
            page.locator("#rt-photo input[type=file]").set_input_files(str(photo))
            expect(page.locator("#rt-status")).to_contain_text("dec.safetensors:", timeout=60_000)

            # Video: Cancel keeps the frames done as a partial clip, Resume finishes the clip
            page.get_by_role("tab", name="Video").click()
            page.locator("#video-clip input[type=file]").set_input_files(str(clip))
            page.locator("#video-styles input[type=file]").set_input_files(styles[1])
            _set_slider(page, "video-size", 64)
            _set_slider(page, "video-frames", 3)
            _set_slider(page, "video-steps-first", 3)
            _set_slider(page, "video-steps", 30)
            page.click("#video-run")
            expect(page.locator("#video-progress")).to_contain_text("frame 2 / 3", timeout=180_000)
            page.click("#video-cancel")
            expect(page.locator("#video-status")).to_contain_text("Cancelled after 1 frame", timeout=120_000)
            expect(page.locator("#video-download")).to_be_visible()
            page.click("#video-resume")
            expect(page.locator("#video-status")).to_contain_text("Done: 3 frames", timeout=300_000)
            page.wait_for_timeout(1000)
        finally:
            browser.close()
    _no_server_paths(responses, tmp_path / "out")
