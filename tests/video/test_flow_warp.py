"""Flow, warp, reliable-flow mask, warping error and the frame loop, on frames with known motion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fixtures.clips import pan_frames
from styleverse.video.flow import DISFlow, FlowPair, to_gray
from styleverse.video.gatys import temporal_loss
from styleverse.video.loop import FlowBlended, FrameLoop, FrameState, StylizedFrame, to_array, to_tensor
from styleverse.video.metrics import mean_error, warping_error
from styleverse.video.warp import PHOTOMETRIC, fill_holes, photometric_mask, reliable_mask, warp, warp_array

H, W = 48, 64


def constant_flow(dx: float, dy: float) -> np.ndarray:
    f = np.zeros((H, W, 2), np.float32)
    f[..., 0], f[..., 1] = dx, dy
    return f


def shifted_pair(dx: int, dy: int) -> FlowPair:
    """Flows of a pan where frame t(p) = frame t−1(p + (dx, dy))."""
    return FlowPair(forward=constant_flow(-dx, -dy), backward=constant_flow(dx, dy))


def test_warping_by_a_known_shift_reproduces_the_frame() -> None:
    prev, cur = pan_frames(2, (W, H), (3, 2), occluder=0)
    warped = to_array(warp(to_tensor(prev), constant_flow(3, 2)))
    assert np.array_equal(warped[: H - 2, : W - 3], cur[: H - 2, : W - 3])  # exact away from the new strip
    assert not np.array_equal(warped, cur)  # ... and the strip the pan uncovers is not known
    half = warp_array(np.arange(W, dtype=np.float32)[None].repeat(H, 0), constant_flow(0.5, 0))
    assert half[0, 10] == pytest.approx(10.5)  # between pixels (bicubic reproduces a ramp)


def test_mask_marks_the_strip_a_pan_uncovers_and_nothing_else() -> None:
    m = reliable_mask(shifted_pair(3, 2))
    assert m[: H - 2, : W - 3].min() == 1.0
    assert m[:, W - 3 :].max() == 0.0 and m[H - 2 :, :].max() == 0.0
    assert reliable_mask(shifted_pair(0, 0)).min() == 1.0


def test_mask_marks_disocclusions_and_motion_boundaries() -> None:
    bwd, fwd = constant_flow(0, 0), constant_flow(0, 0)
    bwd[10:20, 10:20] = (4, 0)  # an object moved left by 4 px: its pixels were 4 px to the right before
    fwd[10:20, 14:24] = (-4, 0)
    m = reliable_mask(FlowPair(fwd, bwd))
    assert m[10:20, 19:24].max() == 0.0  # uncovered behind the object: forward and backward disagree
    assert m[10:20, 9:11].max() == 0.0 and m[9:11, 10:20].max() == 0.0  # the object's edges: motion boundaries
    assert m[30:, :].min() == 1.0 and m[12:18, 12:18].min() == 1.0


def test_dis_flow_finds_a_pan_and_its_mask_the_uncovered_strip() -> None:
    frames = pan_frames(2, (128, 96), (3, 1), occluder=16)
    pair = DISFlow().pair(to_gray(frames[0]), to_gray(frames[1]))
    assert np.median(pair.backward[..., 0]) == pytest.approx(3, abs=0.1)
    assert np.median(pair.backward[..., 1]) == pytest.approx(1, abs=0.1)
    m = reliable_mask(pair)
    assert m[:, -2:].mean() < 0.1  # the entering strip
    assert m[10:80, 10:60].mean() > 0.9  # plain scene far from the occluder
    err = warping_error(
        to_tensor(frames[1]), warp(to_tensor(frames[0]), pair.backward), torch.from_numpy(m)[None, None]
    )
    assert err is not None and err < 0.01


def test_warping_error_and_temporal_loss_values() -> None:
    a = torch.full((1, 3, 4, 4), 0.5)
    mask = torch.ones(1, 1, 4, 4)
    assert warping_error(a, a, mask) == 0.0
    assert warping_error(a + 0.1, a, mask) == pytest.approx(0.03)  # summed over RGB, Lai et al.
    mask[..., :2] = 0
    b = a.clone()
    b[..., :2] += 0.5  # only where the mask is 0
    assert warping_error(b, a, mask) == 0.0
    assert warping_error(b, a, torch.zeros(1, 1, 4, 4)) is None
    assert temporal_loss(b, a, mask).item() == 0.0
    assert temporal_loss(a + 0.1, a, mask).item() == pytest.approx(0.5 * 0.01)  # mean over all values
    assert mean_error([None, 1.0, 3.0, float("nan")]) == 2.0 and mean_error([None]) is None


def test_flow_blended_blends_only_where_the_flow_is_reliable() -> None:
    out = torch.zeros(1, 3, 4, 4)
    prev = torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:] = 1
    blended = FlowBlended(lambda x: out, blend=0.25)
    assert torch.equal(blended(out, FrameState(0)).image, out)
    got = blended(out, FrameState(1, prev, prev, mask)).image
    assert got[..., :2].max() == 0 and torch.allclose(got[..., 2:], torch.full_like(got[..., 2:], 0.25))
    with pytest.raises(ValueError):
        FlowBlended(lambda x: x, blend=1.0)


class Recorder:
    """A stylizer that inverts colours and remembers the states it was given."""

    def __init__(self) -> None:
        self.states: list[FrameState] = []

    def __call__(self, frame: torch.Tensor, state: FrameState) -> StylizedFrame:
        self.states.append(state)
        return StylizedFrame(1 - frame, {"style": float(state.index)}, 1)


def test_frame_loop_hands_the_warped_previous_output_and_resumes_exactly() -> None:
    frames = pan_frames(5, (W, H), (2, 1))
    rec = Recorder()
    loop = FrameLoop(rec)
    results = [loop.step(f) for f in frames]
    assert rec.states[0].previous_output is None and rec.states[0].mask is None
    assert torch.equal(rec.states[2].previous_output, results[1].image)
    assert rec.states[2].mask is not None and 0.5 < rec.states[2].mask.mean() < 1.0
    # inverting is consistent in time exactly as far as the input is: same warping error
    for r in results[1:]:
        assert r.warp_error == pytest.approx(r.input_warp_error, rel=1e-4)
    again = FrameLoop(Recorder())
    for f, r in zip(frames[:3], results[:3], strict=True):
        again.skip(f, to_array(r.image))
    last = [again.step(f) for f in frames[3:]]
    for a, b in zip(last, results[3:], strict=True):
        assert a.index == b.index and torch.equal(a.image, b.image) and a.warp_error == b.warp_error


def test_photometric_mask_drops_pixels_the_warp_cannot_carry() -> None:
    frame = torch.full((1, 3, 16, 16), 0.3)
    warped = frame.clone()
    warped[:, 1, 2:6, 2:6] += 0.5  # one channel off over a patch: the ghost of an object's edge
    warped[:, :, 10:, :] += 0.05  # within tolerance: compression
    warped[:, 0, 7, 12] += 0.6  # one misplaced texture pixel: no ghost (its 3x3 mean is off by 0.067)
    m = photometric_mask(frame, warped)
    assert m.shape == (1, 1, 16, 16) and m[..., 2:6, 2:6].max() == 0
    assert m[..., 7, 2:6].max() == 0 and m[..., 2:6, 7].max() == 0  # and the pixel around (the halo margin)
    assert m[..., 9:, :].min() == 1 and m[..., :, 9:].min() == 1
    assert torch.equal(photometric_mask(frame, warped, margin=0)[..., 7, 2:6], torch.ones(1, 1, 4))
    frames = pan_frames(3, (W, H), (2, 1), occluder=12)
    rec = Recorder()
    loop = FrameLoop(rec)
    for f in frames:
        loop.step(f)
    trust = rec.states[2].mask
    assert trust is not None
    flow_only = torch.from_numpy(reliable_mask(DISFlow().pair(to_gray(frames[1]), to_gray(frames[2]))))
    dropped = (flow_only > 0) & (trust[0, 0] == 0)  # the square moved 4 px left, 2 up: where its ghost would go
    assert dropped[18:36, 28:48].sum() >= 4
    dropped[18:36, 28:48] = False
    assert dropped.float().mean() < 0.01  # the textured background is carried as before


def test_repeated_sub_pixel_warps_keep_the_texture() -> None:
    """Every frame starts from the previous output warped, so the warp's blur compounds over a clip: eight
    half-pixel warps back and forth must keep most of a fine texture (bilinear sampling kept 37%)."""
    grain = np.random.default_rng(0).uniform(0, 1, (H, W, 3)).astype(np.float32)
    x = torch.from_numpy(grain).permute(2, 0, 1)[None]
    for i in range(8):
        x = warp(x, constant_flow(0.5 if i % 2 == 0 else -0.5, 0)).clamp(0, 1)

    def energy(t: torch.Tensor) -> float:
        inner = t[..., :, 8:-8]
        return float((inner - torch.nn.functional.avg_pool2d(inner, 3, 1, 1, count_include_pad=False)).abs().mean())

    assert energy(x) > 0.55 * energy(torch.from_numpy(grain).permute(2, 0, 1)[None])


def test_holes_are_filled_from_the_neighbourhood() -> None:
    image = torch.zeros(1, 3, 8, 16)
    image[:, 0, :, :8], image[:, 2, :, 8:] = 1.0, 1.0  # red left half, blue right half
    mask = torch.ones(1, 1, 8, 16)
    mask[..., 12:] = 0  # a strip the pan uncovered on the right
    filled = fill_holes(image, mask)
    assert torch.equal(filled[..., :12], image[..., :12])  # what the mask keeps is kept exactly
    strip = filled[..., 12:]
    assert strip[:, 2].min() > 0.9 and strip[:, 0].max() < 0.1  # blue, like the pixels next to it
    assert torch.equal(fill_holes(image, torch.ones(1, 1, 8, 16)), image)


def test_a_warm_frame_starts_disocclusions_from_the_stylised_neighbourhood(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not from the raw frame: a warm frame's few steps left its colours and noise in every uncovered strip."""
    from styleverse.nn.features import build_model
    from styleverse.transfer.config import TransferConfig, TransferResult
    from styleverse.transfer.optimize import StyleTransfer
    from styleverse.video.gatys import GatysFrameStylizer

    seen: list[torch.Tensor] = []

    def run(self: StyleTransfer, content: torch.Tensor, styles: object, init: torch.Tensor | None = None,
            **kw: object) -> TransferResult:  # fmt: skip
        seen.append(init if init is not None else content)
        return TransferResult(content.clone(), [{"total": 1.0}], final_losses={"style": 1.0, "content": 0.0})

    monkeypatch.setattr(StyleTransfer, "run", run)
    model = build_model("random", style_layers=["relu1_1"], content_layers=["relu1_1"], width=0.125)[0]
    targets = {"relu1_1": torch.zeros(1, 8, 8)}
    stylizer = GatysFrameStylizer(model, TransferConfig(precision="fp32"), targets, 0.02, 2, 1)
    frame = torch.zeros(1, 3, 8, 16)  # the raw frame: black
    stylizer(frame, FrameState(0))
    warped, mask = torch.ones(1, 3, 8, 16), torch.ones(1, 1, 8, 16)  # the stylised previous frame: white
    mask[..., 12:] = 0
    stylizer(frame, FrameState(1, warped, warped, mask))
    assert seen[-1][..., 12:].min() > 0.9


def test_photometric_mask_allows_what_fine_texture_explains() -> None:
    """A 2 px checkerboard misplaced by one pixel differs by its whole contrast at half the pixels, yet the
    warp carried the texture: kept. The same mean difference over a flat region is a shape the warp moved
    wrongly (an object's edge over a background of about its brightness): dropped."""
    yy, xx = torch.meshgrid(torch.arange(24), torch.arange(24), indexing="ij")
    checker = (0.5 + 0.1 * (((xx // 2 + yy // 2) % 2) * 2 - 1)).float().expand(1, 3, 24, 24)
    shifted = torch.roll(checker, 1, dims=-1)
    local = F.avg_pool2d((checker - shifted).abs(), 3, 1, 1)[..., 4:-4, 4:-4]
    assert float(local.mean()) > PHOTOMETRIC  # more than the tolerance alone lets through
    assert float(photometric_mask(checker, shifted)[..., 4:-4, 4:-4].min()) == 1
    flat = torch.full((1, 3, 24, 24), 0.5)
    assert float(photometric_mask(flat, flat + float(local.mean()))[..., 4:-4, 4:-4].max()) == 0
