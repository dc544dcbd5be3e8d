"""``styleverse fast train|apply|export``: one feed-forward network for every universe of a film.

Training reports progress on stderr (rank 0 only under torchrun); Ctrl-C saves the exact resume state after
the current step (a second Ctrl-C aborts at once). Defaults come from the library's dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from .common import (
    Parser,
    add_device_args,
    console,
    features_from_args,
    need,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    run_training,
    setup_logging,
)


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "fast",
        help="real-time stylisation: train, apply and export a multi-universe feed-forward network",
        description="A Johnson-style transform network with one conditional instance normalisation per universe "
        "(Dumoulin et al. 2017), trained against style banks: stylises a photo in one pass.",
    )

    def usage(_args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    _register_train(actions)
    _register_apply(actions)
    _register_export(actions)


def _register_train(actions: Any) -> None:
    from styleverse.fast.train import FastTrainConfig
    from styleverse.nn.features import FeatureSpec

    d, f = _defaults(FastTrainConfig), FeatureSpec()
    t: Parser = actions.add_parser(
        "train",
        help="train one network for several universes (style banks and style images)",
        description="Train on content photos towards each universe's mean Gram matrices (the stylize losses, "
        "through the feature network the banks record). Writes MODEL (e.g. m.safetensors), the loss curves "
        "m.losses.png, sample grids in m.samples/ and the resume state m.safetensors.resume.safetensors, at every "
        "checkpoint, on Ctrl-C and at the end. Several processes: run under torchrun.",
    )
    t.add_argument("--content", nargs="+", required=True, metavar="PHOTOS", help="photo folders, images or manifests")
    t.add_argument("--style-bank", nargs="+", default=[], metavar="[NAME=]BANK", help="one universe per bank file")
    t.add_argument("--style", nargs="+", default=[], metavar="[NAME=]IMAGE", help="extra universes: an image or folder")
    t.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.safetensors)")
    t.add_argument("--size", type=positive_int, default=d["size"], help="training crop side in pixels")
    t.add_argument("--batch-size", type=positive_int, default=d["batch_size"], help="photos per step (per process)")
    t.add_argument("--steps", type=positive_int, default=d["steps"], help="optimizer steps")
    t.add_argument("--lr", type=positive_float, default=d["lr"], help="Adam learning rate")
    t.add_argument(
        "--style-weight", type=non_negative_float, default=d["style_weight"], help="weight of the style loss"
    )
    t.add_argument("--content-weight", type=non_negative_float, default=d["content_weight"], help="content loss weight")
    t.add_argument("--tv-weight", type=non_negative_float, default=d["tv_weight"], help="total-variation smoothing")
    t.add_argument("--width", type=positive_int, default=d["width"], help="channels of the first layer (Johnson: 32)")
    t.add_argument("--blocks", type=non_negative_int, default=d["blocks"], help="residual blocks (Johnson: 5)")
    t.add_argument("--style-layers", nargs="+", default=list(f.style_layers), metavar="LAYER[:W]", help="style layers")
    t.add_argument(
        "--content-layers", nargs="+", default=list(f.content_layers), metavar="LAYER", help="content layers"
    )
    t.add_argument(
        "--backbone",
        default=f.backbone,
        help="feature network: imagenet, random or PATH (default: the one the banks record)",
    )
    t.add_argument("--arch", choices=["vgg19", "vgg16"], default=f.arch, help="VGG depth (without banks)")
    t.add_argument("--pooling", choices=["max", "avg"], default=f.pooling, help="pooling (without banks)")
    t.add_argument("--seed", type=int, default=d["seed"], help="seed for the initial weights and the data order")
    t.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        default=d["checkpoint_every"],
        help="save model + state every N steps",
    )
    t.add_argument("--sample-every", type=non_negative_int, default=d["sample_every"], help="sample grid every K steps")
    t.add_argument("--resume", action="store_true", help="continue the interrupted (or finished) run exactly")
    t.add_argument("--overwrite", action="store_true", help="replace an existing model and start afresh")
    t.add_argument("--quiet", action="store_true", help="no progress bar or info messages, only errors")
    add_device_args(t)
    t.set_defaults(func=cmd_train)


def _add_mix_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--universe", metavar="NAME", help="the universe to apply (default: the model's first)")
    g.add_argument("--mix", nargs="+", metavar="NAME:W", help="a weighted mix of universes, e.g. gwen:2 miles:1")


def _register_apply(actions: Any) -> None:
    from styleverse.fast.open import StylizerSpec

    d = _defaults(StylizerSpec)
    a: Parser = actions.add_parser(
        "apply",
        help="stylise images and folders with a trained network (.safetensors or exported .onnx)",
        description="Stylise each IMAGE (folders are expanded). -o is a file for one image, a folder otherwise "
        "(results keep their input names).",
    )
    a.add_argument("model", metavar="MODEL", help="a fast model (.safetensors) or an exported .onnx file")
    a.add_argument("inputs", nargs="+", metavar="IN", help="images or folders of images")
    a.add_argument("-o", "--output", required=True, metavar="OUT", help="output image (one input) or folder")
    _add_mix_args(a)
    a.add_argument("--strength", type=non_negative_float, default=d["strength"], help="0 = the photo, 1 = full style")
    a.add_argument("--size", type=positive_int, default=None, help="longest side in pixels (default: as the input)")
    a.add_argument("--preserve-color", action="store_true", help="keep the photo's colours (luminance transfer)")
    a.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    a.add_argument("--quiet", action="store_true", help="no progress bar, only errors")
    add_device_args(a)
    a.set_defaults(func=cmd_apply)


def _register_export(actions: Any) -> None:
    e: Parser = actions.add_parser(
        "export",
        help="export a trained network to ONNX",
        description="Write MODEL as ONNX. Without --universe/--mix/--strength the universe weights and strength "
        "are inputs of the graph (choose them when applying); with them they are baked in.",
    )
    e.add_argument("model", metavar="MODEL", help="a fast model (.safetensors)")
    e.add_argument("-o", "--output", required=True, metavar="ONNX", help="file to write (.onnx)")
    _add_mix_args(e)
    e.add_argument("--strength", type=non_negative_float, default=None, help="bake this strength in (0..1)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.set_defaults(func=cmd_export)


def parse_mix(universe: str | None, mix: list[str] | None) -> dict[str, float] | str | None:
    """``--universe NAME`` or ``--mix NAME:W ...`` -> what :func:`styleverse.fast.model.mix_weights` takes."""
    if universe is not None:
        return universe
    if not mix:
        return None
    out: dict[str, float] = {}
    for item in mix:
        name, colon, w = item.rpartition(":")
        need(bool(colon and name), f"--mix: '{item}' is not NAME:WEIGHT (e.g. gwen:0.5)")
        try:
            out[name] = out.get(name, 0.0) + float(w)
        except ValueError:
            need(False, f"--mix: weight '{w}' in '{item}' is not a number")
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from styleverse.fast.train import FastTrainConfig, train_fast

    rank0 = int(os.environ.get("RANK", "0")) == 0
    quiet = args.quiet or not rank0
    setup_logging(quiet)
    cfg = FastTrainConfig(
        content=tuple(args.content), output=args.output, banks=tuple(args.style_bank), styles=tuple(args.style),
        size=args.size, batch_size=args.batch_size, steps=args.steps, lr=args.lr, style_weight=args.style_weight,
        content_weight=args.content_weight, tv_weight=args.tv_weight, width=args.width, blocks=args.blocks,
        features=features_from_args(args), seed=args.seed, checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every, precision=args.precision, device=args.device, resume=args.resume,
        overwrite=args.overwrite,
    )  # fmt: skip
    result = run_training("fast train", cfg.steps, quiet, lambda cb, stop: train_fast(cfg, cb, stop=stop))
    if not rank0:
        return 130 if result.interrupted else 0
    from styleverse.training.outputs import loss_plot_path, samples_path

    out = result.output
    if result.interrupted:
        console.print(f"[yellow]interrupted; state saved beside {out}; rerun the same command with --resume")
        return 130
    print(f"model: {out} (universes: {', '.join(result.model.universes)}; {len(result.history)} steps)")
    print(f"loss curves: {loss_plot_path(out)}")
    if cfg.sample_every and samples_path(out).is_dir():
        print(f"samples: {samples_path(out)}/")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from styleverse.fast.job import ApplyJob, run_apply
    from styleverse.fast.open import FAST_KINDS, StylizerSpec

    setup_logging(args.quiet)
    spec = StylizerSpec(
        args.model, mix=parse_mix(args.universe, args.mix), strength=args.strength,
        preserve_color="luminance" if args.preserve_color else "none", device=args.device, precision=args.precision,
    )  # fmt: skip
    job = ApplyJob(spec, tuple(args.inputs), args.output, args.size, args.overwrite, FAST_KINDS)
    pairs = job.plan()
    with progress(args.quiet or len(pairs) < 2) as bar:
        task = bar.add_task("fast apply", total=len(pairs), status="")
        written = run_apply(job, lambda p: bar.update(task, advance=1, status=p.name), pairs)
    target = written[0] if len(written) == 1 else Path(args.output)
    print(f"wrote {len(written)} image{'s' if len(written) != 1 else ''}: {target}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from styleverse.fast.export import export_onnx
    from styleverse.fast.model import load_model
    from styleverse.io.images import check_output

    setup_logging(False)
    need(Path(args.output).suffix.lower() == ".onnx", f"{args.output}: the output name must end in .onnx")
    out = check_output(args.output, [args.model], args.overwrite)
    model = load_model(args.model)
    written = export_onnx(model, out, parse_mix(args.universe, args.mix), args.strength)
    how = (
        "weights and strength are inputs"
        if args.universe is None and not args.mix and args.strength is None
        else "mix baked in"
    )
    print(f"wrote {written} ({', '.join(model.universes)}; {how})")
    return 0
