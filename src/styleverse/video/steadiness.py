"""How steady a stylised video is, and whether it follows the input's motion: the one measure both ``video``
and ``evaluate`` report, on the frames as written.

* **Warping error** (:func:`~styleverse.video.metrics.warping_error`, Lai et al. 2018): DIS flow between
  consecutive *input* frames, output t−1 warped into frame t with Ruder et al.'s reliable-flow mask, the masked
  mean squared RGB distance; the same on the input frames is the input's own (its ratio: 1 = as steady as the
  input). It is no floor: an output that stops moving can go far below it.
* **Following**: a steady video can be a frozen one (issue 19: with few steps per frame the output stopped
  following the moving cars and scored 30x "steadier" than its input). On the reliable pixels where the input
  moves (flow of at least :data:`MOVING_PX`), ``(e_still − e_warp) / (e_still + e_warp)`` per frame, where
  ``e_warp`` is the warping error there and ``e_still`` the same distance to the *unwarped* previous output:
  1 = the output moved exactly as the input did, 0 = the motion explains its change no better than standing
  still, below 0 = it changed less than the motion demands (a frozen clip scores −1). The input's own value is
  reported beside it. A clip whose following is below :data:`FOLLOW_MIN` is called frozen.
* **Flicker**: mean absolute change between consecutive frames, pixels in [0, 1].

Measured after the fact on the frames as written (H.264 adds its own changes: in issue 19 the same clip read
0.03 before encoding and 0.18 after), so the number ``video`` records is the one ``evaluate`` measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from styleverse.errors import InputError
from styleverse.video.flow import DEFAULT_PRESET, DISFlow, to_gray
from styleverse.video.loop import to_tensor
from styleverse.video.metrics import mean_error, warping_error
from styleverse.video.warp import warp, warp_previous

MOVING_PX = 0.5  # input flow of at least this many pixels: a pixel that moves
FOLLOW_MIN = 0.0  # following below this: the output does not follow the input's motion (frozen)


@dataclass(frozen=True)
class TemporalScore:
    """Warping error, following and flicker of the output and of the input, and the output/input ratios;
    ``frames`` is how many frames were measured (module doc)."""

    warping_error: float | None
    input_warping_error: float | None
    warping_ratio: float | None
    flicker: float | None
    input_flicker: float | None
    flicker_ratio: float | None
    frames: int
    following: float | None = None
    input_following: float | None = None

    @property
    def frozen(self) -> bool:
        """True when the output does not follow the input's motion (module doc)."""
        return self.following is not None and self.following < FOLLOW_MIN


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


def _following(
    frame: torch.Tensor, previous: torch.Tensor, carried: torch.Tensor, moving: torch.Tensor
) -> float | None:
    """One frame's following (module doc) over the ``moving`` pixels; None where none move or nothing changed."""
    n = float(moving.sum())
    if n <= 0:
        return None
    e_warp = float((((frame - carried) ** 2).sum(1, keepdim=True) * moving).sum()) / n
    e_still = float((((frame - previous) ** 2).sum(1, keepdim=True) * moving).sum()) / n
    return (e_still - e_warp) / (e_still + e_warp) if e_still + e_warp > 0 else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def temporal_score(pairs: Iterable[tuple[np.ndarray, np.ndarray]], flow_preset: str = DEFAULT_PRESET) -> TemporalScore:
    """The module doc's numbers for ``(input, output)`` frame pairs (RGB uint8 (H, W, 3), equal sizes), read
    one pair at a time."""
    dis = DISFlow(flow_preset)
    errors: dict[str, list[float | None]] = {"out": [], "in": []}
    follows: dict[str, list[float]] = {"out": [], "in": []}
    changes: dict[str, list[float]] = {"out": [], "in": []}
    prev: tuple[np.ndarray, torch.Tensor, torch.Tensor] | None = None
    n = 0
    for inp, out in pairs:
        n += 1
        if inp.shape != out.shape:
            raise InputError(f"output frames are {out.shape[1::-1]}, input frames {inp.shape[1::-1]} px")
        x, y = to_tensor(inp), to_tensor(out)
        if prev is not None:
            gray, x0, y0 = prev
            flows = dis.pair(gray, to_gray(inp))
            carried = warp_previous(y0, flows)
            moving = carried.mask * torch.from_numpy(np.hypot(*np.moveaxis(flows.backward, -1, 0)) >= MOVING_PX)
            for key, frame, before, warped in (("out", y, y0, carried.image), ("in", x, x0, warp(x0, flows.backward))):
                errors[key].append(warping_error(frame, warped, carried.mask))
                f = _following(frame, before, warped, moving.float())
                follows[key] += [f] if f is not None else []
                changes[key].append(float((frame - before).abs().mean()))
        prev = (to_gray(inp), x, y)
    err, ref = mean_error(errors["out"]), mean_error(errors["in"])
    fl, fl_in = _mean(changes["out"]), _mean(changes["in"])
    follow, follow_in = _mean(follows["out"]), _mean(follows["in"])
    return TemporalScore(err, ref, _ratio(err, ref), fl, fl_in, _ratio(fl, fl_in), n, follow, follow_in)


def written_frames(path: Path, folder: bool, limit: int | None = None) -> Iterator[np.ndarray]:
    """Up to ``limit`` frames of a written output, upright RGB uint8: a video file decoded, or a folder's frame
    images in name order."""
    from styleverse.io.images import list_images, load_image
    from styleverse.io.video import VideoReader, display_size, frame_to_array

    if folder:
        for f in list_images([path])[:limit]:
            yield np.array(load_image(f))
        return
    with VideoReader(path) as reader:
        info = reader.info
        for i, d in enumerate(reader.frames()):
            if limit is not None and i >= limit:
                return
            rot = int(d.frame.rotation or 0)
            size = display_size(info.width, info.height, info.pixel_aspect, rot)
            yield frame_to_array(d.frame, size, rot, reader.reformatter)
