"""One process's share of a video job: the segments dealt to it, each stylised and resumable on its own.

Every process (one, or each rank under ``torchrun``) stylises the segments
(:mod:`styleverse.video.segments`) that :func:`styleverse.distributed.deal` gives its rank, frame by frame
through a fresh :class:`~styleverse.video.loop.FrameLoop`, into the shared work folder: each frame's PNG,
then the segment's state. A segment found half done (a killed process, Ctrl-C) continues at its first
unfinished frame from exactly the frame saved before it, so a continued run equals an uninterrupted one and
no finished frame is lost or redone, whichever process picks the segment up. Rank 0 then waits until every
segment is finished (:func:`wait_for_segments`) before it writes the outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Any

from styleverse.cancel import Stop, never
from styleverse.errors import InputError
from styleverse.io.state import unfit
from styleverse.io.video import DecodedFrame, VideoReader, frame_to_array
from styleverse.video.config import FrameDone, VideoJob, VideoStarted
from styleverse.video.flow import DISFlow
from styleverse.video.loop import FrameLoop, FrameResult, FrameStylizer
from styleverse.video.segments import Segment
from styleverse.video.work import WorkFolder

Emit = Callable[[Any], None]
POLL_SECONDS = 1.0


class Share:
    """The segments ``mine`` of a job whose ``plan`` (frame times, size, rotation) rank 0 made."""

    def __init__(self, job: VideoJob, work: WorkFolder, plan: dict[str, Any], emit: Emit, stop: Stop = never) -> None:
        self.job, self.work, self.plan = job, work, plan
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
        """Stylise the segments ``mine`` (numbered) with ``stylizer``; frames finished of those to do. Raises
        :class:`~styleverse.cancel.Stopped` when stopped, the frames finished so far kept."""
        left = [(k, seg, len(self.work.load(k)[0])) for k, seg in mine]
        total = sum(seg.frames for _, seg, _ in left)
        self.done = sum(n for _, _, n in left)
        self.total = total
        self.stylizer = stylizer
        self.emit(VideoStarted(total, self.done, self.size))
        for k, seg, n in left:
            if n < seg.frames:
                self._segment(k, seg)
        return self.done, total

    def _segment(self, k: int, seg: Segment) -> None:
        records, state = self.work.load(k)
        if hasattr(self.stylizer, "load_state_dict"):
            try:  # a fresh segment: {} (frame 1 of it sets the loss unit)
                self.stylizer.load_state_dict(state)
            except (TypeError, ValueError, KeyError) as e:
                raise unfit(str(e), self.work.state_path(k), flag=str(self.work.path)) from None
        loop = FrameLoop(self.stylizer, DISFlow(self.job.video.flow), self.stop)
        loop.index = seg.first
        with VideoReader(self.job.input) as reader:  # its own: seeks to the segment, whatever read before
            n = self._frames(k, seg, loop, records, reader)
        if n < seg.frames:
            raise InputError(
                f"{self.job.input}: ended after frame {seg.first + n} of {len(self.times)} it had when the work "
                "started; the video changed? pass --overwrite to start afresh"
            )

    def _frames(self, k: int, seg: Segment, loop: FrameLoop, records: list[dict[str, Any]], reader: VideoReader) -> int:
        n = 0
        for n, dec in enumerate(islice(reader.frames(self.times[seg.first]), seg.frames), 1):
            i = seg.first + n - 1
            self._check_same(i, dec)
            lead = i < seg.start
            if n < len(records):
                continue
            if n == len(records):
                loop.skip(self.array(dec, reader), self.work.read_frame(i, lead), index=i)
                continue
            t0 = time.perf_counter()
            res = loop.step(self.array(dec, reader))
            self.work.save_frame(i, res.image, lead)
            records.append(record(res, dec) | ({"lead": True} if lead else {}))
            stylizer_state = self.stylizer.state_dict() if hasattr(self.stylizer, "state_dict") else {}
            self.work.save(records, stylizer_state, segment=k)
            self._done(i, time.perf_counter() - t0, res)
        return n

    def _done(self, i: int, seconds: float, res: FrameResult) -> None:
        self.seconds.append(seconds)
        self.done += 1
        spf = sum(self.seconds) / len(self.seconds)
        eta = spf * max(0, self.total - self.done)
        self.emit(FrameDone(i, self.done, self.total, seconds, spf, eta, res.losses, res.warp_error))

    def _check_same(self, i: int, dec: DecodedFrame) -> None:
        if abs(self.times[i] - dec.time) > 1e-3:
            raise InputError(
                f"{self.job.input}: frame {i + 1} is at {dec.time:.3f} s now, {self.times[i]:.3f} s when the work "
                "started; the video changed? pass --overwrite to start afresh"
            )


def record(res: FrameResult, dec: DecodedFrame) -> dict[str, Any]:
    """What the work folder and the sidecar keep of a finished frame."""
    return {
        "index": res.index, "time": dec.time, "pts": dec.pts, "seconds": res.seconds,
        "flow_ms": res.flow_seconds * 1000, "steps": res.steps, "losses": res.losses,
        "warp_error": res.warp_error, "input_warp_error": res.input_warp_error,
    }  # fmt: skip


def wait_for_segments(work: WorkFolder, segments: Sequence[Segment], stop: Stop = never) -> bool:
    """Wait until every segment's state holds all its frames (other processes finishing theirs); False
    when ``stop()`` became true first."""
    pending = set(range(len(segments)))
    while True:
        pending = {k for k in pending if len(work.load(k)[0]) < segments[k].frames}
        if not pending:
            return True
        if stop():
            return False
        time.sleep(POLL_SECONDS)


def finished_records(work: WorkFolder, segments: Sequence[Segment]) -> list[dict[str, Any]]:
    """The records of every frame of the job (lead-in versions left out), in frame order."""
    out = [r for k in range(len(segments)) for r in work.load(k)[0] if not r.get("lead")]
    return sorted(out, key=lambda r: int(r["index"]))
