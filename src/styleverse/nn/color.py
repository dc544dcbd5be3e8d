"""Colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").

* ``luminance``: keep the content's chroma and take only the luminance of the stylised result.
* ``histogram``: before transfer, give each style image the content's colour mean and covariance,
  so the transferred texture arrives already in the content's palette.
"""

from __future__ import annotations

import torch

# RGB -> YIQ (NTSC): Y is luminance, I and Q the chroma plane; shared by colour preservation and augmentation
RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _apply(m: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", m.to(img), img)


def luminance_transfer(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Y from ``stylised``, I and Q from ``content`` (same size), back to RGB in [0, 1]."""
    if content.shape[-2:] != stylised.shape[-2:]:
        content = torch.nn.functional.interpolate(
            content, size=stylised.shape[-2:], mode="bicubic", align_corners=False
        )
    ys, yc = _apply(RGB2YIQ, stylised), _apply(RGB2YIQ, content)
    mixed = torch.cat([ys[:, :1], yc[:, 1:]], dim=1)
    return _apply(torch.linalg.inv(RGB2YIQ), mixed).clamp(0, 1)


def _mean_cov(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = img.reshape(3, -1).double()
    mu = x.mean(1, keepdim=True)
    d = x - mu
    return mu, d @ d.T / x.shape[1] + 1e-5 * torch.eye(3, dtype=x.dtype)


def _sqrtm(m: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    vals = vals.clamp_min(1e-8)
    return vecs @ torch.diag(vals ** (-0.5 if inverse else 0.5)) @ vecs.T


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Affine colour transfer of ``style`` (1,3,H,W) to the mean/covariance of ``content``."""
    mu_s, cov_s = _mean_cov(style[0])
    mu_c, cov_c = _mean_cov(content[0])
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    x = style[0].reshape(3, -1).double()
    out = a @ (x - mu_s) + mu_c
    return out.reshape_as(style[0]).unsqueeze(0).to(style.dtype).clamp(0, 1)
