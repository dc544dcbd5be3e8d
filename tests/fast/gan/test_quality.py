"""A few hundred CPU steps of ``gan train`` move photos toward a synthetic universe learned from its frames alone.

The universe ``gwen`` (pastel pink with cyan stripes, :func:`fixtures.classifier.universe_image`) is given
only as a folder of frames. After training, held-out photos (a gradient with flat shapes) are stylised and
measured by the project's own judges:

* ``evaluate``'s relative style distance to the universe's frames (Gram matrices of a random VGG; 1 = the
  photo's own distance) falls well below 1;
* a universe classifier trained on the synthetic universes (gwen and miles) calls the stylised photos gwen;
* SSIM to the photo stays above a floor, and above the SSIM of a frame of the universe to the same photo
  (the stylisation keeps more of the photo's structure than the universe alone has of it).

Settings scaled down from the paper's for 64-px crops and a few hundred steps: the transformed loss pools
4 px (the paper: 10 px at 768 px), its weight is 3 and the content weight 10 (the paper: 100 each, for
300,000 steps) and Adam's learning rate 2e-3. Measured here: relative style distance 0.06-0.15, SSIM 0.64-0.83
(a frame: 0.26-0.35).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures.classifier import universe_image
from fixtures.gan import make_frames, shapes_photo
from styleverse.evaluation.evaluate import EvaluateSettings, evaluate_sources
from styleverse.evaluation.judge import UniverseJudge
from styleverse.evaluation.metrics import ssim
from styleverse.evaluation.sources import Overrides, describe_result
from styleverse.fast.gan.train import GanTrainConfig, train_gan
from styleverse.fast.open import StylizerSpec, open_stylizer
from styleverse.io.images import load_tensor, save_image
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
SIZE = 64
STYLE_CEILING = 0.5  # relative style distance of every stylised photo (1 = unmoved)
SSIM_FLOOR = 0.5


def toy_classifier(root: Path) -> Path:
    """A two-universe classifier (gwen, miles) trained in seconds on frames it alone sees."""
    from styleverse.classifier.train import TrainConfig, train

    for k, u in enumerate(("gwen", "miles")):
        (root / "data" / u).mkdir(parents=True)
        for i in range(12):
            universe_image(u, 7000 + 100 * i + k, (SIZE + 16, SIZE)).save(root / "data" / u / f"{i}.png")
    cfg = TrainConfig(
        str(root / "data"), str(root / "run"), epochs=6, batch_size=8, lr=1e-2, init="scratch", arch="vgg16",
        width=1 / 16, size=32, workers=0, precision="fp32", device="cpu", val_fraction=0.2, dropout=0.0,
    )  # fmt: skip
    train(cfg)
    return root / "run" / "last.safetensors"


def test_a_few_hundred_steps_move_photos_toward_the_universe(tmp_path: Path) -> None:
    torch.manual_seed(0)
    frames = make_frames(tmp_path / "frames", ("gwen",), n=12, size=(SIZE + 16, SIZE))
    for i in range(12):
        shapes_photo(tmp_path / "photos" / f"p{i}.png", 10 + i, (SIZE + 16, SIZE))
    tests = [shapes_photo(tmp_path / "test" / f"t{i}.png", 50 + i, (SIZE + 16, SIZE)) for i in range(4)]
    cfg = GanTrainConfig(
        (str(tmp_path / "photos"),), (str(frames / "gwen"),), str(tmp_path / "m.safetensors"), size=SIZE,
        load_size=SIZE, batch_size=2, steps=400, lr=2e-3, content_weight=10, transformed_weight=3, pool=4,
        width=8, blocks=2, disc_width=8, precision="fp32", device="cpu", checkpoint_every=0, health_window=100,
    )  # fmt: skip
    train_gan(cfg)

    (tmp_path / "out").mkdir()
    stylizer = open_stylizer(StylizerSpec(cfg.output, precision="fp32", device="cpu"))
    outs = [save_image(stylizer(load_tensor(p)), tmp_path / "out" / p.name) for p in tests]
    target = StyleSpec((frames / "gwen",))
    sources = [describe_result(o, Overrides(p, target)) for o, p in zip(outs, tests, strict=True)]
    scores = evaluate_sources(sources, EvaluateSettings(FeatureSpec("random"), precision="fp32", device="cpu")).scores
    for s in scores:
        assert s.relative_style is not None and s.relative_style < STYLE_CEILING, s.relative_style

    judge = UniverseJudge(toy_classifier(tmp_path / "judge"), device="cpu")
    stylised = judge.probabilities([Image.open(o).convert("RGB") for o in outs])
    photos = judge.probabilities([Image.open(p).convert("RGB") for p in tests])
    gwen = judge.universes.index("gwen")
    assert all(int(row.argmax()) == gwen for row in stylised), stylised
    assert float(stylised[:, gwen].mean()) > float(photos[:, gwen].mean())

    frame = load_tensor(next(iter(sorted((frames / "gwen").iterdir()))))
    for o, p in zip(outs, tests, strict=True):
        photo = load_tensor(p)
        kept, baseline = ssim(photo, load_tensor(o)), ssim(photo, frame)
        assert kept > SSIM_FLOOR and kept > baseline, (kept, baseline)
