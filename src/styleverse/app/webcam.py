"""The Real time tab's webcam: the browser's camera stream stylised frame by frame with the tab's model and
controls (the tab builds the same request a photo uses), at the rate the CPU allows.

Frames are dropped, never queued, when the model is slower than the camera, in two places:

* the transport: the page sends its camera's newest frame every :data:`STREAM_EVERY` seconds, and Gradio
  keeps one waiting frame per stream, a newer one replacing it (its ``/stream`` route overwrites the event's
  data), so the frames that arrive while the model runs are lost, never lined up behind it;
* the server (:class:`Gate`): one webcam frame is in the model at a time, whichever page sent it; a frame
  that finds the model busy (another page's camera, or this page's stream restarted while its last frame
  still runs) is dropped at once rather than waiting, so no camera's delay grows with the number of cameras.

The page shows the stylised frames per second over a sliding window of :data:`WINDOW` seconds and the
model's mean time per frame over the same frames (:class:`FrameRate`). Each page keeps the stylizer of its
last request (:class:`Session`); the tab builds it again (through its one opener) when a control changes.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from styleverse.errors import InputError
from styleverse.fast.open import Memo, Stylizer
from styleverse.io.images import decode_image, pil_to_tensor, resize_longest, tensor_to_pil

STREAM_EVERY = 0.05  # seconds between the frames the page sends (at most 20 frames/s)
WINDOW = 3.0  # seconds of stylised frames the frame rate is measured over
GAP = 1.0  # seconds without a frame in the model after which the frame rate is measured afresh
TIME_LIMIT = 600  # seconds one stream runs before the page must start it again (frees its place)
MAX_STREAMS = 4  # cameras streaming at once; further pages wait in the queue, which shows their place
JPEG_QUALITY = 85  # the stylised frames go back to the page as JPEG data (no file per frame on the server)
NAME = "webcam frame"  # what one-line errors about a frame call it


class FrameRate:
    """Stylised frames per second over a sliding window of ``window`` seconds, and the model's mean time per
    frame over the same frames. Times are the caller's clock (seconds).

    The window always keeps the last two frames, so a model slower than the window still has a rate; an idle
    time over ``gap`` seconds between one frame's end and the next one's start (the camera was stopped and
    started again) begins a new measurement."""

    def __init__(self, window: float = WINDOW, gap: float = GAP) -> None:
        self.window, self.gap = window, gap
        self._frames: deque[tuple[float, float]] = deque()  # (when the frame was done, model seconds)

    def add(self, done: float, model_s: float) -> None:
        """A frame stylised at ``done`` that spent ``model_s`` seconds in the model."""
        if self._frames and done - model_s - self._frames[-1][0] > self.gap:
            self._frames.clear()
        self._frames.append((done, model_s))
        while len(self._frames) > 2 and self._frames[0][0] < done - self.window:
            self._frames.popleft()

    def fps(self) -> float | None:
        """Frames per second: the intervals between the frames in the window over their time span; None
        before the second frame of a measurement."""
        if len(self._frames) < 2:
            return None
        span = self._frames[-1][0] - self._frames[0][0]
        return (len(self._frames) - 1) / span if span > 0 else None

    def model_seconds(self) -> float | None:
        """The mean time per frame in the model over the window (None before the first frame)."""
        if not self._frames:
            return None
        return sum(s for _, s in self._frames) / len(self._frames)


class Gate:
    """One frame in the model at a time; a frame that finds it busy is dropped, never waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def enter(self) -> Iterator[bool]:
        """``with gate.enter() as free:`` ``free`` is True when this frame has the model, False when it is
        to be dropped."""
        free = self._lock.acquire(blocking=False)
        try:
            yield free
        finally:
            if free:
                self._lock.release()


@dataclass
class Session:
    """One page's webcam: its frame rate, counts, and the stylizer of its last request with the key that
    identifies that request."""

    rate: FrameRate = field(default_factory=FrameRate)
    stylised: int = 0
    dropped: int = 0
    key: Hashable = None
    stylizer: Stylizer | None = None


@dataclass(frozen=True)
class Shown:
    """What one stylised frame puts on the page: the image and the status line."""

    image: Image.Image
    line: str


class Webcam:
    """The webcam of one app: the frames of every page through one :class:`Gate`, a :class:`Session` per page.
    ``max_pixels``: the largest frame decoded (the server's image limit); ``clock``: seconds."""

    def __init__(self, max_pixels: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_pixels, self.clock = max_pixels, clock
        self.gate = Gate()
        self.sessions = Memo(2 * MAX_STREAMS)  # the pages seen last (one gone for long starts afresh)

    def session(self, page: str) -> Session:
        """The session of the page ``page`` (Gradio's session hash)."""
        found: Session = self.sessions.get((page,), Session)
        return found

    def frame(self, page: str, payload: Any, size: int, key: Hashable, build: Callable[[], Stylizer]) -> Shown | None:
        """One camera frame of ``page`` (the payload the page sent) stylised at ``size`` px (longest side) by
        the stylizer ``build()`` makes, built again only when ``key`` (what identifies the request) changes;
        None when it is dropped because the model is busy. One-line StyleverseError for a bad frame or a
        request that cannot run."""
        s = self.session(page)
        with self.gate.enter() as free:
            if not free:
                s.dropped += 1
                return None
            if s.stylizer is None or s.key != key:
                s.stylizer, s.key = build(), key
            x = pil_to_tensor(resize_longest(decode_frame(payload, self.max_pixels), size))
            t0 = self.clock()
            out = s.stylizer(x)
            done = self.clock()
        s.rate.add(done, done - t0)
        s.stylised += 1
        h, w = x.shape[-2:]
        return Shown(tensor_to_pil(out), line(s.rate, w, h))


def line(rate: FrameRate, w: int, h: int) -> str:
    """The status line: the frame rate (once two frames are in the window), the model's time per frame."""
    fps, model_s = rate.fps(), rate.model_seconds() or 0.0
    shown = f"{fps:.1f} frames/s" if fps is not None else "first frame"
    return f"Webcam: {shown} · model {model_s * 1000:.0f} ms per frame · {w}x{h} px"


def decode_frame(value: Any, max_pixels: int) -> Image.Image:
    """The camera frame the page sent (a ``data:image/...;base64,`` URL, as Gradio's raw payload or a plain
    string) as an RGB image; one-line InputError for anything else."""
    url = value.get("url") if isinstance(value, dict) else getattr(value, "url", value)
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise InputError(f"{NAME}: not an image the page's camera sends; start the webcam again")
    try:
        data = base64.b64decode(url.partition(";base64,")[2], validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{NAME}: damaged in transit (not base64); start the webcam again") from None
    return decode_image(data, NAME, max_pixels)


def frame_payload(image: Image.Image) -> dict[str, Any]:
    """A stylised frame as the page's image element takes it without a file on the server: JPEG data."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=JPEG_QUALITY)
    url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"url": url, "orig_name": "webcam.jpg", "mime_type": "image/jpeg", "meta": {"_type": "gradio.FileData"}}
