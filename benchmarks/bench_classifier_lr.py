"""Which Adam learning rate trains the universe classifier from scratch: a sweep on synthetic universes.

    .venv/bin/python benchmarks/bench_classifier_lr.py [--data tests|textures] [--lrs 1e-5 1e-4 1e-3]
        [--seeds 0 1 2] [--epochs 6] [--width 0.125] [--size 32] [--per-class 20] [--init scratch]

Why: the paper's 1e-5 is for fine-tuning an ImageNet start (section 3.1); issue 14 found it far too slow from
scratch (0.69 after 6 epochs, against 0.85 after 4 with 1e-4, on real clips). This trains the real
pipeline (:func:`styleverse.classifier.train.train`: balanced sampling, dropout, augmentation crops) on
synthetic universes: ``tests`` the three the classifier tests draw (palette and texture differ), or
``textures`` three that differ in texture only (stripes, dots, checks; colours drawn from one
distribution for all, plus noise), and prints the validation balanced accuracy (best epoch, last epoch),
per learning rate, averaged over seeds. CPU, tiny VGG16
(``--width``) at ``--size`` px: minutes. Narrow networks tolerate larger Adam steps than full-width ones,
so compare widths (``--width 0.25 0.5``) before trusting a number for width 1.

Measured on a shared 2-core CPU (val balanced accuracy: best epoch / last epoch, mean over seeds):

    data      width  seeds   1e-5       3e-5       1e-4       3e-4       1e-3       3e-3
    tests     1/8    0,1,2   0.33/0.33  0.33/0.33  0.33/0.33  0.67/0.67  0.89/0.81  0.78/0.78
    tests     1      0,1     1.00/1.00             1.00/1.00  0.67/0.67  0.67/0.50
    textures  1      0       0.33/0.33             0.33/0.33

The default (:meth:`styleverse.classifier.train.TrainConfig.default_lr`) is 1e-4 / width from scratch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styleverse.classifier.train import TrainConfig, train

KINDS = ("stripes", "dots", "checks")


def texture(kind: str, rng: np.random.Generator, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """One image of a texture universe: random colours, scale and phase; only the pattern tells the class."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    period = rng.uniform(4, 9)
    phase = rng.uniform(0, period, 2)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        u = np.cos(angle) * xx + np.sin(angle) * yy
        mask = ((u + phase[0]) % period) < period / 2
    elif kind == "dots":
        mask = (((xx + phase[0]) % period - period / 2) ** 2 + ((yy + phase[1]) % period - period / 2) ** 2) < (
            period / 3.2
        ) ** 2
    else:
        mask = (np.floor((xx + phase[0]) / period) + np.floor((yy + phase[1]) / period)) % 2 == 0
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    arr = np.where(mask[..., None], a, b) + rng.normal(0, 14, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_dataset(root: Path, per_class: int, kind_of_data: str, seed: int = 123) -> Path:
    """``per_class`` images per universe of the chosen synthetic data set (module doc)."""
    if kind_of_data == "tests":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from fixtures.classifier import make_universes

        return make_universes(root, per_class)
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            texture(kind, rng).save(root / kind / f"{kind}_{i:03d}.png")
    return root


def run(data: Path, out: Path, lr: float, seed: int, args: argparse.Namespace, width: float) -> list[float]:
    """Validation balanced accuracy after each epoch of one run."""
    cfg = TrainConfig(
        str(data), str(out), epochs=args.epochs, batch_size=8, lr=lr, init=args.init, arch="vgg16", width=width,
        size=args.size, seed=seed, val_fraction=0.3, workers=0, precision="fp32", device="cpu", overwrite=True,
    )  # fmt: skip
    return [h["val_balanced_accuracy"] for h in train(cfg).history]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--width", type=float, nargs="+", default=[0.125])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--data", choices=["tests", "textures"], default="tests")
    ap.add_argument("--init", default="scratch")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp) / "data", args.per_class, args.data)
        head = f"3 '{args.data}' universes x {args.per_class} images (30% val), VGG16 from {args.init}, "
        print(head + f"{args.size} px, batch 8, {args.epochs} epochs; val balanced accuracy, seeds {args.seeds}")
        cols = f"{'width':>6s} {'lr':>8s} {'best epoch':>11s} {'final':>7s} {'first >= 0.9':>13s}"
        print(cols + f" {'per seed (final)':>24s} {'s/run':>6s}")
        for width in args.width:
            for lr in args.lrs:
                t = time.perf_counter()
                curves = [run(data, Path(tmp) / "run", lr, s, args, width) for s in args.seeds]
                sec = (time.perf_counter() - t) / len(args.seeds)
                best = np.mean([max(c) for c in curves])
                final = np.mean([c[-1] for c in curves])
                seeds = " ".join(f"{c[-1]:.2f}" for c in curves)
                first = " ".join(str(next((e for e, v in enumerate(c, 1) if v >= 0.9), "-")) for c in curves)
                row = f"{width:>6g} {lr:>8.0e} {best:>11.3f} {final:>7.3f} {first:>13s}"
                print(row + f" {seeds:>24s} {sec:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
