"""Sampling frames from a video at a regular interval with PyAV, streaming (never the whole film in memory).

The paper (section 5) sampled each universe "at regular intervals". :class:`VideoReader` decodes one
stream in order and yields the first frame at or after each sampling time ``start, start+every, ...``
up to ``end``; for a time range it seeks to the key frame before ``start`` first, so a segment an hour
into a film costs a seek, not an hour of decoding. Frames come out still as PyAV frames so a caller can
skip those it already has without paying for the RGB conversion (:func:`frame_to_image` does that), and
judge a frame on a small greyscale thumbnail (:func:`frame_thumbnail`) before converting it.
Times are seconds from the start of the stream, as a player shows them. Writing is
:mod:`styleverse.io.video_writer`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import Colorspace, Interpolation, VideoReformatter
from PIL import Image

from styleverse.errors import InputError

log = logging.getLogger("styleverse")
TIME_EPS = 1e-3  # frame times are rounded; a frame 1 ms early still counts as "at" the sampling time
THUMB_SIZE = 128  # longest side of the greyscale thumbnail used for quality checks
# libswscale's YUV -> RGB flags. Its default path repeats each 4:2:0 chroma sample over 2x2 pixels (colour
# edges in blocks that jump as the picture moves) and rounds down (RGB ~1.2 levels dark); ACCURATE_RND and
# FULL_CHR_H_INT interpolate the chroma and round to nearest. On benchmarks/bench_video.py's clip the warping
# error of a steady stylised output read back from 4:2:0 H.264 fell 2.6x; a 1080p frame costs 7.8 ms instead of
# 0.5 ms at full size and about the same as before when scaled down (1.6 vs 1.2 ms to 512x288).
RGB_FLAGS = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
HD_LINES = 720  # an untagged frame this tall or taller is BT.709, as players assume; smaller ones BT.601


@dataclass(frozen=True)
class VideoInfo:
    """What a video says about itself; ``duration`` and ``fps`` may be unknown (None)."""

    duration: float | None
    fps: float | None
    width: int
    height: int
    codec: str
    pixel_aspect: Fraction = Fraction(1)  # sample aspect ratio: a pixel's width over its height
    frames: int | None = None  # as the container declares it (None: not said)
    time_base: Fraction | None = None  # unit of the video stream's timestamps
    audio: str | None = None  # codec of the first audio stream; None for a silent video


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: seconds from the start of the stream, its timestamp in the stream's time base
    (None when the file gives none) and the PyAV frame itself."""

    time: float
    pts: int | None
    frame: av.VideoFrame


def _end(end: float | None) -> float:
    return math.inf if end is None else end - TIME_EPS


class VideoReader:
    """An open video file; use as a context manager. Raises :class:`InputError` if it cannot be decoded."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such video file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, expected a video file")
        self._open()
        self.info = self._probe()
        self.decoded = 0  # frames decoded so far (seeking keeps this low for late segments)
        self.skipped = 0  # damaged frames :meth:`frames` skipped
        self.last_time: float | None = None  # time of the last frame decoded, for :meth:`shortfall`
        self.reformatter = VideoReformatter()  # one scaler context reused for every RGB frame
        self.thumbnailer = VideoReformatter()  # and one for the greyscale thumbnails (other flags and size)

    def _open(self) -> None:
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise InputError(f"{self.path}: not a video PyAV/FFmpeg can read ({_why(e)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: file has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        tb = self._stream.time_base
        start = self._stream.start_time
        # the stream's start time in seconds: a frame's ``time`` here is the file's own clock minus this
        self.offset = float(start * tb) if start is not None and tb is not None else 0.0

    def _probe(self) -> VideoInfo:
        s = self._stream
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        rate = s.average_rate or s.guessed_rate
        ctx = s.codec_context
        sar = s.sample_aspect_ratio or ctx.sample_aspect_ratio
        audio = self._container.streams.audio
        return VideoInfo(
            duration, float(rate) if rate else None, ctx.width, ctx.height, ctx.name,
            pixel_aspect=Fraction(sar) if sar and sar > 0 else Fraction(1), frames=s.frames or None,
            time_base=s.time_base, audio=audio[0].codec_context.name if audio else None,
        )  # fmt: skip

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

    def frames(self, start: float = 0.0, end: float | None = None) -> Iterator[DecodedFrame]:
        """Every frame shown in ``[start, end)`` (None: to the end), in order, with its own timestamp.

        Decoded packet by packet so a damaged frame costs only itself: a packet the decoder rejects or a
        frame it marks corrupt is skipped with a warning (counted in :attr:`skipped`), and the frames after
        it keep their timestamps, so the timing of the rest does not shift. A file that stops in the middle
        (truncated) ends the iteration with a warning; :class:`InputError` only if nothing could be decoded.
        """
        self.skipped = 0
        self._seek(start)
        first = True
        for item in self._decoded():
            if first and start > 0 and item.time > start + TIME_EPS:
                self._reopen()  # the seek overshot: decode from the beginning instead
                yield from (f for f in self._decoded() if start - TIME_EPS <= f.time < _end(end))
                return
            first = False
            if item.time < start - TIME_EPS:
                continue
            if item.time >= _end(end):
                return
            yield item

    def _decoded(self) -> Iterator[DecodedFrame]:
        rate, index = self.info.fps or 25.0, 0
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as e:  # the container itself is damaged from here on
                log.warning("%s: stopped reading after %d frames (%s)", self.path.name, index, _why(e))
                return
            bad: str | bool = packet.is_corrupt
            try:
                decoded = [] if bad else packet.decode()
            except av.FFmpegError as e:
                decoded, bad = [], _why(e)
            if bad:
                self._skip(packet.pts, packet.time_base, bad)
            for frame in decoded:
                assert isinstance(frame, av.VideoFrame)
                if frame.is_corrupt:
                    self._skip(frame.pts, frame.time_base, True)
                    continue
                t = frame.time - self.offset if frame.time is not None else index / rate
                index += 1
                self.decoded += 1
                self.last_time = t
                yield DecodedFrame(t, frame.pts, frame)

    def _skip(self, pts: int | None, tb: Fraction | None, why: object) -> None:
        self.skipped += 1
        at = f"at {float(pts * tb) - self.offset:.3f} s" if pts is not None and tb is not None else "(no time)"
        reason = why if isinstance(why, str) else "marked corrupt by the decoder"
        log.warning("%s: skipped a damaged frame %s (%s)", self.path.name, at, reason)

    def _seek(self, start: float) -> None:
        tb = self._stream.time_base
        if start <= 0 or tb is None:
            return
        try:
            self._container.seek(int((start + self.offset) / tb), stream=self._stream, backward=True)
        except av.FFmpegError:  # unseekable: decode from the beginning instead
            self._reopen()

    def _reopen(self) -> None:
        self._container.close()
        self._open()

    def sample(
        self, start: float = 0.0, end: float | None = None, every: float = 1.0
    ) -> Iterator[tuple[float, av.VideoFrame]]:
        """Yield ``(time, frame)`` for the first frame at or after each of ``start, start+every, ...``
        before ``end`` (exclusive; None = end of video); ``every <= 0`` yields every frame in the range.
        Decoded by :meth:`frames`, so damaged frames are skipped the same way."""
        next_t = start
        for d in self.frames(start, end):
            if every > 0 and d.time < next_t - TIME_EPS:
                continue
            yield d.time, d.frame
            if every > 0:
                next_t = start + (math.floor((d.time - start + TIME_EPS) / every) + 1) * every

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
    frame: av.VideoFrame, size: int | None = None, reformatter: VideoReformatter | None = None, fmt: str = "rgb24"
) -> Image.Image:
    """A PIL image (RGB, or ``fmt``) of a decoded frame, scaled down (area filter) so its longest side is ``size``."""
    w, h = _fit(frame.width, frame.height, size)
    return _convert(frame, w, h, fmt, reformatter).to_image()


def _convert(
    frame: av.VideoFrame, width: int, height: int, fmt: str, reformatter: VideoReformatter | None
) -> av.VideoFrame:
    """``frame`` scaled (area filter) and converted to ``fmt``; RGB with :data:`RGB_FLAGS` and the frame's
    colour matrix (BT.709 for an untagged HD frame, see :data:`HD_LINES`), greyscale straight from luma."""
    rf = reformatter or VideoReformatter()
    if fmt == "gray":
        return rf.reformat(frame, width, height, fmt, interpolation="AREA")
    untagged = frame.colorspace == 2  # AVCOL_SPC_UNSPECIFIED
    space = Colorspace.ITU709 if untagged and frame.height >= HD_LINES else None  # None: the frame's own tag
    return rf.reformat(frame, width, height, fmt, src_colorspace=space, interpolation=RGB_FLAGS)


def frame_thumbnail(
    frame: av.VideoFrame, size: int = THUMB_SIZE, reformatter: VideoReformatter | None = None
) -> Image.Image:
    """A small full-range greyscale ("L") image of a frame, straight from the luma plane by libswscale.

    Quality checks (blank frames, perceptual hash) need only this; making it costs a fraction of a
    millisecond, whereas a full RGB conversion of a 720p frame costs ~10 ms, so frames that are dropped
    never pay for one.
    """
    return frame_to_image(frame, size, reformatter, "gray")


def _why(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return " ".join(str(text).split())[:160]


# --- frames for processing: upright, square pixels, even size -----------------------------------------


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def display_size(
    width: int, height: int, pixel_aspect: Fraction = Fraction(1), rotation: int = 0, size: int | None = None
) -> tuple[int, int]:
    """(width, height) of a frame as a player shows it: non-square pixels stretched to square ones (the
    side that grows is the one the aspect enlarges, so no detail is thrown away), turned by the display
    rotation, then scaled so the longest side is at most ``size``; both sides even, as H.264 4:2:0 needs."""
    w, h = float(width), float(height)
    if pixel_aspect > 1:
        w *= float(pixel_aspect)
    elif pixel_aspect < 1:
        h /= float(pixel_aspect)
    if _quarter_turns(rotation) % 2:
        w, h = h, w
    if size is not None and max(w, h) > size:
        s = size / max(w, h)
        w, h = w * s, h * s
    return _even(w), _even(h)


def _quarter_turns(rotation: int | float) -> int:
    return round(rotation / 90) % 4


def frame_to_array(
    frame: av.VideoFrame, size: tuple[int, int], rotation: int = 0, reformatter: VideoReformatter | None = None
) -> np.ndarray:
    """Upright RGB uint8 (H, W, 3) of a decoded frame at display size ``size`` = (width, height).

    ``rotation`` is the display matrix's counter-clockwise angle (``VideoFrame.rotation``): the frame is
    scaled in its stored orientation and then turned, as players (and FFmpeg's autorotate) show it.
    """
    k = _quarter_turns(rotation)
    w, h = size
    cw, ch = (h, w) if k % 2 else (w, h)
    arr = _convert(frame, cw, ch, "rgb24", reformatter).to_ndarray()
    return np.ascontiguousarray(np.rot90(arr, k)) if k else arr
