"""``styleverse demo``: a complete run on built-in samples, no network needed."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from styleverse.errors import OutputError, WeightsError
from styleverse.samples import SAMPLE_STYLES
from styleverse.transfer.demo import write_samples

from .common import Parser, console, positive_int, progress, setup_logging, stopping

log = logging.getLogger("styleverse")


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "demo",
        help="stylise a bundled photo with built-in comic styles",
        description="Writes into OUT: the sample content and styles, the stylised result (averaged Gram "
        "targets of all three styles), a loss plot, snapshots and a side-by-side comparison.",
    )
    p.add_argument("--out", default="styleverse-demo", help="folder to write into (created; must be empty or new)")
    p.add_argument("--size", type=positive_int, default=256, help="longest side of the result in pixels")
    p.add_argument("--steps", type=positive_int, default=100, help="optimiser steps")
    p.add_argument(
        "--backbone",
        default="imagenet",
        help="imagenet (falls back to random, loudly, when the weights cannot be had), random, or a PATH",
    )
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)


def _backbone(spec: str) -> str:
    """imagenet if it can be had, else random with a loud warning (the demo must run offline); a weights file
    that is not there is refused here, before the demo writes anything."""
    if spec == "random":
        return spec
    if spec != "imagenet":
        if not Path(spec).is_file():
            raise WeightsError(f"{spec}: weights file not found (--backbone takes imagenet, random or a file)")
        return spec
    from styleverse.nn.vgg import imagenet_weights_path

    try:
        imagenet_weights_path("vgg19")
    except WeightsError as e:
        log.warning("%s", e)
        console.print(
            "[bold red]ImageNet VGG19 weights unavailable: falling back to a RANDOM network. "
            "The result will show the pipeline, not a good look."
        )
        return "random"
    return spec


def cmd_demo(args: argparse.Namespace) -> int:
    from PIL import Image

    from styleverse.io.images import load_image, probe_folder, save_image
    from styleverse.nn.features import FeatureSpec
    from styleverse.plots import labelled_strip
    from styleverse.styles.spec import StyleSpec
    from styleverse.transfer.config import TransferConfig
    from styleverse.transfer.job import StylizeJob, run_stylize

    from .stylize import StepReporter

    setup_logging(args.quiet)
    config = replace(TransferConfig(), size=args.size, steps=args.steps, save_every=max(1, args.steps // 5))
    config.validate()  # before anything is written: a refused --size must not leave a folder behind
    backbone = _backbone(args.backbone)  # likewise a --backbone that cannot be had
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.overwrite)):
        raise OutputError(f"{out}: exists and is not an empty folder; pass --overwrite or choose --out")
    probe_folder(out / "styles")  # a read-only or unreachable folder: one line, exit 2
    content, styles = write_samples(out)
    result = out / "stylized.png"
    job = StylizeJob(
        content=content, output=result, style=StyleSpec(tuple(styles)), config=config,
        features=FeatureSpec(backbone=backbone), plot=out / "losses.png", snapshot_dir=out / "snapshots",
        overwrite=True,
    )  # fmt: skip
    with progress(args.quiet) as bar, stopping() as stop:
        task = bar.add_task("demo", total=args.steps, status="style targets")
        outcome = run_stylize(job, callback=StepReporter(bar, task), stop=stop)
    if outcome.interrupted:
        return 130
    ims: list[Image.Image] = [load_image(p) for p in [content, *styles, result]]
    strip = labelled_strip(ims, ["content", *SAMPLE_STYLES, "result (averaged styles)"], height=256)
    save_image(strip, out / "comparison.png")
    console.print(f"demo written to {out}/: stylized.png, comparison.png, losses.png, snapshots/")
    return 0
