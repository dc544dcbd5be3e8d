"""The Gatys frame stylizer in the frame loop: what a warm frame starts from, and that a flat object the
flow cannot carry survives the temporal loss."""

from __future__ import annotations

import numpy as np
import torch

from fixtures.clips import pan_frames
from styleverse.nn.features import build_model
from styleverse.styles.targets import image_grams
from styleverse.transfer.optimize import TransferConfig
from styleverse.video.gatys import GatysFrameStylizer
from styleverse.video.loop import FrameLoop, FrameState, StylizedFrame, to_tensor

W, H, SHIFT = 64, 48, 6
SQUARE = (slice(24, 40), slice(38, 54))  # rows, columns of pan_frames' 16 px occluder at 64x48


def still_square(n: int) -> list[np.ndarray]:
    """A flat red square standing still while the scene pans ``SHIFT`` px per frame behind it: DIS gives
    the square the pan's motion (nothing inside it moves), so the warp carries it ``SHIFT`` px off."""
    return pan_frames(n, (W, H), (SHIFT, 0), occluder=16, occluder_speed=0)


class Keeper:
    """A stylizer that keeps the frame and remembers the states it was given."""

    def __init__(self) -> None:
        self.states: list[FrameState] = []

    def __call__(self, frame: torch.Tensor, state: FrameState) -> StylizedFrame:
        self.states.append(state)
        return StylizedFrame(frame)


def test_the_mask_drops_the_edges_of_a_flat_object_the_flow_drags_off() -> None:
    keeper, frames = Keeper(), still_square(4)
    loop = FrameLoop(keeper)
    for f in frames:
        loop.step(f)
    rows, cols = SQUARE
    for state in keeper.states[1:]:
        assert state.mask is not None
        m = state.mask[0, 0]
        trailing = m[rows, cols.stop - SHIFT : cols.stop]  # the square, where the warp brings the background
        leading = m[rows, cols.start - SHIFT : cols.start]  # the background, where the warp brings the square
        assert trailing.mean() < 0.1 and leading.mean() < 0.1, (trailing.mean(), leading.mean())
        assert m[:, : cols.start - SHIFT - 2].mean() > 0.9  # the textured background is carried


def square_colour(image: torch.Tensor) -> torch.Tensor:
    """Mean RGB inside the square, 2 px in from its edges."""
    rows, cols = SQUARE
    return image[0, :, rows.start + 2 : rows.stop - 2, cols.start + 2 : cols.stop - 2].mean(dim=(1, 2))


def test_a_flat_object_the_flow_drags_off_keeps_its_colour() -> None:
    """The square's colour in the temporal run's frames stays near independent frames' (each from its own
    content): at most 0.024 off in any channel here. Before warm frames started unreliable pixels from the
    input's difference to its surroundings (:func:`~styleverse.video.warp.fresh_start`) they filled them with
    the surroundings' stylised colours alone, as if the square were a strip the pan uncovered, and the square
    drifted to the background's colours (0.24 off by frame 4)."""
    model, _ = build_model("random", style_layers=["relu1_1", "relu2_1"], content_layers=["relu2_1"], seed=0)
    style = to_tensor(np.ascontiguousarray(pan_frames(1, (40, 40), (0, 0), occluder=0, seed=7)[0][:, :, ::-1]))
    targets = image_grams(model, style, torch.device("cpu"))
    frames = still_square(8)
    colours = {}
    for weight in (0.0, 0.02):
        stylizer = GatysFrameStylizer(model, TransferConfig(precision="fp32", seed=0), targets, weight, 20, 6)
        loop = FrameLoop(stylizer)
        colours[weight] = torch.stack([square_colour(loop.step(f).image) for f in frames])
    gap = (colours[0.02] - colours[0.0]).abs().amax(dim=1)
    assert gap.max() < 0.08, (gap, colours)
