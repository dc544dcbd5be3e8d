"""Loss functions as pure tensor functions (no project imports).

Gram normalisation: ``G = F Fᵀ / (C·H·W)`` for features ``F`` of shape (C, H·W). Dividing by the number
of elements makes Gram values independent of image size and layer width, so (a) targets computed at one
resolution stay meaningful at another (coarse-to-fine, style images of any size, averaged banks) and
(b) per-layer weights compare like with like. This is the normalisation of the PyTorch tutorial that
the paper's code follows; with MSE between Grams, style weights around 1e6 balance a content weight of 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

_CHUNK = 1 << 24  # elements of float32 copy made at a time from half-precision features (64 MB)


def _flat(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H·W) view of (N, C, H, W) features: a view for contiguous and channels_last tensors alike."""
    n, c, h, w = features.shape
    return features.reshape(n, c, h * w)


def _position_major(t: torch.Tensor) -> bool:
    """True for channels_last storage, where (N, H·W, C) is the contiguous view (and products are 3-10x
    faster in that orientation than through the strided (N, C, H·W) one)."""
    return t.shape[1] > 1 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _matrix(t: torch.Tensor, position_major: bool) -> torch.Tensor:
    n, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).reshape(n, h * w, c) if position_major else t.reshape(n, c, h * w)


def _spans(length: int, channels: int) -> list[slice]:
    step = max(1, _CHUNK // max(1, channels))
    return [slice(i, min(length, i + step)) for i in range(0, length, step)]


class _HalfGram(torch.autograd.Function):
    """Gram of bf16/fp16 features computed in float32, keeping only the half-precision features for
    backward and converting them to float32 a chunk of positions at a time.

    Under autocast ``bmm`` would run in bf16 and round every Gram entry to 8 bits of mantissa; near the
    target the style loss is then mostly rounding noise, and L-BFGS, which builds its curvature model from
    gradient differences, diverges on it. A plain ``features.float()`` before the product would keep a
    float32 copy of every style layer alive for backward (twice the activations' memory). The gradient
    leaves in half precision anyway, so its product runs in half precision (float32 accumulation).
    """

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(features)
        n, c, h, w = features.shape
        pm = _position_major(features)
        m = _matrix(features, pm)
        out = torch.zeros(n, c, c, dtype=torch.float32, device=features.device)
        with torch.autocast(features.device.type, enabled=False):
            for span in _spans(h * w, c):
                if pm:
                    part = m[:, span, :].float()
                    out.baddbmm_(part.transpose(1, 2), part)
                else:
                    part = m[:, :, span].float()
                    out.baddbmm_(part, part.transpose(1, 2))
        return out / (c * h * w)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        _, c, h, w = features.shape
        sym = ((grad + grad.transpose(1, 2)).float() / (c * h * w)).to(features.dtype)
        pm = _position_major(features)
        out = torch.empty_like(features, memory_format=torch.channels_last if pm else torch.contiguous_format)
        m, o = _matrix(features, pm), _matrix(out, pm)
        with torch.autocast(features.device.type, enabled=False):
            for span in _spans(h * w, c):
                if pm:
                    o[:, span, :] = torch.bmm(m[:, span, :], sym)
                else:
                    o[:, :, span] = torch.bmm(sym, m[:, :, span])
        return out


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) features, normalised by C·H·W, always computed in float32.

    Half-precision features (bf16 autocast) go through :class:`_HalfGram`; float32 features use a plain
    product with autocast switched off (autocast would otherwise run ``bmm`` in bf16).
    """
    if features.dtype in (torch.float16, torch.bfloat16):
        return _HalfGram.apply(features)
    _, c, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):
        f = _flat(features)
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean over content layers of the MSE between features and targets (float32)."""
    losses = [F.mse_loss(features[k].float(), targets[k].float()) for k in targets]
    return torch.stack(losses).mean()


def style_loss(
    grams: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> torch.Tensor:
    """Weighted sum over style layers of the MSE between Gram matrices (targets broadcast over batch)."""
    total = torch.zeros((), dtype=torch.float32, device=next(iter(grams.values())).device)
    for k, w in weights.items():
        g, t = grams[k], targets[k].to(grams[k].device)
        total = total + w * F.mse_loss(g, t.expand_as(g))
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation (mean absolute difference of neighbours): discourages high-frequency noise."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return dx + dy
