"""Frame harvesting: sampling times and names, segments CSV, de-duplication, blank frames, resume, failures."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.videos import make_film, make_video, write_garbage
from styleverse.errors import ConfigError, InputError
from styleverse.frames.harvest import (
    MANIFEST_FIELDS,
    FrameDone,
    HarvestConfig,
    JobSkipped,
    Row,
    clip_jobs,
    harvest,
    parse_time,
    read_manifest,
    read_segments,
    write_manifest,
)
from styleverse.frames.quality import DedupIndex, blank_reason, luminance_stats
from styleverse.io.video import VideoReader

NO_DEDUP = HarvestConfig(every=0.5, dedup_threshold=0)

Cli = Callable[..., tuple[int, str, str]]


def times(rows: list[Row], label: str | None = None) -> list[float]:
    return [r.timestamp for r in rows if label is None or r.label == label]


# --- small pieces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90.25", 90.25), ("1:30", 90.0), ("00:01:30.500", 90.5), ("01:00:00", 3600.0), (" 2.5 ", 2.5)],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1", "nan", "inf", "1:60", "00:60:00", "1:2:3:4", "1:30:"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_dedup_index_threshold_is_strict_and_zero_disables() -> None:
    index = DedupIndex(6, ["0000000000000000"])
    assert index.nearest("000000000000003f") == 6
    assert not index.is_duplicate("000000000000003f")  # 6 bits apart is not "fewer than 6"
    assert index.is_duplicate("000000000000001f")
    assert DedupIndex(7, ["0000000000000000"]).is_duplicate("000000000000003f")
    assert not DedupIndex(0, ["0000000000000000"]).is_duplicate("0000000000000000")
    many = DedupIndex(1, [f"{i:016x}" for i in range(200)])  # grows past its initial capacity
    assert len(many) == 200 and many.is_duplicate(f"{199:016x}") and not many.is_duplicate(f"{1 << 40:016x}")


def test_blank_reason() -> None:
    def img(arr: np.ndarray) -> Image.Image:
        return Image.fromarray(arr.astype(np.uint8), "RGB")

    assert blank_reason(img(np.zeros((48, 64, 3)))) == "black"
    assert blank_reason(img(np.full((48, 64, 3), 255))) == "white"
    assert blank_reason(img(np.full((48, 64, 3), 128))) == "flat"
    texture = np.random.default_rng(0).integers(0, 255, (48, 64, 3))
    assert blank_reason(img(texture)) is None
    assert blank_reason(img(texture * 0.05)) == "black"  # the dark end of a fade
    assert blank_reason(img(np.zeros((48, 64, 3))), threshold=0) is None


def test_manifest_roundtrip_and_errors(tmp_path: Path) -> None:
    rows = [
        Row("a/x_0.jpg", "a", "clips/x.mp4", 0.0, "ff00ff00ff00ff00"),
        Row("b/y_1500.jpg", "b", "y,1.mkv", 1.5, "0"),
    ]
    write_manifest(tmp_path, rows)
    text = (tmp_path / "manifest.csv").read_text()
    assert text.splitlines()[0] == "path,label,source,timestamp,phash,split,origin"
    assert read_manifest(tmp_path) == rows
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]  # no temp files left
    assert read_manifest(tmp_path / "none", missing_ok=True) == []
    with pytest.raises(InputError, match="no manifest"):
        read_manifest(tmp_path / "none")
    (tmp_path / "manifest.csv").write_text("path,label\nx,y\n")
    with pytest.raises(InputError, match="header"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text(",".join(MANIFEST_FIELDS) + "\na,b,c,notanumber,d,,harvested\n")
    with pytest.raises(InputError, match="line 2: timestamp"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text(",".join(MANIFEST_FIELDS) + "\na,b,c\n")
    with pytest.raises(InputError, match="line 2: expected 7 fields"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text(",".join(MANIFEST_FIELDS) + "\na,b,c,1,d,test,harvested\n")
    with pytest.raises(InputError, match="unknown split 'test'"):
        read_manifest(tmp_path)


# --- harvesting clips and segments --------------------------------------------------------------------


def test_clip_harvest_times_names_and_manifest(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clips" / "miles.mp4", "miles", seconds=3, fps=10)
    out = tmp_path / "ds"
    report = harvest(out, clip_jobs([("miles", [str(video)])]), NO_DEDUP)
    rows = read_manifest(out)
    assert times(rows) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [r.path for r in rows] == [f"miles/miles_{ms}.jpg" for ms in (0, 500, 1000, 1500, 2000, 2500)]
    assert {(r.label, r.source, r.split, r.origin) for r in rows} == {("miles", str(video), "", "harvested")}
    assert all(len(r.phash) == 16 and int(r.phash, 16) >= 0 for r in rows)
    assert report.labels["miles"].kept == 6 and not report.failures
    with Image.open(out / rows[0].path) as im:
        assert im.size == (64, 48) and im.format == "JPEG"


def test_clip_harvest_every_frame_fps_and_size(tmp_path: Path) -> None:
    video = make_video(tmp_path / "gwen.mkv", "gwen", seconds=2, fps=10, codec="libx264")
    every_frame = harvest(tmp_path / "a", clip_jobs([("g", [video])]), HarvestConfig(every=0, dedup_threshold=0))
    assert every_frame.labels["g"].kept == 20
    assert times(read_manifest(tmp_path / "a")) == pytest.approx([i / 10 for i in range(20)])
    small = HarvestConfig(every=1 / 4, size=32, dedup_threshold=0)  # what --fps 4 --size 32 asks for
    harvest(tmp_path / "b", clip_jobs([("g", [video])]), small)
    rows = read_manifest(tmp_path / "b")
    assert times(rows) == pytest.approx([0.0, 0.3, 0.5, 0.8, 1.0, 1.3, 1.5, 1.8])  # first frame at/after k/4
    with Image.open(tmp_path / "b" / rows[0].path) as im:
        assert im.size == (32, 24)


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_segment_harvest_seconds_and_hms(tmp_path: Path, codec: str) -> None:
    folder = tmp_path / "film"
    make_film(folder / "film.mp4", [("miles", 2), ("gwen", 2), ("pavitr", 3)], codec=codec)
    csv_path = folder / "segments.csv"
    csv_path.write_text(
        "video,start,end,label\nfilm.mp4,0,2,miles\nfilm.mp4,00:00:02.000,00:00:03.500,gwen\nfilm.mp4,0:05,6.9,pavitr\n"
    )
    jobs = read_segments(csv_path)
    assert [(j.source, j.start, j.end, j.label) for j in jobs][1] == ("film.mp4", 2.0, 3.5, "gwen")
    harvest(tmp_path / "ds", jobs, NO_DEDUP)
    rows = read_manifest(tmp_path / "ds")
    assert times(rows, "miles") == [0.0, 0.5, 1.0, 1.5]
    assert times(rows, "gwen") == [2.0, 2.5, 3.0]
    assert times(rows, "pavitr") == [5.0, 5.5, 6.0, 6.5]  # after a seek into the film
    assert {r.source for r in rows} == {"film.mp4"}
    assert "gwen/film_2500.jpg" in {r.path for r in rows}


def test_segment_seeks_instead_of_decoding_from_the_start(tmp_path: Path) -> None:
    film = make_film(tmp_path / "f.mp4", [("miles", 10)], fps=10)  # mpeg4: a key frame every 12 frames
    with VideoReader(film) as reader:
        assert reader.info.duration == pytest.approx(10.0) and reader.info.fps == 10
        assert reader.expected_samples(8.0, 9.0, 0.25) == 4
        got = [round(t, 3) for t, _ in reader.sample(8.0, 9.0, 0.25)]
        assert got == [8.0, 8.3, 8.5, 8.8]
        assert reader.decoded <= 10 + 12
    with VideoReader(film) as reader:
        assert [round(t, 3) for t, _ in reader.sample(0.0, 0.5, 0)] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_segments_csv_header_and_extra_columns(tmp_path: Path) -> None:
    make_film(tmp_path / "f.mp4", [("miles", 1)])
    (tmp_path / "s.csv").write_text("\ufeffLabel, Video ,start,end,note\nmiles,f.mp4,0,1,first scene\n\n")
    (job,) = read_segments(tmp_path / "s.csv")
    assert (job.label, job.video, job.start, job.end) == ("miles", tmp_path / "f.mp4", 0.0, 1.0)


# --- quality: duplicates and blanks -------------------------------------------------------------------


def test_dedup_static_collapses_moving_survives(tmp_path: Path) -> None:
    static = make_video(tmp_path / "static.mp4", "hq", seconds=3, motion=False)
    static2 = make_video(tmp_path / "again.mp4", "hq", seconds=1, motion=False)
    moving = make_video(tmp_path / "moving.mp4", "hq", seconds=3)
    cfg = HarvestConfig(every=0.5)
    jobs = clip_jobs([("still", [static, static2]), ("move", [moving]), ("other", [static])])
    report = harvest(tmp_path / "ds", jobs, cfg)
    assert (report.labels["still"].kept, report.labels["still"].duplicates) == (1, 7)  # across both clips
    assert report.labels["other"].kept == 1  # de-duplication is per label
    assert report.labels["move"].kept == 6
    off = harvest(tmp_path / "off", clip_jobs([("still", [static])]), HarvestConfig(every=0.5, dedup_threshold=0))
    assert off.labels["still"].kept == 6


def test_dedup_threshold_matters_when_sampling_every_frame(tmp_path: Path) -> None:
    video = make_video(tmp_path / "m.mp4", "miles", seconds=2, fps=10)
    kept = {
        th: harvest(tmp_path / f"d{th}", clip_jobs([("m", [video])]), HarvestConfig(every=0, dedup_threshold=th))
        .labels["m"]
        .kept
        for th in (0, 6, 16)
    }
    assert kept[0] == 20 and kept[16] < kept[6] < 20


def test_blank_black_white_and_fade_frames_dropped(tmp_path: Path) -> None:
    film = make_film(tmp_path / "f.mp4", [("pavitr", 1), ("black", 1), ("white", 1), ("fade", 1), ("miles", 1)])
    cfg = HarvestConfig(every=0.25, dedup_threshold=0)
    report = harvest(tmp_path / "ds", clip_jobs([("u", [film])]), cfg)
    rows = read_manifest(tmp_path / "ds")
    kept_t = times(rows)
    assert not [t for t in kept_t if 1.0 <= t < 3.0]  # black and white parts
    # fade to black: samples at brightness 0.9, 0.6, 0.4 still show the universe; 0.1 is dropped
    assert [t for t in kept_t if 3.0 <= t < 4.0] == [3.0, 3.3, 3.5]
    assert len([t for t in kept_t if t < 1 or t >= 4]) == 8
    assert report.labels["u"].blank == 4 + 4 + 1
    for r in rows:
        with Image.open(tmp_path / "ds" / r.path) as im:
            assert luminance_stats(im)[1] >= cfg.blank_threshold
    off = harvest(tmp_path / "off", clip_jobs([("u", [film])]), HarvestConfig(every=0.25, blank_threshold=0))
    assert off.labels["u"].blank == 0


# --- resume, interruption, failures -------------------------------------------------------------------


def test_rerun_adds_nothing_and_does_not_decode(tmp_path: Path) -> None:
    clips = [make_video(tmp_path / f"{u}.mp4", u, seconds=2) for u in ("miles", "gwen")]
    jobs = clip_jobs([("a", clips[:1]), ("b", clips[1:])])
    out = tmp_path / "ds"
    harvest(out, jobs, NO_DEDUP)
    before = (out / "manifest.csv").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    events: list[object] = []
    report = harvest(out, jobs, NO_DEDUP, events.append)
    assert (out / "manifest.csv").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == mtimes
    assert [type(e) for e in events] == [JobSkipped, JobSkipped]
    assert report.labels["a"].kept == 0 and report.labels["a"].existing == 4
    make_video(clips[1], "gwen", seconds=3)  # a changed video is looked at again: one new frame
    events.clear()
    report = harvest(out, jobs, NO_DEDUP, events.append)
    assert JobSkipped in {type(e) for e in events} and report.labels["b"].kept == 2
    assert len(read_manifest(out)) == 10


@pytest.mark.parametrize("dedup", [6, 0])
def test_resume_restores_deleted_rows_and_files_without_duplicates(tmp_path: Path, dedup: int) -> None:
    film = make_film(tmp_path / "f.mp4", [("miles", 3), ("gwen", 3)])
    jobs = clip_jobs([("u", [film])])
    cfg = HarvestConfig(every=0.5, dedup_threshold=dedup)
    out = tmp_path / "ds"
    harvest(out, jobs, cfg)
    full = read_manifest(out)
    assert len(full) == 12
    write_manifest(out, full[:-3])  # rows gone, files still there (killed before the manifest flush)
    (out / full[-4].path).unlink()  # and a listed file gone
    report = harvest(out, jobs, cfg)
    after = read_manifest(out)
    assert report.pruned == 1 and report.labels["u"].kept == 4 and report.labels["u"].existing == 8
    assert [r.path for r in after] == [r.path for r in full[:-4]] + [r.path for r in full[-4:]]  # no duplicates
    assert {r.path: r for r in after} == {r.path: r for r in full}
    for r in full[-4:]:
        (out / r.path).unlink()
    write_manifest(out, full[:-4])
    harvest(out, jobs, cfg)
    assert sorted(r.path for r in read_manifest(out)) == sorted(r.path for r in full)


def test_interrupted_run_leaves_valid_dataset_and_resumes(tmp_path: Path) -> None:
    film = make_film(tmp_path / "f.mp4", [("miles", 3), ("pavitr", 3)])
    jobs = clip_jobs([("u", [film])])
    cfg = HarvestConfig(every=0.25, flush_every=3)
    reference = harvest(tmp_path / "ref", jobs, cfg)
    out = tmp_path / "ds"
    seen: list[FrameDone] = []

    def stop_after_seven(event: object) -> None:
        if isinstance(event, FrameDone) and event.outcome == "kept":
            seen.append(event)
            on_disk = read_manifest(out, missing_ok=True)  # what a hard kill (no clean-up) would leave
            assert len(seen) - len(on_disk) < cfg.flush_every
            assert all((out / r.path).is_file() for r in on_disk)
            if len(seen) == 7:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        harvest(out, jobs, cfg, stop_after_seven)
    partial = read_manifest(out)
    assert len(partial) == 7 and all((out / r.path).is_file() for r in partial)
    harvest(out, jobs, cfg)
    final = read_manifest(out)
    assert [r.path for r in final] == [r.path for r in read_manifest(tmp_path / "ref")]
    assert len(final) == reference.labels["u"].kept


def test_corrupt_and_missing_videos_fail_alone(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", "miles", seconds=2)
    bad = write_garbage(tmp_path / "bad.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    other = make_video(tmp_path / "other.mp4", "gwen", seconds=2)
    jobs = clip_jobs([("a", [bad, good, tmp_path / "missing.mp4", empty]), ("b", [other])])
    report = harvest(tmp_path / "ds", jobs, NO_DEDUP)
    assert [j.video.name for j, _ in report.failures] == ["bad.mp4", "missing.mp4", "empty.mp4"]
    assert all("\n" not in msg and str(j.video) in msg for j, msg in report.failures)
    assert "no such video file" in report.failures[1][1]
    assert report.labels["a"].errors == 3 and report.labels["a"].kept == 4 and report.labels["b"].kept == 4


def test_same_stem_different_videos_refused(tmp_path: Path) -> None:
    a = make_video(tmp_path / "x" / "clip.mp4", "miles", seconds=1)
    b = make_video(tmp_path / "y" / "clip.mp4", "gwen", seconds=1)
    with pytest.raises(ConfigError, match="share the name"):
        clip_jobs([("u", [a, b])])
    clip_jobs([("u", [a]), ("v", [b])])  # different labels: different folders, fine
    harvest(tmp_path / "ds", clip_jobs([("u", [a])]), NO_DEDUP)
    c = make_video(tmp_path / "clip.mkv", "gwen", seconds=1)
    with pytest.raises(ConfigError, match="reuse the frame names"):
        harvest(tmp_path / "ds", clip_jobs([("u", [c])]), NO_DEDUP)


def test_bad_settings_write_nothing(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", "miles", seconds=1)
    for cfg in (HarvestConfig(every=-1), HarvestConfig(size=4), HarvestConfig(dedup_threshold=65)):
        with pytest.raises(ConfigError):
            harvest(tmp_path / "ds", clip_jobs([("u", [video])]), cfg)
    for label in ("", ".hidden", "a/b", "stats"):
        with pytest.raises(ConfigError):
            clip_jobs([(label, [video])])
    assert not (tmp_path / "ds").exists()


# --- command line -------------------------------------------------------------------------------------


def test_cli_harvest_labels_and_corrupt_video(tmp_path: Path, cli: Cli) -> None:
    m1 = make_video(tmp_path / "m1.mp4", "miles", seconds=2)
    m2 = make_video(tmp_path / "m2.mkv", "pavitr", seconds=2, codec="libx264")
    g = make_video(tmp_path / "g.mp4", "gwen", seconds=3)
    bad = write_garbage(tmp_path / "bad.mp4")
    out = tmp_path / "ds"
    code, stdout, stderr = cli("frames", "harvest", "--out", out, "--label", "miles", m1, m2, "--label", "gwen", g)
    assert code == 0, stderr
    assert "miles" in stdout and "gwen" in stdout and "duplicates" in stdout
    assert len(read_manifest(out)) == 7
    code, stdout, stderr = cli("frames", "harvest", "--out", out, "--label", "miles", m1, bad, "--quiet")
    assert code == 1
    assert f"{bad}: not a video" in stderr and "1 of 2 videos failed" in stderr
    assert "Traceback" not in stderr and len(read_manifest(out)) == 7


def test_cli_segments_end_to_end(tmp_path: Path, cli: Cli) -> None:
    make_film(tmp_path / "in" / "film.mp4", [("miles", 2), ("black", 1), ("gwen", 2)])
    (tmp_path / "in" / "seg.csv").write_text("video,start,end,label\nfilm.mp4,0,3,miles\nfilm.mp4,3,5,gwen\n")
    code, stdout, stderr = cli("frames", "harvest", "--out", tmp_path / "ds", "--segments", tmp_path / "in/seg.csv")
    assert code == 0, stderr
    with (tmp_path / "ds" / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["label"], r["timestamp"]) for r in rows] == [
        ("miles", "0.000"),
        ("miles", "1.000"),
        ("gwen", "3.000"),
        ("gwen", "4.000"),
    ]
    assert "blank" in stdout


BAD_CSVS = {
    "header": ("film,from,to,universe\nf.mp4,0,1,a\n", "header must be"),
    "time": ("video,start,end,label\nf.mp4,0,1,a\nf.mp4,1:2:3:4,5,a\n", "line 3"),
    "order": ("video,start,end,label\nf.mp4,00:00:05,00:00:01.500,a\n", "not after start"),
    "fields": ("video,start,end,label\nf.mp4,0,1\n", "expected 4 fields"),
    "label": ("video,start,end,label\nf.mp4,0,1,a/b\n", "line 2"),
    "reserved": ("video,start,end,label\nf.mp4,0,1,stats\n", "reserved"),
    "empty": ("video,start,end,label\n", "no segments"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_cli_bad_csv_is_one_line_exit_2_nothing_written(tmp_path: Path, cli: Cli, case: str) -> None:
    text, message = BAD_CSVS[case]
    make_film(tmp_path / "f.mp4", [("miles", 1)])
    (tmp_path / "s.csv").write_text(text)
    code, _, stderr = cli("frames", "harvest", "--out", tmp_path / "ds", "--segments", tmp_path / "s.csv")
    assert code == 2
    assert message in one_error_line(stderr)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--segments", "{tmp}/missing.csv"],
        ["--label", "a", "{tmp}/v.mp4", "--every", "-1"],
        ["--label", "a", "{tmp}/v.mp4", "--every", "1", "--fps", "2"],
        ["--label", "a"],
        ["--label", "a", "{tmp}/v.mp4", "--segments", "{tmp}/s.csv"],
        ["--label", "a", "{tmp}/v.mp4", "--size", "8"],
        ["--label", "a", "{tmp}/v.mp4", "--dedup-threshold", "70"],
        [],
    ],
)
def test_cli_bad_flags_exit_2_nothing_written(tmp_path: Path, cli: Cli, args: list[str]) -> None:
    make_video(tmp_path / "v.mp4", "miles", seconds=1)
    code, _, stderr = cli("frames", "harvest", "--out", tmp_path / "ds", *(a.format(tmp=tmp_path) for a in args))
    assert code == 2
    one_error_line(stderr)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("sub", ["harvest", "balance", "stats"])
def test_cli_help(cli: Cli, sub: str) -> None:
    code, stdout, _ = cli("frames", sub, "--help")
    assert code == 0 and "--quiet" in stdout and "(default: None)" not in stdout


def test_cli_fps_and_size(tmp_path: Path, cli: Cli) -> None:
    video = make_video(tmp_path / "v.mp4", "hq", seconds=2, size=(96, 64))
    code, _, err = cli(
        "frames", "harvest", "--out", tmp_path / "ds", "--label", "hq", video, "--fps", "2", "--size", "48"
    )
    assert code == 0, err
    rows = read_manifest(tmp_path / "ds")
    assert times(rows) == [0.0, 0.5, 1.0, 1.5]
    with Image.open(tmp_path / "ds" / rows[-1].path) as im:
        assert im.size == (48, 32)
