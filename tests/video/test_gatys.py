"""The Gatys frame stylizer in the frame loop: what a warm frame starts from, that a flat object the flow
cannot carry survives the temporal loss, and ``video --init fast:MODEL`` (a network's result as the start)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fixtures.cli import one_error_line
from fixtures.clips import pan_frames, write_clip
from fixtures.networks import adain_model, fast_model
from fixtures.video_jobs import pan_style, pngs, video_job
from styleverse.cancel import StopFlag
from styleverse.fast.apply import FastStylizer
from styleverse.fast.model import load_model
from styleverse.fast.warm import warm_stylizer
from styleverse.nn.features import build_model
from styleverse.styles.spec import StyleSpec
from styleverse.styles.targets import image_grams
from styleverse.transfer.config import TransferResult
from styleverse.transfer.optimize import StyleTransfer, TransferConfig
from styleverse.video.config import FrameDone
from styleverse.video.gatys import GatysFrameStylizer
from styleverse.video.job import run_video
from styleverse.video.loop import FrameLoop, FrameState, StylizedFrame, to_tensor

Cli = Callable[..., tuple[int, str, str]]
TINY = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--style-layers", "relu1_1", "relu2_1",
        "--content-layers", "relu2_1", "--steps-first", "4", "--steps", "2", "--passes", "2"]  # fmt: skip
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


def test_init_fast_starts_frame_1_and_fresh_pixels_from_the_networks_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``video --init fast:MODEL``: frame 1 starts from the network's stylisation exactly; a warm frame from
    the previous output warped in where the flow holds and from the network's result where it does not."""
    model = fast_model(tmp_path / "m.safetensors")
    warm = warm_stylizer(("fast", str(model), "miles"), StyleSpec(), "cpu", "fp32")
    starts: list[torch.Tensor] = []

    def run(self: StyleTransfer, content: torch.Tensor, styles: object, init: torch.Tensor | None = None,
            **kw: object) -> TransferResult:  # fmt: skip
        starts.append(content if init is None else init)
        return TransferResult(content.clone(), [{"total": 1.0}], final_losses={"style": 1.0, "content": 0.0})

    monkeypatch.setattr(StyleTransfer, "run", run)
    net_model = build_model("random", style_layers=["relu1_1"], content_layers=["relu1_1"], width=0.125)[0]
    targets = {"relu1_1": torch.zeros(1, 8, 8)}
    stylizer = GatysFrameStylizer(net_model, TransferConfig(precision="fp32"), targets, 0.02, 2, 1, warm=warm)
    frame = to_tensor(still_square(1)[0])
    ref = FastStylizer(load_model(model), mix="miles", precision="fp32")(frame)
    stylizer(frame, FrameState(0))
    assert torch.equal(starts[0], ref.float().clamp(0, 1)) and (ref - frame).abs().mean() > 0.05
    previous, mask = torch.full_like(frame, 0.5), torch.ones(1, 1, H, W)
    mask[..., W - 8 :] = 0  # a strip the pan uncovered
    stylizer(frame, FrameState(1, previous, previous, mask))
    assert torch.equal(starts[1][..., : W - 8], previous[..., : W - 8])
    assert torch.allclose(starts[1][..., W - 8 :], starts[0][..., W - 8 :])


def test_video_init_fast_runs_and_resumes(cli: Cli, tmp_path: Path) -> None:
    """``video --init fast:MODEL:UNIVERSE`` end to end: recorded in the sidecar, an interrupted run continued
    gives the uninterrupted run's frames, and frames differ from a run started from the photo."""
    clip = write_clip(tmp_path / "in" / "clip.mp4", pan_frames(5))
    style, model = pan_style(tmp_path / "in" / "style.png"), fast_model(tmp_path / "in" / "m.safetensors")
    init = f"fast:{model}:miles"
    args = [clip, "--style", style, "--init", init, *TINY]
    whole = run_video(video_job(*args, "-o", f"{tmp_path}/whole/"))
    assert whole.done == 5 and whole.sidecar["settings"]["init"] == init
    plain = run_video(video_job(clip, "--style", style, *TINY, "-o", f"{tmp_path}/plain/"))
    assert pngs(tmp_path / "plain") != pngs(tmp_path / "whole") and plain.sidecar["settings"]["init"] == "content"
    split, flag = video_job(*args, "-o", f"{tmp_path}/split/"), StopFlag()

    def stop_after_2(ev: Any) -> None:
        if isinstance(ev, FrameDone) and ev.done == 2:
            flag.set("interrupted")

    assert run_video(split, callback=stop_after_2, stop=flag).interrupted
    rest = run_video(split)
    assert not rest.interrupted and pngs(tmp_path / "split") == pngs(tmp_path / "whole")
    for bad, message in (
        ("noise", "a video starts from content, fast:MODEL[:UNIVERSE] or adain:DECODER"),
        (f"fast:{model}:nobody", "unknown universe 'nobody'"),
    ):
        code, _, err = cli("video", clip, "--style", style, "--init", bad, *TINY, "-o", tmp_path / "x.mp4")
        assert code == 2 and message in one_error_line(err), err
    code, _, err = cli("video", clip, "--model", model, "--init", init, "-o", tmp_path / "x.mp4")
    assert code == 2 and "--init is for the optimisation" in one_error_line(err)
    assert not (tmp_path / "x.mp4").exists()
    decoder = adain_model(tmp_path / "in" / "d.safetensors")
    adain = run_video(video_job(clip, "--style", style, "--init", f"adain:{decoder}", *TINY, "--max-frames", "2",
                                "-o", f"{tmp_path}/adain/"))  # fmt: skip
    assert adain.done == 2 and adain.sidecar["settings"]["init"] == f"adain:{decoder}"
