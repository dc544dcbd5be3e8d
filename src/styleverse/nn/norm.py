"""Conditional instance normalisation (Dumoulin et al. 2017, "A Learned Representation for Artistic Style"):
instance normalisation with one learned (γ, β) per style, the layer that lets one feed-forward network hold
several universes and mix them. Used by the ``fast`` transform network and the ``gan`` generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CondInstanceNorm(nn.Module):
    """Instance normalisation with one (γ, β) per style (Dumoulin et al. 2017, eq. 4).

    ``forward(x, w)`` takes mixing weights ``w`` of shape (N, S) or (S,): the γ and β used are ``w @ γ`` and
    ``w @ β``, so a one-hot ``w`` picks one universe and a convex ``w`` interpolates.
    """

    def __init__(self, channels: int, styles: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(styles, channels))
        self.beta = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        w = w.to(self.gamma.dtype)
        g, b = w @ self.gamma, w @ self.beta
        if g.dim() == 1:
            g, b = g.unsqueeze(0), b.unsqueeze(0)
        y = F.instance_norm(x, eps=self.eps)
        g, b = g.to(y.dtype), b.to(y.dtype)  # under bf16 autocast: stay bf16 instead of promoting to float32
        return y * g[:, :, None, None] + b[:, :, None, None]
