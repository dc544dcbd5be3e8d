"""``styleverse stylize``: one content image in the look of one or many style images (or banks)."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from styleverse.errors import ConfigError
from styleverse.io.images import check_output, image_format_for, load_image, pil_to_tensor, resize_longest, save_image
from styleverse.nn.color import luminance_transfer, match_histogram
from styleverse.nn.features import DEFAULT_CONTENT_LAYERS
from styleverse.nn.vgg import BackboneInfo
from styleverse.plots import plot_losses, snapshot_strip
from styleverse.styles.bank import bank_targets
from styleverse.transfer.optimize import (
    DEFAULT_LR,
    INITS,
    OPTIMIZERS,
    Event,
    SnapshotEvent,
    StepEvent,
    StyleTransfer,
    TransferConfig,
    TransferResult,
    build_model,
)
from styleverse.transfer.targets import StyleSet, expand_styles

from .common import (
    Parser,
    add_model_args,
    console,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    setup_logging,
    versions,
    write_json,
)


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "stylize",
        help="stylise an image with one or many style images",
        description="Gatys-style optimisation of CONTENT towards the averaged Gram matrices of the style "
        "images. Writes OUT, OUT.json (settings, losses, timing, versions) and optional plot/snapshots.",
    )
    p.add_argument("content", help="content image (any format Pillow reads)")
    p.add_argument("--style", nargs="+", default=[], metavar="STYLE", help="style images or folders of them")
    p.add_argument(
        "--style-bank",
        nargs="+",
        default=[],
        metavar="BANK",
        help="style banks (.style.safetensors from 'styleverse styles bank'): a universe's averaged style; "
        "they mix with --style images, weighted after them by --style-weights",
    )
    p.add_argument(
        "--style-weights",
        nargs="+",
        type=non_negative_float,
        metavar="W",
        help="one weight per --style entry, then per --style-bank (normalised to sum 1; a folder shares its "
        "weight among its images)",
    )
    p.add_argument("-o", "--output", required=True, help="output image; format from the extension (.png, .jpg, ...)")
    p.add_argument("--size", type=positive_int, default=512, help="longest side of the output in pixels")
    p.add_argument(
        "--scales",
        nargs="+",
        type=positive_int,
        metavar="PX",
        help="coarse-to-fine sizes, e.g. 256 512 1024; each starts from the previous result (overrides --size)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=300,
        help="optimiser steps (per scale, so --scales 256 512 with --steps 200 runs 400)",
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs", help="L-BFGS (fast convergence) or Adam")
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (default: " + ", ".join(f"{v} for {k}" for k, v in DEFAULT_LR.items()) + ")",
    )
    p.add_argument("--content-weight", type=non_negative_float, default=1.0, help="weight of the content loss")
    p.add_argument("--style-weight", type=non_negative_float, default=1e6, help="weight of the style loss")
    p.add_argument("--tv-weight", type=non_negative_float, default=0.0, help="total-variation weight (denoising)")
    p.add_argument(
        "--content-layers", nargs="+", default=list(DEFAULT_CONTENT_LAYERS), metavar="LAYER", help="content layers"
    )
    p.add_argument(
        "--style-scale", type=positive_float, default=1.0, help="style images are seen at this multiple of the size"
    )
    p.add_argument("--init", default="content", help=f"starting image: {' | '.join(INITS)} | PATH to an image")
    p.add_argument(
        "--preserve-color",
        choices=["none", "luminance", "histogram"],
        default="none",
        help="keep the content's colours: transfer luminance only, or match style colours to the content first",
    )
    add_model_args(p)
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed and settings repeat a run")
    p.add_argument("--plot", metavar="FILE", help="write style/content loss curves (log scale) to FILE (.png/.svg)")
    p.add_argument(
        "--save-every", type=non_negative_int, default=0, help="save a snapshot every N steps (0: none) and a strip"
    )
    p.add_argument("--snapshot-dir", help="folder for snapshots (default: OUT's name + '_snapshots' beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT.resume.safetensors")
    p.add_argument("--quiet", action="store_true", help="no progress bar or info messages, only errors")
    p.set_defaults(func=cmd_stylize)


def _config(args: argparse.Namespace) -> TransferConfig:
    init = args.init if args.init in INITS else "content"
    return TransferConfig(
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        scales=tuple(args.scales or [args.size]),
        init=init,
        seed=args.seed,
        save_every=args.save_every,
        precision=args.precision,
        device=args.device,
    )


def _outputs(args: argparse.Namespace, inputs: list[Path]) -> dict[str, Path]:
    """Check every output path before any work: nothing is overwritten by surprise, no input is clobbered."""
    out = Path(args.output)
    image_format_for(out)
    paths = {
        "image": out,
        "sidecar": out.with_name(out.name + ".json"),
        "resume": out.with_name(out.name + ".resume.safetensors"),
    }
    if args.plot:
        paths["plot"] = Path(args.plot)
    for key in ("image", "sidecar", "plot"):
        if key in paths:
            check_output(paths[key], inputs, args.overwrite)
    if args.save_every:
        snap = Path(args.snapshot_dir) if args.snapshot_dir else out.with_name(out.stem + "_snapshots")
        if snap.exists() and any(snap.iterdir()) and not (args.overwrite or args.resume):
            raise ConfigError(f"{snap}: snapshot folder is not empty; pass --overwrite or choose --snapshot-dir")
        paths["snapshots"] = snap
    return paths


def _fingerprint(args: argparse.Namespace) -> str:
    keep = {k: v for k, v in vars(args).items() if k not in ("func", "overwrite", "resume", "quiet", "plot")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _load_resume(path: Path, fingerprint: str) -> tuple[int, torch.Tensor, list[dict[str, float]]]:
    from safetensors import safe_open

    if not path.exists():
        raise ConfigError(f"--resume: no saved state at {path}; run without --resume to start afresh")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta, image = dict(f.metadata() or {}), f.get_tensor("image")
        if meta.get("fingerprint") != fingerprint:
            raise ConfigError(f"--resume: {path} was saved with different settings; use the same command line")
        return int(meta["step"]), image, json.loads(meta["history"])
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"--resume: cannot read {path} ({e}); delete it to start afresh") from None


def _save_resume(path: Path, result: TransferResult, fingerprint: str) -> None:
    from safetensors.torch import save

    step = int(result.history[-1]["step"]) if result.history else 0
    meta = {"fingerprint": fingerprint, "step": str(step), "history": json.dumps(result.history)}
    from styleverse.io.images import write_bytes_atomic

    write_bytes_atomic(path, save({"image": result.image.contiguous()}, metadata=meta))


class _Reporter:
    """Turns transfer events into a progress bar and snapshot files."""

    def __init__(self, bar: Any, task: int, snap_dir: Path | None):
        self.bar, self.task, self.snap_dir = bar, task, snap_dir
        self.snapshots: list[tuple[int, torch.Tensor]] = []
        self.t0, self.first = time.perf_counter(), None

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, StepEvent):
            self.first = self.first if self.first is not None else ev.step - 1
            rate = (ev.step - self.first) / max(1e-9, time.perf_counter() - self.t0)
            status = f"style {ev.losses['style']:.2e} content {ev.losses['content']:.2e} {rate:.2f} it/s"
            self.bar.update(self.task, completed=ev.step, status=status)
        elif isinstance(ev, SnapshotEvent) and self.snap_dir is not None:
            self.snap_dir.mkdir(parents=True, exist_ok=True)
            save_image(ev.image, self.snap_dir / f"step_{ev.step:05d}.png")
            self.snapshots.append((ev.step, ev.image))


def _style_sources(args: argparse.Namespace) -> tuple[StyleSet, list[Path], list[float]]:
    """Style images (weighted, folders expanded) and banks with their weights, in --style-weights order."""
    if not args.style and not args.style_bank:
        raise ConfigError("give at least one style image or folder with --style, or a bank with --style-bank")
    n_sources = len(args.style) + len(args.style_bank)
    weights = args.style_weights
    if weights is not None and len(weights) != n_sources:
        raise ConfigError(
            f"--style-weights has {len(weights)} values for {n_sources} styles and banks; give one per style"
        )
    image_weights = weights[: len(args.style)] if weights else None
    bank_weights = list(weights[len(args.style) :]) if weights else [1.0] * len(args.style_bank)
    images = expand_styles(args.style, image_weights) if args.style else []
    return StyleSet(images, style_scale=args.style_scale), [Path(b) for b in args.style_bank], bank_weights


def _sidecar(
    args: argparse.Namespace,
    cfg: TransferConfig,
    styles: StyleSet,
    banks: list[Path],
    bank_weights: list[float],
    info: BackboneInfo,
    result: TransferResult,
    start: int,
) -> dict[str, Any]:
    """Everything needed to understand and repeat the run."""
    return {
        "output": args.output,
        "content": args.content,
        "styles": [{"path": str(s.path), "weight": s.weight} for s in styles.images],
        "style_banks": [{"path": str(b), "weight": w} for b, w in zip(banks, bank_weights, strict=True)],
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
        "config": cfg.to_dict(),
        "backbone": info.to_dict(),
        "precision_used": result.precision,
        "device_used": result.device,
        "steps_run": len(result.history),
        "final_losses": result.final_losses,
        "seconds": round(result.seconds, 3),
        "diverged_at_step": result.diverged_at,
        "resumed_from_step": start or None,
        "versions": versions(),
    }


def cmd_stylize(args: argparse.Namespace) -> int:
    setup_logging(args.quiet)
    cfg = _config(args)
    cfg.validate()
    style_set, banks, bank_weights = _style_sources(args)
    init_path = None if args.init in INITS else Path(args.init)
    paths = _outputs(args, [Path(args.content), *style_set.paths(), *banks, *([init_path] if init_path else [])])
    content = pil_to_tensor(resize_longest(load_image(args.content), max(cfg.scales)))
    init = pil_to_tensor(load_image(init_path)) if init_path else None
    if args.preserve_color == "histogram":
        style_set.transform = lambda t: match_histogram(t, content)
    fingerprint, start, history0 = _fingerprint(args), 0, []
    if args.resume:
        start, init, history0 = _load_resume(paths["resume"], fingerprint)
    model, info = build_model(
        args.backbone, args.style_layers, args.content_layers, arch=args.arch, pooling=args.pooling, seed=args.seed
    )
    for bank, w in zip(banks, bank_weights, strict=True):
        style_set.extra.append((bank_targets(bank, info, args.style_layers, max(cfg.scales)), w))
    with progress(args.quiet) as bar:
        task = bar.add_task("stylize", total=cfg.steps * len(cfg.scales), completed=start, status="style targets")
        reporter = _Reporter(bar, task, paths.get("snapshots"))
        result = StyleTransfer(model, cfg).run(content, style_set, init=init, callback=reporter, start_step=start)
    result.history = history0 + result.history
    if result.interrupted:
        _save_resume(paths["resume"], result, fingerprint)
        console.print(f"[yellow]interrupted; state saved to {paths['resume']}; rerun the same command with --resume")
        return 130
    image = luminance_transfer(result.image, content) if args.preserve_color == "luminance" else result.image
    save_image(image, paths["image"])
    write_json(paths["sidecar"], _sidecar(args, cfg, style_set, banks, bank_weights, info, result, start))
    if "plot" in paths and result.history:
        plot_losses(result.history, paths["plot"], title=f"{Path(args.content).name}: style and content loss")
    if reporter.snapshots:
        snapshot_strip(reporter.snapshots, paths["snapshots"] / "strip.png")
    paths["resume"].unlink(missing_ok=True)
    if result.diverged_at is not None:
        raise ConfigError(
            f"loss became NaN/inf at step {result.diverged_at}; kept the last good image in {paths['image']}; "
            "lower --lr or the loss weights"
        )
    if not args.quiet:
        console.print(f"wrote {paths['image']} ({result.seconds:.1f} s, {result.precision}, {result.device})")
    return 0
