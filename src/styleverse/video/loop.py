"""The frame loop: any frame stylizer, made coherent from frame to frame by optical flow.

Ruder et al. 2016 stylise a video frame by frame, each frame knowing the previous output carried into it by
the flow of the input frames, and where that carry can be trusted. :class:`FrameLoop` does the carrying:
for each input frame it computes DIS flow to the previous input frame, warps the previous output
(:mod:`styleverse.video.warp`), hands both to a :class:`FrameStylizer`, and measures the temporal warping
error of the result and of the input (Lai et al. 2018, :mod:`styleverse.video.metrics`).

A stylizer is anything with ``__call__(frame, state) -> StylizedFrame``: the Gatys optimisation with a
temporal loss (:mod:`styleverse.video.gatys`), or a feed-forward network wrapped in :class:`FlowBlended`.
The loop imports no stylizer: it takes one as an argument.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.video.flow import DISFlow, to_gray
from styleverse.video.metrics import warping_error
from styleverse.video.warp import photometric_mask, warp, warp_previous


@dataclass(frozen=True)
class FrameState:
    """What a stylizer knows about frame ``index`` besides its pixels: the previous output, that output
    warped into this frame by the input's flow, and where to trust that warp (1; Ruder et al.'s reliable-flow
    mask times :func:`~styleverse.video.warp.photometric_mask`). All three are None for the first frame.
    "Previous" is the frame before in the order of the pass (the next frame of the clip in a backward pass).
    ``earlier`` is this frame's own output from the pass before (None in the first pass; see
    :func:`pass_order`). Images are (1,3,H,W), the mask (1,1,H,W), float32 in [0,1]."""

    index: int
    previous_output: torch.Tensor | None = None
    warped_previous: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    earlier: torch.Tensor | None = None


@dataclass
class StylizedFrame:
    """A stylizer's answer: the output frame (1,3,H,W) in [0,1], its named loss terms, optimiser steps."""

    image: torch.Tensor
    losses: dict[str, float] = field(default_factory=dict)
    steps: int = 0


class FrameStylizer(Protocol):
    """Stylises one frame (1,3,H,W) in [0,1] given its :class:`FrameState`; raises
    :class:`~styleverse.cancel.Stopped` when stopped within the frame (a half-stylised frame is never kept)."""

    def __call__(self, frame: torch.Tensor, state: FrameState) -> StylizedFrame: ...


class FlowBlended:
    """A per-frame stylizer ``apply(frame) -> frame`` (a feed-forward network, AdaIN) made steadier by
    flow-guided blending: where the warp is reliable the output is ``blend·warped_previous +
    (1−blend)·apply(frame)``, elsewhere ``apply(frame)``. The network still decides every pixel, so a
    blend < 1 cannot freeze the picture, while flicker between frames is damped geometrically."""

    def __init__(self, apply: Callable[[torch.Tensor], torch.Tensor], blend: float = 0.5) -> None:
        if not 0.0 <= blend < 1.0:
            raise ValueError("blend must be in [0, 1)")
        self.apply, self.blend = apply, blend

    def __call__(self, frame: torch.Tensor, state: FrameState) -> StylizedFrame:
        out = self.apply(frame).detach().float().clamp(0, 1)
        if state.warped_previous is None or state.mask is None or self.blend == 0:
            return StylizedFrame(out)
        w = self.blend * state.mask.to(out.device)
        return StylizedFrame(w * state.warped_previous.to(out.device) + (1 - w) * out)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(1,3,H,W) float32 in [0,1] of an RGB uint8 (H,W,3) frame."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_array(image: torch.Tensor) -> np.ndarray:
    """RGB uint8 (H,W,3) of a (1,3,H,W) image in [0,1] (rounded, as ``save_image`` does)."""
    return (image.detach()[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def quantize(image: torch.Tensor) -> torch.Tensor:
    """The image as an 8-bit file holds it, so a resumed run continues from exactly what it saved."""
    return to_tensor(to_array(image))


@dataclass(frozen=True)
class FrameResult:
    """One stylised frame: the output (quantised to 8 bits), its losses and steps, the seconds the stylizer
    and the flow took, and the warping error of the output and of the input (None for the first frame)."""

    index: int
    image: torch.Tensor
    losses: dict[str, float]
    steps: int
    seconds: float
    flow_seconds: float
    warp_error: float | None
    input_warp_error: float | None


def pass_order(n: int, pass_index: int) -> range:
    """The order in which pass ``pass_index`` (0-based) visits ``n`` frames: forward in even passes,
    backward in odd ones (Ruder et al. 2016, section 3.4: the direction alternates from pass to pass)."""
    return range(n) if pass_index % 2 == 0 else range(n - 1, -1, -1)


class FrameLoop:
    """Feeds frames one by one to a stylizer with the previous output warped into each (Ruder et al. 2016).

    :meth:`step` stylises the next frame, unless ``stop()`` is true (then it raises
    :class:`~styleverse.cancel.Stopped`); :meth:`skip` accepts a frame finished earlier (a resumed run), so
    the next frame is warped from exactly what was saved. Outputs are quantised to 8 bits before they become
    the "previous output", so a run continued from saved frames equals an uninterrupted one. ``order`` -1
    walks the clip backwards (a backward pass of the multi-pass scheme): frame indices then count down and
    each frame is warped from the one after it.
    """

    def __init__(
        self, stylizer: FrameStylizer, flow: DISFlow | None = None, stop: Stop = never, order: int = 1
    ) -> None:
        if order not in (1, -1):
            raise ValueError("order must be 1 (forward) or -1 (backward)")
        self.stylizer, self.flow, self.stop, self.order = stylizer, flow or DISFlow(), stop, order
        self.index = 0
        self._prev: tuple[np.ndarray, torch.Tensor, torch.Tensor] | None = None  # grey input, input, output

    def skip(self, frame: np.ndarray, output: np.ndarray, index: int | None = None) -> None:
        """Frame ``index`` (default: the next one; RGB uint8) was stylised before into ``output`` (RGB uint8):
        take it as is and continue after it."""
        self._prev = (to_gray(frame), to_tensor(frame), to_tensor(output))
        self.index = (self.index if index is None else index) + self.order

    def step(self, frame: np.ndarray, earlier: np.ndarray | None = None) -> FrameResult:
        """Stylise the next frame (RGB uint8 (H,W,3)); ``earlier`` is its output from the pass before."""
        if self.stop():
            raise Stopped(f"stopped before frame {self.index + 1}")
        x, gray = to_tensor(frame), to_gray(frame)
        t0 = time.perf_counter()
        own = None if earlier is None else to_tensor(earlier)
        state, prev_in, carried = FrameState(self.index, earlier=own), None, None
        if self._prev is not None:
            prev_gray, prev_in, prev_out = self._prev
            flows = self.flow.pair(prev_gray, gray)
            carried = warp_previous(prev_out, flows)
            prev_in = warp(prev_in, flows.backward)
            trust = carried.mask * photometric_mask(x, prev_in)
            state = FrameState(self.index, prev_out, carried.image, trust, own)
        t1 = time.perf_counter()
        out = self.stylizer(x, state)
        t2 = time.perf_counter()
        image = quantize(out.image)
        err = floor = None
        if carried is not None and prev_in is not None:  # Lai et al.: the flow's own occlusion mask
            err = warping_error(image, carried.image, carried.mask)
            floor = warping_error(x, prev_in, carried.mask)
        result = FrameResult(self.index, image, dict(out.losses), out.steps, t2 - t1, t1 - t0, err, floor)
        self._prev = (gray, x, image)
        self.index += self.order
        return result
