"""io/video: the writer (timestamps, audio copy or re-encode, atomic file), upright square-pixel frames,
damaged frames skipped with their neighbours' timing kept, and unreadable inputs refused in one line."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from fixtures.clips import audio_seconds, frame_times, pan_frames, write_audio_only, write_clip
from fixtures.videos import write_garbage
from styleverse.errors import InputError, OutputError
from styleverse.io.video import VideoReader, display_size, frame_to_array
from styleverse.io.video_writer import AudioSource, VideoWriter, container_for


def copy_video(src: Path, dst: Path, audio: bool = True) -> VideoWriter:
    """Decode ``src`` and encode it again with :class:`VideoWriter`, timestamps and audio carried over."""
    with VideoReader(src) as r:
        frames = list(r.frames())
        size = display_size(r.info.width, r.info.height, r.info.pixel_aspect, frames[0].frame.rotation)
        source = AudioSource(src, r.offset) if audio and r.info.audio else None
        assert r.info.time_base is not None
        with VideoWriter(dst, *size, r.info.time_base, Fraction(10), audio=source) as w:
            for f in frames:
                assert f.pts is not None and frames[0].pts is not None
                w.write(frame_to_array(f.frame, size, f.frame.rotation, r.reformatter), f.pts - frames[0].pts)
    return w


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_timestamps_survive_the_writer(tmp_path: Path, suffix: str) -> None:
    times = [0.0, 0.1, 0.15, 0.4, 0.45, 0.5, 0.7, 1.3]
    src = write_clip(tmp_path / "vfr.mkv", pan_frames(len(times)), times=times)
    assert frame_times(src, 4) == times
    copy_video(src, tmp_path / f"out{suffix}")
    assert frame_times(tmp_path / f"out{suffix}", 4) == times


def test_audio_is_copied_when_the_container_takes_it(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "a.mp4", pan_frames(10), audio_seconds=1.0)
    w = copy_video(src, tmp_path / "out.mp4")
    assert w.audio_copied and w.audio_codec == "aac"
    assert audio_seconds(tmp_path / "out.mp4") == pytest.approx(audio_seconds(src), abs=0.1)


def test_audio_is_reencoded_only_where_the_container_needs_it(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "a.mov", pan_frames(10), audio_seconds=1.0, audio_codec="pcm_mulaw")
    w = copy_video(src, tmp_path / "out.mp4")  # mp4 cannot hold mu-law
    assert not w.audio_copied and w.audio_codec == "aac"
    assert audio_seconds(tmp_path / "out.mp4") == pytest.approx(1.0, abs=0.1)
    w = copy_video(src, tmp_path / "out.mov")  # QuickTime can
    assert w.audio_copied and w.audio_codec == "pcm_mulaw"


def test_audio_range_is_cut_and_moved_to_time_zero(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "a.mp4", pan_frames(20), audio_seconds=2.0)
    with VideoReader(src) as r:
        frames = [f for f in r.frames(0.5, 1.5)]
        tb = r.info.time_base
        assert tb is not None and frames[0].time == pytest.approx(0.5)
        audio = AudioSource(src, 0.5 + r.offset, 1.5 + r.offset)
        with VideoWriter(tmp_path / "cut.mp4", 64, 48, tb, Fraction(10), audio=audio) as w:
            for f in frames:
                assert f.pts is not None and frames[0].pts is not None
                w.write(frame_to_array(f.frame, (64, 48)), f.pts - frames[0].pts)
    assert frame_times(tmp_path / "cut.mp4", 4)[0] == 0.0 and len(frame_times(tmp_path / "cut.mp4", 4)) == 10
    assert audio_seconds(tmp_path / "cut.mp4") == pytest.approx(1.0, abs=0.1)


def test_rotation_and_pixel_aspect_give_upright_square_pixels(tmp_path: Path) -> None:
    frame = pan_frames(1, occluder=0)[0].copy()
    frame[:8, :8] = (255, 0, 0)  # a red corner at the top left of the stored frame
    src = write_clip(tmp_path / "rot.mp4", [frame] * 3, codec="libx264", rotation=90)
    with VideoReader(src) as r:
        f = next(r.frames()).frame
        assert f.rotation == 90
        size = display_size(r.info.width, r.info.height, r.info.pixel_aspect, f.rotation)
        assert size == (48, 64)
        up = frame_to_array(f, size, f.rotation)
    assert up.shape == (64, 48, 3)
    assert up[-4, 4, 0] > 200 and up[-4, 4, 1] < 80  # turned counter-clockwise: the corner is at the bottom left
    assert display_size(64, 48, Fraction(2, 1)) == (128, 48)
    assert display_size(64, 48, Fraction(1, 2)) == (64, 96)
    assert display_size(1920, 1080, Fraction(1), 0, 256) == (256, 144)
    assert display_size(65, 49) == (64, 48)  # even, as 4:2:0 needs
    sar = write_clip(tmp_path / "sar.mp4", [frame] * 2, codec="libx264", pixel_aspect=Fraction(2, 1))
    with VideoReader(sar) as r:
        assert r.info.pixel_aspect == 2
        assert display_size(r.info.width, r.info.height, r.info.pixel_aspect) == (128, 48)


def test_a_damaged_frame_is_skipped_with_a_warning_and_the_rest_keep_their_times(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(10)]
    src = write_clip(tmp_path / "ok.mkv", frames)
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(src.read_bytes())
    pos, size = packets[5]
    data[pos + size // 3 : pos + size // 3 + 64] = b"\x55" * 64
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="styleverse"), VideoReader(bad) as r:
        got = [round(f.time, 3) for f in r.frames()]
        assert r.skipped >= 1
    assert 0.5 not in got and got[:5] == [0.0, 0.1, 0.2, 0.3, 0.4] and got[-1] == 0.9
    assert "skipped a damaged frame at 0.500 s" in caplog.text


def test_writer_is_atomic_and_checks_its_arguments(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    w = VideoWriter(out, 64, 48, Fraction(1, 10))
    w.write(pan_frames(1)[0], 0)
    w.abort()
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="even"):
        VideoWriter(out, 63, 48, Fraction(1, 10))
    with pytest.raises(OutputError, match="extension"):
        container_for(tmp_path / "o.gif")
    with VideoWriter(out, 64, 48, Fraction(1, 10)) as w:
        for i, f in enumerate(pan_frames(3)):
            w.write(f, i)
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp4"] and out.stat().st_mode & 0o044


def test_unreadable_inputs_are_refused(tmp_path: Path) -> None:
    garbage = write_garbage(tmp_path / "g.mp4")
    with pytest.raises(InputError, match="not a video"):
        VideoReader(garbage)
    clip = write_clip(tmp_path / "c.mp4", pan_frames(10))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(InputError):
        VideoReader(cut)
    sound = write_audio_only(tmp_path / "s.m4a")
    with pytest.raises(InputError, match="no video stream"):
        VideoReader(sound)


def _round_trip(tmp_path: Path, image: np.ndarray, chroma: str) -> tuple[np.ndarray, str]:
    """``image`` written by :class:`VideoWriter` with ``chroma`` (losslessly, crf 0) and read back, and the
    file's pixel format."""
    out = tmp_path / f"c{chroma}.mp4"
    with VideoWriter(out, image.shape[1], image.shape[0], Fraction(1, 10), crf=0, chroma=chroma) as w:
        w.write(image, 0)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        return frame.to_ndarray(format="rgb24"), frame.format.name


def test_chroma_444_keeps_each_pixels_colour_that_420_averages(tmp_path: Path) -> None:
    """A stylised clip's per-pixel colour (here: colour noise) survives 4:4:4 and is averaged over 2x2 pixels
    by 4:2:0; both play back at the written size."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    full, fmt444 = _round_trip(tmp_path, image, "444")
    half, fmt420 = _round_trip(tmp_path, image, "420")
    assert (fmt444, fmt420) == ("yuv444p", "yuv420p")
    err444 = float(np.abs(full.astype(float) - image).mean())
    err420 = float(np.abs(half.astype(float) - image).mean())
    assert err444 < 3 and err420 > 4 * err444, (err444, err420)  # measured: 0.4 and 47 levels


def _colour_ramp(h: int, w: int) -> np.ndarray:
    """Smooth hue and brightness ramps (what 4:2:0 keeps): red-to-blue across, dark-to-light down."""
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0.2, 0.9, h)[:, None, None]
    rgb = np.concatenate([1 - x, 0.5 * np.ones_like(x), x], axis=2) * y
    return (255 * rgb + 0.5).astype(np.uint8)


def test_a_420_clip_reads_back_without_colour_shift_or_chroma_blocks(tmp_path: Path) -> None:
    """Written 4:2:0 losslessly and read back, a smooth colour ramp keeps its colours: no mean shift (the
    default YUV->RGB path truncated: ~1.2 levels dark) and no 2x2 chroma blocks (the default path repeats
    each chroma sample; interpolated, the ramp's neighbouring pixels differ as smoothly as written)."""
    image = _colour_ramp(48, 64)
    path = tmp_path / "ramp.mp4"
    with VideoWriter(path, 64, 48, Fraction(1, 10), crf=0) as w:
        w.write(image, 0)
    with VideoReader(path) as r:
        back = frame_to_array(next(r.frames()).frame, (64, 48), 0, r.reformatter).astype(float)
    bias = (back - image).mean(axis=(0, 1))
    assert np.abs(bias).max() < 0.4, bias
    steps = np.abs(np.diff(back, axis=1)).max()  # the written ramp changes by at most ~4 levels a pixel
    assert steps <= 6, steps
    assert np.abs(back - image).mean() < 1.0


@pytest.mark.parametrize(("height", "space"), [(720, "ITU709"), (480, "ITU601")])
def test_an_untagged_frame_is_read_with_the_matrix_its_size_implies(height: int, space: str) -> None:
    """A frame with no colour-matrix tag is BT.709 when HD (720 lines or more), BT.601 below, as players
    assume: a saturated colour converted with that matrix reads back as written."""
    image = np.zeros((height, 16, 3), dtype=np.uint8)
    image[..., 0], image[..., 2] = 200, 40
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=space, dst_color_range="MPEG"
    )
    frame.colorspace = 2  # unspecified
    back = frame_to_array(frame, (16, height)).astype(float)
    assert np.abs(back - image).max() <= 2, np.abs(back - image).max()
