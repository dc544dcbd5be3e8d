"""The losses of style-aware training (Sanakoyeu et al. 2018, section 3), pure functions of tensors.

* :func:`content_loss`: the **style-aware content loss** (eq. 3), the distance between the encoder's latent
  of the photo and of its stylisation, normalised by the latent's size. Content is measured in a space the
  encoder learns for this style, not in ImageNet VGG's. The paper writes a squared L2 norm; the released
  code, whose loss weights are our defaults, uses the mean absolute difference, and so do we.
* :func:`transformed_loss`: the **transformed image loss** (eq. 5), the MSE between the photo and its
  stylisation after a smoothing transform T: a 10x10 average pooling of stride 1 (the code's T), so colours
  and large shapes must stay while the fine texture is free to change.
* :func:`adversarial_loss`: the sigmoid cross-entropy of every patch prediction at every scale of the
  multi-scale discriminator, summed over scales (eq. 2 and the code).
* :func:`accuracy`: the share of patches judged right, averaged over scales (training health).

Images are [0, 1]; both image losses are taken on [-1, 1] (the range of the code), so its weights mean the
same here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POOL = 10  # side of the average pooling T (the authors' code)


def content_loss(latent_photo: torch.Tensor, latent_stylised: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of two encoder latents (float32), i.e. the L1 distance divided by its size."""
    return (latent_photo.float() - latent_stylised.float()).abs().mean()


def smooth(images: torch.Tensor, pool: int = POOL) -> torch.Tensor:
    """T: average pooling with a ``pool`` x ``pool`` window and stride 1, edges replicated (same size out)."""
    lo, hi = (pool - 1) // 2, pool // 2
    return F.avg_pool2d(F.pad(images.float(), (lo, hi, lo, hi), mode="replicate"), pool, stride=1)


def transformed_loss(photo: torch.Tensor, stylised: torch.Tensor, pool: int = POOL) -> torch.Tensor:
    """MSE between T(photo) and T(stylised), both on [-1, 1]."""
    return F.mse_loss(smooth(stylised * 2 - 1, pool), smooth(photo * 2 - 1, pool))


def adversarial_loss(predictions: list[torch.Tensor], real: bool) -> torch.Tensor:
    """Sum over scales of the mean sigmoid cross-entropy of the patch logits against 1 (``real``) or 0."""
    total = torch.zeros((), device=predictions[0].device)
    for p in predictions:
        p = p.float()
        target = torch.ones_like(p) if real else torch.zeros_like(p)
        total = total + F.binary_cross_entropy_with_logits(p, target)
    return total


@torch.no_grad()
def accuracy(predictions: list[torch.Tensor], real: bool) -> torch.Tensor:
    """Share of patches the discriminator calls right (logit > 0 for real images), averaged over scales."""
    hits = [((p.float() > 0) == real).float().mean() for p in predictions]
    return torch.stack(hits).mean()
