"""A trained fast network the benchmarks share: ``bench_fast.py --distill`` distils it, ``bench_transfer.py
--tables warm`` starts Gatys from its result.

No pretrained VGG exists here, so the teacher is a default-shape (32x5) network that ``fast train`` trains
against a seeded random VGG19 of 1/4 width (``--quality``'s loss network; a full-width one made a step 1.6x
slower, the transform network being most of it) towards one drawn style image (style weight
:data:`STYLE_WEIGHT`), on scikit-image photos other than the held-out ``astronaut`` and ``chelsea``. A random
VGG still carries a style's colours and texture. The model is cached under ``benchmarks/.cache/``
(gitignored) and reused; an interrupted training resumes from its last checkpoint. About 1.1-1.5 s a step
on one shared core at 128 px, batch 2. The training message goes to stderr, the path alone to stdout.

    python benchmarks/fast_teacher.py [--steps 500] [--size 128]    # train (or find) it, print its path
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / ".cache"
TEACHER_PHOTOS = ("coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "brick", "grass")
TEACHER_STYLE = "halftone"
VGG_WIDTH = 0.25
# This random VGG's Grams are small: the photo's style term is 9.5e-4 before weighting, its content term when
# the photo is lost 0.006. At stylize's 1e6 (and at 1e4, 1e3, 1e2: Adam does not see the scale) the network
# painted yellow and blue blobs whatever the photo (150 steps); at 5-15 the photo shows through (64 px sweep).
# The warm table optimises with the weights the model records, so Gatys and the network share one objective.
STYLE_WEIGHT = 10.0


def teacher_path(steps: int, size: int, style: str = TEACHER_STYLE) -> Path:
    return CACHE / f"teacher-32x5-{style}-{size}px-{steps}steps.safetensors"


def trained_teacher(steps: int = 500, size: int = 128, style: str = TEACHER_STYLE, batch: int = 2) -> Path:
    """The cached teacher's file, training it first (or finishing an interrupted training) when needed."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from styleverse.fast.model import load_model
    from styleverse.fast.train import FastTrainConfig, train_fast
    from styleverse.io.state import state_path
    from styleverse.nn.features import FeatureSpec
    from styleverse.samples import sample_style

    out = teacher_path(steps, size, style)
    if out.is_file() and load_model(out).step >= steps:
        return out
    # the inputs stay at one path beside the model: a resumed run is refused if its inputs moved or changed
    inputs = CACHE / f"inputs-{style}-{size}px"
    photos, style_file = inputs / "photos", inputs / f"{style}.png"
    photos.mkdir(parents=True, exist_ok=True)
    for name in (n for n in TEACHER_PHOTOS if not (photos / f"{n}.png").is_file()):
        Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB").save(photos / f"{name}.png")
    if not style_file.is_file():
        sample_style(style, size).save(style_file)
    resume = state_path(out).is_file()
    cfg = FastTrainConfig(
        content=(str(photos),), output=str(out), styles=(f"{style}={style_file}",), size=size, batch_size=batch,
        steps=steps, lr=2e-3, style_weight=STYLE_WEIGHT, features=FeatureSpec(backbone="random", width=VGG_WIDTH),
        device="cpu", checkpoint_every=50, resume=resume, overwrite=not resume,
    )  # fmt: skip
    started = time.perf_counter()
    train_fast(cfg)
    print(f"teacher trained to {out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def learnt_objective(net: Any) -> tuple[Any, dict[str, float], str]:
    """What a fast model (:class:`~styleverse.fast.model.FastModel`) learnt to minimise, to measure it and
    Gatys by: the loss network and layers its file records (the rule every job follows for a recorded network,
    :meth:`FeatureSpec.resolve`; one that records none, like ``bench_fast.py``'s random teacher, gets this
    module's random VGG), the style and content weights of its training (a distilled student's teacher's;
    stylize's defaults when none are recorded) and a name for the objective."""
    from styleverse.nn.features import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, FeatureSpec, build_model
    from styleverse.nn.vgg import BackboneInfo

    recorded = BackboneInfo.from_dict(net.backbone) if net.backbone else None
    layers = FeatureSpec(
        backbone=None if recorded else "random", width=1.0 if recorded else VGG_WIDTH,
        style_layers=tuple(f"{k}:{v:g}" for k, v in net.style_layers.items()) or DEFAULT_STYLE_LAYERS,
        content_layers=tuple(net.content_layers) or DEFAULT_CONTENT_LAYERS,
    )  # fmt: skip
    spec = layers.resolve(recorded, "the fast model", binding=False)
    settings = net.settings.get("teacher_settings") or net.settings
    weights = {k: float(settings[k]) for k in ("style_weight", "content_weight") if k in settings}
    model, info = build_model(**spec.model_args())
    return model, weights, ", ".join([info.identity, *(f"{k} {v:g}" for k, v in weights.items())])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=500, help="fast train steps (default 500)")
    ap.add_argument("--size", type=int, default=128, help="training crop in pixels (default 128)")
    ap.add_argument("--style", default=TEACHER_STYLE, help=f"drawn sample style (default {TEACHER_STYLE})")
    args = ap.parse_args()
    print(trained_teacher(args.steps, args.size, args.style))


if __name__ == "__main__":
    main()
