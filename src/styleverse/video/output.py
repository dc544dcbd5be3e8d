"""The outputs of a video job: where they go, the checks before any work, and writing them at the end.

``-o OUT.mp4`` (or ``.mkv``/``.mov``/``.m4v``) is an H.264 video with the input's timestamps and audio;
``-o DIR/`` (a name ending in ``/``, or an existing folder) is a PNG sequence ``DIR/frame_000001.png ...``
whose timing lives in the sidecar. Beside the output: ``OUT.json`` (the sidecar), ``OUT.work/`` while the
job runs, and with ``--compare`` ``OUT_compare.mp4`` (or ``DIR_compare/``): input | output side by side.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal

import numpy as np

from styleverse.errors import OutputError
from styleverse.io.images import save_image, write_json
from styleverse.io.outputs import Output, check_outputs
from styleverse.io.tensorfile import ensure_free_space
from styleverse.io.video import VideoReader, frame_to_array
from styleverse.io.video_writer import AudioSource, VideoWriter, container_for
from styleverse.nn.vgg import BackboneInfo
from styleverse.video.config import StageStarted, VideoJob
from styleverse.video.report import plot_frames, sidecar
from styleverse.video.sidecar import VideoSidecar, WarpingError
from styleverse.video.steadiness import temporal_score, written_frames
from styleverse.video.work import WorkFolder, work_folder

PLOT_EXTENSIONS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
FRAME_NAME = "frame_{:06d}.png"  # 1-based in a PNG-sequence output


@dataclass(frozen=True)
class OutputPlan:
    """Every path a job may write."""

    output: Path
    folder: bool  # a PNG sequence instead of a video file
    sidecar: Path
    work: Path
    plot: Path | None
    compare: Path | None
    inputs: tuple[Path, ...]

    def finished(self, fingerprint: dict[str, Any]) -> bool:
        """True when the output is there and its sidecar says a complete run with these settings made it."""
        if not (self.output.is_dir() if self.folder else self.output.is_file()):
            return False
        side = VideoSidecar.from_json(self.read_sidecar())
        return side.complete and side.fingerprint == fingerprint

    def read_sidecar(self) -> dict[str, Any]:
        """The sidecar as written (empty when there is none or it is not a JSON object)."""
        try:
            data = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def check(self, overwrite: bool) -> None:
        """Refuse, before any work, an output that is an input, exists (unless ``overwrite``), cannot be
        written, or has a kind we cannot write; one line naming the flag."""
        kind: Literal["folder", "file"] = "folder" if self.folder else "file"
        outs: dict[str, Output | None] = {
            "-o": Output(self.output, kind),
            "sidecar": Output(self.sidecar),
            "--plot": Output(self.plot, suffixes=PLOT_EXTENSIONS) if self.plot else None,
            "--compare": Output(self.compare, kind) if self.compare else None,
        }
        for flag, path in (("-o", self.output), ("--compare", self.compare)):
            if self.folder and path is not None and path.is_dir() and any(path.iterdir()) and not overwrite:
                raise OutputError(f"{flag} {path}: folder is not empty; pass --overwrite or choose another")
        check_outputs(outs, self.inputs, overwrite)
        if not self.folder:
            container_for(self.output)


def plan_outputs(job: VideoJob, inputs: list[Path]) -> OutputPlan:
    """Where ``job`` writes."""
    out = Path(job.output)
    folder = job.png_sequence or out.is_dir()
    compare = None
    if job.video.compare:
        compare = out.with_name(out.name + "_compare") if folder else out.with_name(f"{out.stem}_compare{out.suffix}")
    side = out.with_name(out.name + ".json")
    return OutputPlan(out, folder, side, work_folder(out), job.plot, compare, tuple(Path(p) for p in inputs))


def _pts(record: dict[str, Any], first: dict[str, Any], first_pts: int | None, tb: Fraction) -> int:
    if record["pts"] is not None and first_pts is not None:
        return int(record["pts"]) - int(first_pts)
    return round((float(record["time"]) - float(first["time"])) / tb)


def _input_frames(job: VideoJob, n: int, size: tuple[int, int], rotation: int) -> Iterator[np.ndarray]:
    """The first ``n`` input frames of the job's range again, as the loop saw them (for --compare)."""
    with VideoReader(job.input) as reader:
        for d in islice(reader.frames(job.video.start, job.video.end), n):
            yield frame_to_array(d.frame, size, rotation, reader.reformatter)


def _write_video(
    path: Path, frames: Iterator[np.ndarray], job: VideoJob, reader: VideoReader, records: list[dict[str, Any]],
    timing: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    info = reader.info
    tb = info.time_base or Fraction(1, 1000)
    rate = Fraction(info.fps).limit_denominator(1001) if info.fps else None
    audio = None
    if info.audio:
        end = None if timing["end"] is None else timing["end"] + reader.offset
        audio = AudioSource(job.input, float(records[0]["time"]) + reader.offset, end)
    first = next(frames)
    h, w = first.shape[:2]
    with VideoWriter(path, w, h, tb, rate, job.video.crf, audio, job.video.chroma) as writer:
        for rec, arr in zip(records, chain([first], frames), strict=True):
            writer.write(arr, _pts(rec, records[0], timing["first_pts"], tb))
    audio_info = {"audio": writer.audio_codec, "audio_copied": writer.audio_copied}
    return {"file": str(path), "codec": "h264", "size": [w, h], **audio_info}


def _write_folder(folder: Path, frames: Iterator[np.ndarray]) -> dict[str, Any]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, arr in enumerate(frames, 1):
        save_image(Image.fromarray(arr, "RGB"), folder / FRAME_NAME.format(n))
    for stale in folder.glob("frame_*.png"):  # left by an earlier, longer run replaced with --overwrite
        if stale.name > FRAME_NAME.format(n):
            stale.unlink()
    return {"folder": str(folder), "frames": n, "name": FRAME_NAME}


def _output_bytes(work: WorkFolder, records: list[dict[str, Any]], plan: OutputPlan) -> int:
    """An upper bound of what the outputs take, from the finished frames' PNG sizes: a PNG sequence about
    their sum, an H.264 video (CRF, stylised frames) well under half of it; a comparison twice as much."""
    frames = sum(work.frame_path(int(r["index"])).stat().st_size for r in records)
    one = frames if plan.folder else frames // 2
    return one * (3 if plan.compare is not None else 1)


def write_outputs(
    job: VideoJob, plan: OutputPlan, work: WorkFolder, reader: VideoReader, records: list[dict[str, Any]],
    timing: dict[str, Any], info: BackboneInfo | None, stylizer_info: dict[str, Any] | None,
    fingerprint: dict[str, Any], emit: Callable[[StageStarted], None],
) -> tuple[dict[str, Path], dict[str, Any]]:  # fmt: skip
    """Write the video (or PNG sequence), the comparison, the plot and last the sidecar (whose presence
    with ``complete: true`` is what marks the job finished)."""
    outputs: dict[str, Any] = {}
    ensure_free_space(plan.output, _output_bytes(work, records, plan))  # the finished frames stay if not
    frames = (work.output_frame(int(r["index"])) for r in records)
    emit(StageStarted("encode"))
    if plan.folder:
        outputs["output"] = _write_folder(plan.output, frames)
    else:
        outputs["output"] = _write_video(plan.output, frames, job, reader, records, timing)
    paths = {"output": plan.output, "sidecar": plan.sidecar}
    if plan.compare is not None:
        emit(StageStarted("compare"))
        size, rot = timing["size"], timing["rotation"]
        pairs = (
            np.concatenate([a, work.output_frame(int(r["index"]))], axis=1)
            for a, r in zip(_input_frames(job, len(records), size, rot), records, strict=False)
        )
        if plan.folder:
            outputs["compare"] = _write_folder(plan.compare, pairs)
        else:
            outputs["compare"] = _write_video(plan.compare, pairs, job, reader, records, timing)
        paths["compare"] = plan.compare
    if plan.plot is not None:
        emit(StageStarted("plot"))
        plot_frames(records, plan.plot, title=f"{job.input.name}: per-frame losses and warping error")
        paths["plot"] = plan.plot
    emit(StageStarted("measure"))
    metric = measure_written(job, plan, records, timing)
    record = sidecar(job, reader, records, timing, outputs, info, stylizer_info, fingerprint)
    side = replace(record, metric=metric).to_json()
    write_json(plan.sidecar, side)
    return paths, side


def measure_written(
    job: VideoJob, plan: OutputPlan, records: list[dict[str, Any]], timing: dict[str, Any]
) -> WarpingError:
    """The clip's steadiness measured on the frames as written (decoded again from a video file) against the
    input frames as the loop saw them: the number ``evaluate`` measures on the same file."""
    written = written_frames(plan.output, plan.folder, len(records))
    inputs = _input_frames(job, len(records), timing["size"], timing["rotation"])
    s = temporal_score(zip(inputs, written, strict=False), job.video.flow)
    return WarpingError(s.warping_error, s.input_warping_error, s.warping_ratio, s.following, s.input_following)
