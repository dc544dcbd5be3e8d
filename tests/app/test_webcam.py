"""The Real time tab's webcam without a browser: the frame rate over its sliding window, frames dropped (never
waiting) while the model is busy, the stylizer kept until a control changes, a camera frame stylised exactly
as the same picture uploaded as a photo, and one-line errors for frames that are not images. The browser test
(test_browser_webcam.py) drives the same code with Chromium's fake camera."""

from __future__ import annotations

import base64
import io
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.app import make_ctx, upload
from fixtures.images import make_image
from fixtures.networks import adain_model, fast_model, tiny_fast
from styleverse.app import realtime
from styleverse.app.webcam import FrameRate, Gate, Webcam, decode_frame, frame_payload, line
from styleverse.errors import InputError
from styleverse.fast.model import save_model
from styleverse.fast.open import Stylizer


def _payload(image: Image.Image, fmt: str = "JPEG") -> dict[str, Any]:
    """A frame as the page's webcam sends it (Gradio's raw payload of a streamed image)."""
    buf = io.BytesIO()
    image.save(buf, fmt)
    mime = "jpeg" if fmt == "JPEG" else fmt.lower()
    return {"url": f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode(), "path": None}


def _frame(size: tuple[int, int] = (80, 60), seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return _payload(Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _stylizer(fn: Any = None) -> Stylizer:
    return Stylizer(fn or (lambda x: 1 - x), "test", {}, ())


def test_the_frame_rate_is_measured_over_a_sliding_window() -> None:
    rate = FrameRate(window=3.0, gap=1.0)
    assert rate.fps() is None and rate.model_seconds() is None
    t = 0.0
    for _ in range(50):  # 10 frames/s, 40 ms each in the model
        t += 0.1
        rate.add(t, 0.04)
    assert rate.fps() == pytest.approx(10.0)
    assert rate.model_seconds() == pytest.approx(0.04)
    for _ in range(40):  # the model slows down to 4 frames/s, 200 ms each: after one window only that is seen
        t += 0.25
        rate.add(t, 0.2)
    assert rate.fps() == pytest.approx(4.0)
    assert rate.model_seconds() == pytest.approx(0.2)


def test_a_model_slower_than_the_window_still_has_a_rate_and_a_pause_starts_afresh() -> None:
    rate = FrameRate(window=3.0, gap=1.0)
    for t in (5.0, 10.0, 15.0):  # one frame every 5 s, all of it in the model: no idle time
        rate.add(t, 5.0)
    assert rate.fps() == pytest.approx(0.2)
    rate.add(30.0, 0.5)  # 14.5 s without a frame: the camera was stopped and started again
    assert rate.fps() is None, "the frames before the pause still count"
    assert rate.model_seconds() == pytest.approx(0.5)
    assert line(rate, 256, 192) == "Webcam: first frame · model 500 ms per frame · 256x192 px"
    rate.add(30.5, 0.5)
    assert line(rate, 256, 192) == "Webcam: 2.0 frames/s · model 500 ms per frame · 256x192 px"


def test_a_frame_that_finds_the_model_busy_is_dropped_at_once_never_queued() -> None:
    """Frames of two pages (or a restarted stream) at once: while one frame is in the model, every other one
    returns None straight away, without waiting for the model; the next frame after it is stylised."""
    cam = Webcam(max_pixels=10**6)
    inside, release = threading.Event(), threading.Event()

    def slow(x: torch.Tensor) -> torch.Tensor:
        inside.set()
        assert release.wait(30), "the test never let the frame go"
        return x

    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(cam.frame("a", _frame(), 32, "k", lambda: _stylizer(slow))))
    first.start()
    assert inside.wait(30)
    for page in ("a", "b", "b"):  # these would block on `release` if they waited for the model
        assert cam.frame(page, _frame(seed=1), 32, "k", _stylizer) is None
    release.set()
    first.join(30)
    assert results and results[0] is not None and results[0].image.size == (32, 24)
    assert (cam.session("a").dropped, cam.session("b").dropped) == (1, 2)
    assert cam.session("a").stylised == 1 and cam.session("b").stylised == 0
    assert cam.frame("b", _frame(), 32, "k", _stylizer) is not None, "the model was never freed"
    with Gate().enter() as free:
        assert free


def test_the_stylizer_is_kept_until_the_request_changes_and_the_rate_is_shown() -> None:
    clock = Clock()
    cam = Webcam(max_pixels=10**6, clock=clock)
    built: list[str] = []

    def build(key: str) -> Any:
        def make() -> Stylizer:
            built.append(key)

            def run(x: torch.Tensor) -> torch.Tensor:
                clock.t += 0.05  # 50 ms in the model
                return 1 - x

            return _stylizer(run)

        return make

    shown = [cam.frame("p", _frame(seed=i), 64, "mix a", build("mix a")) for i in range(3)]
    assert built == ["mix a"]
    assert all(s is not None and s.image.size == (64, 48) for s in shown)
    assert shown[-1] is not None and shown[-1].line == "Webcam: 20.0 frames/s · model 50 ms per frame · 64x48 px"
    cam.frame("p", _frame(), 64, "mix b", build("mix b"))
    assert built == ["mix a", "mix b"]
    cam.frame("q", _frame(), 64, "mix b", build("mix b"))  # another page: a stylizer of its own
    assert built == ["mix a", "mix b", "mix b"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "webcam frame: not an image the page's camera sends"),
        ({"url": "/tmp/x.png", "path": "/tmp/x.png"}, "webcam frame: not an image the page's camera sends"),
        ("data:image/jpeg;base64,@@@", "webcam frame: damaged in transit"),
        ("data:image/jpeg;base64," + base64.b64encode(b"not a jpeg").decode(), "webcam frame: not an image file"),
        ("data:image/jpeg;base64,", "webcam frame: empty"),
    ],
)
def test_a_frame_that_is_not_an_image_is_one_line_without_paths(value: Any, message: str) -> None:
    cam = Webcam(max_pixels=10**6)
    with pytest.raises(InputError, match=message) as e:
        cam.frame("p", value, 32, "k", _stylizer)
    assert "\n" not in str(e.value) and "/tmp" not in str(e.value)


def test_a_frame_over_the_pixel_limit_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(InputError, match=r"webcam frame: 80x60 exceeds the pixel limit of 1,000"):
        decode_frame(_frame((80, 60)), max_pixels=1000)
    assert decode_frame(_payload(Image.new("RGB", (8, 6), (10, 200, 30)), "PNG"), 1000).getpixel((0, 0)) == (
        10, 200, 30,
    )  # fmt: skip


def test_a_stylised_frame_goes_back_as_jpeg_data_not_a_file() -> None:
    sent = frame_payload(Image.new("RGB", (40, 30), (200, 100, 50)))
    assert sent["url"].startswith("data:image/jpeg;base64,") and "path" not in sent
    back = decode_frame(sent, 10**6)
    assert back.size == (40, 30)
    assert np.abs(np.asarray(back, dtype=int) - (200, 100, 50)).max() <= 4


@pytest.mark.parametrize("kind", ["fast", "adain"])
def test_a_camera_frame_is_stylised_as_the_same_picture_uploaded_as_a_photo(tmp_path: Path, kind: str) -> None:
    """The webcam and the photo take the same Request, the same opener and the same controls: the same
    picture gives the same pixels; moving a mix slider or strength changes the webcam's output."""
    ctx = make_ctx(tmp_path)
    rt = realtime.Realtime(ctx)
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    sent = _payload(picture, "PNG")
    photo_file = tmp_path / "frame.png"
    picture.save(photo_file)
    photo = upload(ctx, photo_file)
    if kind == "fast":
        fast_model(tmp_path / "models" / "comic.safetensors")
        req = realtime.Request("comic.safetensors", None, None, weights=(1.0, 0.0), size=48)
    else:
        styles = (upload(ctx, make_image(tmp_path / "a.png", (32, 32), 5)), upload(ctx, make_image(tmp_path / "b.png")))
        req = realtime.Request(None, upload(ctx, adain_model(tmp_path / "dec.safetensors")), None,
                               style_uploads=styles, weights=(1.0, 0.0), size=48)  # fmt: skip
    cam = Webcam(ctx.config.limits.max_pixels)

    def frame(r: realtime.Request) -> Image.Image:
        shown = cam.frame("page", sent, r.size, rt.version(r), lambda: rt.stylizer(r)[0])
        assert shown is not None
        return shown.image

    as_photo, _ = rt.render(replace(req, photo=photo))
    first = frame(req)
    assert first.size == as_photo.size == (48, 36)
    assert first.tobytes() == as_photo.tobytes(), "the webcam stylises otherwise than the photo path"
    assert rt.version(req) == rt.version(replace(req, photo=photo)), "the photo is part of the webcam's request"
    for changed in (replace(req, weights=(0.0, 1.0)), replace(req, strength=0.5)):
        assert rt.version(changed) != rt.version(req)
        assert frame(changed).tobytes() != first.tobytes(), f"{changed} changes nothing"


def test_a_model_replaced_on_disk_is_read_again(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    rt = realtime.Realtime(ctx)
    model = fast_model(tmp_path / "models" / "comic.safetensors")
    req = realtime.Request("comic.safetensors", None, None, weights=(1.0, 0.0), size=32)
    before = rt.version(req)
    save_model(tiny_fast(seed=1, identity="test"), model)
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a replaced file: a later time, here for sure
    assert rt.version(req) != before
    assert rt.version(req) == rt.version(req)


def test_the_status_line_tells_a_webcam_what_it_still_needs() -> None:
    none = realtime.Request(None, None, None)
    assert "Pick a model" in realtime.waiting(none, webcam=True)
    chosen = realtime.Request("comic.safetensors", None, None)
    assert realtime.waiting(chosen, webcam=True).startswith("Start the webcam")
    assert realtime.describe(chosen, ["gwen", "miles"], webcam=True).endswith("sliders. Start the webcam.")
    assert realtime.describe(chosen, ["gwen", "miles"]).endswith("sliders. Upload a photo.")
