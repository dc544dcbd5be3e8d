"""AdaIN stylisation speed: frames/s of :class:`styleverse.fast.adain.apply.AdaINStylizer` and of the exported
ONNX graph through onnxruntime.

A frame is one encoder pass (VGG up to relu4_1) + AdaIN + one decoder pass; the style's statistics are
computed once, as for a video with a fixed style or a style bank. The networks are random full-width ones,
which cost exactly what trained ones cost (the ImageNet file is not needed). Rows:

* torch fp32 and torch bf16 (as ``AdaINStylizer`` runs it: encoder under autocast, a bfloat16 decoder,
  channels_last; only where the CPU runs bf16 natively, unless ``--force-bf16``), and onnxruntime fp32
  (the fixed-style graph, ``intra_op_num_threads`` = ``--threads``);
* each for the paper's decoder (``--widths 1.0``) and any thinner ones asked for (e.g. ``0.5``: a quarter of
  the decoder's multiply-adds; the encoder is fixed);
* encoder-only and decoder-only timings in the same precision, to show where the time goes;
* the relative error of bf16 against fp32 (‖y_bf16 − y_fp32‖ / ‖y_fp32‖ of the decoder's raw output on the
  same frame; random weights: a numerical check, not a judgement of the look).

    python benchmarks/bench_adain.py [--sizes 256 512] [--repeats 5] [--threads 2] [--widths 1.0 0.5]
                                     [--device cuda]

Median of ``--repeats`` timed calls after two warm-up calls. The table title shows the 1-minute load average:
timings on a machine shared with other work are slower than the hardware allows; the "CPU s" column (process
CPU time per frame, all threads) is less sensitive to that, most with ``--threads 1``.
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

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from styleverse.devices import autocast, cpu_has_native_bf16
from styleverse.fast.adain.apply import AdaINStylizer, Style
from styleverse.fast.adain.model import ENCODER_LAYER, AdaINModel, AdaINNet, Decoder, DecoderSpec
from styleverse.nn.vgg import load_backbone
from styleverse.styles.targets import ChannelStats


def make_model(width: float) -> AdaINModel:
    enc, info = load_backbone("random", upto=ENCODER_LAYER)
    torch.manual_seed(0)
    dec = Decoder(DecoderSpec("vgg19", enc.channels(ENCODER_LAYER), width))
    return AdaINModel(AdaINNet(enc, dec).eval(), info.to_dict())


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall seconds per call after two warm-up calls (CPU seconds of the process go to ``CPU_TIMES``)."""
    for _ in range(2):
        fn()
    times, cpu = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU_TIMES.append(statistics.median(cpu))
    return statistics.median(times)


CPU_TIMES: list[float] = []


def parts(stylizer: AdaINStylizer, frame: torch.Tensor, repeats: int, device: torch.device) -> tuple[str, torch.Tensor]:
    """Encoder and decoder seconds per frame as the stylizer runs them (e.g. ``0.41 + 0.52``), and the
    decoder's raw float32 output."""
    net, precision = stylizer.model.net, stylizer.precision
    fmt = torch.channels_last if precision == "bf16" else torch.contiguous_format
    x = frame.to(device).contiguous(memory_format=fmt)
    with torch.inference_mode():
        with autocast(device, precision):
            f = net.encode(x)
            enc = timed(lambda: net.encode(x), repeats, device)
        t = f.to(stylizer.dtype).contiguous(memory_format=fmt)
        dec = timed(lambda: stylizer.decoder(t), repeats, device)
        raw = stylizer.decoder(t).float()
    return f"{enc:.3f} + {dec:.3f}", raw


def onnx_seconds(model: AdaINModel, style: ChannelStats, frame: torch.Tensor, repeats: int, threads: int) -> float:
    import onnxruntime as ort

    from styleverse.fast.adain.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "adain.onnx", style)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feeds = {"content": frame.numpy(), "alpha": np.ones(1, np.float32)}
    return timed(lambda: session.run(None, feeds), repeats, torch.device("cpu"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square frame sides in pixels")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads (CPU)")
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5], help="decoder widths to measure")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--force-bf16", action="store_true", help="measure bf16 even where it is emulated")
    ap.add_argument("--no-onnx", action="store_true")
    args = ap.parse_args()
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    native = cpu_has_native_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
    precisions = ["fp32"] + (["bf16"] if native or args.force_bf16 else [])
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    load = f"load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    table = Table(title=f"AdaIN frames/s ({where}; native bf16: {native}; {load})")
    cols = ("px", "runtime", "decoder width", "s / frame", "frames/s", "CPU s", "encoder + decoder s", "bf16 rel. err")
    for col in cols:
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for size in args.sizes:
        frame = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        for width in args.widths:
            model = make_model(width)
            c = model.spec.in_channels
            style = ChannelStats(torch.rand(c) * 2, torch.rand(c) * 2 + 0.5)
            raw: dict[str, torch.Tensor] = {}
            for prec in precisions:
                stylizer = AdaINStylizer(model, [Style("s", style)], device=device, precision=prec)
                s = timed(lambda st=stylizer, x=frame: st(x), args.repeats, device)
                cpu = CPU_TIMES[-1]
                split, raw[prec] = parts(stylizer, frame, args.repeats, device)
                err = float((raw[prec] - raw["fp32"]).norm() / raw["fp32"].norm()) if prec == "bf16" else None
                row = [str(size), f"torch {prec}", f"{width:g}", f"{s:.3f}", f"{1 / s:.2f}", f"{cpu:.3f}", split]
                table.add_row(*row, "" if err is None else f"{err:.4f}")
            if not args.no_onnx and device.type == "cpu":
                s = onnx_seconds(model, style, frame, args.repeats, args.threads)
                cpu = CPU_TIMES[-1]
                table.add_row(
                    str(size), "onnxruntime fp32", f"{width:g}", f"{s:.3f}", f"{1 / s:.2f}", f"{cpu:.3f}", "", ""
                )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
