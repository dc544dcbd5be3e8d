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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from styleverse.devices import peak_memory, resolve_device
from styleverse.errors import ConfigError, InputError
from styleverse.io.lock import output_lock
from styleverse.io.state import fingerprint as plain_fingerprint
from styleverse.io.state import not_fingerprinted
from styleverse.io.video import DecodedFrame, VideoReader, display_size, frame_to_array
from styleverse.io.video_writer import DEFAULT_CRF
from styleverse.nn.color import match_histogram
from styleverse.nn.vgg import BackboneInfo
from styleverse.transfer.config import Event as TransferEvent
from styleverse.transfer.job import COLOR_MODES, StylizeJob, add_bank_targets, feature_network, style_sources
from styleverse.transfer.job import fingerprint as stylize_fingerprint
from styleverse.transfer.optimize import StyleTransfer
from styleverse.video.flow import DEFAULT_PRESET, PRESETS, DISFlow
from styleverse.video.gatys import GatysFrameStylizer
from styleverse.video.loop import FrameLoop, FrameResult, FrameStylizer, to_tensor
from styleverse.video.output import OutputPlan, plan_outputs, write_outputs
from styleverse.video.work import WorkFolder

log = logging.getLogger("styleverse")
MAX_PIXELS = 3840 * 2160  # frames larger than 4K UHD are refused unless --size shrinks them


@dataclass(frozen=True)
class VideoConfig:
    """How a clip is stylised and encoded (the style itself is the job's :class:`StylizeJob`).

    ``temporal_weight`` 0.02 was chosen on a random VGG19 (no ImageNet weights here), 96x54 pan clip with
    an occluder, 30 steps per frame either way: 0.002 / 0.01 / 0.03 cut the warping error 3.2x / 5.7x / 11x
    against independent frames with the style loss 14% lower / 9% lower / 1% higher. The unit (frame 1's
    loss, see :mod:`styleverse.video.gatys`) is meant to carry that over to other networks.
    """

    temporal_weight: float = 0.02  # in units of frame 1's loss per 8-bit level² (see video.gatys); 0: independent
    steps_first: int = 300  # optimiser steps for frame 1 (and every frame when temporal_weight is 0)
    steps: int = 100  # steps for each later frame, which starts from the warped previous output
    start: float = 0.0  # seconds into the input
    end: float | None = None  # seconds into the input (exclusive); None: to the end
    max_frames: int | None = None
    size: int | None = None  # longest side of the frames stylised and written; None: the input's own
    crf: int = DEFAULT_CRF  # H.264 quality (0 lossless .. 51 worst)
    compare: bool = False  # also write input | output side by side
    flow: str = DEFAULT_PRESET  # DIS preset
    blend: float = 0.5  # flow-guided blending of a feed-forward stylizer's frames (see loop.FlowBlended)
    max_pixels: int = MAX_PIXELS

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the setting that is out of range."""
        if not (self.temporal_weight >= 0 and math.isfinite(self.temporal_weight)):
            raise ConfigError("temporal_weight must be a finite number >= 0", setting="temporal_weight")
        if self.steps_first < 1 or self.steps < 1:
            raise ConfigError("steps_first and steps must be at least 1", setting=("steps_first", "steps"))
        if not (self.start >= 0 and math.isfinite(self.start)):
            raise ConfigError("start must be a time >= 0", setting="start")
        if self.end is not None and not self.end > self.start:
            raise ConfigError(
                f"end ({self.end:g} s) must come after start ({self.start:g} s)", setting=("end", "start")
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError("max_frames must be at least 1", setting="max_frames")
        if self.size is not None and not 16 <= self.size <= 16384:
            raise ConfigError("size must be between 16 and 16384 pixels", setting="size")
        if not 0 <= self.crf <= 51:
            raise ConfigError("crf must be between 0 (lossless) and 51", setting="crf")
        if self.flow not in PRESETS:
            raise ConfigError(f"flow preset must be one of {', '.join(PRESETS)}")
        if not 0 <= self.blend < 1:
            raise ConfigError("blend must be at least 0 and less than 1", setting="blend")


@dataclass(frozen=True)
class VideoJob:
    """One video job. ``style`` says what look to give (style images or banks, network, loss weights,
    optimiser, seed, device, colour preservation); its ``content``/``output`` name the video's, and its
    step count and sizes are not used (``video`` has them). ``png_sequence`` (or an ``output`` that is an
    existing folder) writes PNG frames into the folder ``output`` instead of a video file."""

    input: Path
    output: Path
    style: StylizeJob
    video: VideoConfig = field(default_factory=VideoConfig)
    plot: Path | None = not_fingerprinted(None)
    overwrite: bool = not_fingerprinted(False)
    resume: bool = not_fingerprinted(False)
    png_sequence: bool = False

    def settings(self) -> dict[str, Any]:
        """The job as plain JSON values (sidecar, fingerprints)."""
        return {
            "input": str(self.input),
            "output": str(self.output),
            "style": self.style.settings(),
            "video": asdict(self.video),
            "plot": str(self.plot) if self.plot else None,
            "png_sequence": self.png_sequence or self.output.is_dir(),
        }


# --- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoStarted:
    """The input is open: ``total`` frames expected (None: unknown), ``done`` already finished earlier."""

    total: int | None
    done: int
    size: tuple[int, int]


@dataclass(frozen=True)
class FrameDone:
    """Frame ``index`` is finished; ``seconds_per_frame`` is this session's mean, ``eta`` the seconds left."""

    index: int
    done: int
    total: int | None
    seconds: float
    seconds_per_frame: float
    eta: float | None
    losses: dict[str, float]
    warp_error: float | None


@dataclass(frozen=True)
class StageStarted:
    """A stage after the frames: ``encode``, ``compare``, ``plot``."""

    name: str


# what a video job reports: its own progress and, for the Gatys stylizer, each frame's optimiser events
Event = VideoStarted | FrameDone | StageStarted | TransferEvent
Callback = Callable[[Event], None]


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
    style = stylize_fingerprint(job.style)
    style.pop("output")  # the video's own, said again (see VideoJob)
    st = job.input.stat()
    s |= {"style": style, "png_sequence": job.settings()["png_sequence"], "stylizer": stylizer}
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
    job: VideoJob, first: torch.Tensor, callback: Callback | None
) -> tuple[GatysFrameStylizer, BackboneInfo]:
    """The Gatys stylizer with style targets built once for the video at its frame size."""
    sj, cfg = job.style, job.video
    if sj.preserve_color not in COLOR_MODES:
        raise ConfigError(f"preserve_color must be one of {', '.join(COLOR_MODES)}", setting="preserve_color")
    styles, bank_weights = style_sources(sj)
    model, info = feature_network(sj)
    side = max(int(first.shape[-2]), int(first.shape[-1]))
    probe = StyleTransfer(model, replace(sj.config, scales=(side,)))
    add_bank_targets(sj, styles, bank_weights, info, side, probe.precision)
    if sj.preserve_color == "histogram":  # style colours matched to the first frame's
        styles.transform = lambda t: match_histogram(t, first)
    targets = styles.targets(model, side, probe.device, probe.precision)
    stylizer = GatysFrameStylizer(
        model, sj.config, targets, cfg.temporal_weight, cfg.steps_first, cfg.steps, sj.preserve_color, callback
    )
    return stylizer, info


def run_video(
    job: VideoJob,
    callback: Callback | None = None,
    stylizer: FrameStylizer | None = None,
    stylizer_info: dict[str, Any] | None = None,
    stylizer_inputs: Sequence[Path] = (),
) -> VideoOutcome:
    """Run ``job`` (see the module doc). ``stylizer`` replaces the Gatys one (a feed-forward network in
    :class:`~styleverse.video.loop.FlowBlended`, say): ``stylizer_info`` then identifies it (sidecar and
    resume fingerprint: include what its output depends on) and ``stylizer_inputs`` are its files (which
    no output may replace); the job's style settings are not used."""
    job.video.validate()
    job.style.config.validate()
    styles, _ = style_sources(job.style) if stylizer is None else (None, None)
    inputs = [job.input, *(styles.paths() if styles else []), *job.style.style_banks, *stylizer_inputs]
    info = stylizer_info if stylizer is not None else None
    with open_input(job) as reader:
        plan = plan_outputs(job, inputs)
        if plan.finished(fingerprint(job, stylizer=info)):
            return VideoOutcome({}, plan.read_sidecar(), 0, None, already_finished=True)
        # an unfinished run of this output may have written part of it (killed while writing): that is ours
        plan.check(job.overwrite or WorkFolder(plan.work, {}).exists())
        with output_lock(plan.output):  # a second run on the same output is refused, naming this one
            return _locked(job, reader, plan, stylizer, info, callback)


def _locked(
    job: VideoJob,
    reader: VideoReader,
    plan: OutputPlan,
    stylizer: FrameStylizer | None,
    info: dict[str, Any] | None,
    callback: Callback | None,
) -> VideoOutcome:
    """The job with its outputs locked: work folder, frames, outputs."""
    work = WorkFolder(plan.work, fingerprint(job, frames_only=True, stylizer=info))
    if job.overwrite:
        work.remove()
    if job.resume and not work.exists():
        raise ConfigError(f"resume: nothing to continue in {plan.work}; run without resume", setting="resume")
    records, stylizer_state = work.load() if work.exists() else ([], {})
    return _frames(job, reader, plan, work, records, stylizer_state, stylizer, info, callback)


def _decoded(reader: VideoReader, cfg: VideoConfig) -> Iterator[DecodedFrame]:
    for i, d in enumerate(reader.frames(cfg.start, cfg.end)):
        if cfg.max_frames is not None and i >= cfg.max_frames:
            return
        yield d


def _frames(
    job: VideoJob,
    reader: VideoReader,
    plan: OutputPlan,
    work: WorkFolder,
    records: list[dict[str, Any]],
    stylizer_state: dict[str, Any],
    stylizer: FrameStylizer | None,
    stylizer_info: dict[str, Any] | None,
    callback: Callback | None,
) -> VideoOutcome:
    """The frame loop with resume; then the outputs."""
    cfg, emit = job.video, callback or (lambda ev: None)
    frames = _decoded(reader, cfg)
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
        stylizer, info = gatys_stylizer(job, to_tensor(arr0), callback)
    if stylizer_state and hasattr(stylizer, "load_state_dict"):
        stylizer.load_state_dict(stylizer_state)
    loop = FrameLoop(stylizer, DISFlow(cfg.flow))
    done = len(records)
    emit(VideoStarted(total, done, size))
    times: list[float] = []
    timing: dict[str, Any] = {"first_pts": first.pts, "next_time": None, "rotation": rotation, "size": size}
    device = getattr(stylizer, "device", None) or resolve_device(job.style.config.device)
    with peak_memory(torch.device(device)) as peak:  # of this session's frames
        try:
            for i, dec in enumerate(_chain(first, frames)):
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
        except KeyboardInterrupt:
            return VideoOutcome({"work": plan.work}, {}, len(records), total, interrupted=True)
    timing["peak_memory_bytes"], timing["peak_memory_kind"] = peak.bytes, peak.kind
    timing["end"] = _audio_end(reader, cfg, records)
    timing["skipped"] = reader.skipped
    fp = fingerprint(job, stylizer=stylizer_info)
    paths, side = write_outputs(job, plan, work, reader, records, timing, info, stylizer_info, fp, emit)
    work.remove()
    return VideoOutcome(paths, side, len(records), len(records))


def _chain(first: DecodedFrame, rest: Iterator[DecodedFrame]) -> Iterator[DecodedFrame]:
    yield first
    yield from rest


def _check_same(job: VideoJob, record: dict[str, Any], dec: DecodedFrame) -> None:
    if abs(float(record["time"]) - dec.time) > 1e-3:
        raise InputError(
            f"{job.input}: frame {record['index'] + 1} is at {dec.time:.3f} s now, {record['time']:.3f} s when it "
            "was stylised; the video changed? pass --overwrite to start afresh"
        )


def _record(res: FrameResult, dec: DecodedFrame) -> dict[str, Any]:
    return {
        "index": res.index,
        "time": dec.time,
        "pts": dec.pts,
        "seconds": res.seconds,
        "flow_ms": res.flow_seconds * 1000,
        "steps": res.steps,
        "losses": res.losses,
        "warp_error": res.warp_error,
        "input_warp_error": res.input_warp_error,
    }


def _audio_end(reader: VideoReader, cfg: VideoConfig, records: list[dict[str, Any]]) -> float | None:
    """Where the audio to carry ends, on the input's clock (None: its end): the range's end, or after the
    last frame when --max-frames cut the video short."""
    if cfg.max_frames is not None and len(records) >= cfg.max_frames:
        fps = reader.info.fps or 25.0
        end = float(records[-1]["time"]) + 1.0 / fps
        return min(end, cfg.end) if cfg.end is not None else end
    return cfg.end
