"""Loss functions as pure tensor functions (no project imports).

Gram normalisation: ``G = F Fᵀ / (C·H·W)`` for features ``F`` of shape (C, H·W). Dividing by the number
of elements makes Gram values independent of image size and layer width, so (a) targets computed at one
resolution stay meaningful at another (coarse-to-fine, style images of any size, averaged banks) and
(b) per-layer weights compare like with like. This is the normalisation of the PyTorch tutorial that
the paper's code follows; with MSE between Grams, style weights around 1e6 balance a content weight of 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) features, normalised by C·H·W; half precision is promoted to float32."""
    n, c, h, w = features.shape
    f = (features.float() if features.dtype in (torch.float16, torch.bfloat16) else features).reshape(n, c, h * w)
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
