"""Training crops: a style frame or photo smaller than ``load_size`` keeps its own pixels (issue 19 item 5),
a larger one is scaled down, and only one smaller than the crop is enlarged (to the crop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fixtures.images import is_window, noise_image
from styleverse.io.images import load_tensor
from styleverse.training.photos import Batches, crop_photo


def test_an_image_smaller_than_load_size_keeps_its_pixels(tmp_path: Path) -> None:
    path = noise_image(tmp_path / "frame.png", 1, (50, 44))  # short side 44: between size 32 and load_size 64
    image = load_tensor(path)[0]
    crops = [crop_photo(path, 32, np.random.default_rng(i), load_size=64) for i in range(4)]
    assert all(c.shape == (3, 32, 32) and is_window(c, image) for c in crops)
    assert not all(torch.equal(crops[0], c) for c in crops[1:])  # random crops, not one fixed window
    batch = Batches([path, path], 1, 32, 2, seed=0, load_size=64)
    try:
        assert all(is_window(c, image) for c in batch(0)[0])
    finally:
        batch.close()


def test_larger_images_are_scaled_down_and_smaller_ones_enlarged_to_the_crop(tmp_path: Path) -> None:
    big = noise_image(tmp_path / "big.png", 2, (96, 80))
    small = noise_image(tmp_path / "small.png", 3, (30, 24))
    down = crop_photo(big, 32, None, load_size=40)
    assert down.shape == (3, 32, 32) and not is_window(down, load_tensor(big)[0])  # resampled: 80 px -> 40 px
    assert crop_photo(small, 32, None, load_size=64).shape == (3, 32, 32)
    assert torch.equal(crop_photo(big, 32, None, load_size=None), crop_photo(big, 32, None))
