"""Classifier training throughput (images/s): float32 vs bf16 autocast + channels_last, CPU and CUDA.

Full-width VGG19 conv base + the dense head, random init, Adam, all layers trained, synthetic batches
(so the number is the network's, not the image loader's). A warm-up step is not timed. A second table
measures the training image loader (decode, resize, random crop, flip) per thread on synthetic JPEGs.

    python benchmarks/bench_classifier.py [--size 224] [--batch 8] [--steps 3] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from rich.table import Table

from styleverse.classifier.data import load_train
from styleverse.classifier.model import ClassifierSpec, UniverseClassifier, init_weights, set_trainable
from styleverse.devices import autocast, cpu_has_native_bf16, memory_format


def train_rate(device: str, precision: str, size: int, batch: int, steps: int, warmup: int) -> tuple[float, float]:
    """(images per second, peak GPU memory in GiB or nan) for ``steps`` timed training steps."""
    dev = torch.device(device)
    model = UniverseClassifier(ClassifierSpec(("a", "b", "c", "d", "e"), "vgg19", 1.0, image_size=size))
    init_weights(model, 0)
    params = set_trainable(model, "all")
    model.to(dev).to(memory_format=memory_format(precision)).train()
    opt = torch.optim.Adam(params, lr=1e-5)
    x = torch.rand(batch, 3, size, size, device=dev).contiguous(memory_format=memory_format(precision))
    y = torch.randint(0, 5, (batch,), device=dev)

    def step() -> None:
        with autocast(dev, precision):
            logits = model(x).float()
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    return steps * batch / seconds, mem


def loader_rate(size: int, n: int = 24) -> float:
    """Training views per second (one thread) from 1280x720 JPEG frames."""
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        paths = []
        for i in range(4):
            arr = (rng.random((720, 1280, 3)) * 255).astype(np.uint8)
            p = Path(d) / f"{i}.jpg"
            Image.fromarray(arr).save(p, quality=90)
            paths.append(p)
        load_train(paths[0], size, 0, 0, 0)
        t = time.perf_counter()
        for i in range(n):
            load_train(paths[i % 4], size, 0, 0, i)
        return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=224, help="image side")
    ap.add_argument("--batch", type=int, default=8, help="batch size")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when present")
    ap.add_argument("--cuda-batch", type=int, default=None, help="batch size on CUDA (default: --batch)")
    args = ap.parse_args()
    devices = args.devices or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    console = Console()
    title = (
        f"classifier training, VGG19 + head, {args.size}px, {args.steps} timed steps "
        f"(cpu threads {torch.get_num_threads()}, native bf16: {cpu_has_native_bf16()})"
    )
    table = Table(title=title)
    for col in ("device", "batch", "precision", "images/s", "ms/step", "speed-up", "peak GiB"):
        table.add_column(col, justify="right")
    for device in devices:
        batch = args.cuda_batch or args.batch if device.startswith("cuda") else args.batch
        base = None
        for precision in ("fp32", "bf16"):
            rate, mem = train_rate(device, precision, args.size, batch, args.steps, args.warmup)
            base = base or rate
            name = device if not device.startswith("cuda") else torch.cuda.get_device_name(torch.device(device))
            table.add_row(
                name, str(batch), precision if precision == "fp32" else "bf16+chlast", f"{rate:.1f}",
                f"{1000 * batch / rate:.0f}", f"{rate / base:.2f}x", "-" if mem != mem else f"{mem:.1f}",
            )  # fmt: skip
    console.print(table)
    console.print(
        f"training image loader (1280x720 JPEG -> {args.size}px crop): {loader_rate(args.size):.1f} img/s/thread"
    )


if __name__ == "__main__":
    main()
