"""Feed-forward stylisation: inference frames/s, training images/s, peak memory, and quality against Gatys.

* inference: each ``--variants`` of the transform network (``WxB``: width W, B residual blocks, ``s`` for
  depthwise-separable blocks; default Johnson's ``32x5`` and the real-time ``16x3s``; 4 universes) on square
  frames of 256, 512 and 1024 px through :class:`FastStylizer` in float32 and bf16 (a bfloat16 copy in
  channels_last; only where the CPU runs bf16 natively, unless ``--force-bf16``), and the exported ONNX file
  through onnxruntime (its session settings: :func:`styleverse.fast.export.session_options`); ``--int8`` adds
  the ONNX file quantised by onnxruntime (dynamic and static QDQ). Median of ``--repeats`` calls after a
  warm-up;
* training: ``fast train`` steps (transform network + VGG19 loss network up to relu5_1 + backward + Adam) at
  256 px, batch 4, float32 and bf16 autocast, images/s; the VGG is a random full-width one, which costs
  exactly what the ImageNet one costs;
* memory: peak resident memory of a fresh process that loads the network and stylises one frame of the
  largest size, and how much of it the frame added (peak RSS after minus RSS before);
* ``--quality``: the fast network against Gatys optimisation on a held-out photo (see :func:`quality_rows`);
* ``--distill``: a student (``--student``, default the real-time ``16x3s``) distilled from a teacher
  (``--teacher`` model file; ``cached``: the benchmarks' trained 32x5 teacher of ``fast_teacher.py``; else a
  random 32x5 network with varied per-universe (γ, β)) for ``--distill-steps`` steps on scikit-image photos:
  its style and content losses against the teacher's on two held-out photos, the pixel difference, torch
  against its ONNX export, and the side by side image ``--sheet`` (see :func:`distill_rows`).

    python benchmarks/bench_fast.py [--sizes 256 512 1024] [--repeats 5] [--train-steps 3] [--quality]
    python benchmarks/bench_fast.py --device cuda      # adds a 1920x1080 row and names the card
    python benchmarks/bench_fast.py --skip-speed --distill --teacher cached --distill-steps 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from styleverse.devices import cpu_has_native_bf16
from styleverse.fast.apply import FastStylizer
from styleverse.fast.model import MULTIPLE, FastModel, FastSpec, TransformNet
from styleverse.fast.open import StylizerSpec, open_stylizer
from styleverse.io.images import pad_to_multiple

UNIVERSES = ("gwen", "miles", "punk", "earth-42")


def parse_variant(v: str) -> FastSpec:
    """``32x5`` -> width 32, 5 blocks; ``16x3s`` -> width 16, 3 depthwise-separable blocks."""
    width, _, blocks = v.rstrip("s").partition("x")
    return FastSpec(UNIVERSES, int(width), int(blocks), v.endswith("s"))


def make_model(variant: str = "32x5") -> FastModel:
    torch.manual_seed(0)
    return FastModel(TransformNet(parse_variant(variant)).eval())


def quantised(path: Path, how: str) -> Path:
    """The ONNX file quantised to int8 by onnxruntime: ``dynamic`` or ``static`` (QDQ, calibrated on 4 random
    128-px images)."""
    import numpy as np
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    out = path.with_name(f"{path.stem}.{how}.onnx")
    if how == "dynamic":
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QUInt8)
        return out

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.feeds = iter([{"image": rng.random((1, 3, 128, 128), dtype=np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ, weight_type=QuantType.QInt8)
    return out


def timed(fn, frame: torch.Tensor, repeats: int, device: torch.device) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall seconds and median process CPU seconds (all threads) per call, after one warm-up call.

    CPU seconds say what a frame costs even on a shared, loaded machine, where wall time mostly measures
    the other processes; with ``n`` free cores the wall time would approach CPU seconds / ``n``.
    """
    fn(frame)
    wall, cpu = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        fn(frame)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def inference_rows(
    sizes: list[tuple[int, int]], repeats: int, device: str, bf16: bool, onnx: bool, variant: str, int8: bool
) -> list[list[str]]:
    model = make_model(variant)
    stylizers: dict[str, object] = {"fp32": FastStylizer(model, mix="miles", device=device, precision="fp32")}
    if bf16:
        stylizers["bf16"] = FastStylizer(model, mix="miles", device=device, precision="bf16")
    tmp = tempfile.TemporaryDirectory()
    if onnx:
        from styleverse.fast.export import export_onnx

        path = export_onnx(model, Path(tmp.name) / "m.onnx")
        stylizers["onnxruntime"] = open_stylizer(StylizerSpec(str(path), mix="miles"))
        baked = export_onnx(model, Path(tmp.name) / "baked.onnx", mix="miles")
        for how in ("dynamic", "static") if int8 else ():
            stylizers[f"onnx int8 {how}"] = open_stylizer(str(quantised(baked, how)))
    dev = torch.device(device if device != "auto" else "cpu")
    rows = []
    for h, w in sizes:
        frame = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        if dev.type == "cuda":
            frame = frame.to(dev)
        for name, s in stylizers.items():
            if name.startswith("onnx") and dev.type == "cuda":
                continue
            sec, cpu = timed(s, frame if not name.startswith("onnx") else frame.cpu(), repeats, dev)  # type: ignore[arg-type]
            rows.append([variant, f"{w}x{h}", name, f"{1 / sec:.2f}", f"{1000 * sec:.0f}", f"{cpu:.2f}"])
    tmp.cleanup()
    return rows


def train_seconds(precision: str, steps: int, dev: torch.device, size: int, batch: int) -> tuple[float, float]:
    """Median wall and process CPU seconds per ``fast train`` step (after a warm-up step) on random photos
    and random target Grams."""
    from styleverse.fast.train import FastTask, FastTrainConfig, Universe
    from styleverse.nn.features import build_model

    cfg = FastTrainConfig(content=("-",), output="-", banks=("-",), size=size, batch_size=batch, precision=precision)
    features, _ = build_model("random", list(cfg.style_layers), list(cfg.content_layers))
    fmt = torch.channels_last if precision == "bf16" else torch.contiguous_format
    features = features.to(dev).to(memory_format=fmt).eval().requires_grad_(False)
    grams = {
        k: torch.rand(features.backbone.channels(k), features.backbone.channels(k)) for k in features.style_weights
    }
    universes = [Universe(n, "-", grams) for n in UNIVERSES]
    torch.manual_seed(0)
    net = TransformNet(FastSpec(UNIVERSES)).to(dev).to(memory_format=fmt)
    batch_of = (torch.rand(batch, 3, size, size), torch.arange(batch) % len(UNIVERSES))
    task = FastTask(cfg, net, features, universes, lambda _s: batch_of, dev, precision, {}, [])  # type: ignore[arg-type]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times, cpu = [], []
    for i in range(steps + 1):
        t, c = time.perf_counter(), time.process_time()
        loss = task.losses(task.batches(i), i)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times[1:]), statistics.median(cpu[1:])


def training_rows(steps: int, device: str, precisions: list[str], size: int = 256, batch: int = 4) -> list[list[str]]:
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    rows = []
    for precision in precisions:
        sec, cpu = train_seconds(precision, steps, dev, size, batch)
        rows.append([f"{size}x{size} batch {batch}", precision, f"{batch / sec:.2f}", f"{sec:.2f}", f"{cpu:.2f}"])
    return rows


def _status_mb(key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MB. Not ``ru_maxrss``: Linux carries that
    over from the parent across fork + exec, so a child would report the benchmark's own peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_worker(kind: str, size: int, variant: str) -> None:
    """Child process: load, stylise one ``size`` frame, print peak RSS and the RSS before the frame (MB)."""
    model = make_model(variant)
    if kind == "onnxruntime":
        from styleverse.fast.export import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            s: object = open_stylizer(StylizerSpec(str(export_onnx(model, Path(tmp) / "m.onnx")), mix="miles"))
    else:
        s = FastStylizer(model, mix="miles", device="cpu", precision=kind)
    frame = torch.rand(1, 3, size, size)
    before = _status_mb("VmRSS")
    s(frame)  # type: ignore[operator]
    peak = _status_mb("VmHWM")
    print(json.dumps({"peak": peak, "before": before}))


def memory_rows(kinds: list[str], size: int, variant: str) -> list[list[str]]:
    rows = []
    for kind in kinds:
        cmd = [sys.executable, __file__, "--memory-worker", kind, str(size), "--variants", variant]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([f"{size}x{size}", kind, f"{m['peak']:.0f}", f"{m['peak'] - m['before']:.0f}"])
    return rows


TRAIN_PHOTOS = (
    "astronaut",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "brick",
    "grass",
)


def quality_rows(steps: int, size: int, gatys_steps: int) -> list[list[str]]:
    """Fast network vs Gatys optimisation on a held-out photo (scikit-image's ``chelsea``), per universe.

    Two universes (the drawn ``halftone`` and ``poster`` comic styles, each a one-image bank) through a
    random VGG19 of 1/4 width (no pretrained weights here); the network trains ``steps`` steps on crops of
    eight other scikit-image photos at ``size`` px. Both outputs are measured with the stylize objective in
    float32 (``StyleTransfer.measure``: weighted style and content terms at the photo's size).
    """
    import numpy as np
    import skimage.data
    from PIL import Image

    from styleverse.fast.train import FastTrainConfig, train_fast
    from styleverse.io.images import pil_to_tensor, resize_longest
    from styleverse.nn.features import build_model
    from styleverse.samples import halftone, poster
    from styleverse.styles.bank import build_bank, load_bank, save_bank
    from styleverse.styles.targets import StyleImage, StyleSet
    from styleverse.transfer.optimize import StyleTransfer, TransferConfig

    tmp = Path(tempfile.mkdtemp(prefix="bench-fast-"))
    (tmp / "photos").mkdir()
    for name in TRAIN_PHOTOS:
        Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB").save(tmp / "photos" / f"{name}.png")
    feats, info = build_model("random", width=0.25)
    banks = []
    for name, draw in (("halftone", halftone), ("poster", poster)):
        draw(256).save(tmp / f"{name}.png")
        bank = build_bank(feats, info, [StyleImage(tmp / f"{name}.png", 1.0)], size=size, precision="fp32")
        banks.append(save_bank(bank, tmp / f"{name}.style.safetensors"))
    cfg = FastTrainConfig(
        content=(str(tmp / "photos"),), output=str(tmp / "m.safetensors"), banks=tuple(map(str, banks)), size=size,
        steps=steps, width=16, blocks=3, precision="fp32", device="cpu", checkpoint_every=0,
    )  # fmt: skip
    started = time.perf_counter()
    net = train_fast(cfg).model.net
    train_s = time.perf_counter() - started
    photo = pil_to_tensor(resize_longest(Image.fromarray(skimage.data.chelsea()), size))
    rows = []
    for i, bank in enumerate(banks):
        styles = StyleSet([], extra=[(load_bank(bank).mean, 1.0)])
        gatys = StyleTransfer(feats, TransferConfig(steps=gatys_steps, scales=(size,), precision="fp32", device="cpu"))
        started = time.perf_counter()
        g = gatys.run(photo, styles)
        gatys_s = time.perf_counter() - started
        with torch.no_grad():
            x, (h, w) = pad_to_multiple(photo, MULTIPLE)
            y = net(x, torch.eye(len(banks))[i])[..., :h, :w]
        fast, opt, before = gatys.measure(y, photo, styles), g.final_losses, gatys.measure(photo, photo, styles)
        rows.append([
            bank.name.split(".")[0], f"{before['style']:.3g}", f"{fast['style']:.3g}", f"{opt['style']:.3g}",
            f"{fast['style'] / opt['style']:.2f}", f"{fast['content']:.3g}", f"{opt['content']:.3g}",
            f"{fast['content'] / max(opt['content'], 1e-12):.2f}", f"{train_s:.0f} / {gatys_s:.1f}",
        ])  # fmt: skip
    return rows


def random_teacher() -> FastModel:
    """A 32x5 network whose per-universe (γ, β) differ, standing in for a trained one (no weights here)."""
    from styleverse.fast.model import CondInstanceNorm

    model = make_model("32x5")
    with torch.no_grad():
        for m in model.net.modules():
            if isinstance(m, CondInstanceNorm):
                m.gamma.add_(torch.randn_like(m.gamma) * 0.5)
                m.beta.add_(torch.randn_like(m.beta) * 0.5)
    return model


HELD_OUT = ("chelsea", "astronaut")  # photos neither the cached teacher (fast_teacher.py) nor a student saw


def distill_teacher(args: argparse.Namespace) -> tuple[FastModel, str, str]:
    """The ``--teacher`` model, its file and its label: ``cached`` is the benchmarks' trained teacher
    (``fast_teacher.py``, trained on first use), none a random 32x5 network saved beside the run."""
    from fast_teacher import trained_teacher
    from styleverse.fast.model import load_model, save_model

    if not args.teacher:
        model = random_teacher()
        return (
            model,
            str(save_model(model, Path(tempfile.mkdtemp(prefix="bench-teacher-")) / "t.safetensors")),
            "random 32x5",
        )
    path = str(trained_teacher()) if args.teacher == "cached" else args.teacher
    model = load_model(path)
    return model, path, f"{model.net.spec.width}x{model.net.spec.blocks}, {model.step} steps"


def style_target(teacher: FastModel, i: int, feats: object, photos: Path, size: int) -> dict[str, torch.Tensor]:
    """The style Grams universe ``i`` is measured against: its drawn sample style's when it is named after one
    (the cached teacher's ``halftone``), else the mean Gram of the teacher's outputs on ``photos``."""
    from PIL import Image

    from styleverse.io.images import pil_to_tensor, resize_longest
    from styleverse.samples import SAMPLE_STYLES, sample_style
    from styleverse.styles.targets import image_grams, weighted_mean

    name, cpu = teacher.universes[i], torch.device("cpu")
    if name in SAMPLE_STYLES:
        return image_grams(feats, pil_to_tensor(sample_style(name, size)), cpu, "fp32")
    train = [
        pad_to_multiple(pil_to_tensor(resize_longest(Image.open(p), size)), 4)[0] for p in sorted(photos.iterdir())
    ]
    w = torch.eye(len(teacher.universes))[i]
    with torch.no_grad():
        return weighted_mean((image_grams(feats, teacher.net(x, w), cpu, "fp32"), 1.0) for x in train)


def distill_rows(args: argparse.Namespace) -> tuple[list[list[str]], str]:
    """Student vs teacher on the held-out photos (:data:`HELD_OUT`, ``--distill-size`` px) per universe: the
    style and content terms of the objective the teacher learnt (``fast_teacher.learnt_objective``, float32;
    style targets from :func:`style_target`), averaged over the photos, the mean absolute pixel difference to
    the teacher, and the student's ONNX export against its torch output (max over the photos); and the
    objective's name. Writes the side-by-side ``--sheet``, a row per photo."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from fast_teacher import learnt_objective
    from styleverse.fast.distill import DistillConfig, compare, distill_fast
    from styleverse.fast.export import export_onnx
    from styleverse.io.images import pil_to_tensor, resize_longest, tensor_to_pil
    from styleverse.plots import contact_sheet
    from styleverse.styles.targets import StyleSet
    from styleverse.transfer.optimize import StyleTransfer, TransferConfig

    tmp, size = Path(tempfile.mkdtemp(prefix="bench-distill-")), args.distill_size
    (tmp / "photos").mkdir()
    for name in (n for n in TRAIN_PHOTOS if n not in HELD_OUT):
        Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB").save(tmp / "photos" / f"{name}.png")
    teacher, teacher_path, teacher_label = distill_teacher(args)
    spec = parse_variant(args.student)
    cfg = DistillConfig(
        teacher_path, (str(tmp / "photos"),), str(tmp / "student.safetensors"), spec.width, spec.blocks,
        spec.separable, size=size, steps=args.distill_steps, checkpoint_every=0, device="cpu",
    )  # fmt: skip
    started = time.perf_counter()
    student = distill_fast(cfg).model
    train_s = time.perf_counter() - started
    photos = [pad_to_multiple(pil_to_tensor(resize_longest(Image.fromarray(getattr(skimage.data, n)()), size)), 4)[0]
              for n in HELD_OUT]  # fmt: skip
    feats, weights, objective = learnt_objective(teacher)
    gatys = StyleTransfer(feats, TransferConfig(scales=(size,), precision="fp32", device="cpu", **weights))
    targets = [StyleSet([], extra=[(style_target(teacher, i, feats, tmp / "photos", size), 1.0)])
               for i in range(len(teacher.universes))]  # fmt: skip
    gaps = compare(teacher, student, photos, lambda y, x, i: gatys.measure(y, x, targets[i]))
    onnx = open_stylizer(StylizerSpec(str(export_onnx(student, tmp / "student.onnx")), mix=student.universes[0]))
    torch_student = FastStylizer(student, mix=student.universes[0], precision="fp32")
    onnx_diff, tiles, first = 0.0, [], torch.eye(len(teacher.universes))[0]
    for photo in photos:
        onnx_out = onnx(photo)
        onnx_diff = max(onnx_diff, float((onnx_out - torch_student(photo)).abs().max()))
        with torch.no_grad():
            t_out, s_out = teacher.net(photo, first), student.net(photo, first)
        tiles += [photo, t_out, s_out, onnx_out, ((t_out - s_out).abs() * 4).clamp(0, 1)]
    labels = ["photo (held out)", f"teacher ({teacher_label})", f"student {args.student} (torch)",
              f"student {args.student} (onnx)", "|teacher - student| x4"] * len(photos)  # fmt: skip
    if args.sheet:
        contact_sheet([tensor_to_pil(t[0]) for t in tiles], labels, args.sheet, cols=5, thumb=size)
    return [[
        g.universe, f"{g.style[0]:.3g}", f"{g.style[1]:.3g}", f"{g.style[1] / g.style[0] - 1:+.0%}",
        f"{g.content[0]:.3g}", f"{g.content[1]:.3g}", f"{g.content[1] / g.content[0] - 1:+.0%}", f"{g.pixel:.3f}",
        f"{onnx_diff:.1e}", f"{train_s:.0f}",
    ] for g in gaps], objective  # fmt: skip


def table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    t = Table(title=title)
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i < 2 else "right")
    for r in rows:
        t.add_row(*r)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--force-bf16", action="store_true", help="also time bf16 where the CPU only emulates it")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-speed", action="store_true", help="only the --quality comparison")
    ap.add_argument("--quality", action="store_true", help="also compare with Gatys optimisation (random VGG)")
    ap.add_argument("--quality-steps", type=int, default=300, help="fast train steps for --quality")
    ap.add_argument("--quality-size", type=int, default=64, help="image size for --quality")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument(
        "--variants", nargs="+", default=["32x5", "16x3s"],
        help="networks WxB[s]: width W, B residual blocks, s = depthwise-separable (Johnson: 32x5)",
    )  # fmt: skip
    ap.add_argument("--int8", action="store_true", help="also time the ONNX file quantised to int8")
    ap.add_argument("--distill", action="store_true", help="also distil a student and measure its gap")
    ap.add_argument(
        "--teacher",
        help="--distill: a trained fast model file, or 'cached': the benchmarks' trained 32x5 teacher "
        "(fast_teacher.py, trained on first use, about 12 minutes on one core); default: a random 32x5 network",
    )  # fmt: skip
    ap.add_argument("--student", default="16x3s", help="--distill: the student network WxB[s]")
    ap.add_argument("--distill-steps", type=int, default=500, help="--distill: training steps")
    ap.add_argument("--distill-size", type=int, default=128, help="--distill: crop and held-out photo size")
    ap.add_argument("--sheet", default="docs/fast_distill.png", help="--distill: the side-by-side image ('' none)")
    ap.add_argument("--memory-worker", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        memory_worker(args.memory_worker[0], int(args.memory_worker[1]), args.variants[0])
        return
    cuda = args.device == "cuda"
    bf16 = args.force_bf16 or (torch.cuda.is_bf16_supported() if cuda else cpu_has_native_bf16())
    try:
        import onnxruntime  # noqa: F401

        onnx = True
    except ImportError:
        onnx = False
    where = (
        torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores, native bf16: {cpu_has_native_bf16()}"
    )
    console = Console(width=160)
    console.print(
        f"{where}; torch {torch.__version__}, {torch.get_num_threads()} threads; load {os.getloadavg()[0]:.1f}"
    )
    if not args.skip_speed:
        speed(args, console, cuda, bf16, onnx)
    if args.distill:
        head = ["universe", "style: teacher", "style: student", "gap", "content: teacher", "content: student",
                "gap", "pixel |diff|", "onnx vs torch max", "train s"]  # fmt: skip
        rows, objective = distill_rows(args)
        title = (f"student {args.student} distilled {args.distill_steps} steps vs its teacher, held-out "
                 f"{' and '.join(HELD_OUT)} at {args.distill_size} px; {objective}")  # fmt: skip
        console.print(table(title, head, rows))
    if args.quality:
        head = ["universe", "style: photo", "style: fast", "style: Gatys", "fast/Gatys", "content: fast",
                "content: Gatys", "fast/Gatys", "train s / Gatys s"]  # fmt: skip
        rows = quality_rows(args.quality_steps, args.quality_size, 100)
        title = f"fast ({args.quality_steps} steps) vs Gatys (L-BFGS 100 steps), held-out photo, {args.quality_size} px"
        console.print(table(title, head, rows))


def speed(args: argparse.Namespace, console: Console, cuda: bool, bf16: bool, onnx: bool) -> None:
    """The inference, training and memory tables."""
    sizes = [(s, s) for s in args.sizes] + ([(1080, 1920)] if cuda else [])
    rows = [
        row for v in args.variants
        for row in inference_rows(sizes, args.repeats, args.device, bf16, onnx and not cuda, v, args.int8)
    ]  # fmt: skip
    title = f"inference (4 universes), {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}"
    console.print(table(title, ["network", "frame", "runtime", "frames/s", "ms/frame", "CPU s/frame"], rows))
    if not args.skip_train:
        precisions = ["fp32", "bf16"] if bf16 else ["fp32"]
        rows = training_rows(args.train_steps, args.device, precisions)
        console.print(
            table("training (+ VGG19 loss network)", ["images", "precision", "images/s", "s/step", "CPU s/step"], rows)
        )
    if not cuda:
        kinds = ["fp32", *(["bf16"] if bf16 else []), *(["onnxruntime"] if onnx else [])]
        rows = memory_rows(kinds, max(args.sizes), args.variants[0])
        head = ["frame", "runtime", "peak RSS MB", "added by the frame MB"]
        console.print(table("peak memory of one process", head, rows))


if __name__ == "__main__":
    main()
