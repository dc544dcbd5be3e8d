"""One process's share of a video job: the segments dealt to it, each stylised and resumable on its own.

Every process (one, or each rank under ``torchrun``) stylises the segments
(:mod:`styleverse.video.segments`) that :func:`styleverse.distributed.deal` gives its rank, frame by frame
through a fresh :class:`~styleverse.video.loop.FrameLoop`, into the shared work folder: each frame's PNG,
then the segment's state. A segment found half done (a killed process, Ctrl-C) continues at its first
unfinished frame from exactly the frame saved before it, so a continued run equals an uninterrupted one and
no finished frame is lost or redone, whichever process picks the segment up. With ``passes`` > 1 a segment
is walked again, backward and forward in turn (Ruder et al.'s multi-pass scheme,
:mod:`styleverse.video.gatys`), each frame re-optimised from its own output of the pass before; each frame's
record names the last pass that finished it, which is where a resumed run picks up. Rank 0 then waits until every
segment is finished (:func:`wait_for_segments`) before it writes the outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

from styleverse.cancel import Stop, never
from styleverse.errors import InputError
from styleverse.io.state import unfit
from styleverse.io.video import DecodedFrame, VideoReader, frame_to_array
from styleverse.video.config import FrameDone, VideoJob, VideoStarted
from styleverse.video.flow import DISFlow
from styleverse.video.loop import FrameLoop, FrameResult, FrameStylizer, pass_order
from styleverse.video.segments import Segment
from styleverse.video.work import WorkFolder

Emit = Callable[[Any], None]
POLL_SECONDS = 1.0
BLOCK = 16  # frames a backward pass decodes at a time (it walks the clip from its end, block by block)


class Share:
    """The segments ``mine`` of a job whose ``plan`` (frame times, size, rotation) rank 0 made, each stylised
    in ``passes`` passes (Ruder et al.'s multi-pass scheme: :func:`~styleverse.video.loop.pass_order`)."""

    def __init__(
        self, job: VideoJob, work: WorkFolder, plan: dict[str, Any], emit: Emit, stop: Stop = never, passes: int = 1
    ) -> None:  # fmt: skip
        self.job, self.work, self.plan, self.passes = job, work, plan, passes
        self.emit, self.stop = emit, stop
        self.size, self.rotation = (int(plan["size"][0]), int(plan["size"][1])), int(plan["rotation"])
        self.times: list[float] = [float(t) for t in plan["times"]]
        self.seconds: list[float] = []
        self.done = self.total = 0

    def array(self, dec: DecodedFrame, reader: VideoReader) -> Any:
        """The frame as the loop sees it: upright RGB uint8 at the job's size."""
        return frame_to_array(dec.frame, self.size, self.rotation, reader.reformatter)

    def first_frame(self) -> Any:
        """The job's first frame as the loop sees it (the Gatys stylizer's targets depend on it)."""
        with VideoReader(self.job.input) as reader:
            return self.array(next(reader.frames(self.times[0])), reader)

    def run(self, stylizer: FrameStylizer, mine: Sequence[tuple[int, Segment]]) -> tuple[int, int]:
        """Stylise the segments ``mine`` (numbered) with ``stylizer``; frame passes finished of those to do.
        Raises :class:`~styleverse.cancel.Stopped` when stopped, the frames finished so far kept."""
        left = [(k, seg, passes_done(self.work.load(k)[0])) for k, seg in mine]
        total = sum(seg.frames for _, seg, _ in left) * self.passes
        self.done = sum(n for _, _, n in left)
        self.total = total
        self.stylizer = stylizer
        self.emit(VideoStarted(total, self.done, self.size))
        for k, seg, n in left:
            if n < seg.frames * self.passes:
                self._segment(k, seg)
        return self.done, total

    def _segment(self, k: int, seg: Segment) -> None:
        records, state = self.work.load(k)
        if hasattr(self.stylizer, "load_state_dict"):
            try:  # a fresh segment: {} (frame 1 of it sets the loss unit)
                self.stylizer.load_state_dict(state)
            except (TypeError, ValueError, KeyError) as e:
                raise unfit(str(e), self.work.state_path(k), flag=str(self.work.path)) from None
        for p in range(self.passes):
            order = pass_order(seg.frames, p)
            if all(_pass_of(records, j) >= p for j in order):
                continue
            loop = FrameLoop(self.stylizer, DISFlow(self.job.video.flow), self.stop, order.step)
            for j, dec, frame in self._decoded(seg, order):
                self._frame(k, seg, p, j, dec, frame, loop, records)

    def _decoded(self, seg: Segment, order: range) -> Iterator[tuple[int, DecodedFrame, Any]]:
        """Frames of ``seg`` (numbered within it, with their arrays) in ``order``: decoded forward, or block by
        block from the end for a backward pass (a block of frames in memory, not the shot). Each run of
        frames has a reader of its own, which seeks to it whatever was read before."""
        blocks = [(0, seg.frames)] if order.step > 0 else [(a, min(a + BLOCK, seg.frames))
                                                           for a in reversed(range(0, seg.frames, BLOCK))]  # fmt: skip
        for a, b in blocks:
            with VideoReader(self.job.input) as reader:
                decoded = enumerate(islice(reader.frames(self.times[seg.first + a]), b - a), a)
                run = ((j, dec, self.array(dec, reader)) for j, dec in decoded)
                items = run if order.step > 0 else reversed(list(run))
                n = 0
                for item in items:
                    n += 1
                    yield item
            if n < b - a:
                raise InputError(
                    f"{self.job.input}: ended after frame {seg.first + a + n} of {len(self.times)} it had when the "
                    "work started; the video changed? pass --overwrite to start afresh"
                )

    def _frame(
        self, k: int, seg: Segment, p: int, j: int, dec: DecodedFrame, frame: Any, loop: FrameLoop,
        records: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        """Frame ``j`` of segment ``k`` in pass ``p``: taken as saved if that pass finished it, else stylised
        (from its output of the pass before) and saved, then the segment's state."""
        i = seg.first + j
        self._check_same(i, dec)
        lead = i < seg.start
        if _pass_of(records, j) >= p:
            loop.skip(frame, self.work.read_frame(i, lead), index=i)
            return
        t0 = time.perf_counter()
        loop.index = i
        earlier = self.work.read_frame(i, lead) if p else None
        res = loop.step(frame, earlier)
        self.work.save_frame(i, res.image, lead, p)
        rec = record(res, dec) | ({"lead": True} if lead else {}) | {"pass": p}
        if p:  # a frame's steps and seconds over all its passes
            rec |= {"steps": rec["steps"] + records[j]["steps"], "seconds": rec["seconds"] + records[j]["seconds"]}
        records[j : j + 1] = [rec]
        stylizer_state = self.stylizer.state_dict() if hasattr(self.stylizer, "state_dict") else {}
        self.work.save(records, stylizer_state, segment=k)
        self.work.commit(i, lead, p)
        self._done(i, p, time.perf_counter() - t0, res)

    def _done(self, i: int, p: int, seconds: float, res: FrameResult) -> None:
        self.seconds.append(seconds)
        self.done += 1
        spf = sum(self.seconds) / len(self.seconds)
        eta = spf * max(0, self.total - self.done)
        self.emit(FrameDone(i, self.done, self.total, seconds, spf, eta, res.losses, res.warp_error, p, self.passes))

    def _check_same(self, i: int, dec: DecodedFrame) -> None:
        if abs(self.times[i] - dec.time) > 1e-3:
            raise InputError(
                f"{self.job.input}: frame {i + 1} is at {dec.time:.3f} s now, {self.times[i]:.3f} s when the work "
                "started; the video changed? pass --overwrite to start afresh"
            )


def _pass_of(records: list[dict[str, Any]], j: int) -> int:
    """The last pass that finished frame ``j`` of a segment (-1: none)."""
    return int(records[j].get("pass", 0)) if j < len(records) else -1


def passes_done(records: list[dict[str, Any]]) -> int:
    """Frame passes a segment's records stand for (each frame counts the passes up to its last one)."""
    return sum(int(r.get("pass", 0)) + 1 for r in records)


def record(res: FrameResult, dec: DecodedFrame) -> dict[str, Any]:
    """What the work folder and the sidecar keep of a finished frame."""
    return {
        "index": res.index, "time": dec.time, "pts": dec.pts, "seconds": res.seconds,
        "flow_ms": res.flow_seconds * 1000, "steps": res.steps, "losses": res.losses,
        "warp_error": res.warp_error, "input_warp_error": res.input_warp_error,
    }  # fmt: skip


def wait_for_segments(work: WorkFolder, segments: Sequence[Segment], stop: Stop = never, passes: int = 1) -> bool:
    """Wait until every segment's state holds all its frames, each at its last pass (other processes
    finishing theirs); False when ``stop()`` became true first."""
    pending = set(range(len(segments)))
    while True:
        pending = {k for k in pending if passes_done(work.load(k)[0]) < segments[k].frames * passes}
        if not pending:
            return True
        if stop():
            return False
        time.sleep(POLL_SECONDS)


def finished_records(work: WorkFolder, segments: Sequence[Segment]) -> list[dict[str, Any]]:
    """The records of every frame of the job (lead-in versions left out), in frame order."""
    out = [r for k in range(len(segments)) for r in work.load(k)[0] if not r.get("lead")]
    return sorted(out, key=lambda r: int(r["index"]))
