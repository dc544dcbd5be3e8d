"""The optimiser's tests share one tiny problem: a random VGG at 1/8 width, a content and a style image."""

from __future__ import annotations

import pytest
import torch

from fixtures.images import make_image
from fixtures.networks import random_vgg
from styleverse.io.images import load_tensor
from styleverse.styles.targets import StyleImage, StyleSet


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, torch.Tensor, StyleSet]:
    """(feature model, content tensor 48x40, one 40x40 style image), one per test module."""
    d = tmp_path_factory.mktemp("tiny")
    model, _ = random_vgg(width=1 / 8)
    content = load_tensor(make_image(d / "c.png", (48, 40), 1))
    return model, content, StyleSet([StyleImage(make_image(d / "s.png", (40, 40), 2))])
