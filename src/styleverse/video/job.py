"""A whole video job: ``styleverse video IN -o OUT`` as a library call.

:func:`run_video` checks the input and every output before any work, stylises the frames one by one
through :class:`~styleverse.video.loop.FrameLoop` (Ruder et al. 2016: the Gatys stylizer with a temporal
loss, or any :class:`~styleverse.video.loop.FrameStylizer` passed in), keeps each finished frame and the
state in a work folder (:mod:`styleverse.video.work`), and at the end writes the video (timestamps,
audio; :mod:`styleverse.video.output`), the sidecar JSON, the plot and the side-by-side comparison.

Interrupted (Ctrl-C, a kill), the same command continues at the first unfinished frame and gives what an
uninterrupted run gives; a finished job run again says so and writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import chain, islice
from pathlib import Path
from typing import Any

import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.devices import peak_memory, resolve_device
from styleverse.distributed import DistContext, deal, on_main, process_group
from styleverse.errors import ConfigError, InputError
from styleverse.io.lock import output_lock
from styleverse.io.outputs import network_files
from styleverse.io.state import fingerprint as plain_fingerprint
from styleverse.io.video import DecodedFrame, VideoReader, display_size
from styleverse.nn.color import match_histogram
from styleverse.nn.vgg import BackboneInfo
from styleverse.transfer.job import feature_network
from styleverse.transfer.optimize import StyleTransfer
from styleverse.video.config import Callback, StageStarted, VideoConfig, VideoJob
from styleverse.video.gatys import GatysFrameStylizer
from styleverse.video.loop import FrameStylizer, to_tensor
from styleverse.video.output import OutputPlan, plan_outputs, write_outputs
from styleverse.video.ranks import Share, finished_records, wait_for_segments
from styleverse.video.segments import Segment, blend_weights, find_cuts, plan_segments
from styleverse.video.work import WorkFolder

log = logging.getLogger("styleverse")


# what a video job reports: its own progress and, for the Gatys stylizer, each frame's optimiser events


@dataclass
class VideoOutcome:
    """What a job did: files written, the sidecar's content, frames done of total, and whether it was
    interrupted (state kept in the work folder) or had been finished before (nothing written)."""

    paths: dict[str, Path]
    sidecar: dict[str, Any]
    done: int
    total: int | None
    interrupted: bool = False
    already_finished: bool = False
    part: bool = False  # this process stylised its share; rank 0 writes the outputs


# --- the job ------------------------------------------------------------------------------------------


def fingerprint(job: VideoJob, frames_only: bool = False, stylizer: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settings that must be equal to continue (``frames_only``: those the stylised frames depend on) or
    for a finished output to count as this job's; the input file's size and modification time included,
    and ``stylizer``, the description of a stylizer passed to :func:`run_video` instead of the Gatys one."""
    s = plain_fingerprint(job, leave_out=("output",) if frames_only else ())
    st = job.input.stat()
    s |= {"png_sequence": job.settings()["png_sequence"], "stylizer": stylizer}
    s["input_file"] = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    if frames_only:
        s["video"] = plain_fingerprint(job.video, leave_out=("crf", "chroma", "compare"))
    return json.loads(json.dumps(s, sort_keys=True, default=str))


def open_input(job: VideoJob) -> VideoReader:
    """The input opened and checked: a readable video with a video stream, frames within the pixel limit."""
    reader = VideoReader(job.input)
    info, cfg = reader.info, job.video
    w, h = display_size(info.width, info.height, info.pixel_aspect, 0, cfg.size)
    if w * h > cfg.max_pixels:
        reader.close()
        raise InputError(
            f"{job.input}: frames of {info.width}x{info.height} are more than the {cfg.max_pixels / 1e6:.1f} "
            "megapixels styleverse stylises; pass --size PX to shrink them"
        )
    return reader


def expected_frames(reader: VideoReader, cfg: VideoConfig) -> int | None:
    """Roughly how many frames the job will stylise (for progress); None if the file does not say."""
    info = reader.info
    n: int | None = None
    if info.frames and cfg.start == 0 and cfg.end is None:
        n = info.frames
    elif info.duration and info.fps:
        stop = min(cfg.end, info.duration) if cfg.end is not None else info.duration
        n = max(0, math.ceil((stop - cfg.start) * info.fps - 1e-6))
    if cfg.max_frames is not None:
        n = cfg.max_frames if n is None else min(n, cfg.max_frames)
    return n


def gatys_stylizer(
    job: VideoJob, first: torch.Tensor, callback: Callback | None, stop: Stop = never
) -> tuple[GatysFrameStylizer, BackboneInfo]:
    """The Gatys stylizer with style targets built once for the video at its frame size."""
    style, cfg, optim = job.style, job.video, job.gatys.config()
    styles, bank_weights = style.sources()
    banks = style.load_banks()  # each bank file read once: its network, then its targets
    model, info = feature_network(job.features, banks)
    side = max(int(first.shape[-2]), int(first.shape[-1]))
    probe = StyleTransfer(model, replace(optim, scales=(side,)))
    style.add_bank_targets(styles, banks, bank_weights, info, model.style_weights, side, probe.precision)
    if style.preserve_color == "histogram":  # style colours matched to the first frame's
        styles.transform = lambda t: match_histogram(t, first)
    targets = styles.targets(model, side, probe.device, probe.precision)
    stylizer = GatysFrameStylizer(
        model, optim, targets, cfg.temporal_weight, cfg.steps_first, cfg.steps, style.preserve_color, callback, stop,
        job.warm,
    )  # fmt: skip
    return stylizer, info


def run_video(
    job: VideoJob, callback: Callback | None = None, stylizer: FrameStylizer | None = None,
    stylizer_info: dict[str, Any] | None = None, stylizer_inputs: Sequence[Path] = (), stop: Stop = never,
) -> VideoOutcome:  # fmt: skip
    """Run ``job`` (see the module doc). ``stop()`` is asked before every frame (and by the Gatys stylizer
    before every step): True ends the run ``interrupted``, the finished frames kept in the work folder.
    ``stylizer`` replaces the Gatys one (a feed-forward network in
    :class:`~styleverse.video.loop.FlowBlended`, say): ``stylizer_info`` then identifies it (sidecar and
    resume fingerprint: include what its output depends on) and ``stylizer_inputs`` are its files (which
    no output may replace); the job's style settings are not used.

    Under ``torchrun`` each process stylises the shots dealt to its rank (:mod:`styleverse.video.ranks`);
    rank 0 alone checks and locks the outputs, finds the shots, reports progress (of its own share) and
    writes the outputs once every shot is finished; the others return ``part=True``."""
    job.validate()
    job.gatys.config().validate()
    styles, _ = job.style.sources() if stylizer is None else (None, None)
    network = [*network_files(job.features.backbone), *job.init_files()] if stylizer is None else []
    inputs = [job.input, *job.style.inputs(styles), *network, *stylizer_inputs]
    info = stylizer_info if stylizer is not None else None
    with process_group(job.gatys.device) as (ctx, _), open_input(job) as reader, contextlib.ExitStack() as held:
        plan = plan_outputs(job, inputs)
        work = WorkFolder(plan.work, fingerprint(job, frames_only=True, stylizer=info))
        emit = (callback or (lambda ev: None)) if ctx.is_main else (lambda ev: None)
        frames = on_main(lambda: _claim(job, reader, plan, work, info, held, emit), ctx)
        if frames is None:
            return VideoOutcome({}, plan.read_sidecar(), 0, None, already_finished=True)
        return _frames(job, reader, plan, work, frames, ctx, stylizer, info, callback if ctx.is_main else None, stop)


def _claim(
    job: VideoJob, reader: VideoReader, plan: OutputPlan, work: WorkFolder, info: dict[str, Any] | None,
    held: contextlib.ExitStack, emit: Callable[[Any], None],
) -> dict[str, Any] | None:  # fmt: skip
    """Rank 0 before any work: None when the output is finished; else the outputs checked and locked (a
    second run on the same output is refused, naming this one) and the job's plan, from the work folder
    or made now."""
    if plan.finished(fingerprint(job, stylizer=info)):
        return None
    # an unfinished run of this output may have written part of it (killed while writing): that is ours
    ours = job.overwrite or work.exists()
    plan.check(ours)
    held.enter_context(output_lock(plan.output))
    plan.check(ours)  # again: another run may have written it since the first check
    if job.overwrite:
        work.remove()
    if job.resume and not work.exists():
        raise ConfigError(f"resume: nothing to continue in {plan.work}; run without resume", setting="resume")
    frames = work.load_plan() if work.exists() else {}
    if not frames:
        emit(StageStarted("finding shots"))
        frames = _scan(job, reader)
        work.save_plan(frames)
    return frames


def _scan(job: VideoJob, reader: VideoReader) -> dict[str, Any]:
    """One decoding pass over the job's frames: their times, the shot cuts, and so the segments."""
    cfg = job.video
    frames = islice(reader.frames(cfg.start, cfg.end), cfg.max_frames)
    first = next(frames, None)
    if first is None:
        where = f" between {cfg.start:g} s and {cfg.end:g} s" if cfg.end else f" after {cfg.start:g} s"
        raise InputError(f"{job.input}: no frames could be decoded{where if cfg.start or cfg.end else ''}")
    rotation = int(first.frame.rotation or 0)
    size = display_size(reader.info.width, reader.info.height, reader.info.pixel_aspect, rotation, cfg.size)
    times: list[float] = []
    pts: list[int | None] = []

    def tapped() -> Iterator[DecodedFrame]:
        for dec in chain([first], frames):
            times.append(dec.time)
            pts.append(dec.pts)
            yield dec

    cuts, n = find_cuts(tapped(), reader.reformatter)
    total = expected_frames(reader, cfg)
    if total is not None and n + 1 < total:  # +1: a duration-based count may round up by one
        log.warning(
            "%s: the video ended after %d of the %d frames it says it has (a truncated or damaged file?); "
            "the output holds the %d that could be read", job.input.name, n, total, n,
        )  # fmt: skip
    segments = plan_segments(n, cuts, cfg.chunk_frames, cfg.overlap)
    return {
        "times": times, "pts": pts, "rotation": rotation, "size": list(size), "skipped": reader.skipped,
        "segments": [[s.start, s.stop, s.lead] for s in segments],
    }  # fmt: skip


def _frames(
    job: VideoJob, reader: VideoReader, plan: OutputPlan, work: WorkFolder, frames: dict[str, Any],
    ctx: DistContext, stylizer: FrameStylizer | None, stylizer_info: dict[str, Any] | None,
    callback: Callback | None, stop: Stop = never,
) -> VideoOutcome:  # fmt: skip
    """This process's segments with resume; then, on rank 0, the outputs."""
    segments = [Segment(*s) for s in frames["segments"]]
    info: BackboneInfo | None = None
    share = Share(job, work, frames, callback or _none, stop, job.video.passes_run(optimised=stylizer is None))
    if stylizer is None:
        stylizer, info = gatys_stylizer(job, to_tensor(share.first_frame()), callback, stop)
    mine = [(k, segments[k]) for k in deal([s.frames for s in segments], ctx.world_size)[ctx.rank]]
    device = getattr(stylizer, "device", None) or resolve_device(job.gatys.device)
    with peak_memory(torch.device(device)) as peak:  # of this session's frames
        try:
            done, total = share.run(stylizer, mine)
        except Stopped:
            return VideoOutcome({"work": plan.work}, {}, share.done, share.total, interrupted=True)
    if not ctx.is_main:
        return VideoOutcome({"work": plan.work}, {}, done, total, part=True)
    if not wait_for_segments(work, segments, stop, share.passes):
        return VideoOutcome({"work": plan.work}, {}, done, total, interrupted=True)
    records = finished_records(work, segments)
    work.blend = blend_weights(segments)
    timing: dict[str, Any] = {
        "first_pts": frames["pts"][0], "next_time": None, "rotation": int(frames["rotation"]),
        "size": tuple(frames["size"]), "peak_memory_bytes": peak.bytes, "peak_memory_kind": peak.kind,
        "end": _audio_end(reader, job.video, records), "skipped": int(frames["skipped"]),
    }  # fmt: skip
    fp = fingerprint(job, stylizer=stylizer_info)
    paths, side = write_outputs(job, plan, work, reader, records, timing, info, stylizer_info, fp, callback or _none)
    work.remove()
    return VideoOutcome(paths, side, len(records), len(records))


def _none(ev: Any) -> None:
    """No one listens."""


def _audio_end(reader: VideoReader, cfg: VideoConfig, records: list[dict[str, Any]]) -> float | None:
    """Where the audio to carry ends, on the input's clock (None: its end): the range's end, or after the
    last frame when --max-frames cut the video short."""
    if cfg.max_frames is not None and len(records) >= cfg.max_frames:
        fps = reader.info.fps or 25.0
        end = float(records[-1]["time"]) + 1.0 / fps
        return min(end, cfg.end) if cfg.end is not None else end
    return cfg.end
