"""Style-aware (gan) speed: training steps/s and apply frames/s by frame size.

Training: one step of :class:`styleverse.fast.gan.train.GanTask` (losses, backward, Adam) with the generator's
turn and with the discriminator's, on random images of ``--batch-size`` per step (data loading is not
timed). Apply: the model file opened by :func:`styleverse.fast.open.open_stylizer` as ``gan apply`` and
``video --model`` open it (torch fp32, and bf16 where the hardware runs it natively or with
``--force-bf16``), and its ONNX export through onnxruntime on the CPU. The networks are random ones at the
paper's widths unless ``--width``/``--blocks``/``--disc-width`` say otherwise; they cost what trained ones cost.

    python benchmarks/bench_gan.py [--sizes 256 512 1024] [--repeats 3] [--threads 2] [--device cuda]
    python benchmarks/bench_gan.py --sizes 64 --width 4 --blocks 1 --disc-width 4 --repeats 1   # a quick check

Median of ``--repeats`` timed calls after one warm-up call. The title shows the 1-minute load average:
timings on a machine shared with other work are slower than the hardware allows.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from styleverse.devices import cpu_has_native_bf16, place
from styleverse.distributed import DistContext
from styleverse.fast.gan.gate import DISCRIMINATOR, GENERATOR, AlternatingAdam
from styleverse.fast.gan.model import Discriminator, GanModel, GanSpec, Generator, save_gan
from styleverse.fast.gan.train import GanPair, GanTask, GanTrainConfig
from styleverse.fast.open import StylizerSpec, open_stylizer


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall seconds per call after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_step(args: argparse.Namespace, size: int, device: torch.device, precision: str) -> Callable[[str], None]:
    """A function running one training step of the given turn at ``size`` px."""
    cfg = GanTrainConfig(("-",), ("-",), "-", size=size, load_size=size, width=args.width, blocks=args.blocks,
                         disc_width=args.disc_width, batch_size=args.batch_size)  # fmt: skip
    torch.manual_seed(0)
    pair = place(GanPair(Generator(GanSpec(("u",), args.width, args.blocks)), Discriminator(1, args.disc_width)),
                 device, precision)  # fmt: skip
    opt = AlternatingAdam(pair.generator.parameters(), pair.discriminator.parameters(), cfg.lr)
    batch = (torch.rand(args.batch_size, 3, size, size), torch.zeros(args.batch_size, dtype=torch.long),
             torch.rand(args.batch_size, 3, size, size))  # fmt: skip
    task = GanTask(cfg, pair, opt, lambda _step: batch, device, precision, {"settings": {}}, [])  # type: ignore[arg-type]
    task.ctx = DistContext()

    def step(turn: str) -> None:
        task.gate.success, task.gate.pending = (1.0 if turn == GENERATOR else 0.0), None
        losses = task.losses(batch, 0)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()

    return step


def apply_seconds(model: Path, size: int, device: torch.device, precision: str, repeats: int) -> float:
    stylizer = open_stylizer(StylizerSpec(str(model), device=str(device), precision=precision))
    frame = torch.rand(1, 3, size, size)
    return timed(lambda: stylizer(frame), repeats, device)


def onnx_seconds(model: Path, size: int, repeats: int) -> float:
    from styleverse.fast.export import export_onnx
    from styleverse.fast.gan.model import load_gan

    path = export_onnx(load_gan(model), model.with_suffix(".onnx"))  # type: ignore[arg-type]  # a fast network's interface
    stylizer = open_stylizer(str(path))
    frame = torch.rand(1, 3, size, size)
    return timed(lambda: stylizer(frame), repeats, torch.device("cpu"))


def rows_for(
    args: argparse.Namespace, size: int, device: torch.device, precisions: list[str], model: Path
) -> list[list[str]]:
    """The table rows of one frame size: each precision in torch, then onnxruntime (CPU)."""
    out: list[list[str]] = []
    for precision in precisions:
        rates = ["", ""]
        if not args.skip_train:
            step = train_step(args, size, device, precision)
            g = timed(lambda: step(GENERATOR), args.repeats, device)  # noqa: B023  # used before the next iteration
            d = timed(lambda: step(DISCRIMINATOR), args.repeats, device)  # noqa: B023
            rates = [f"{1 / g:.3f}", f"{1 / d:.3f}"]
        a = apply_seconds(model, size, device, precision, args.repeats)
        out.append([str(size), f"torch {precision}", *rates, f"{1 / a:.2f}"])
    if not args.no_onnx and device.type == "cpu":
        out.append([str(size), "onnxruntime fp32", "", "", f"{1 / onnx_seconds(model, size, args.repeats):.2f}"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square frame sides in pixels")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (CPU)")
    ap.add_argument("--batch-size", type=int, default=1, help="images per training step (the paper: 1)")
    ap.add_argument("--width", type=int, default=32, help="generator width (the paper: 32)")
    ap.add_argument("--blocks", type=int, default=9, help="generator residual blocks (the paper: 9)")
    ap.add_argument("--disc-width", type=int, default=64, help="discriminator width (the paper: 64)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--force-bf16", action="store_true", help="measure bf16 even where it is emulated")
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--skip-train", action="store_true", help="measure applying only")
    args = ap.parse_args()
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    native = cpu_has_native_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
    precisions = ["fp32"] + (["bf16"] if native or args.force_bf16 else [])
    load = os.getloadavg()[0]
    table = Table(title=f"gan: {device.type}, {args.threads} threads, load {load:.1f}, width {args.width}, "
                  f"blocks {args.blocks}, disc width {args.disc_width}, batch {args.batch_size}")  # fmt: skip
    for col in ("size", "engine", "G steps/s", "D steps/s", "apply frames/s"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = save_gan(
            GanModel(Generator(GanSpec(("u",), args.width, args.blocks)).eval()), Path(tmp) / "g.safetensors"
        )
        for size in args.sizes:
            for row in rows_for(args, size, device, precisions, model):
                table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
