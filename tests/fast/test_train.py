"""fast train: quality without pretrained weights, exact resume, outputs, bad input (tiny random VGG).

The universes are two drawn textures (red/blue stripes, a yellow/black checkerboard) whose banks are made
with a random VGG of 1/16 width; content photos are smooth random images. A few dozen steps at 32 px are
enough for the network to separate the universes, which is what the quality tests measure.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.fast import make_banks, make_photos, tiny
from fixtures.images import make_image
from fixtures.networks import random_vgg
from styleverse.errors import ConfigError, InputError, OutputError
from styleverse.fast.model import load_model
from styleverse.fast.train import train_fast
from styleverse.nn.losses import style_loss
from styleverse.styles.bank import load_bank
from styleverse.training.photos import crop_photo

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(one_thread: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fast")
    banks = make_banks(root)
    make_photos(root / "photos")
    cfg = tiny(root, banks, sample_every=30)
    result = train_fast(cfg)
    make_image(root / "val.png", (48, 40), 99)
    return {"root": root, "banks": banks, "cfg": cfg, "result": result}


@functools.cache
def loss_network() -> Any:
    return random_vgg()[0]


def style_distance(img: torch.Tensor, bank: Path) -> float:
    """The style loss of ``img`` against a bank's mean Grams (the stylize loss, unweighted)."""
    feats = loss_network()
    with torch.no_grad():
        grams = feats(img).grams
    return float(style_loss(grams, load_bank(bank).mean, feats.style_weights))


def test_training_writes_model_plot_samples_and_state(trained: dict[str, Any]) -> None:
    root, result = trained["root"], trained["result"]
    assert not result.interrupted and len(result.history) == 60
    assert (root / "model.losses.png").stat().st_size > 0
    assert sorted(p.name for p in (root / "model.samples").iterdir()) == ["step_000030.png", "step_000060.png"]
    grid = Image.open(root / "model.samples" / "step_000060.png")
    assert grid.width == 3 * 32  # photo + two universes
    assert (root / "model.safetensors.resume.safetensors").is_file()
    model = load_model(root / "model.safetensors")
    assert model.universes == ("stripes", "checker")
    assert model.step == 60 and model.backbone["source"] == "random"
    assert model.settings["size"] == 32 and model.net.spec.width == 8
    first, last = result.history[0]["style"], np.mean([h["style"] for h in result.history[-5:]])
    assert last < 0.5 * first, (first, last)


def test_each_universe_is_closest_to_its_own_bank(trained: dict[str, Any]) -> None:
    """(a) the output for a universe is closer to its bank than to the other bank, and than the photo is."""
    root, (a, b) = trained["root"], trained["banks"]
    net = load_model(root / "model.safetensors").net
    x = crop_photo(root / "val.png", 32, None).unsqueeze(0)
    with torch.no_grad():
        ya, yb = net(x, torch.tensor([1.0, 0.0])), net(x, torch.tensor([0.0, 1.0]))
    assert style_distance(ya, a) < style_distance(ya, b)
    assert style_distance(ya, a) < 0.5 * style_distance(x, a)
    assert style_distance(yb, b) < style_distance(yb, a)
    assert style_distance(yb, b) < 0.5 * style_distance(x, b)


def test_mixing_moves_the_style_monotonically(trained: dict[str, Any]) -> None:
    """(b) from universe A to B, the distance to bank A grows and the distance to bank B shrinks."""
    root, (a, b) = trained["root"], trained["banks"]
    net = load_model(root / "model.safetensors").net
    x = crop_photo(root / "val.png", 32, None).unsqueeze(0)
    to_a, to_b = [], []
    for t in np.linspace(0, 1, 6):
        with torch.no_grad():
            y = net(x, torch.tensor([1 - t, t], dtype=torch.float32))
        to_a.append(style_distance(y, a))
        to_b.append(style_distance(y, b))
    assert all(u < v for u, v in itertools.pairwise(to_a)), to_a
    assert all(u > v for u, v in itertools.pairwise(to_b)), to_b


def test_resume_after_a_stop_is_bit_identical(tmp_path: Path, one_thread: None) -> None:
    banks = make_banks(tmp_path / "banks")
    make_photos(tmp_path / "photos", 5)
    whole = train_fast(tiny(tmp_path, banks, steps=6, batch_size=3, output=str(tmp_path / "whole.safetensors")))
    calls = iter(range(100))
    part = tiny(tmp_path, banks, steps=6, batch_size=3, output=str(tmp_path / "part.safetensors"))
    first = train_fast(part, stop=lambda: next(calls) == 2)
    assert first.interrupted and len(first.history) == 3
    torch.manual_seed(1234)
    rest = train_fast(replace(part, resume=True))
    assert not rest.interrupted and rest.history == whole.history
    a, b = load_model(tmp_path / "whole.safetensors"), load_model(tmp_path / "part.safetensors")
    for k, v in a.net.state_dict().items():
        assert torch.equal(b.net.state_dict()[k], v), k
    with pytest.raises(ConfigError, match=r"lr: 0\.02 then, 0\.01 now"):
        train_fast(replace(part, resume=True, lr=0.01))
    make_image(tmp_path / "photos" / "new.png", (48, 40), 50)
    with pytest.raises(ConfigError, match="content photos changed"):
        train_fast(replace(part, resume=True, steps=7))


def test_bad_input_is_refused_with_one_clear_error(tmp_path: Path) -> None:
    banks = make_banks(tmp_path / "banks")
    other = make_banks(tmp_path / "other", seed=1)[0]
    make_photos(tmp_path / "photos", 2)
    with pytest.raises(ConfigError, match=r"made with backbone vgg19/max/random:seed=1.*this run uses .*seed=0"):
        train_fast(tiny(tmp_path, (banks[0], other)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        train_fast(tiny(tmp_path, banks, content=(str(tmp_path / "empty"),)))
    make_photos(tmp_path / "small", 1, (30, 20))
    with pytest.raises(InputError, match=r"30x20 px, too small to train at --size 32"):
        train_fast(tiny(tmp_path, banks, content=(str(tmp_path / "small"),)))
    with pytest.raises(ConfigError, match="two universes are named stripes"):
        train_fast(tiny(tmp_path, (banks[0], banks[0])))
    with pytest.raises(OutputError, match="loss plot would join the photos"):
        train_fast(tiny(tmp_path, banks, output=str(tmp_path / "photos" / "m.safetensors")))
    with pytest.raises(OutputError, match="is also an input"):
        train_fast(tiny(tmp_path, banks, output=str(banks[0])))
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(OutputError, match=r"already exists .*--resume"):
        train_fast(tiny(tmp_path, banks))
    with pytest.raises(ConfigError, match="no saved state"):
        train_fast(tiny(tmp_path, banks, resume=True))
