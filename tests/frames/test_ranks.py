"""A harvest shared by two processes under torchrun (gloo on CPU) writes the manifest and the frames one
process writes, near-duplicates across videos harvested by different processes included."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.distributed import torchrun
from fixtures.videos import make_video, write_garbage

WORKER = "import sys\nfrom styleverse.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


@pytest.mark.slow
def test_two_processes_harvest_the_one_process_dataset(tmp_path: Path) -> None:
    a = make_video(tmp_path / "in" / "a.mp4", "gwen", seconds=3.0)
    b = make_video(tmp_path / "in" / "b.mp4", "gwen", seconds=3.0)  # the same frames: all duplicates of a's
    c = make_video(tmp_path / "in" / "c.mp4", "miles", seconds=2.0)
    bad = write_garbage(tmp_path / "in" / "bad.mp4")
    runs = {}
    for name, n in (("one", 1), ("two", 2)):
        args = ["frames", "harvest", "--out", str(tmp_path / name), "--every", "0.5", "--quiet"]
        proc = torchrun(WORKER, tmp_path, *args, "--label", "gwen", str(a), str(b), str(bad), "--label", "miles",
                        str(c), nproc=n)  # fmt: skip
        assert proc.returncode == 1, proc.stderr[-3000:]  # the damaged video fails, the others are harvested
        runs[name] = tmp_path / name
    one, two = ((d / "manifest.csv").read_text() for d in runs.values())
    assert one == two and one.count("\n") > 5
    assert "b_" not in one  # b's frames are duplicates of a's, though another process sampled them
    files = {d: sorted(str(p.relative_to(d)) for p in d.rglob("*.jpg")) for d in runs.values()}
    assert files[runs["one"]] == files[runs["two"]]
    assert not list(runs["two"].glob(".harvest-part-*"))
