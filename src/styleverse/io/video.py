"""Sampling frames from a video at a regular interval with PyAV, streaming (never the whole film in memory).

The paper (section 5) sampled each universe "at regular intervals". :class:`VideoReader` decodes one
stream in order and yields the first frame at or after each sampling time ``start, start+every, ...``
up to ``end``; for a time range it seeks to the key frame before ``start`` first, so a segment an hour
into a film costs a seek, not an hour of decoding. Frames come out still as PyAV frames so a caller can
skip those it already has without paying for the RGB conversion (:func:`frame_to_image` does that), and
judge a frame on a small greyscale thumbnail (:func:`frame_thumbnail`) before converting it.
Times are seconds from the start of the stream, as a player shows them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import av
from av.video.reformatter import VideoReformatter
from PIL import Image

from styleverse.errors import InputError

TIME_EPS = 1e-3  # frame times are rounded; a frame 1 ms early still counts as "at" the sampling time
THUMB_SIZE = 128  # longest side of the greyscale thumbnail used for quality checks


@dataclass(frozen=True)
class VideoInfo:
    """What a video says about itself; ``duration`` and ``fps`` may be unknown (None)."""

    duration: float | None
    fps: float | None
    width: int
    height: int
    codec: str


class VideoReader:
    """An open video file; use as a context manager. Raises :class:`InputError` if it cannot be decoded."""

    def __init__(self, path: str | os.PathLike[str], threads: bool = True) -> None:
        self.path = Path(path)
        self._threads = threads
        if not self.path.exists():
            raise InputError(f"{self.path}: no such video file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, expected a video file")
        self._open()
        self.info = self._probe()
        self.decoded = 0  # frames decoded so far (seeking keeps this low for late segments)
        self.last_time: float | None = None  # time of the last frame decoded, for :meth:`shortfall`
        self.reformatter = VideoReformatter()  # one scaler context reused for every frame

    def _open(self) -> None:
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise InputError(f"{self.path}: not a video PyAV/FFmpeg can read ({_why(e)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: file has no video stream")
        self._stream = self._container.streams.video[0]
        if self._threads:
            self._stream.thread_type = "AUTO"
        tb = self._stream.time_base
        start = self._stream.start_time
        self._offset = float(start * tb) if start is not None and tb is not None else 0.0

    def _probe(self) -> VideoInfo:
        s = self._stream
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        rate = s.average_rate or s.guessed_rate
        ctx = s.codec_context
        return VideoInfo(duration, float(rate) if rate else None, ctx.width, ctx.height, ctx.name)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def expected_samples(self, start: float = 0.0, end: float | None = None, every: float = 1.0) -> int | None:
        """How many frames :meth:`sample` will yield, roughly (for progress bars); None if unknown."""
        stop = end if end is not None else self.info.duration
        if stop is None:
            return None
        span = max(0.0, stop - start)
        if every <= 0:
            return round(span * self.info.fps) if self.info.fps else None
        return max(1, math.ceil(span / every - TIME_EPS)) if span > 0 else 0

    def _seek(self, start: float) -> None:
        tb = self._stream.time_base
        if start <= 0 or tb is None:
            return
        try:
            self._container.seek(int((start + self._offset) / tb), stream=self._stream, backward=True)
        except av.FFmpegError:  # unseekable: decode from the beginning instead
            self._reopen()

    def _reopen(self) -> None:
        self._container.close()
        self._open()

    def _frames(self, start: float) -> Iterator[tuple[float, av.VideoFrame]]:
        """Decoded frames with their times, from the key frame before ``start`` (or the beginning)."""
        self._seek(start)
        seeked = start > 0
        rate = self.info.fps or 25.0
        index = 0
        try:
            for frame in self._container.decode(self._stream):
                t = frame.time - self._offset if frame.time is not None else index / rate
                index += 1
                self.decoded += 1
                self.last_time = t
                if seeked and index == 1 and t > start + TIME_EPS:
                    break  # the seek overshot: fall back to decoding from the beginning
                yield t, frame
            else:
                return
        except av.FFmpegError as e:
            raise InputError(f"{self.path}: decoding failed after {index} frames ({_why(e)})") from None
        self._reopen()
        yield from self._frames(0.0)

    def sample(
        self, start: float = 0.0, end: float | None = None, every: float = 1.0
    ) -> Iterator[tuple[float, av.VideoFrame]]:
        """Yield ``(time, frame)`` for the first frame at or after each of ``start, start+every, ...``
        before ``end`` (exclusive; None = end of video). ``every <= 0`` yields every frame in the range."""
        next_t = start
        for t, frame in self._frames(start):
            if t < start - TIME_EPS:
                continue
            if end is not None and t >= end - TIME_EPS:
                return
            if every <= 0:
                yield t, frame
            elif t >= next_t - TIME_EPS:
                yield t, frame
                next_t = start + (math.floor((t - start + TIME_EPS) / every) + 1) * every


    def shortfall(self, start: float = 0.0, end: float | None = None) -> str | None:
        """After :meth:`sample` of ``[start, end)`` ran out: None when decoding reached ``end`` (or, for a
        whole video, the duration it declares); otherwise one line saying how much was read and why that
        looks wrong — a range past the video's end, or a file that stops early (truncated or damaged),
        which FFmpeg ends silently instead of failing."""
        fps = self.info.fps or 25.0
        tol = max(2.0 / fps, 0.25)  # declared durations are off by a frame or two
        declared = self.info.duration
        target = end if end is not None else declared
        read_to = None if self.last_time is None else self.last_time + 1.0 / fps
        if target is None or (read_to is not None and read_to >= target - tol):
            return None
        got = "no frames" if read_to is None else f"frames up to {read_to:.2f} s"
        if end is not None and declared is not None and end > declared + tol:
            return f"the range {start:g}-{end:g} s runs past the video's end at {declared:.2f} s; decoded {got}"
        if declared is not None:
            return f"decoded {got} of the {declared:.2f} s the video declares (truncated or damaged file?)"
        return f"decoded {got} of the range {start:g}-{end:g} s"


def _fit(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) scaled down so the longest side is ``size`` (even numbers; unchanged if smaller)."""
    if size is None or max(width, height) <= size:
        return width, height
    s = size / max(width, height)
    return max(2, round(width * s)), max(2, round(height * s))


def frame_to_image(
    frame: av.VideoFrame, size: int | None = None, reformatter: VideoReformatter | None = None
) -> Image.Image:
    """An RGB PIL image of a decoded frame, scaled down (area filter) so its longest side is ``size``."""
    rf = reformatter or VideoReformatter()
    w, h = _fit(frame.width, frame.height, size)
    return rf.reformat(frame, width=w, height=h, format="rgb24", interpolation="AREA").to_image()


def frame_thumbnail(
    frame: av.VideoFrame, size: int = THUMB_SIZE, reformatter: VideoReformatter | None = None
) -> Image.Image:
    """A small full-range greyscale ("L") image of a frame, straight from the luma plane by libswscale.

    Quality checks (blank frames, perceptual hash) need only this; making it costs a fraction of a
    millisecond, whereas a full RGB conversion of a 720p frame costs ~10 ms, so frames that are dropped
    never pay for one.
    """
    rf = reformatter or VideoReformatter()
    w, h = _fit(frame.width, frame.height, size)
    return rf.reformat(frame, width=w, height=h, format="gray", interpolation="AREA").to_image()


def _why(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return " ".join(str(text).split())[:160]
