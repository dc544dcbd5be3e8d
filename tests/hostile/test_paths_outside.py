"""Paths read from data (a dataset's manifest, a segments CSV that came with an upload, a web upload's path)
that point outside their root are refused in one line: ``..``, absolute paths and symbolic links leading out
all go through the one gate, :func:`styleverse.io.paths.resolve_inside`. These held before this module; it keeps
them holding, each through the real reader."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from styleverse.errors import InputError

ESCAPES = {"climbs": "../outside.jpg", "absolute": "/etc/hostname", "link": "out/outside.jpg"}
SAID = {"climbs": "climbs out with '..'", "absolute": "outside|absolute", "link": "through a symbolic link"}


def _root_with_escape(tmp_path: Path) -> Path:
    """``root/`` beside ``outside.jpg``, with ``root/out`` a symbolic link to the folder above."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.jpg").write_bytes(b"not yours")
    os.symlink(tmp_path, root / "out")
    return root


def _manifest(root: Path, rel: str) -> Callable[[], object]:
    from styleverse.frames.manifest import read_manifest

    header = "path,label,source,timestamp,phash,split,origin"
    (root / "manifest.csv").write_text(f"{header}\n{rel},gwen,v.mp4,0,0,,harvested\n")
    return lambda: read_manifest(root)


def _classifier_manifest(root: Path, rel: str) -> Callable[[], object]:
    from styleverse.classifier.data import read_dataset

    (root / "gwen").mkdir()
    _manifest(root, rel)
    return lambda: read_dataset(root)


def _segments(root: Path, rel: str) -> Callable[[], object]:
    from styleverse.frames.segments import read_segments

    (root / "segments.csv").write_text(f"video,start,end,label\n{rel},0,1,gwen\n")
    return lambda: read_segments(root / "segments.csv", confine=True)


def _upload(root: Path, rel: str) -> Callable[[], object]:
    from styleverse.app.files import Workspace

    work = Workspace(root)
    os.symlink(root.parent, work.uploads / "out")  # the link inside the uploads folder
    return lambda: work.upload(rel)


READERS = {"manifest": _manifest, "classifier manifest": _classifier_manifest, "segments CSV": _segments,
           "upload": _upload}  # fmt: skip


@pytest.mark.parametrize("escape", sorted(ESCAPES))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_path_that_leads_out_of_its_root_is_refused(tmp_path: Path, reader: str, escape: str) -> None:
    root = _root_with_escape(tmp_path)
    read = READERS[reader](root, ESCAPES[escape])
    with pytest.raises(InputError, match=SAID[escape]) as e:
        read()
    assert "\n" not in str(e.value)
    assert (tmp_path / "outside.jpg").read_bytes() == b"not yours"
