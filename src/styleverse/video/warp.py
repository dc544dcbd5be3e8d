"""Warping the previous stylised frame into the current one, and where that warp can be trusted.

Ruder et al. 2016 (section 3.2) start frame t from frame t−1's stylisation warped by the optical flow, and
keep it close to that warped image only where the flow is reliable. The weight mask ``c`` is 0 at

* **disocclusions**: pixels of frame t whose backward flow ``ŵ`` and the forward flow at the point it
  leads to, ``w̃(p) = w(p + ŵ(p))``, do not cancel —
  ``|w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5`` (the consistency check of Sundaram et al. 2010, which Ruder use);
* **motion boundaries**: ``|∇ŵ_x|² + |∇ŵ_y|² > 0.01 |ŵ|² + 0.002``, where the flow is unreliable;
* pixels whose backward flow leads **outside** frame t−1 (the strip a camera pan uncovers), which the
  consistency check alone would miss where the flow extrapolates smoothly past the border;

and 1 elsewhere. Flow follows :mod:`styleverse.video.flow`'s convention (``a(p) ≈ b(p + f(p))``).

Departure, for the stylizer's mask only: DIS, like any flow, cannot see motion inside a flat region, so a
plain object moving over texture drags the background's flow into itself, the check above passes (the flow
is smooth and consistent) and the warp copies a ghost of the object's old edge into the new frame, which
the temporal loss would then hold in place. :func:`photometric_mask` also drops pixels where the *input* frame
t−1, warped the same way, does not match input frame t (any channel's 3x3 mean off by more than
``PHOTOMETRIC`` plus the frame's own texture there, its mean deviation from the 3x3 mean, in all at most
``PHOTOMETRIC_TEXTURED``), and a pixel around them: if the warp cannot carry the input, it cannot carry the
output. The texture allowance keeps fine patterns, which a flow a fraction of a pixel off misplaces
everywhere, from all being dropped; a flat object's edge over a background of about its brightness (which DIS,
on luma only, cannot see) has little texture, so the bar there stays low (and the cap keeps an edge's own
contrast from raising it much: uncapped, the tests' still square kept 11% of the strip the warp fills with
background). Measured on ``benchmarks/bench_video.py``'s clips (the share of pixels left out; flow checks
alone / with this check) and by looking at the stylised disc:

=======================  ==========  ===========  ===========  =====================
check                    128x72 1 s  256x144 5 s  tests' 48x32  the disc's edge
                                                  "miles"
=======================  ==========  ===========  ===========  =====================
flow checks only         11.7%       3.8%         16.3%        ghosts (see above)
0.15, no allowance       15.5%       4.2%         41.5%        torn: notches, spikes
0.08, no allowance       17.0%       4.8%         86.1%        clean
0.08 + texture           16.5%       4.6%         58.3%        clean
0.08 + texture, <= 0.15  16.5%       4.6%         59.7%        clean (used)
0.08 + 2x texture        16.2%       4.4%         36.1%        small notches
=======================  ==========  ===========  ===========  =====================

Pixels left out start afresh with more steps (:mod:`styleverse.video.gatys`). The warping error (Lai et
al.) keeps the flow-only mask, so it means what it means elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from styleverse.video.flow import FlowPair

DISOCCLUSION = (0.01, 0.5)  # Ruder et al. 2016: relative and absolute tolerance of the consistency check
MOTION_BOUNDARY = (0.01, 0.002)  # Ruder et al. 2016: relative and absolute threshold on the flow gradient
# per-channel difference (3x3 means, pixels in [0,1]) of a warped input that still matches: PHOTOMETRIC on flat
# regions, rising with the frame's own texture there up to PHOTOMETRIC_TEXTURED (see photometric_mask)
PHOTOMETRIC, PHOTOMETRIC_TEXTURED = 0.08, 0.15


def _grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp_array(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``out(p) = image(p + flow(p))`` (bicubic; outside the frame the nearest border pixel) for an
    (H, W) or (H, W, C) float32 array.

    Bicubic, not bilinear: every frame starts from the previous output warped, so the warp's low-pass
    compounds over a clip. Bilinear sampling at a half-pixel shift halves the finest texture's amplitude;
    under a sub-pixel pan the style's grain faded frame by frame (see ``benchmarks/bench_video.py``)."""
    mx, my = _grid(flow)
    return cv2.remap(image, mx, my, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def warp(image: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """A (1, C, H, W) image in [0, 1] warped by ``flow`` (see :func:`warp_array`), clamped to [0, 1] (bicubic
    overshoots at edges); float32 on the image's device."""
    arr = image.detach()[0].float().permute(1, 2, 0).cpu().numpy()
    out = warp_array(np.ascontiguousarray(arr), flow)
    out = out[..., None] if out.ndim == 2 else out
    return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0).clamp(0, 1).to(image.device)


def reliable_mask(flows: FlowPair) -> np.ndarray:
    """Ruder et al.'s weight ``c`` for frame t (float32 (H, W), 1 = reliable): 0 at disocclusions, motion
    boundaries and pixels whose backward flow leaves the previous frame (see the module doc)."""
    bwd, fwd = flows.backward, flows.forward
    h, w = bwd.shape[:2]
    mx, my = _grid(bwd)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    fwd_there = cv2.remap(fwd, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    s = fwd_there + bwd
    rel, absolute = DISOCCLUSION
    occluded = (s**2).sum(-1) > rel * ((fwd_there**2).sum(-1) + (bwd**2).sum(-1)) + absolute
    grad = sum(g**2 for c in range(2) for g in np.gradient(bwd[..., c]))
    rel, absolute = MOTION_BOUNDARY
    boundary = grad > rel * (bwd**2).sum(-1) + absolute
    return (inside & ~occluded & ~boundary).astype(np.float32)


@dataclass(frozen=True)
class Warped:
    """The previous output carried into frame t and where to trust it: ``image`` (1,3,H,W) and ``mask``
    (1,1,H,W), both float32 in [0, 1]."""

    image: torch.Tensor
    mask: torch.Tensor


def warp_previous(previous: torch.Tensor, flows: FlowPair) -> Warped:
    """Frame t−1's output warped into frame t by the backward flow, with :func:`reliable_mask`."""
    mask = torch.from_numpy(reliable_mask(flows))[None, None].to(previous.device)
    return Warped(warp(previous, flows.backward), mask)


def fill_holes(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``image`` (1,C,H,W) where ``mask`` (1,1,H,W) is 1, and elsewhere the colours of the nearest pixels the
    mask keeps (a push-pull pyramid: masked means at halving sizes, filled in coarse to fine).

    A disoccluded strip starts from its stylised neighbourhood this way rather than from the raw frame or
    noise, whose colours and grain a warm frame's few steps cannot turn into the style."""
    levels = [(image * mask, mask)]
    while levels[-1][1].amin() <= 0 and min(levels[-1][1].shape[-2:]) > 1:
        x, m = levels[-1]
        levels.append((F.avg_pool2d(x, 2, ceil_mode=True), F.avg_pool2d(m, 2, ceil_mode=True)))
    x, m = levels[-1]
    fill = x / m.clamp_min(1e-12) if float(m.amax()) > 0 else x
    for x, m in reversed(levels[:-1]):
        # x is premultiplied by coverage m: keep what the mask covers, take the coarser fill for the rest
        up = F.interpolate(fill, size=x.shape[-2:], mode="bilinear", align_corners=False)
        fill = x + (1 - m) * up
    return fill


def fresh_start(warped: torch.Tensor, frame: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A warm frame's starting image (1,3,H,W) in [0, 1]: ``warped`` (the previous output carried in) where
    ``mask`` trusts it; elsewhere the stylised neighbourhood's colours (:func:`fill_holes` of ``warped``) plus
    how the input ``frame`` differs there from its own neighbourhood (``frame − fill_holes(frame)``).

    The difference term is what keeps an object the flow cannot carry: a flat disc that the pan's flow
    drags off is unreliable where it stands, and its neighbourhood's fill alone is the background's colour,
    which a warm frame's few steps never turned back into the disc (it was lost, a ghost outline left). A
    strip the pan uncovers gets the texture of the input relative to its border instead of a flat fill."""
    own = fill_holes(frame, mask)
    return (fill_holes(warped, mask) + (1 - mask) * (frame - own)).clamp(0, 1)


def photometric_mask(
    frame: torch.Tensor,
    warped_previous_frame: torch.Tensor,
    tolerance: float = PHOTOMETRIC,
    margin: int = 1,
    textured: float = PHOTOMETRIC_TEXTURED,
) -> torch.Tensor:
    """(1,1,H,W) float32: 1 where input frame t−1 warped into frame t matches frame t, 0 where it does not and
    within ``margin`` pixels of such a place (see the module doc). Both are compared as 3x3 means of the
    absolute difference, in every channel, against ``tolerance`` plus frame t's own texture there (the 3x3 mean
    of its deviation from its 3x3 mean), at most ``textured`` in all: fine texture that the flow misplaces by a
    fraction of a pixel still matches, a whole misplaced shape (the ghost of an object's edge) does not. The
    margin takes the stylised edge's halo, which reaches a pixel past the input's edge, with it."""
    x = frame.float()

    def mean3(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False)

    local = mean3((x - warped_previous_frame.float().to(frame.device)).abs())
    texture = mean3((x - mean3(x)).abs()).clamp(max=max(0.0, textured - tolerance))
    bad = ((local - texture).amax(dim=1, keepdim=True) > tolerance).float()
    if margin > 0:
        bad = F.max_pool2d(bad, 2 * margin + 1, stride=1, padding=margin)
    return 1 - bad
