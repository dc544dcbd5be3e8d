"""The confinement rule for paths read from data files, and the plain-name rule for labels."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from styleverse.errors import ConfigError, InputError
from styleverse.frames.manifest import MANIFEST_FIELDS, Row, read_manifest, write_manifest
from styleverse.frames.segments import check_label, read_segments
from styleverse.io.paths import is_plain_name, resolve_inside


def test_relative_paths_inside_the_root_are_joined_not_resolved(tmp_path: Path) -> None:
    assert resolve_inside(tmp_path, "gwen/a.jpg") == tmp_path / "gwen" / "a.jpg"
    assert resolve_inside(tmp_path, "./gwen//a.jpg") == tmp_path / "gwen" / "a.jpg"
    assert resolve_inside(tmp_path, " gwen/a b.jpg ") == tmp_path / "gwen" / "a b.jpg"  # need not exist
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")  # a link that stays inside is fine
    assert resolve_inside(tmp_path, "alias/x.jpg") == tmp_path / "alias" / "x.jpg"


@pytest.mark.parametrize(
    ("rel", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a\x00b.jpg", "invalid"),
        ("/etc/passwd", "absolute"),
        ("C:\\Users\\x.jpg", "absolute"),
        ("\\\\server\\share\\x.jpg", "absolute"),
        ("gwen\\..\\..\\x.jpg", "backslash"),
        ("../x.jpg", r"climbs out"),
        ("gwen/../../x.jpg", r"climbs out"),
        ("gwen/..", r"climbs out"),
    ],
)
def test_paths_that_leave_the_root_are_refused(tmp_path: Path, rel: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        resolve_inside(tmp_path / "root", rel, "data/manifest.csv line 3")
    assert str(err.value).startswith("data/manifest.csv line 3: ") and "\n" not in str(err.value)


def test_symbolic_links_out_of_the_root_and_loops_are_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "escape")
    with pytest.raises(InputError, match="symbolic link"):
        resolve_inside(root, "escape/x.jpg")
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    with pytest.raises(InputError, match="loop"):
        resolve_inside(root, "loop_a/x.jpg")


@pytest.mark.parametrize("name", ["gwen", "miles-42", "earth_65", "Ünïcode", "a b"])
def test_plain_names(name: str) -> None:
    assert is_plain_name(name)
    assert check_label(name) == name


@pytest.mark.parametrize("name", ["", " gwen", "gwen ", ".", "..", ".hidden", "a/b", "../x", "a\\b", "c:", "a\nb", "*"])
def test_not_plain_names(name: str) -> None:
    assert not is_plain_name(name)
    with pytest.raises(ConfigError, match="folder name"):
        check_label(name)


def _manifest(root: Path, lines: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_text(",".join(MANIFEST_FIELDS) + "\n" + "".join(f"{ln}\n" for ln in lines))


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("../../x.png,gwen,v.mp4,1.0,00,,harvested", "line 2: path '../../x.png' climbs out"),
        ("/tmp/x.png,gwen,v.mp4,1.0,00,,harvested", "line 2: path '/tmp/x.png' is absolute"),
        ("gwen/a.jpg,../../somewhere,v.mp4,1.0,00,,harvested", "line 2: label '../../somewhere' cannot be a folder"),
        ("gwen/a.jpg,stats,v.mp4,1.0,00,,harvested", "line 2: label 'stats' is reserved"),
        ("gwen/a.jpg,,v.mp4,1.0,00,,harvested", "line 2: label '' cannot be a folder"),
    ],
)
def test_manifest_rows_are_confined_and_labels_plain(tmp_path: Path, line: str, match: str) -> None:
    _manifest(tmp_path / "ds", [line])
    with pytest.raises(InputError, match=match):
        read_manifest(tmp_path / "ds")


def test_manifest_repeated_row_dropped_with_warning_conflict_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    rows = [Row("gwen/a.jpg", "gwen", "v.mp4", 1.0, "00"), Row("gwen/b.jpg", "gwen", "v.mp4", 2.0, "00")]
    write_manifest(ds, [*rows, rows[0]])
    with caplog.at_level(logging.WARNING, logger="styleverse"):
        assert read_manifest(ds) == rows
    assert "line 4: repeats gwen/a.jpg of line 2" in caplog.text
    _manifest(ds, ["gwen/a.jpg,gwen,v.mp4,1.0,00,,harvested", "gwen/a.jpg,miles,v.mp4,1.0,00,,harvested"])
    with pytest.raises(InputError, match=r"line 3: gwen/a\.jpg is labelled 'miles' here and 'gwen' on line 2"):
        read_manifest(ds)


def test_segments_videos_may_be_anywhere_unless_confined(tmp_path: Path) -> None:
    up = tmp_path / "upload"
    up.mkdir()
    csv = up / "segments.csv"
    csv.write_text("video,start,end,label\nfilm.mkv,0,1,gwen\n../elsewhere/film.mkv,0,1,miles\n")
    jobs = read_segments(csv)  # the command line: the user's own films, wherever they are
    assert [j.video for j in jobs] == [up / "film.mkv", up / "../elsewhere/film.mkv"]
    with pytest.raises(InputError, match=r"line 3: path '../elsewhere/film.mkv' climbs out"):
        read_segments(csv, confine=True)
    csv.write_text("video,start,end,label\n/abs/film.mkv,0,1,gwen\n")
    with pytest.raises(InputError, match=r"line 2: path '/abs/film\.mkv' is absolute"):
        read_segments(csv, confine=True)
