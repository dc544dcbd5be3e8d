"""Sample grids during training: fixed photos (rows) x the photo itself and every universe (columns)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from styleverse.fast.model import TransformNet
from styleverse.io.images import tensor_to_pil
from styleverse.training.photos import crop_photo


@torch.no_grad()
def sample_grid(net: TransformNet, photos: Sequence[Path], size: int, path: Path, device: torch.device) -> Path:
    """Write a grid of centred ``size`` crops of ``photos`` and their stylisations, one column per universe.

    Runs in float32 and eval mode (the caller puts the network back into training mode).
    """
    from styleverse.plots import contact_sheet

    net.eval()
    names = net.spec.universes
    x = torch.stack([crop_photo(p, size, None) for p in photos]).to(device)
    eye = torch.eye(len(names), device=device)
    columns = [x] + [net(x, eye[i].expand(len(photos), -1)) for i in range(len(names))]
    images, labels = [], []
    for r, p in enumerate(photos):
        for c, col in enumerate(columns):
            images.append(tensor_to_pil(col[r].float().cpu()))
            labels.append(p.stem if c == 0 else names[c - 1])
    return contact_sheet(images, labels, path, cols=len(columns), thumb=min(size, 256))
