"""What a video job reports: the sidecar (:class:`~styleverse.video.sidecar.VideoSidecar`) and the per-frame plot
(losses and the warping error while stylising)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from styleverse.io.video import VideoReader
from styleverse.nn.vgg import BackboneInfo
from styleverse.versions import versions
from styleverse.video.config import VideoJob
from styleverse.video.sidecar import InputVideo, VideoSidecar, WarpingError


def sidecar(
    job: VideoJob, reader: VideoReader, records: Sequence[dict[str, Any]], timing: dict[str, Any],
    outputs: dict[str, Any], info: BackboneInfo | None, stylizer_info: dict[str, Any] | None,
    fingerprint: dict[str, Any],
) -> VideoSidecar:  # fmt: skip
    """Everything needed to understand and repeat the run; ``complete`` + ``fingerprint`` mark it finished."""
    vi = reader.info
    source = InputVideo(
        (vi.width, vi.height), str(vi.pixel_aspect), timing["rotation"], vi.fps, str(vi.time_base), vi.codec,
        vi.audio, timing.get("skipped", 0),
    )  # fmt: skip
    return VideoSidecar(
        complete=True,
        content=str(job.input),
        output=str(job.output),
        style=job.style,
        settings=job.settings(),
        fingerprint=fingerprint,
        video=job.video,
        input_video=source,
        outputs=outputs,
        frames_done=len(records),
        metric=WarpingError(),  # measured on the frames as written: video.output.measure_written
        backbone=info,
        stylizer=stylizer_info or {"kind": "gatys", "temporal_weight": job.video.temporal_weight},
        seconds=sum(float(r["seconds"]) + float(r["flow_ms"]) / 1000 for r in records),
        peak_memory_bytes=timing.get("peak_memory_bytes"),  # of the last session (a resumed run: after resuming)
        peak_memory_kind=timing.get("peak_memory_kind"),
        frames=tuple(dict(r) for r in records),
        versions=versions(),
    )


def plot_frames(records: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> Path:
    """Two panels over frame number: each loss term (log scale), and the warping error of the output as the
    frame loop measured it while stylising (before encoding; the sidecar's ``metric`` is measured on the frames
    as written) beside the input's own (no floor: a frozen output goes below it)."""
    from styleverse.plots import save_figure, subplots

    fig, (top, bottom) = subplots(2, 1, figsize=(8, 6), sharex=True)
    xs = [int(r["index"]) + 1 for r in records]
    keys = [k for k in ("style", "content", "temporal", "tv") if any(r["losses"].get(k, 0) > 0 for r in records)]
    for k in keys:
        top.plot(xs, [r["losses"].get(k) or float("nan") for r in records], label=k, lw=1.5, marker=".")
    if keys:
        top.set_yscale("log")
        top.legend()
    top.set_ylabel("weighted loss (final)")
    top.grid(True, which="both", alpha=0.3)
    top.set_title(title or "per-frame losses and warping error")
    for key, label, colour in (
        ("warp_error", "output (before encoding)", "tab:red"),
        ("input_warp_error", "input", "0.5"),
    ):
        vals = [r.get(key) for r in records]
        bottom.plot(xs, [float("nan") if v is None else v for v in vals], label=label, color=colour, marker=".")
    bottom.set_ylabel("warping error")
    bottom.set_xlabel("frame")
    bottom.grid(True, alpha=0.3)
    bottom.legend()
    return save_figure(fig, path)
