"""The Real time tab's webcam in a real browser: Chromium's fake camera plays a clip the test writes (a .y4m
pan), the page streams it to ``styleverse app`` (the fixture of test_browser.py, with a fast network added to
its ``--models``), and the test watches the result: stylised frames at the size the slider asks, a frame
rate and the model's time in the status line, the strength slider reaching the stream while it runs, Stop
ending the frames at once (nothing was queued), Start resuming them, a model that cannot run named in one
line, and the photo source ending the stream. It keeps a screenshot of the tab while the camera runs
(``STYLEVERSE_TEST_ARTIFACTS`` chooses where).
"""

from __future__ import annotations

import base64
import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.test_browser import CHROMIUM, _artifacts, _pick, _set_slider, app_url
from fixtures.clips import pan_frames
from fixtures.networks import fast_model
from fixtures.webcam import camera_args, camera_clip, shown, start_webcam, stop_webcam

__all__ = ["app_url"]  # the fixture, imported
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (see test_browser.py)")
RATE = re.compile(r"Webcam: \d+\.\d frames/s · model \d+ ms per frame · 64x48 px")
CLIP = {"size": (320, 240), "frames": 30}


def _picture(url: str) -> np.ndarray:
    data = base64.b64decode(url.partition(";base64,")[2])
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def _camera_distance(picture: np.ndarray) -> float:
    """The mean difference (0-255) between a result and the nearest frame of the camera's clip, mirrored or
    not, at the result's size: a few levels (JPEG, YUV) for the camera's own picture, tens for a stylised one."""
    h, w = picture.shape[:2]
    frames = [Image.fromarray(f).resize((w, h), Image.Resampling.LANCZOS) for f in pan_frames(
        CLIP["frames"], size=CLIP["size"], shift=(4, 2))]  # fmt: skip
    seen = [np.asarray(f, dtype=np.float32) for f in frames]
    return min(float(np.abs(picture - s[:, ::flip]).mean()) for s in seen for flip in (1, -1))


def _settle(page: object, quiet_s: float = 2.0, limit_s: float = 60.0) -> int:
    """Waits until the result has not changed for ``quiet_s`` seconds; the number of pictures shown by then."""
    count, since, start = len(shown(page)), time.monotonic(), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() - start < limit_s:
        page.wait_for_timeout(250)  # type: ignore[attr-defined]
        now = len(shown(page))
        if now != count:
            count, since = now, time.monotonic()
    return count


def test_the_webcam_streams_stylised_frames_with_a_frame_rate(app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    fast_model(tmp_path / "models" / "comic.safetensors")  # read when the page opens
    clip = camera_clip(tmp_path / "clip.y4m", **CLIP)  # type: ignore[arg-type]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=camera_args(clip))
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(app_url)
            page.get_by_role("tab", name="Real time").click()
            status = page.locator("#rt-status")
            _pick(page, "rt-model", "comic.safetensors")
            expect(status).to_contain_text("mix its 2 universes", timeout=60_000)
            _set_slider(page, "rt-size", 64)
            start_webcam(page)

            # stylised frames arrive, at the slider's size, and the status line shows their rate
            expect(status).to_contain_text(RATE, timeout=120_000)
            page.wait_for_function("window.__shown.length >= 3", timeout=120_000)
            pictures = [_picture(src) for _, src in shown(page)]
            assert all(p.shape == (48, 64, 3) for p in pictures), [p.shape for p in pictures]
            assert len({p.tobytes() for p in pictures}) == len(pictures), "the result did not change"
            stylised = _camera_distance(pictures[-1])
            assert stylised > 20, f"the result looks like the camera's own picture ({stylised:.1f})"
            shot = _artifacts() / "app-webcam-test.png"
            page.screenshot(path=str(shot), full_page=True)

            # the controls reach the running stream: strength 0 gives the camera's picture back
            _set_slider(page, "rt-strength", 0)
            page.wait_for_function(
                "n => window.__shown.length > n", arg=len(shown(page)) + 2, timeout=60_000
            )  # fmt: skip
            plain = _camera_distance(_picture(shown(page)[-1][1]))
            assert plain < 12 < stylised, f"strength 0 did not reach the stream ({plain:.1f} vs {stylised:.1f})"

            # Stop: at most the frame in the model still arrives, nothing queued behind it; Start: frames again
            stop_webcam(page)
            stopped = len(shown(page))
            after = _settle(page)
            assert after - stopped <= 1, f"{after - stopped} frames arrived after Stop: they were queued"
            page.locator("#rt-webcam button", has_text="Record").click()
            page.wait_for_function("n => window.__shown.length > n", arg=after + 1, timeout=120_000)

            # a model that cannot run on the camera's frames: one line in the status, no server path
            _pick(page, "rt-model", "dec.safetensors")
            expect(status).to_contain_text("an AdaIN model needs a style", timeout=60_000)
            expect(status.locator(".sv-error")).to_have_count(1)  # waits: a stream update may redraw the status
            assert str(tmp_path) not in status.inner_text()

            # back to the photo: the camera's view goes, and with it the stream (no frame after it settles)
            _pick(page, "rt-model", "comic.safetensors")
            page.wait_for_function("n => window.__shown.length > n", arg=len(shown(page)), timeout=120_000)
            page.locator("#rt-source").get_by_label("Photo").check()
            expect(page.locator("#rt-webcam")).to_be_hidden()
            expect(status).to_contain_text("Upload a photo", timeout=30_000)
            settled = _settle(page)
            page.wait_for_timeout(3000)
            assert len(shown(page)) == settled, "frames still arrive after the source went back to the photo"
            print(f"\nwebcam browser test screenshot: {shot}")
        finally:
            browser.close()
