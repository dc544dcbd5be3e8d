"""A video job split at shot cuts and chunks, shared by processes under torchrun (gloo on CPU): the plan, the
deal, and end to end the same frames as one process, a killed rank continued without losing a frame, and a
second launch on the same output refused."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from fixtures.clips import pan_frames, write_clip
from fixtures.distributed import torchrun
from fixtures.videos import universe_frame
from styleverse.distributed import deal
from styleverse.io.lock import output_lock
from styleverse.io.video import VideoReader
from styleverse.video.segments import Segment, blend_weights, find_cuts, plan_segments

TINY = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--style-layers", "relu1_1", "relu2_1",
        "--content-layers", "relu2_1", "--steps-first", "4", "--steps", "2", "--passes", "1"]  # fmt: skip

WORKER = textwrap.dedent(
    """
    import os, sys
    from styleverse.cli.main import main
    from styleverse.video import work

    rank, log = os.environ["RANK"], os.environ.get("SAVED_LOG")
    kill_after = int(os.environ.get("KILL_AFTER", "0")) if os.environ.get("KILL_RANK") == rank else 0
    plain_save, saved = work.WorkFolder.save, []

    def save(self, records, stylizer, segment=None):
        plain_save(self, records, stylizer, segment)
        if segment is None:
            return
        saved.append(records[-1]["index"] * 2 + bool(records[-1].get("lead")))
        if log:
            with open(f"{log}.{rank}", "a") as f:
                f.write(f"{saved[-1]}\\n")
        if kill_after and len(saved) == kill_after:
            os._exit(9)  # killed: no clean-up, no Python exit handlers

    work.WorkFolder.save = save
    sys.exit(main(sys.argv[1:]))
    """
)


def two_shots(path: Path) -> Path:
    """A 20-frame clip: a 10-frame pan, a cut, 10 frames of another look (48x32, 10 fps)."""
    other = [universe_frame("miles", 0.1 * i, (48, 32)) for i in range(10)]
    return write_clip(path, pan_frames(10, (48, 32)) + other)


def style_image(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(pan_frames(1, (40, 40), occluder=0, seed=7)[0]).save(path)
    return path


def test_segments_are_shots_then_chunks_led_in_by_the_chunk_before() -> None:
    segs = plan_segments(20, [10], chunk_frames=6, overlap=2)
    assert segs == [Segment(0, 6), Segment(6, 10, 2), Segment(10, 16), Segment(16, 20, 2)]
    assert [s.frames for s in segs] == [6, 6, 6, 6] and segs[1].first == 4
    assert plan_segments(20, [10]) == [Segment(0, 10), Segment(10, 20)]
    assert plan_segments(5, [], chunk_frames=2, overlap=4) == [Segment(0, 2), Segment(2, 4, 2), Segment(4, 5, 2)]
    assert blend_weights(segs) == {4: 1 / 3, 5: 2 / 3, 14: 1 / 3, 15: 2 / 3}


def test_deal_balances_frame_counts_the_same_way_on_every_rank() -> None:
    hands = deal([10, 3, 7, 2, 8], 2)
    assert hands == [[0, 1, 3], [2, 4]]  # 10 -> 0, 8 -> 1, 7 -> 1, 3 -> 0, 2 -> 0
    loads = [sum([10, 3, 7, 2, 8][i] for i in h) for h in hands]
    assert sorted(i for h in hands for i in h) == [0, 1, 2, 3, 4] and abs(loads[0] - loads[1]) <= 2
    assert deal([1.0], 3) == [[0], [], []]


def test_cuts_are_found_where_the_look_changes_and_not_in_a_pan(tmp_path: Path) -> None:
    with VideoReader(two_shots(tmp_path / "cut.mp4")) as r:
        assert find_cuts(r.frames(), r.reformatter) == ([10], 20)
    with VideoReader(write_clip(tmp_path / "pan.mp4", pan_frames(12, (48, 32)))) as r:
        assert find_cuts(r.frames(), r.reformatter) == ([], 12)


def _saved(log: Path) -> set[int]:
    return {int(x) for p in log.parent.glob(log.name + ".*") for x in p.read_text().split()}


@pytest.mark.slow
def test_two_processes_match_one_and_a_killed_rank_loses_no_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = two_shots(tmp_path / "in" / "clip.mp4")
    args = ["--style", str(style_image(tmp_path / "in" / "style.png")), "--chunk-frames", "6", "--overlap", "2", *TINY]
    one = torchrun(WORKER, tmp_path, "video", str(clip), "-o", f"{tmp_path}/one/", *args, nproc=1)
    assert one.returncode == 0, one.stderr[-3000:]

    monkeypatch.setenv("SAVED_LOG", str(tmp_path / "killed"))
    monkeypatch.setenv("KILL_RANK", "1")
    monkeypatch.setenv("KILL_AFTER", "3")
    killed = torchrun(WORKER, tmp_path, "video", str(clip), "-o", f"{tmp_path}/two/", *args)
    assert killed.returncode != 0 and (tmp_path / "two.work" / "state.safetensors").is_file()
    before = _saved(tmp_path / "killed")
    assert len(before) >= 3

    monkeypatch.setenv("SAVED_LOG", str(tmp_path / "again"))
    monkeypatch.delenv("KILL_RANK")
    again = torchrun(WORKER, tmp_path, "video", str(clip), "-o", f"{tmp_path}/two/", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _saved(tmp_path / "again")
    assert not before & after, "a frame finished before the kill was stylised again"
    assert len(before | after) == 24  # 20 frames and 2 lead-ins of 2 frames

    pngs = {d: {p.name: p.read_bytes() for p in sorted((tmp_path / d).glob("*.png"))} for d in ("one", "two")}
    assert len(pngs["one"]) == 20 and pngs["one"] == pngs["two"]
    sides = [json.loads((tmp_path / f"{d}.json").read_text()) for d in ("one", "two")]
    assert [f["losses"] for f in sides[0]["frames"]] == [f["losses"] for f in sides[1]["frames"]]
    # frame 11 starts a shot: steps_first (frame 12 gets 2 plus the share of its pixels the flow cannot carry)
    assert [f["steps"] for f in sides[0]["frames"]][9:11] == [2, 4]
    assert not (tmp_path / "two.work").exists()


@pytest.mark.slow
def test_a_second_launch_on_a_locked_output_is_refused_by_every_rank(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", pan_frames(4, (48, 32)))
    out, style = tmp_path / "out.mp4", style_image(tmp_path / "style.png")
    with output_lock(out):
        proc = torchrun(WORKER, tmp_path, "video", str(clip), "-o", str(out), "--style", str(style), *TINY)
    assert proc.returncode != 0
    refusals = [line for line in proc.stderr.splitlines() if line.startswith("styleverse: error:")]
    assert len(refusals) == 2 and all("in use" in line and str(os.getpid()) in line for line in refusals)
    assert not out.exists() and not (tmp_path / "out.mp4.work").exists()
