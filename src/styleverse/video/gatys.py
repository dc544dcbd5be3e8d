"""The Gatys frame stylizer with Ruder et al. 2016's temporal constraint.

Frame 1 is optimised from the content (or noise) for ``steps_first`` steps. Every later frame starts from
the previous output warped into it (Ruder section 3.1: "the initialisation ... with the warped previous
frame") and takes ``steps`` steps, far fewer, since most of the picture is already stylised, plus the share of
``steps_first`` its unreliable pixels stand for (a strip a pan uncovers needs a first frame's steps). Where the
mask says the warp cannot be trusted (a strip the camera uncovers, behind a moving object) it starts from
the colours of the stylised pixels around plus the input's own difference from its surroundings there
(:func:`~styleverse.video.warp.fresh_start`): the warp itself would fill them with smeared border streaks,
the raw frame left per-pixel colour noise in every uncovered strip (a warm frame's few steps cannot turn a
photo into the style), and the surroundings' colours alone lost a flat object the flow drags off. Its objective
gains Ruder's short-term temporal loss (eq. 6, with ``c`` from :func:`styleverse.video.warp.reliable_mask`)

    L_temporal(x) = temporal_weight · L₁ · 1/D Σ_k c_k (x_k − ω_k)² / δ²,  D = 3·H·W,  δ = 1/255,

pulling the frame towards the warped previous output ω where the flow is reliable and leaving disoccluded
regions and motion boundaries free. ``temporal_weight = 0`` turns all of this off: every frame is stylised
independently, from the content with ``steps_first`` steps (the flickering baseline). Ruder's long-term
loss over several earlier frames is not implemented.

**Multi-pass** (Ruder et al. section 3.4; ``video --passes N``): one forward pass leaves the style thinner
frame by frame (each warm frame gets a few steps from a warped, slightly blurred start, and the temporal term
holds it there). Later passes walk the shot backward and forward in turn and re-optimise every frame for
``steps`` more steps from Ruder's blend ``x' = δ·c·ω + (1 − δ·c)·x_earlier`` of the neighbour's output of
this pass warped in (ω, where the mask ``c`` trusts it) and the frame's own output of the pass before, with
the same temporal term towards ω. Disoccluded pixels (c = 0) thus start from the frame's own stylised
result, never the neighbour's smear, and each pass carries the style the other direction has grown.
Departure: Ruder's first pass stylises frames independently; here it is the single warm pass, so
``passes = 1`` is the plain scheme above.

Departure from Ruder: their weight is absolute, tuned for one network. Our losses differ by orders of
magnitude between feature networks (an untrained VGG's style loss is ~10⁴ times smaller than ImageNet
VGG's), so an absolute default would be too strong on one and too weak on the other. The term is therefore
measured in units of ``L₁``, the first frame's final style + content loss, and of ``δ``, one 8-bit level:
``temporal_weight = 1`` makes a masked mean squared change of one level cost as much as frame 1's whole
style and content loss. ``L₁`` is stylizer state (:meth:`GatysFrameStylizer.state_dict`) so a resumed run
uses the same.

Style targets are computed once per video by the caller and passed in; each frame then costs only its
optimisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.errors import ConfigError
from styleverse.nn.color import luminance_transfer
from styleverse.nn.features import StyleContentModel
from styleverse.styles.targets import GramDict, StyleSet
from styleverse.transfer.config import Callback, WarmStart, warm_image
from styleverse.transfer.optimize import StyleTransfer, TransferConfig
from styleverse.video.loop import FrameState, StylizedFrame
from styleverse.video.warp import fresh_start

LEVEL = 1.0 / 255.0  # δ: one 8-bit level, the unit of change of the temporal term
# δ of the multi-pass blend: the warped neighbour's share where the flow holds. Measured with bench_video's
# clip (96x54, 6 frames, random VGG19, 20 steps for frame 1, 3 passes of 6): δ = 1 ended with the style loss
# +24% over independent frames and the encoded warping error 3.9x lower; δ = 0.5 +38% and 3.4x (an average
# of two stylisations a pixel apart is a blur the few steps must undo); δ = 0 (own result only) pulled the
# frames' style apart (3.5x the single pass' style loss on tests/video's clip: the temporal term spent the
# steps). With δ = 1 a later pass starts where the temporal term is zero, as the first pass does.
PASS_BLEND = 1.0


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ruder et al. 2016 eq. 6: ``1/D Σ c (x − ω)²`` over all D = 3·H·W values (mask broadcast over RGB)."""
    return (mask * (image - warped) ** 2).mean()


class GatysFrameStylizer:
    """A :class:`~styleverse.video.loop.FrameStylizer` running :class:`StyleTransfer` per frame.

    ``targets`` are the style Grams (built once for the video, at the frame size); ``config`` gives the
    loss weights, optimiser, seed and device (its ``steps`` and sizes are replaced per frame);
    ``preserve_color="luminance"`` keeps each input frame's colours (Gatys et al. 2016) and applies the
    temporal loss to the colour-preserved image, which is what is shown. ``callback`` receives the
    optimiser's step events; ``stop()`` is asked before every step: True abandons the frame
    (:class:`~styleverse.cancel.Stopped`). ``warm`` (``video --init fast:MODEL`` / ``adain:DECODER``) is a
    network whose stylisation of the frame is where frame 1 (and every frame of independent stylisation)
    starts, and what a warm frame's unreliable pixels start from instead of the photo's difference to its
    surroundings (:func:`~styleverse.video.warp.fresh_start`).
    """

    def __init__(
        self, model: StyleContentModel, config: TransferConfig, targets: GramDict, temporal_weight: float,
        steps_first: int, steps: int, preserve_color: str = "none", callback: Callback | None = None,
        stop: Stop = never, warm: WarmStart | None = None,
    ) -> None:  # fmt: skip
        if not temporal_weight >= 0:
            raise ConfigError("temporal_weight must be >= 0", setting="temporal_weight")
        self.model, self.config, self.callback, self.stop = model, config, callback, stop
        self.styles = StyleSet([], extra=[({k: v.detach().clone() for k, v in targets.items()}, 1.0)])
        self.temporal_weight, self.steps_first, self.steps = temporal_weight, steps_first, steps
        self.luminance = preserve_color == "luminance"
        self.warm = warm
        self._engines: dict[tuple[int, int], StyleTransfer] = {}
        self.loss_scale: float | None = None  # L₁: frame 1's final style + content loss

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly: ``L₁``."""
        return {"loss_scale": self.loss_scale}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        value = state.get("loss_scale")
        if value is not None and not (isinstance(value, float) and 0 < value < math.inf):
            raise ValueError(f"stylizer/loss_scale {value!r} is not a positive number")
        self.loss_scale = value

    def _engine(self, steps: int, side: int) -> StyleTransfer:
        key = (steps, side)
        if key not in self._engines:
            self._engines[key] = StyleTransfer(self.model, replace(self.config, steps=steps, scales=(side,)))
        return self._engines[key]

    def _steps_for(self, mask: torch.Tensor | None) -> int:
        """A warm frame's steps: ``steps``, plus the share of ``steps_first`` that its unreliable pixels (which
        start from colours only) stand for, so an uncovered strip gets the steps a first frame would."""
        fresh = 0.0 if mask is None else 1.0 - float(mask.float().mean())
        return self.steps + max(0, round(fresh * (self.steps_first - self.steps)))

    def _shown(self, x: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        return luminance_transfer(x, frame.to(x.device)) if self.luminance else x

    def _start(self, frame: torch.Tensor, state: FrameState, warm: bool) -> tuple[int, torch.Tensor | None]:
        """Steps and starting image of a frame. A later pass (``state.earlier``) starts from Ruder et al.'s
        blend ``δ·c·ω + (1 − δ·c)·x_earlier`` (section 3.4, δ = :data:`PASS_BLEND`) and takes ``steps``: where
        the flow holds (``c`` = 1) its neighbour's output warped in, where it does not (a disocclusion,
        ``c`` = 0) its own earlier, stylised result, not the neighbour's smear."""
        if state.earlier is not None:
            if not warm:
                return self.steps, state.earlier
            assert state.warped_previous is not None and state.mask is not None
            c = PASS_BLEND * state.mask
            return self.steps, c * state.warped_previous + (1 - c) * state.earlier
        if not warm:
            return self.steps_first, self.network_start(frame)
        assert state.warped_previous is not None and state.mask is not None
        net = self.network_start(frame)
        if net is None:
            return self._steps_for(state.mask), fresh_start(state.warped_previous, frame, state.mask)
        return self._steps_for(state.mask), state.mask * state.warped_previous + (1 - state.mask) * net

    def network_start(self, frame: torch.Tensor) -> torch.Tensor | None:
        """The ``warm`` network's stylisation of ``frame`` (1,3,H,W) on the CPU; None without one."""
        return None if self.warm is None else warm_image(self.warm, frame)

    def __call__(self, frame: torch.Tensor, state: FrameState) -> StylizedFrame:
        warm = self.temporal_weight > 0 and state.warped_previous is not None and state.mask is not None
        side = max(int(frame.shape[-2]), int(frame.shape[-1]))
        steps, init = self._start(frame, state, warm)
        engine = self._engine(steps, side)
        extra = None
        if warm:
            assert state.warped_previous is not None and state.mask is not None
            warped, mask = state.warped_previous.to(engine.device), state.mask.to(engine.device)
            content = frame.to(engine.device)
            scale = self.loss_scale if self.loss_scale and self.loss_scale > 0 else 1.0
            w = self.temporal_weight * scale / LEVEL**2

            def extra(x: torch.Tensor) -> Mapping[str, torch.Tensor]:
                return {"temporal": w * temporal_loss(self._shown(x, content), warped, mask)}

        result = engine.run(frame, self.styles, init=init, callback=self.callback, extra_loss=extra, stop=self.stop)
        if result.stop_reason in ("interrupted", "stopped"):
            raise Stopped(f"stopped in frame {state.index + 1}")
        if result.diverged_at is not None:
            raise ConfigError(
                f"frame {state.index + 1}: loss became NaN/inf at step {result.diverged_at}; "
                "lower lr or the loss weights",
                setting="lr",
            )
        image = self._shown(result.image, frame.to(result.image.device)).cpu()
        losses = dict(result.final_losses)
        if self.loss_scale is None:
            self.loss_scale = losses.get("style", 0.0) + losses.get("content", 0.0)
        return StylizedFrame(image, losses, len(result.history))
