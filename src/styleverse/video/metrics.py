"""Temporal warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency", section 5.1).

For outputs ``V`` and the flow of the *input* frames,

    E_warp(V) = 1/(T−1) · Σ_{t=2..T} E_t,    E_t = Σ_p M_t(p) ‖V_t(p) − V̂_{t−1}(p)‖² / Σ_p M_t(p)

where ``V̂_{t−1}`` is output t−1 warped into frame t and ``M_t`` the non-occlusion mask (here Ruder et al.'s
reliable-flow mask, :func:`styleverse.video.warp.reliable_mask`). ``‖·‖²`` sums over the RGB channels,
pixels in [0, 1], as in the authors' evaluation code. Computed on the input frames themselves the same
number is the **floor**: what a perfectly consistent output that follows the input's own changes (lighting,
flow error) would still score. Lai used FlowNet2 flow; we use the DIS flow the stylisation used, so numbers
compare between our runs, not with their tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def warping_error(frame: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor) -> float | None:
    """``E_t`` for one frame: masked mean over pixels of the squared RGB distance between ``frame`` and the
    previous frame warped into it (all (1,3,H,W) / (1,1,H,W) in [0,1]); None if no pixel is reliable."""
    m = mask.float()
    n = float(m.sum())
    if n <= 0:
        return None
    d = ((frame.float() - warped_previous.float().to(frame.device)) ** 2).sum(1, keepdim=True)
    return float((d * m.to(frame.device)).sum()) / n


def mean_error(values: Iterable[float | None]) -> float | None:
    """Mean of the per-frame errors that exist (the first frame and frames with no reliable pixel have none)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None
