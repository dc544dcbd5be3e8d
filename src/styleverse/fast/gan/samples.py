"""Sample grids during ``gan train``: a frame of each universe across the top (what the discriminator calls
real), fixed photos down the left, each photo stylised towards each universe in between. (``fast``'s grid
has no frames to show: its universes are style banks.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from styleverse.fast.gan.model import Generator
from styleverse.training.photos import crop_photo


@torch.no_grad()
def sample_grid(
    net: Generator, photos: Sequence[Path], frames: Sequence[Path], size: int, path: Path, device: torch.device
) -> Path:
    """Write the grid of centred ``size`` crops, in float32 and eval mode (the caller puts the network back
    into training mode); ``frames`` holds one frame per universe, or nothing for a grid without its top row."""
    from PIL import Image

    from styleverse.io.images import tensor_to_pil
    from styleverse.plots import contact_sheet

    net.eval()
    names = net.spec.universes
    x = torch.stack([crop_photo(p, size, None) for p in photos]).to(device)
    eye = torch.eye(len(names), device=device)
    images, labels = [], []
    if frames:
        images = [Image.new("RGB", (size, size), "white"), *(tensor_to_pil(crop_photo(f, size, None)) for f in frames)]
        labels = ["frames:", *names]
    columns = [x] + [net(x, eye[i].expand(len(photos), -1)) for i in range(len(names))]
    for r, p in enumerate(photos):
        for c, col in enumerate(columns):
            images.append(tensor_to_pil(col[r].float().clamp(0, 1).cpu()))
            labels.append(p.stem if c == 0 else names[c - 1])
    return contact_sheet(images, labels, path, cols=len(columns), thumb=min(size, 256))
