"""Style-transfer speed, time to quality and peak memory, on this machine's CPU (and CUDA when present).

Four tables (``--tables``):

- **step**: seconds per L-BFGS step (forward + backward + update) in float32 and in bf16 autocast +
  channels_last, at each ``--sizes``.
- **quality**: time to quality. The reference is ``--baseline-steps`` single-scale float32 L-BFGS steps at
  the full size (300 by default: what styleverse ran before); its *saved-image* loss (clamped, 8-bit,
  measured in float32) is the bar. Then the current defaults (``TransferConfig(size=N)``: coarse-to-fine,
  convergence stop, auto precision) run on the same objective; the table gives their wall-clock, steps,
  precision and final saved-image loss against the bar, and the wall-clock at which a checkpoint of the
  finest scale first reached the bar (checkpoints every ``--every`` steps, their measurement not counted).
  ``--legacy`` also runs the old unbounded optimiser for the same steps, to show what it saved;
  ``--variants`` runs changed defaults (no convergence stop, float32 for the finest scale, a float32 polish).
- **weights**: one default run per style weight of ``--weights`` (1e5 to 1e8) at ``--weight-size``: the
  style and content losses before weighting, SSIM of the luminance against the photo, steps and why each
  stopped. The style loss should fall as the weight rises and every result should have moved; the results
  side by side go to ``--sheet`` (default ``docs/style_weights.png``) to look at.
- **warm**: warm start (``stylize --init fast:MODEL``). The bar is the saved-image loss of a default run from
  the photo; then the same defaults start from a fast network's result on the photo (``--fast-model``, else
  the benchmarks' cached teacher, ``fast_teacher.py``, trained on first use towards ``--warm-style``) and the
  table gives the wall-clock at which a finest-scale checkpoint first reached the bar, network pass included,
  against the default's. Both optimise the objective the network learnt: the loss network and the style and
  content weights its file records, and the drawn ``--warm-style``. Each row is printed the moment it is
  measured. The aim is a third of the time or less.
- **inits**: the defaults (style weight: the second of ``--weights``) from the content and from noise: how
  much of the photo each keeps (SSIM) and how close each comes to the style; contact sheet beside ``--sheet``.
- **memory**: peak resident memory of one default L-BFGS step at ``--memory-sizes`` (a fresh process each,
  so peaks do not mix); a size whose estimate exceeds the free memory is skipped.

The objective is the defaults' (style weight, layer weights, TV weight). Uses the ImageNet VGG19 when it is
cached, else a seeded random one (the tables say which); the content is a bundled photo, the styles two
drawn samples. Wall-clock depends on what else runs: the load average is printed with each table.

    python benchmarks/bench_transfer.py [--tables step quality memory] [--sizes 256 512]
        [--baseline-steps 300 300] [--memory-sizes 1024 2048 4096]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from styleverse.devices import available_memory, cpu_has_native_bf16
from styleverse.errors import WeightsError
from styleverse.io.images import pil_to_tensor, resize_longest
from styleverse.nn.features import build_model
from styleverse.nn.vgg import imagenet_weights_path
from styleverse.samples import content_photo, sample_style
from styleverse.styles.targets import GramDict, image_grams, weighted_mean
from styleverse.transfer.optimize import SnapshotEvent, StepEvent, StyleTransfer, TransferConfig
from styleverse.transfer.optimizers import BoundedLBFGS

console = Console(width=160)


class Samples:
    """A StyleSet stand-in: the mean Gram of drawn sample styles, drawn at the size asked (cached)."""

    def __init__(self, names: tuple[str, ...] = ("halftone", "poster")):
        self.names, self.cache = names, {}  # type: ignore[var-annotated]

    def targets(self, model: Any, size: int, device: torch.device, precision: str = "fp32") -> GramDict:
        key = (size, precision, str(device))
        if key not in self.cache:
            self.cache[key] = weighted_mean(
                (image_grams(model, pil_to_tensor(sample_style(n, size)), device, precision), 1.0) for n in self.names
            )
        return self.cache[key]


def pick_backbone(spec: str) -> str:
    if spec != "auto":
        return spec
    try:
        imagenet_weights_path("vgg19", download=False)
        return "imagenet"
    except WeightsError:
        return "random"


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


# ---- per-step speed ------------------------------------------------------------------------------------------


def step_table(args: argparse.Namespace, backbone: str) -> None:
    table = Table(title=f"seconds per L-BFGS step (forward+backward+update), VGG19 ({backbone}), {load()}")
    for col in ("device", "size", "precision", "s/step", "speed-up"):
        table.add_column(col, justify="right")
    model, _ = build_model(backbone)
    styles = Samples()
    for dev in ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]:
        for size in args.sizes:
            content = pil_to_tensor(resize_longest(content_photo(args.photo), size))
            base = None
            for prec in ("fp32", "bf16"):
                cfg = TransferConfig(scales=(size,), steps=args.step_steps + 1, tol=0, precision=prec, device=dev)
                stamps: list[float] = []
                StyleTransfer(model, cfg).run(content, styles, callback=Stamps(stamps, dev))  # type: ignore[arg-type]
                per = (stamps[-1] - stamps[0]) / (len(stamps) - 1)  # the first step (kernel choice) left out
                base = base or per
                table.add_row(dev, str(size), prec, f"{per:.3f}", f"{base / per:.2f}x")
    console.print(table)


class Stamps:
    """Callback appending the time of every step to a list (after a CUDA sync)."""

    def __init__(self, stamps: list[float], device: str):
        self.stamps, self.device = stamps, device

    def __call__(self, ev: object) -> None:
        if isinstance(ev, StepEvent):
            if self.device == "cuda":
                torch.cuda.synchronize()
            self.stamps.append(time.perf_counter())


# ---- time to quality -----------------------------------------------------------------------------------------


class Checkpoints:
    """Callback measuring the saved-image loss of finest-scale snapshots, keeping its own time out of the clock.
    Each point holds the wall-clock and the process CPU seconds since the callback was made: on a shared
    machine the CPU seconds say what the run cost, the wall-clock mostly what else ran."""

    def __init__(self, engine: StyleTransfer, content: torch.Tensor, styles: Samples, size: int):
        self.engine, self.content, self.styles, self.size = engine, content, styles, size
        self.t0, self.spent, self.points = time.perf_counter(), 0.0, []  # type: ignore[var-annotated]
        self.c0, self.cpu_spent = time.process_time(), 0.0

    def __call__(self, ev: object) -> None:
        if isinstance(ev, SnapshotEvent) and max(ev.image.shape[-2:]) == self.size:
            t, c = time.perf_counter(), time.process_time()
            total = self.engine.measure(ev.image, self.content, self.styles)["total"]  # type: ignore[arg-type]
            self.points.append((ev.step, t - self.t0 - self.spent, total, c - self.c0 - self.cpu_spent))
            self.spent += time.perf_counter() - t
            self.cpu_spent += time.process_time() - c

    def cpu(self) -> float:
        """Process CPU seconds since the callback was made, its own measurements left out."""
        return time.process_time() - self.c0 - self.cpu_spent

    def reached(self, bar: float) -> tuple[int, float, float] | None:
        """The first point at or below ``bar``: (step, wall seconds, CPU seconds)."""
        return next(((s, t, c) for s, t, v, c in self.points if v <= bar), None)


class Unbounded(BoundedLBFGS):
    """L-BFGS on the pixels themselves, unbounded: what styleverse ran before (``--legacy``)."""

    def free(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def image(self, p: torch.Tensor) -> torch.Tensor:
        return p


class Variant(StyleTransfer):
    """The defaults with the finest scale changed: another precision, and/or no convergence stop (run to the cap)."""

    def __init__(self, model: Any, config: TransferConfig, finest: str | None = None, stop: bool = True):
        super().__init__(model, config)
        self.finest, self.stop = finest, stop

    def _scale(self, index: int, hw: tuple[int, int], precision: str, *rest: Any) -> Any:
        if self.finest and index == len(self.config.sizes) - 1:
            precision = self.finest
        return super()._scale(index, hw, precision, *rest)

    def _stop_reason(self, sc: Any, stop: Any, history: Any = ()) -> str | None:
        reason = super()._stop_reason(sc, stop, history)
        if reason == "converged" and sc.index == len(self.config.sizes) - 1 and not self.stop:
            return "stopped" if stop is not None and stop() else None
        return reason


# name: (scales relative to the size, finest-scale precision, convergence stop on the finest scale)
VARIANTS = {
    "nostop": ((0.5, 1), None, False),
    "fp32-finest": ((0.5, 1), "fp32", False),
    "fp32-polish": ((0.5, 1, 1), "fp32", False),
}


def timed_run(
    cfg: TransferConfig,
    model: Any,
    content: torch.Tensor,
    styles: Samples,
    size: int,
    variant: str = "",
    bar: float | None = None,
    unbounded: bool = False,
    init: torch.Tensor | None = None,
) -> tuple[Any, Any]:
    """One run with checkpoints; a variant stops as soon as a checkpoint reaches ``bar``; ``unbounded`` runs the
    old L-BFGS on unbounded pixels."""
    if variant:
        rel, finest, stop = VARIANTS[variant]
        cfg = replace(cfg, scales=tuple(int(r * size) for r in rel), steps=max(cfg.steps, 300))
        engine: StyleTransfer = Variant(model, cfg, finest, stop)
    else:
        engine = StyleTransfer(model, cfg)
    if unbounded:
        engine.optimizer_type = Unbounded
    cp = Checkpoints(engine, content, styles, size)
    done = (lambda: cp.reached(bar) is not None) if variant and bar is not None else None
    res = engine.run(content, styles, init=init, callback=cp, stop=done)  # type: ignore[arg-type]
    res.seconds -= cp.spent
    res.precision = "+".join(dict.fromkeys(s["precision"] for s in res.scales))  # a variant's finest may differ
    return res, cp


def quality_table(args: argparse.Namespace, backbone: str) -> None:
    table = Table(title=f"time to quality: defaults vs {args.baseline_steps} single-scale fp32 L-BFGS steps, "
                  f"saved-image loss (8-bit), VGG19 ({backbone}), {torch.get_num_threads()} threads")  # fmt: skip
    cols = ("size", "run", "precision", "steps", "stop", "seconds", "saved loss", "vs bar", "within 5% at", "bar at")
    for col in cols:
        table.add_column(col, justify="right")
    model, _ = build_model(backbone)
    styles, rows = Samples(), []
    for size, n_base in zip(args.sizes, args.baseline_steps, strict=True):
        content = pil_to_tensor(resize_longest(content_photo(args.photo), size))
        defaults = TransferConfig(size=size, device=args.device)
        every = replace(defaults, save_every=args.every)
        base_cfg = replace(every, scales=(size,), steps=n_base, tol=0.0, precision="fp32")
        console.print(f"[dim]{size} px: baseline ({n_base} fp32 steps), {load()}")
        base, _ = timed_run(replace(base_cfg, save_every=0), model, content, styles, size)
        bar = base.final_losses["total"]
        runs = [("baseline", base, None)]
        if args.legacy:
            legacy, _ = timed_run(replace(base_cfg, save_every=0), model, content, styles, size, unbounded=True)
            runs.append(("unbounded (before)", legacy, None))
        console.print(f"[dim]{size} px: defaults, {load()}")
        new, cp = timed_run(every, model, content, styles, size)
        runs.append(("defaults", new, cp))
        for v in args.variants:
            console.print(f"[dim]{size} px: {v}, {load()}")
            res, vcp = timed_run(every, model, content, styles, size, v, bar)
            runs.append((v, res, vcp))
        for name, res, c in runs:
            hit = c.reached(bar) if c is not None else None
            near = c.reached(1.05 * bar) if c is not None else None
            row = {
                "size": size, "run": name, "precision": res.precision, "steps": res.stopped_at,
                "per_scale": [s["steps"] for s in res.scales], "stop": res.stop_reason,
                "seconds": round(res.seconds, 1), "saved_loss": res.final_losses["total"],
                "vs_bar": res.final_losses["total"] / bar - 1, "within_5pct": near, "bar_reached": hit,
            }  # fmt: skip
            rows.append(row)
            table.add_row(
                str(size), name, res.precision, "+".join(map(str, row["per_scale"])), str(res.stop_reason),
                f"{res.seconds:.1f}", f"{row['saved_loss']:.4g}", f"{row['vs_bar']:+.1%}",
                f"step {near[0]}, {near[1]:.1f} s" if near else "-", f"step {hit[0]}, {hit[1]:.1f} s" if hit else "-",
            )  # fmt: skip
        console.print(f"[dim]{json.dumps(rows[-len(runs) :])}")
    console.print(table)


# ---- warm start ----------------------------------------------------------------------------------------------


def warm_network(args: argparse.Namespace) -> tuple[Any, str]:
    """The fast network to start from (``--fast-model``, else the benchmarks' cached teacher of
    ``fast_teacher.py``, trained on first use) and the name of its universe that learnt ``--warm-style``."""
    from fast_teacher import trained_teacher
    from styleverse.fast.model import load_model

    net = load_model(args.fast_model or trained_teacher(style=args.warm_style))
    return net, args.warm_style if args.warm_style in net.universes else net.universes[0]


def warm_row(table: Table, cells: list[str]) -> None:
    """A row of the warm table, also printed (and flushed) the moment it is measured."""
    table.add_row(*cells)
    console.print(" | ".join(cells))
    sys.stdout.flush()


def warm_table(args: argparse.Namespace, backbone: str) -> None:
    """Per size: a default run from the photo (its saved-image loss is the bar), then the same defaults from the
    fast network's result; when a finest-scale checkpoint first reached the bar, network pass included.
    ``backbone`` is not used: the objective is the fast model's (``fast_teacher.learnt_objective``)."""
    from fast_teacher import learnt_objective
    from styleverse.fast.apply import FastStylizer

    net, universe = warm_network(args)
    model, weights, objective = learnt_objective(net)
    styles = Samples((args.warm_style,))
    stylizer = FastStylizer(net, mix=universe, device=args.device)
    table = Table(title=f"warm start from a fast network ({net.net.spec.width}x{net.net.spec.blocks}, "
                  f"{net.step} steps) vs from the photo, time to the default's saved-image loss, style "
                  f"{args.warm_style}, {objective}, {torch.get_num_threads()} threads")  # fmt: skip
    cols = ("size", "start", "start loss", "steps", "seconds", "CPU s", "saved loss", "vs bar", "bar at",
            "time vs default", "CPU vs default")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="right")
    console.print(" | ".join(cols))
    for size in args.sizes:
        content = pil_to_tensor(resize_longest(content_photo(args.photo), size))
        every = TransferConfig(size=size, device=args.device, save_every=args.every, **weights)
        base, cp = timed_run(every, model, content, styles, size)
        bar, base_cpu = base.final_losses["total"], cp.cpu()
        # the default run's own saved image is the bar: it is reached when the run ends
        start = StyleTransfer(model, every).measure  # the loss of a starting image
        photo_loss = start(content, content, styles)["total"]  # type: ignore[arg-type]
        warm_row(table, [str(size), "photo", f"{photo_loss:.4g}", "+".join(str(s["steps"]) for s in base.scales),
                         f"{base.seconds:.1f}", f"{base_cpu:.1f}", f"{bar:.4g}", "+0.0%",
                         f"step {base.stopped_at}, {base.seconds:.1f} s", "1.00x", "1.00x"])  # fmt: skip
        started, c0 = time.perf_counter(), time.process_time()
        init = stylizer(content)
        net_s, net_cpu = time.perf_counter() - started, time.process_time() - c0
        res, c = timed_run(every, model, content, styles, size, init=init)
        hit = c.reached(bar)
        at = None if hit is None else (hit[0], hit[1] + net_s, hit[2] + net_cpu)
        loss = res.final_losses["total"]
        warm_row(table, [
            str(size), "fast network", f"{start(init, content, styles)['total']:.4g}",  # type: ignore[arg-type]
            "+".join(str(s["steps"]) for s in res.scales), f"{res.seconds + net_s:.1f}",
            f"{c.cpu() + net_cpu:.1f}", f"{loss:.4g}", f"{loss / bar - 1:+.1%}",
            f"step {at[0]}, {at[1]:.1f} s" if at else "not reached", f"{at[1] / base.seconds:.2f}x" if at else "-",
            f"{at[2] / base_cpu:.2f}x" if at else "-",
        ])  # fmt: skip
        console.print(f"[dim]{size} px done, {load()}")
    console.print(table)


# ---- memory --------------------------------------------------------------------------------------------------


def memory_worker(size: int, backbone: str) -> None:
    """One default L-BFGS step at ``size`` px in this process; prints its peak RSS and time as JSON."""
    model, _ = build_model(backbone)
    content = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    styles = Samples()
    targets = styles.targets(model, 256, torch.device("cpu"))
    styles.targets = lambda *_, **__: targets  # type: ignore[method-assign]  # style images at 256 px: small
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, at_step = time.perf_counter(), []
    engine = StyleTransfer(model, TransferConfig(scales=(size,), steps=1, device="cpu"))
    res = engine.run(content, styles, callback=lambda ev: at_step.append(_rss()) if isinstance(ev, StepEvent) else None)  # type: ignore[arg-type]
    print(json.dumps({"size": size, "precision": res.precision, "seconds": time.perf_counter() - t,
                      "peak_gib": _rss(), "step_peak_gib": at_step[0], "before_gib": before / 2**20}))  # fmt: skip


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def memory_table(args: argparse.Namespace, backbone: str) -> None:
    table = Table(title=f"peak memory of one default L-BFGS step on CPU (whole process), VGG19 ({backbone})")
    for col in (
        "size",
        "precision",
        "peak RSS GiB (optimising)",
        "peak RSS GiB (incl. float32 measurement)",
        "seconds",
    ):
        table.add_column(col, justify="right")
    for size in args.memory_sizes:
        free = available_memory(torch.device("cpu")) or 0
        guess = 2**30 * (size / 1024) ** 2 + 0.5 * 2**30  # measured: under 1 GiB per (1024 px)² at 1024 and 2048
        if guess > 0.8 * free:
            table.add_row(
                str(size), "-", f"skipped: ~{guess / 2**30:.0f} GiB needed, {free / 2**30:.0f} free", "-", "-"
            )
            continue
        cmd = [sys.executable, __file__, "--memory-worker", str(size), "--backbone", backbone]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            table.add_row(str(size), "-", f"failed ({out.stderr.strip().splitlines()[-1][:60]})", "-", "-")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        table.add_row(
            str(size), r["precision"], f"{r['step_peak_gib']:.2f}", f"{r['peak_gib']:.2f}", f"{r['seconds']:.1f}"
        )
    console.print(table)


# ---- style weight grid -----------------------------------------------------------------------------------------


def weights_table(args: argparse.Namespace, backbone: str) -> None:
    """One default run per ``--weights`` entry; the unweighted losses, structure, steps, and a contact sheet."""
    runs = [(f"{w:g}", {"style_weight": w}) for w in args.weights]
    style_losses = grid_table(args, backbone, "style weight", runs, args.sheet)
    falling = all(b < a for a, b in itertools.pairwise(style_losses))
    console.print(f"style loss falls as the weight rises: {'yes' if falling else 'NO'}")


def inits_table(args: argparse.Namespace, backbone: str) -> None:
    """The defaults from the content (the paper) and from noise: how much of the photo each keeps (SSIM)."""
    runs = [(init, {"init": init, "style_weight": args.weights[min(1, len(args.weights) - 1)]})
            for init in ("content", "noise")]  # fmt: skip
    grid_table(args, backbone, "init", runs, args.sheet.replace(".png", "_inits.png") if args.sheet else "")


def grid_table(
    args: argparse.Namespace, backbone: str, name: str, runs: list[tuple[str, dict[str, Any]]], sheet: str
) -> list[float]:
    """One run per ``(label, settings)`` at ``--weight-size``: the unweighted style and content losses, SSIM
    of the luminance against the photo, steps, why it stopped, whether it moved; a contact sheet to ``sheet``
    (the photo, the styles whose mean Gram is the target, then each result). Returns the style losses."""
    from styleverse.evaluation.metrics import ssim

    model, _ = build_model(backbone)
    content = pil_to_tensor(resize_longest(content_photo(args.photo), args.weight_size))
    styles = Samples()
    table = Table(title=f"{name} grid, {args.weight_size} px, VGG19 ({backbone}), {load()}")
    for col in (name, "style loss", "content loss", "SSIM", "steps", "stopped", "moved", "seconds"):
        table.add_column(col, justify="right")
    images, style_losses = [], []
    for label, settings in runs:
        t = time.perf_counter()
        cfg = TransferConfig(size=args.weight_size, precision=args.precision, device=args.device, **settings)
        res = StyleTransfer(model, cfg).run(content, styles)  # type: ignore[arg-type]
        style = res.final_losses["style"] / cfg.style_weight
        content_loss = res.final_losses["content"] / cfg.content_weight
        moved = all(s.get("improved", True) for s in res.scales)
        style_losses.append(style)
        images.append((res.image, f"{name} {label}"))
        table.add_row(label, f"{style:.3g}", f"{content_loss:.3g}", f"{ssim(res.image, content):.3f}",
                      str(res.stopped_at), str(res.stop_reason), "yes" if moved else "NO",
                      f"{time.perf_counter() - t:.1f}")  # fmt: skip
    console.print(table)
    if sheet:
        drawn = [(pil_to_tensor(sample_style(n, args.weight_size)), f"style: {n}") for n in styles.names]
        contact_sheet([(content, "photo"), *drawn, *images], sheet)
        console.print(f"results side by side: {sheet}")
    return style_losses


def contact_sheet(images: list[tuple[torch.Tensor, str]], path: str) -> None:
    """The images in a row, each with its label underneath, as one PNG."""
    from PIL import Image, ImageDraw

    tiles = [Image.fromarray((x[0].permute(1, 2, 0).clamp(0, 1) * 255).byte().numpy()) for x, _ in images]
    w, h = max(t.width for t in tiles), max(t.height for t in tiles)
    sheet = Image.new("RGB", (w * len(tiles), h + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (tile, (_, label)) in enumerate(zip(tiles, images, strict=True)):
        sheet.paste(tile, (i * w, 0))
        draw.text((i * w + 6, h + 6), label, fill="black")
    sheet.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--tables", nargs="+", default=["step", "quality", "memory"],
        choices=["step", "quality", "memory", "weights", "warm", "inits"],
    )  # fmt: skip
    ap.add_argument(
        "--fast-model", "--warm-model", dest="fast_model",
        help="warm table: a trained fast model to start from (default: the cached teacher of fast_teacher.py, "
        "trained on first use, about 12 minutes on one core)",
    )  # fmt: skip
    ap.add_argument("--warm-style", default="halftone", help="warm table: the drawn style (default halftone)")
    ap.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    ap.add_argument("--baseline-steps", nargs="+", type=int, default=None, help="per size (default 300 each)")
    ap.add_argument("--step-steps", type=int, default=3, help="steps timed per cell of the step table")
    ap.add_argument("--every", type=int, default=5, help="checkpoint spacing at the finest scale")
    ap.add_argument("--legacy", action="store_true", help="also run the old unbounded optimiser as a reference")
    ap.add_argument(
        "--variants", nargs="*", default=[], choices=sorted(VARIANTS),
        help="also run changed defaults, the finest scale until it reaches the bar (at most 300 steps): "
        "nostop (no convergence stop), "
        "fp32-finest (bf16 coarse, fp32 finest), fp32-polish (bf16 coarse-to-fine, then an fp32 pass at full size)",
    )  # fmt: skip
    ap.add_argument("--memory-sizes", nargs="+", type=int, default=[1024, 2048, 4096])
    ap.add_argument("--weights", nargs="+", type=float, default=[1e5, 1e6, 1e7, 1e8], help="style weights (weights)")
    ap.add_argument("--weight-size", type=int, default=256, help="longest side of the weights table's runs")
    ap.add_argument("--precision", default="auto", help="precision of the weights table's runs")
    ap.add_argument("--sheet", default="docs/style_weights.png", help="the weights table's contact sheet ('' for none)")
    ap.add_argument("--backbone", default="auto", help="auto: imagenet if cached, else random")
    ap.add_argument("--photo", default="astronaut", help="scikit-image photo: astronaut, chelsea, coffee")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--memory-worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    backbone = pick_backbone(args.backbone)
    if args.memory_worker:
        memory_worker(args.memory_worker, backbone)
        return
    args.baseline_steps = args.baseline_steps or [300] * len(args.sizes)
    if len(args.baseline_steps) != len(args.sizes):
        ap.error("--baseline-steps needs one value per --sizes entry")
    console.print(f"CPU native bf16 (AMX/AVX512-BF16): {cpu_has_native_bf16()}; torch {torch.__version__}; "
                  f"threads {torch.get_num_threads()}; {load()}")  # fmt: skip
    for name in args.tables:
        tables = {"step": step_table, "quality": quality_table, "memory": memory_table, "weights": weights_table,
                  "warm": warm_table, "inits": inits_table}  # fmt: skip
        tables[name](args, backbone)


if __name__ == "__main__":
    main()
