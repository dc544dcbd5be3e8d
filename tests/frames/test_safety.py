"""Frames commands under hostile data and a hostile environment: rows that climb out of the dataset, two
runs at once, full and read-only disks, what a kill leaves behind, oversized settings, damaged videos."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.videos import make_video, universe_frame
from styleverse import devices
from styleverse.classifier.data import read_dataset
from styleverse.errors import InputError, LockedError
from styleverse.frames.harvest import HarvestConfig, harvest
from styleverse.frames.manifest import MANIFEST_FIELDS, Row, read_manifest, write_manifest
from styleverse.frames.quality import phash_hex
from styleverse.frames.segments import clip_jobs
from styleverse.frames.stats import MAX_PER_SHEET, MAX_THUMB, write_stats
from styleverse.io import lock as lockmod
from styleverse.io.lock import output_lock

Cli = Callable[..., tuple[int, str, str]]
TEMP = ".{}.tmpabcd1234.jpg"  # what a kill in the middle of an atomic write of {} leaves


def dataset(root: Path, per_label: int = 6, labels: tuple[str, ...] = ("gwen", "miles")) -> list[Row]:
    """A small harvested dataset (two sources per label, one frame a second)."""
    rows = []
    for label in labels:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            img = Image.fromarray(universe_frame(label, float(i), (40, 32)))
            rel = f"{label}/{label}{i % 2}_{i * 1000}.jpg"
            img.save(root / rel, quality=95)
            rows.append(Row(rel, label, f"{label}{i % 2}.mp4", float(i), phash_hex(img)))
    write_manifest(root, rows)
    return rows


def add_line(root: Path, line: str) -> None:
    with open(root / "manifest.csv", "a", encoding="utf-8") as f:
        f.write(line + "\n")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- nothing touched outside the dataset --------------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [
        "../outside/x.png,gwen,v.mp4,1.0,00,,harvested",  # augmenting it would write outside/x_aug1.jpg
        "{outside}/x.png,gwen,v.mp4,1.0,00,,harvested",  # absolute
        "gwen/gwen0_0.jpg,../outside,v.mp4,1.0,00,,harvested",  # its clean-up would delete outside/*_augN.jpg
    ],
)
def test_balance_refuses_rows_that_leave_the_dataset(tmp_path: Path, cli: Cli, row: str) -> None:
    ds, outside = tmp_path / "ds", tmp_path / "outside"
    dataset(ds, per_label=6)
    outside.mkdir()
    Image.new("RGB", (40, 32), (200, 10, 10)).save(outside / "x.png")
    (outside / "x_aug1.jpg").write_bytes(b"someone else's file")
    (outside / "y_aug2.jpg").write_bytes(b"someone else's file too")
    before, manifest = tree(outside), (ds / "manifest.csv").read_bytes()
    add_line(ds, row.format(outside=outside))
    code, _, err = cli("frames", "balance", ds, "--per-class", "8", "--quiet")
    assert code == 2 and "manifest.csv line 14" in one_error_line(err)
    assert tree(outside) == before
    assert (ds / "manifest.csv").read_bytes() == manifest + (row.format(outside=outside) + "\n").encode()
    for reader in (read_manifest, read_dataset, lambda d: write_stats(d, per_sheet=4, thumb=32)):
        with pytest.raises(InputError, match="line 14"):
            reader(ds)
    assert not (ds / "stats").exists()


def test_duplicated_rows_count_once(tmp_path: Path) -> None:
    rows = dataset(tmp_path, per_label=6)
    write_manifest(tmp_path, [*rows, rows[0], rows[7]])
    assert len(read_manifest(tmp_path)) == 12
    d = read_dataset(tmp_path, 0.5)
    assert sum(d.counts("train")) + sum(d.counts("val")) == 12
    assert len({s.path for s in (*d.train, *d.val)}) == 12


# --- two runs, one dataset ----------------------------------------------------------------------------


def test_second_run_on_a_locked_dataset_is_refused(tmp_path: Path, cli: Cli) -> None:
    ds = tmp_path / "ds"
    dataset(ds)
    video = make_video(tmp_path / "v.mp4", "pavitr", seconds=1)
    before = (ds / "manifest.csv").read_bytes()
    with output_lock(ds, folder=True, command="styleverse frames harvest --out ds (first run)"):
        code, _, err = cli("frames", "harvest", "--out", ds, "--label", "pavitr", video, "--quiet")
        line = one_error_line(err)
        assert code == 2 and "in use by another styleverse run" in line and "(first run)" in line
        assert f"pid {os.getpid()}" in line
        code, _, err = cli("frames", "balance", ds, "--quiet")
        assert code == 2 and "in use" in one_error_line(err)
        with pytest.raises(LockedError):
            harvest(ds, clip_jobs([("pavitr", [video])]))
    assert (ds / "manifest.csv").read_bytes() == before and not (ds / "pavitr").exists()
    assert cli("frames", "harvest", "--out", ds, "--label", "pavitr", video, "--quiet")[0] == 0  # free again
    assert not (ds / ".styleverse.lock").exists()


# --- full and read-only disks -------------------------------------------------------------------------


def test_disk_full_during_harvest_is_one_line(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    video = make_video(tmp_path / "v.mp4", "miles", seconds=1)

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    code, _, err = cli("frames", "harvest", "--out", tmp_path / "ds", "--label", "miles", video, "--quiet")
    line = one_error_line(err)
    assert code == 2 and "miles/v_0.jpg" in line and "No space left on device (disk full)" in line
    assert "internal error" not in err
    assert [p.name for p in (tmp_path / "ds" / "miles").iterdir()] == []  # no temporary file left


def test_read_only_dataset_is_one_line(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = tmp_path / "ds"
    dataset(ds)
    real_open = os.open

    def read_only(path: str, flags: int, *a: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and Path(path).is_relative_to(ds):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(lockmod.os, "open", read_only)
    before = tree(ds)
    code, _, err = cli("frames", "balance", ds, "--per-class", "8", "--quiet")
    assert code == 2 and f"{ds}: cannot create a lock file there (Read-only file system)" in one_error_line(err)
    video = make_video(tmp_path / "v.mp4", "miles", seconds=1)
    code, _, err = cli("frames", "harvest", "--out", ds, "--label", "miles", video, "--quiet")
    assert code == 2 and "Read-only file system" in one_error_line(err)
    assert tree(ds) == before


def test_read_only_dataset_for_real(tmp_path: Path, cli: Cli) -> None:
    ds = tmp_path / "ds"
    dataset(ds)
    folders = [ds, ds / "gwen", ds / "miles"]
    for f in folders:
        f.chmod(0o555)
    try:
        try:
            with tempfile.NamedTemporaryFile(dir=ds):
                pytest.skip("permissions do not stop this user (root); the monkeypatched test covers it")
        except PermissionError:
            pass
        code, _, err = cli("frames", "balance", ds, "--per-class", "8", "--quiet")
        assert code == 2 and "Permission denied" in one_error_line(err)
    finally:
        for f in folders:
            f.chmod(0o755)


# --- what a kill leaves behind ------------------------------------------------------------------------


def test_temp_files_of_a_killed_run_are_removed_and_never_counted(tmp_path: Path, cli: Cli) -> None:
    ds = tmp_path / "ds"
    dataset(ds)
    leftovers = [ds / "gwen" / TEMP.format("gwen0_0_aug1.jpg"), ds / TEMP.format("manifest.csv")]
    for p in leftovers:
        p.write_bytes((ds / "gwen" / "gwen0_0.jpg").read_bytes())
    (ds / "manifest.csv").rename(tmp_path / "manifest.csv")  # a folder dataset: the temp file is no class image
    assert read_dataset(ds, 0.5).counts("train") == [3, 3]
    (tmp_path / "manifest.csv").rename(ds / "manifest.csv")
    assert cli("frames", "balance", ds, "--per-class", "8", "--quiet")[0] == 0
    assert not any(p.exists() for p in leftovers)
    video = make_video(tmp_path / "v.mp4", "miles", seconds=1)
    left = ds / "pavitr" / TEMP.format("v_0.jpg")
    left.parent.mkdir()
    left.write_bytes(b"half a jpeg")
    assert cli("frames", "harvest", "--out", ds, "--label", "pavitr", video, "--quiet")[0] == 0
    assert not left.exists()


# --- bounds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--thumb", "100000"], f"--thumb must be 16..{MAX_THUMB}"),
        (["--per-sheet", "100000"], f"--per-sheet must be 1..{MAX_PER_SHEET}"),
    ],
)
def test_stats_bounds_refused_before_writing(tmp_path: Path, cli: Cli, flags: list[str], match: str) -> None:
    dataset(tmp_path)
    code, _, err = cli("frames", "stats", tmp_path, *flags, "--quiet")
    assert code == 2 and match in one_error_line(err)
    assert not (tmp_path / "stats").exists()


def test_stats_memory_estimate_refused_up_front(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset(tmp_path)
    monkeypatch.setattr(devices, "available_memory", lambda d: 10 * 2**20)
    code, _, err = cli("frames", "stats", tmp_path, "--thumb", "1024", "--per-sheet", "400", "--quiet")
    assert code == 2 and "a contact sheet needs about" in one_error_line(err) and "lower --thumb" in err
    assert not (tmp_path / "stats").exists()
    assert cli("frames", "stats", tmp_path, "--thumb", "32", "--per-sheet", "4", "--quiet")[0] == 0


def test_stats_never_replaces_a_listed_image(tmp_path: Path, cli: Cli) -> None:
    rows = dataset(tmp_path)
    (tmp_path / "stats").mkdir()
    (tmp_path / "stats" / "gwen.jpg").write_bytes((tmp_path / rows[0].path).read_bytes())
    add_line(tmp_path, "stats/gwen.jpg,gwen,v.mp4,9.0,00,,harvested")
    before = (tmp_path / "stats" / "gwen.jpg").read_bytes()
    code, _, err = cli("frames", "stats", tmp_path, "--quiet")
    assert code == 2 and "stats: holds the input" in one_error_line(err) and "stats/gwen.jpg" in err
    assert (tmp_path / "stats" / "gwen.jpg").read_bytes() == before


# --- damaged videos -----------------------------------------------------------------------------------


def test_truncated_video_warns_how_much_was_read(tmp_path: Path, cli: Cli) -> None:
    full = make_video(tmp_path / "full.mkv", "miles", seconds=4, codec="libx264")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    report = harvest(tmp_path / "a", clip_jobs([("u", [cut])]), HarvestConfig(every=0.5, dedup_threshold=0))
    assert not report.failures and 0 < report.labels["u"].kept < 8
    assert len(report.warnings) == 1 and "of the 4.00 s the video declares (truncated" in report.warnings[0]
    ok = harvest(tmp_path / "b", clip_jobs([("u", [full])]), HarvestConfig(every=0.5, dedup_threshold=0))
    assert ok.warnings == [] and ok.labels["u"].kept == 8
    code, _, err = cli("frames", "harvest", "--out", tmp_path / "c", "--label", "u", cut, "--quiet")
    assert code == 0 and "styleverse: warning: " in err and "truncated or damaged" in err and str(cut) in err


def test_segment_beyond_the_end_warns(tmp_path: Path, cli: Cli) -> None:
    make_video(tmp_path / "film.mp4", "gwen", seconds=2)
    csv = tmp_path / "segments.csv"
    csv.write_text("video,start,end,label\nfilm.mp4,0,1.5,gwen\nfilm.mp4,10,12,miles\nfilm.mp4,1,5,pavitr\n")
    code, _, err = cli("frames", "harvest", "--out", tmp_path / "ds", "--segments", csv, "--quiet")
    warnings = [ln for ln in err.splitlines() if ln.startswith("styleverse: warning:")]
    assert code == 0 and len(warnings) == 2, err
    assert "(miles): the range 10-12 s runs past the video's end at 2.00 s; decoded" in warnings[0]
    assert "(pavitr): the range 1-5 s runs past the video's end at 2.00 s; decoded frames up to 2.0" in warnings[1]
    assert {r.label for r in read_manifest(tmp_path / "ds")} == {"gwen", "pavitr"}


def test_manifest_fields_unchanged() -> None:
    assert MANIFEST_FIELDS == ("path", "label", "source", "timestamp", "phash", "split", "origin")
