"""AdaIN stylisation speed: frames/s of :class:`styleverse.fast.adain.apply.AdaINStylizer` and of the exported
ONNX graph through onnxruntime.

A frame is one encoder pass (VGG up to relu4_1) + AdaIN + one decoder pass; the style's statistics are
computed once, as for a video with a fixed style or a style bank. The networks are random full-width ones,
which cost exactly what trained ones cost (the ImageNet file is not needed). Rows:

* torch fp32 and torch bf16 (as ``AdaINStylizer`` runs it: encoder under autocast, a bfloat16 decoder,
  channels_last; only where the CPU runs bf16 natively, unless ``--force-bf16``), and onnxruntime fp32
  (the fixed-style graph, ``intra_op_num_threads`` = ``--threads``);
* each for the paper's decoder (``--widths 1.0``) and any thinner ones asked for (e.g. ``0.5``: a quarter of
  the decoder's multiply-adds), with the VGG encoder and with each distilled small encoder of ``--students``
  (``WxB``: width W, B separable convolutions per stage; :mod:`styleverse.fast.adain.student`);
* encoder-only and decoder-only timings in the same precision, to show where the time goes;
* the relative error of bf16 against fp32 (‖y_bf16 − y_fp32‖ / ‖y_fp32‖ of the decoder's raw output on the
  same frame; random weights: a numerical check, not a judgement of the look).

    python benchmarks/bench_adain.py [--sizes 256 512 1024] [--repeats 5] [--threads 2] [--widths 1.0 0.25]
                                     [--students 16x1 32x2] [--device cuda] [--distill]

``--distill`` adds a second table: students distilled (``adain distill``, ``--distill-steps`` steps at
``--distill-size`` px on scikit-image photos and the drawn comic styles) from a teacher (``--teacher``, else a
decoder trained here for ``--teacher-steps`` steps on a random VGG19 of 1/4 width: no pretrained weights
here), against the teacher on a held-out photo and style: ``adain train``'s style and content losses measured
by the teacher's VGG (float32, unweighted) and the mean pixel difference; the side by side goes to ``--sheet``.

Median of ``--repeats`` timed calls after two warm-up calls. The table title shows the 1-minute load average:
timings on a machine shared with other work are slower than the hardware allows; the "CPU s" column (process
CPU time per frame, all threads) is less sensitive to that, most with ``--threads 1``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from styleverse.devices import autocast, cpu_has_native_bf16
from styleverse.fast.adain.apply import AdaINStylizer, Style
from styleverse.fast.adain.model import ENCODER_LAYER, AdaINModel, AdaINNet, Decoder, DecoderSpec
from styleverse.fast.adain.student import StudentEncoder, StudentSpec
from styleverse.nn.vgg import load_backbone
from styleverse.styles.targets import ChannelStats

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "brick")


def parse_student(v: str) -> StudentSpec:
    """``16x1`` -> a student encoder of width 16 with 1 separable convolution per stage."""
    width, _, blocks = v.partition("x")
    return StudentSpec(int(width), int(blocks))


def make_model(width: float, student: str = "vgg") -> AdaINModel:
    """A random model: VGG19 up to relu4_1 (``student`` ``vgg``) or a small encoder ``WxB``, and a decoder."""
    enc, info = load_backbone("random", upto=ENCODER_LAYER)
    torch.manual_seed(0)
    dec = Decoder(DecoderSpec("vgg19", enc.channels(ENCODER_LAYER), width))
    small = None if student == "vgg" else StudentEncoder(parse_student(student))
    return AdaINModel(AdaINNet(small or enc, dec).eval(), info.to_dict())


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


def speed_rows(args: argparse.Namespace, device: torch.device, precisions: list[str]) -> Iterator[list[str]]:
    """One row per size, encoder (VGG or student), decoder width, runtime (see the module doc)."""
    for size in args.sizes:
        frame = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        for encoder in ["vgg", *args.students]:
            for width in args.widths:
                model = make_model(width, encoder)
                c = model.spec.in_channels
                style = ChannelStats(torch.rand(c) * 2, torch.rand(c) * 2 + 0.5)
                raw: dict[str, torch.Tensor] = {}
                for prec in precisions:
                    stylizer = AdaINStylizer(model, [Style("s", style)], device=device, precision=prec)
                    s = timed(lambda st=stylizer, x=frame: st(x), args.repeats, device)
                    cpu = CPU_TIMES[-1]
                    split, raw[prec] = parts(stylizer, frame, args.repeats, device)
                    err = float((raw[prec] - raw["fp32"]).norm() / raw["fp32"].norm()) if prec == "bf16" else None
                    row = [str(size), encoder, f"torch {prec}", f"{width:g}", f"{s:.3f}", f"{1 / s:.2f}", f"{cpu:.3f}"]
                    yield [*row, split, "" if err is None else f"{err:.4f}"]
                if not args.no_onnx and device.type == "cpu":
                    s = onnx_seconds(model, style, frame, args.repeats, args.threads)
                    row = [str(size), encoder, "onnxruntime fp32", f"{width:g}", f"{s:.3f}", f"{1 / s:.2f}"]
                    yield [*row, f"{CPU_TIMES[-1]:.3f}", "", ""]


def distill_data(tmp: Path, size: int) -> tuple[Path, Path, torch.Tensor, torch.Tensor]:
    """Training photos and styles (folders) and the held-out photo and style (``chelsea``, ``hatching``)."""
    import skimage.data
    from PIL import Image

    from styleverse.io.images import pil_to_tensor, resize_longest
    from styleverse.samples import halftone, hatching, poster

    (tmp / "photos").mkdir()
    (tmp / "styles").mkdir()
    for name in TRAIN_PHOTOS:
        Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB").save(tmp / "photos" / f"{name}.png")
    for name, draw in (("halftone", halftone), ("poster", poster)):
        draw(max(384, size)).save(tmp / "styles" / f"{name}.png")
    photo = pil_to_tensor(resize_longest(Image.fromarray(skimage.data.chelsea()), size))
    photo = photo[..., : photo.shape[-2] // 8 * 8, : photo.shape[-1] // 8 * 8]
    return tmp / "photos", tmp / "styles", photo, pil_to_tensor(hatching(size))


def distill_rows(args: argparse.Namespace) -> list[list[str]]:
    """Per student of ``--students``: its loss gap to the teacher on the held-out pair (see the module doc)."""
    from styleverse.fast.adain.distill import AdaINDistillConfig, compare, distill_adain
    from styleverse.fast.adain.model import load_adain
    from styleverse.fast.adain.train import AdaINTrainConfig, train_adain
    from styleverse.io.images import tensor_to_pil
    from styleverse.nn.features import FeatureSpec
    from styleverse.plots import contact_sheet

    tmp, size = Path(tempfile.mkdtemp(prefix="bench-adain-distill-")), args.distill_size
    photos, styles, photo, style = distill_data(tmp, size)
    data = {"content": (str(photos),), "style": (str(styles),), "size": size, "load_size": size, "batch_size": 4}
    run = {"precision": "fp32", "device": "cpu", "checkpoint_every": 0}
    teacher_path, started = args.teacher, time.perf_counter()
    if not teacher_path:
        cfg = AdaINTrainConfig(**data, output=str(tmp / "teacher.safetensors"), steps=args.teacher_steps, lr=1e-3,
                               width=args.widths[-1], features=FeatureSpec("random", width=0.25), **run)  # fmt: skip
        teacher_path = str(train_adain(cfg).output)
    teacher_s, teacher = time.perf_counter() - started, load_adain(teacher_path)
    rows, tiles, labels = [], [photo, style], ["held-out photo", "held-out style"]
    with torch.no_grad():
        tiles.append(teacher.net(photo, *teacher.net.style_stats(style)).clamp(0, 1))
    labels.append("teacher (VGG encoder)")
    for name in args.students:
        spec, started = parse_student(name), time.perf_counter()
        cfg2 = AdaINDistillConfig(teacher_path, **data, output=str(tmp / f"{name}.safetensors"), width=spec.width,
                                  blocks=spec.blocks, steps=args.distill_steps,
                                  encoder_steps=args.distill_steps // 2, **run)  # fmt: skip
        student = distill_adain(cfg2).model
        seconds = time.perf_counter() - started
        gap = compare(teacher, student, [photo], [style])[0]
        with torch.no_grad():
            tiles.append(student.net(photo, *student.net.style_stats(style)).clamp(0, 1))
        labels.append(f"student {name}")
        rows.append([
            name, f"{gap.style[0]:.3g}", f"{gap.style[1]:.3g}", f"{gap.style[1] / gap.style[0] - 1:+.0%}",
            f"{gap.content[0]:.3g}", f"{gap.content[1]:.3g}", f"{gap.content[1] / gap.content[0] - 1:+.0%}",
            f"{gap.pixel:.3f}", f"{teacher_s:.0f} / {seconds:.0f}",
        ])  # fmt: skip
    if args.sheet:
        contact_sheet([tensor_to_pil(t[0]) for t in tiles], labels, args.sheet, cols=len(tiles), thumb=size)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square frame sides in pixels")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per row (their median)")
    ap.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads (CPU)")
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25], help="decoder widths to measure")
    ap.add_argument("--students", nargs="+", default=["16x1", "32x2"], help="small encoders WxB to measure")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--force-bf16", action="store_true", help="measure bf16 even where it is emulated")
    ap.add_argument("--no-onnx", action="store_true", help="leave out the onnxruntime rows")
    ap.add_argument("--no-speed", action="store_true", help="leave out the frames/s table")
    ap.add_argument("--distill", action="store_true", help="also distil each student and measure its loss gap")
    ap.add_argument("--teacher", help="--distill: a trained AdaIN decoder (default: one trained here, see above)")
    ap.add_argument("--teacher-steps", type=int, default=300, help="--distill: steps of the teacher trained here")
    ap.add_argument("--distill-steps", type=int, default=300, help="--distill: steps per student (half encoder only)")
    ap.add_argument("--distill-size", type=int, default=128, help="--distill: crop and held-out image size")
    ap.add_argument("--sheet", default="docs/adain_distill.png", help="--distill: the side-by-side image ('' none)")
    args = ap.parse_args()
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    native = cpu_has_native_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
    precisions = ["fp32"] + (["bf16"] if native or args.force_bf16 else [])
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    load = f"load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    console = Console(width=150)
    if not args.no_speed:
        table = Table(title=f"AdaIN frames/s ({where}; native bf16: {native}; {load})")
        cols = ("px", "encoder", "runtime", "decoder width", "s / frame", "frames/s", "CPU s", "encoder + decoder s",
                "bf16 rel. err")  # fmt: skip
        for col in cols:
            table.add_column(col, justify="left" if col in ("runtime", "encoder") else "right")
        for row in speed_rows(args, device, precisions):
            table.add_row(*row)
            print(" | ".join(row), file=sys.stderr, flush=True)  # each row as it comes, should a run be cut short
        console.print(table)
    if args.distill:
        table = Table(title=f"Distilled encoders against their teacher (held-out pair, {args.distill_size} px; {load})")
        for col in ("student", "style T", "style S", "gap", "content T", "content S", "gap", "|T-S| pixels",
                    "train s (teacher / student)"):  # fmt: skip
            table.add_column(col, justify="right")
        for row in distill_rows(args):
            table.add_row(*row)
        console.print(table)


if __name__ == "__main__":
    main()
