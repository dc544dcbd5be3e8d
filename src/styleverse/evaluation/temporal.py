"""How steady a stylised video is: the temporal warping error of the video command, and flicker.

The warping error is the definition :mod:`styleverse.video.metrics` holds (Lai et al. 2018) computed the way
the frame loop computes it while stylising (:class:`styleverse.video.loop.FrameLoop`): DIS flow between
consecutive *input* frames, output t−1 warped into frame t with Ruder et al.'s reliable-flow mask, the
masked mean squared RGB distance; the same on the input frames is the floor. Here it is measured after the
fact, on the frames as they were written (an H.264 file adds its own small changes), so the number of a
finished video can be checked and compared with a video made any other way (fast network, AdaIN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from styleverse.errors import InputError
from styleverse.evaluation.metrics import flicker, ratio
from styleverse.video.flow import DEFAULT_PRESET, DISFlow, to_gray
from styleverse.video.loop import to_tensor
from styleverse.video.metrics import mean_error, warping_error
from styleverse.video.warp import warp, warp_previous


@dataclass(frozen=True)
class TemporalScore:
    """Warping error of the output and of the input (the floor), flicker of both, and their ratios
    (output / input: 1 = as steady as the input itself); ``frames`` is how many frame pairs were measured
    plus one."""

    warping_error: float | None
    input_warping_error: float | None
    warping_ratio: float | None
    flicker: float | None
    input_flicker: float | None
    flicker_ratio: float | None
    frames: int


def temporal_score(
    inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], flow_preset: str = DEFAULT_PRESET
) -> TemporalScore:
    """Warping error and flicker of ``outputs`` against ``inputs`` (RGB uint8 (H, W, 3) frames, one output
    per input, equal sizes)."""
    if len(inputs) != len(outputs):
        raise InputError(f"{len(outputs)} output frames for {len(inputs)} input frames; they must pair up")
    if inputs and inputs[0].shape != outputs[0].shape:
        raise InputError(f"output frames are {outputs[0].shape[1::-1]}, input frames {inputs[0].shape[1::-1]} px")
    dis = DISFlow(flow_preset)
    errors: list[float | None] = []
    floors: list[float | None] = []
    ins = [to_tensor(f) for f in inputs]
    outs = [to_tensor(f) for f in outputs]
    for t in range(1, len(inputs)):
        flows = dis.pair(to_gray(inputs[t - 1]), to_gray(inputs[t]))
        carried = warp_previous(outs[t - 1], flows)
        errors.append(warping_error(outs[t], carried.image, carried.mask))
        floors.append(warping_error(ins[t], warp(ins[t - 1], flows.backward), carried.mask))
    err, floor = mean_error(errors), mean_error(floors)
    fl_out, fl_in = flicker(outs), flicker(ins)
    return TemporalScore(err, floor, ratio(err, floor), fl_out, fl_in, ratio(fl_out, fl_in), len(inputs))
