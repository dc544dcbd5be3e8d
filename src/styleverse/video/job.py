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

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import chain, islice
from pathlib import Path
from typing import Any

import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.devices import peak_memory, resolve_device
from styleverse.errors import ConfigError, InputError
from styleverse.io.lock import output_lock
from styleverse.io.outputs import network_files
from styleverse.io.state import fingerprint as plain_fingerprint
from styleverse.io.state import unfit
from styleverse.io.video import DecodedFrame, VideoReader, display_size, frame_to_array
from styleverse.nn.color import match_histogram
from styleverse.nn.vgg import BackboneInfo
from styleverse.transfer.job import feature_network
from styleverse.transfer.optimize import StyleTransfer
from styleverse.video.config import Callback, FrameDone, VideoConfig, VideoJob, VideoStarted
from styleverse.video.flow import DISFlow
from styleverse.video.gatys import GatysFrameStylizer
from styleverse.video.loop import FrameLoop, FrameResult, FrameStylizer, to_tensor
from styleverse.video.output import OutputPlan, plan_outputs, write_outputs
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
        s["video"] = plain_fingerprint(job.video, leave_out=("crf", "compare"))
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
        model, optim, targets, cfg.temporal_weight, cfg.steps_first, cfg.steps, style.preserve_color, callback, stop
    )
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
    no output may replace); the job's style settings are not used."""
    job.video.validate()
    job.gatys.config().validate()
    styles, _ = job.style.sources() if stylizer is None else (None, None)
    network = network_files(job.features.backbone) if stylizer is None else []
    inputs = [job.input, *job.style.inputs(styles), *network, *stylizer_inputs]
    info = stylizer_info if stylizer is not None else None
    with open_input(job) as reader:
        plan = plan_outputs(job, inputs)
        if plan.finished(fingerprint(job, stylizer=info)):
            return VideoOutcome({}, plan.read_sidecar(), 0, None, already_finished=True)
        # an unfinished run of this output may have written part of it (killed while writing): that is ours
        ours = job.overwrite or WorkFolder(plan.work, {}).exists()
        plan.check(ours)
        with output_lock(plan.output):  # a second run on the same output is refused, naming this one
            plan.check(ours)  # again: another run may have written it since the first check
            return _locked(job, reader, plan, stylizer, info, callback, stop)


def _locked(
    job: VideoJob, reader: VideoReader, plan: OutputPlan, stylizer: FrameStylizer | None,
    info: dict[str, Any] | None, callback: Callback | None, stop: Stop = never,
) -> VideoOutcome:  # fmt: skip
    """The job with its outputs locked: work folder, frames, outputs."""
    work = WorkFolder(plan.work, fingerprint(job, frames_only=True, stylizer=info))
    if job.overwrite:
        work.remove()
    if job.resume and not work.exists():
        raise ConfigError(f"resume: nothing to continue in {plan.work}; run without resume", setting="resume")
    records, stylizer_state = work.load() if work.exists() else ([], {})
    return _frames(job, reader, plan, work, records, stylizer_state, stylizer, info, callback, stop)


def _frames(
    job: VideoJob, reader: VideoReader, plan: OutputPlan, work: WorkFolder, records: list[dict[str, Any]],
    stylizer_state: dict[str, Any], stylizer: FrameStylizer | None, stylizer_info: dict[str, Any] | None,
    callback: Callback | None, stop: Stop = never,
) -> VideoOutcome:  # fmt: skip
    """The frame loop with resume; then the outputs."""
    cfg, emit = job.video, callback or (lambda ev: None)
    frames = islice(reader.frames(cfg.start, cfg.end), cfg.max_frames)
    first = next(frames, None)
    if first is None:
        where = f" between {cfg.start:g} s and {cfg.end:g} s" if cfg.end else f" after {cfg.start:g} s"
        raise InputError(f"{job.input}: no frames could be decoded{where if cfg.start or cfg.end else ''}")
    rotation = int(first.frame.rotation or 0)
    size = display_size(reader.info.width, reader.info.height, reader.info.pixel_aspect, rotation, cfg.size)
    arr0 = frame_to_array(first.frame, size, rotation, reader.reformatter)
    total = expected_frames(reader, cfg)
    info: BackboneInfo | None = None
    if stylizer is None:
        stylizer, info = gatys_stylizer(job, to_tensor(arr0), callback, stop)
    if stylizer_state and hasattr(stylizer, "load_state_dict"):
        try:
            stylizer.load_state_dict(stylizer_state)
        except (TypeError, ValueError, KeyError) as e:
            raise unfit(str(e), work.state_file, flag=str(work.path)) from None
    loop = FrameLoop(stylizer, DISFlow(cfg.flow), stop)
    done = len(records)
    emit(VideoStarted(total, done, size))
    times: list[float] = []
    timing: dict[str, Any] = {"first_pts": first.pts, "next_time": None, "rotation": rotation, "size": size}
    device = getattr(stylizer, "device", None) or resolve_device(job.gatys.device)
    with peak_memory(torch.device(device)) as peak:  # of this session's frames
        try:
            for i, dec in enumerate(chain([first], frames)):
                if i < done:
                    _check_same(job, records[i], dec)
                    if i == done - 1:
                        arr = arr0 if i == 0 else frame_to_array(dec.frame, size, rotation, reader.reformatter)
                        loop.skip(arr, work.read_frame(i), index=i)
                    continue
                t0 = time.perf_counter()
                arr = arr0 if i == 0 else frame_to_array(dec.frame, size, rotation, reader.reformatter)
                res = loop.step(arr)
                work.save_frame(i, res.image)
                records.append(_record(res, dec))
                work.save(records, stylizer.state_dict() if hasattr(stylizer, "state_dict") else {})
                times.append(time.perf_counter() - t0)
                spf = sum(times) / len(times)
                eta = spf * max(0, total - len(records)) if total is not None else None
                emit(FrameDone(i, len(records), total, times[-1], spf, eta, res.losses, res.warp_error))
        except Stopped:
            return VideoOutcome({"work": plan.work}, {}, len(records), total, interrupted=True)
    timing["peak_memory_bytes"], timing["peak_memory_kind"] = peak.bytes, peak.kind
    if total is not None and len(records) + 1 < total:  # +1: a duration-based count may round up by one
        log.warning(
            "%s: the video ended after %d of the %d frames it says it has (a truncated or damaged file?); "
            "the output holds the %d that could be read", job.input.name, len(records), total, len(records),
        )  # fmt: skip
    timing["end"] = _audio_end(reader, cfg, records)
    timing["skipped"] = reader.skipped
    fp = fingerprint(job, stylizer=stylizer_info)
    paths, side = write_outputs(job, plan, work, reader, records, timing, info, stylizer_info, fp, emit)
    work.remove()
    return VideoOutcome(paths, side, len(records), len(records))


def _check_same(job: VideoJob, record: dict[str, Any], dec: DecodedFrame) -> None:
    if abs(float(record["time"]) - dec.time) > 1e-3:
        raise InputError(
            f"{job.input}: frame {record['index'] + 1} is at {dec.time:.3f} s now, {record['time']:.3f} s when it "
            "was stylised; the video changed? pass --overwrite to start afresh"
        )


def _record(res: FrameResult, dec: DecodedFrame) -> dict[str, Any]:
    return {
        "index": res.index, "time": dec.time, "pts": dec.pts, "seconds": res.seconds,
        "flow_ms": res.flow_seconds * 1000, "steps": res.steps, "losses": res.losses,
        "warp_error": res.warp_error, "input_warp_error": res.input_warp_error,
    }  # fmt: skip


def _audio_end(reader: VideoReader, cfg: VideoConfig, records: list[dict[str, Any]]) -> float | None:
    """Where the audio to carry ends, on the input's clock (None: its end): the range's end, or after the
    last frame when --max-frames cut the video short."""
    if cfg.max_frames is not None and len(records) >= cfg.max_frames:
        fps = reader.info.fps or 25.0
        end = float(records[-1]["time"]) + 1.0 / fps
        return min(end, cfg.end) if cfg.end is not None else end
    return cfg.end
