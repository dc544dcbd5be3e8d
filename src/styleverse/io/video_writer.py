"""Writing video with PyAV: H.264 yuv420p with even sides, the input's timestamps kept (variable frame rate
survives), its audio copied (re-encoded only where the container cannot hold the codec), written atomically
(a temporary file beside the output, renamed when finished). Reading is :mod:`styleverse.io.video`."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import av
import cv2
import numpy as np

from styleverse.errors import OutputError
from styleverse.io.images import temp_beside
from styleverse.io.video import TIME_EPS

log = logging.getLogger("styleverse")

# output extension -> FFmpeg muxer; all of them take H.264
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# H.264 quality. Chosen by measurement (benchmarks/bench_video.py, 256x144, 4 passes): the encoder's own error
# differs from frame to frame, so it undoes what the temporal loss holds still. Away from the disc the warping
# error of the file was 1.73x / 1.99x / 2.16x / 2.39x lower than independent frames' at crf 18 / 16 / 14 / 12
# (5.2x losslessly) for files 13 / 16 / 19 / 24 KB; 14 is the first with the target (half) met and a margin.
DEFAULT_CRF = 14
# chroma subsampling -> pixel format. 4:2:0 plays everywhere; 4:4:4 (H.264 High 4:4:4) keeps each pixel's colour
# (a style with per-pixel colour grain) but browsers, phones and many players cannot play it. It is not steadier:
# on bench_video's clip its warping error off the disc equalled 4:2:0's (9.4e-5 vs 8.6e-5 at crf 18) once 4:2:0
# was written with its chroma where players look for it and read back with interpolated chroma
CHROMA = {"420": "yuv420p", "444": "yuv444p"}
# BT.709 RGB -> limited-range ("MPEG") Y'CbCr, as a 3x4 matrix on 8-bit levels: Y in 16..235, Cb/Cr in 16..240
_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
_YUV = np.concatenate(
    [
        np.array([[_KR, _KG, _KB], [-_KR / (2 - 2 * _KB), -_KG / (2 - 2 * _KB), 0.5],
                  [0.5, -_KG / (2 - 2 * _KR), -_KB / (2 - 2 * _KR)]]) * (np.array([219, 224, 224]) / 255)[:, None],
        np.array([[16], [128], [128]]),
    ],
    axis=1,
).astype(np.float32)  # fmt: skip
_LEFT = np.array([[0.25, 0.5, 0.25]], np.float32)  # horizontal chroma filter centred on the even columns


def yuv_frame(image: np.ndarray, chroma: str = "420") -> av.VideoFrame:
    """An RGB uint8 (H, W, 3) image as a BT.709 limited-range YUV frame (:data:`CHROMA`), rounded to nearest.

    4:2:0 chroma is sited as H.264 and every player assume by default ("left": on the even columns, between
    each pair of rows): each sample is the mean of two rows, filtered 1-2-1 across. libswscale's conversion
    sites it half a pixel to the right, so a decoder shifted every colour edge by that much (on a red-to-blue
    ramp, red read back 1 level low and blue 1.3 high); it also truncated instead of rounding. 17 ms for a
    1080p frame on this project's CPU (libswscale: 4 ms); 4:4:4 5 ms."""
    h, w = image.shape[:2]
    image = np.ascontiguousarray(image)
    if chroma == "444":
        yuv = cv2.transform(image, _YUV)  # uint8: rounded and saturated
        planar = np.ascontiguousarray(yuv.transpose(2, 0, 1), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(planar, format="yuv444p")
    else:  # luma per pixel; chroma only where 4:2:0 keeps it
        rows = cv2.resize(image.astype(np.float32), (w, h // 2), interpolation=cv2.INTER_AREA)  # pairs of rows
        left = np.ascontiguousarray(cv2.filter2D(rows, -1, _LEFT, borderType=cv2.BORDER_REPLICATE)[:, 0::2])
        uv = cv2.convertScaleAbs(cv2.transform(left, _YUV[1:]))  # chroma is linear in RGB: filter, then convert
        planes = np.empty((h * 3 // 2, w), np.uint8)
        planes[:h] = cv2.transform(image, _YUV[:1])  # uint8: rounded and saturated
        planes[h:].reshape(2, h // 2, w // 2)[:] = uv.transpose(2, 0, 1)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.colorspace, frame.color_range = 1, 1  # BT.709, limited range
    return frame


def container_for(path: str | os.PathLike[str]) -> str:
    """The FFmpeg muxer for an output video's extension; :class:`OutputError` for one we do not write."""
    fmt = CONTAINERS.get(Path(path).suffix.lower())
    if fmt is None:
        names = ", ".join(CONTAINERS)
        raise OutputError(f"{path}: cannot write a video with extension '{Path(path).suffix}' (use {names}, "
                          "or a folder name ending in / for PNG frames)")  # fmt: skip
    return fmt


@dataclass(frozen=True)
class AudioSource:
    """The audio to carry over: the first audio stream of ``path`` between ``start`` and ``end``, in
    seconds on the file's own clock (None: to the end). It is placed so that ``start`` becomes time 0."""

    path: Path
    start: float = 0.0
    end: float | None = None


class _AudioTrack:
    """Copies (or, where the container cannot hold the codec, re-encodes) one audio stream into an output,
    interleaved by time with the video the caller writes."""

    def __init__(self, out: av.container.OutputContainer, fmt: str, src: AudioSource) -> None:
        self.src, self._out = src, out
        self._in = av.open(str(src.path))
        self._stream: av.audio.stream.AudioStream = self._in.streams.audio[0]
        self.copied = _can_copy(fmt, self._stream)
        if self.copied:
            self._ostream: Any = out.add_stream_from_template(self._stream)
        else:
            rate = self._stream.codec_context.sample_rate or 48000
            self._ostream = out.add_stream(out.default_audio_codec, rate=rate)
            self._ostream.layout = self._stream.codec_context.layout
            self._resampler: av.AudioResampler | None = None
        self.codec = self._ostream.codec_context.name if not self.copied else self._stream.codec_context.name
        tb = self._stream.time_base
        if src.start > 0 and tb is not None:
            with contextlib.suppress(av.FFmpegError):  # unseekable: read from the beginning
                self._in.seek(int(src.start / tb), stream=self._stream, backward=True)
        self._packets = self._in.demux(self._stream)
        self._pending: av.Packet | None = None
        self._done = False

    def _next(self) -> av.Packet | None:
        while not self._done:
            try:
                p = next(self._packets)
            except (StopIteration, av.FFmpegError):
                self._done = True
                return None
            if p.pts is None or p.time_base is None or p.size == 0:
                continue  # a flush packet, or one with no time to place it by
            t = _seconds(p)
            if t < self.src.start - TIME_EPS:
                continue
            if self.src.end is not None and t >= self.src.end - TIME_EPS:
                self._done = True
                return None
            return p
        return None

    def mux_until(self, t: float) -> None:
        """Write the audio that plays before output time ``t`` (seconds)."""
        while True:
            p = self._pending or self._next()
            self._pending = None
            if p is None:
                return
            if _seconds(p) - self.src.start >= t:
                self._pending = p
                return
            self._write(p)

    def _write(self, p: av.Packet) -> None:
        shift = round(self.src.start / p.time_base)
        if self.copied:
            p.pts = (p.pts or 0) - shift
            if p.dts is not None:
                p.dts -= shift
            p.stream = self._ostream
            self._out.mux(p)
            return
        try:
            frames = p.decode()
        except av.FFmpegError:
            return  # a damaged audio packet: a moment of silence rather than a failed video
        for frame in frames:
            assert isinstance(frame, av.AudioFrame)
            frame.pts = None
            self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        ctx = self._ostream.codec_context
        if self._resampler is None:
            self._resampler = av.AudioResampler(
                format=ctx.format.name, layout=ctx.layout.name, rate=ctx.sample_rate, frame_size=ctx.frame_size or None
            )
        for f in self._resampler.resample(frame):
            self._out.mux(self._ostream.encode(f))
        if frame is None:
            self._out.mux(self._ostream.encode(None))

    def close(self) -> None:
        self.mux_until(math.inf)
        if not self.copied:
            self._encode(None)
        self._in.close()


def _seconds(p: av.Packet) -> float:
    return float((p.pts or 0) * p.time_base) if p.time_base is not None else 0.0


def _can_copy(fmt: str, stream: av.audio.stream.AudioStream) -> bool:
    """Whether muxer ``fmt`` takes ``stream``'s packets as they are (tried on a throw-away header)."""
    import io

    try:
        with av.open(io.BytesIO(), mode="w", format=fmt) as probe:
            if stream.codec_context.name not in (probe.supported_codecs or {stream.codec_context.name}):
                return False
            probe.add_stream_from_template(stream)
            probe.start_encoding()
        return True
    except (av.FFmpegError, ValueError):
        return False


class VideoWriter:
    """Encodes upright RGB frames into a video file, atomically: frames go to a hidden temporary file
    beside ``path`` that replaces ``path`` only when :meth:`close` succeeds (:meth:`abort` removes it).

    H.264 (libx264) at ``crf`` with ``chroma`` subsampling (:data:`CHROMA`: 4:2:0 by default), BT.709, with
    the timestamps the caller gives (``pts`` in ``time_base``), so a variable frame rate survives as it was;
    ``rate`` is only the nominal rate the container records. ``audio`` is copied alongside, re-encoded only
    when the container cannot hold its codec (:attr:`audio_codec`, :attr:`audio_copied` say what happened).
    """

    def __init__(
        self, path: str | os.PathLike[str], width: int, height: int, time_base: Fraction, rate: Fraction | None = None,
        crf: int = DEFAULT_CRF, audio: AudioSource | None = None, chroma: str = "420",
    ) -> None:  # fmt: skip
        self.path = Path(path)
        fmt = container_for(self.path)
        self._chroma = chroma
        if chroma == "420" and (width % 2 or height % 2):
            raise ValueError(f"H.264 4:2:0 needs even sizes, got {width}x{height}")
        self._tmp = temp_beside(self.path)
        opts = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self._out = av.open(str(self._tmp), mode="w", format=fmt, options=opts)
        s = self._out.add_stream("libx264", rate=rate or Fraction(25))
        s.width, s.height, s.pix_fmt = width, height, CHROMA[chroma]
        s.time_base = s.codec_context.time_base = self.time_base = time_base  # the muxer may change the stream's
        s.options = {"crf": str(crf), "preset": "medium"}
        s.codec_context.colorspace = s.codec_context.color_primaries = s.codec_context.color_trc = 1  # BT.709
        self._video, self._last = s, cast(int | None, None)
        self._audio = _AudioTrack(self._out, fmt, audio) if audio is not None else None
        self.audio_codec = self._audio.codec if self._audio else None
        self.audio_copied = bool(self._audio and self._audio.copied)

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one RGB uint8 (H, W, 3) frame shown at ``pts`` (in ``time_base``; made strictly rising)."""
        pts = pts if self._last is None else max(pts, self._last + 1)
        self._last = pts
        frame = yuv_frame(image, self._chroma)
        frame.pts, frame.time_base = pts, self.time_base
        if self._audio is not None:
            self._audio.mux_until(float(pts * self.time_base))
        self._out.mux(self._video.encode(frame))

    def close(self) -> Path:
        """Flush the encoder and the rest of the audio, then put the file in place."""
        try:
            self._out.mux(self._video.encode(None))
            if self._audio is not None:
                self._audio.close()
            self._out.close()
        except BaseException:
            self.abort()
            raise
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        with contextlib.suppress(Exception):
            self._out.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:
            self.abort()
