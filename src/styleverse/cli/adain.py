"""``styleverse adain train|distill|apply|export``: any style image in real time (Huang & Belongie 2017).

Flags and handlers shared with the other network commands: :mod:`styleverse.cli.flags`,
:mod:`styleverse.cli.networks`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import (
    Parser,
    add_actions,
    features_from_args,
    fields_from,
    need,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .flags import (
    LOAD_HELP,
    add_apply_run_args,
    add_encoder_args,
    add_field,
    add_images_io,
    add_onnx_output,
    add_trainer_io,
    add_training_args,
    defaults,
)
from .networks import apply_command, onnx_output, train_command


def unit_float(text: str) -> float:
    """A number from 0 to 1 (for --alpha)."""
    v = non_negative_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
    return v


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "adain",
        help="any style image in real time: train, apply and export an AdaIN decoder",
        description="Adaptive instance normalisation (Huang & Belongie 2017): a fixed VGG encoder up to relu4_1, "
        "the content's channel mean and std replaced by the style's, and a trained decoder. One decoder serves "
        "every style image, mix of styles and universe (a style bank).",
    )
    add_actions(p, _register_train, _register_distill, _register_apply, _register_export)


def _register_train(actions: Any) -> None:
    from styleverse.fast.adain.train import AdaINTrainConfig

    d = defaults(AdaINTrainConfig)
    t: Parser = actions.add_parser(
        "train",
        help="train a decoder on content photos and style images",
        description="Pair random photos with random style images; train the decoder so that its image has the "
        "AdaIN features (content loss) and the style's channel means and stds at relu1_1..relu4_1 (style loss). "
        "Writes DECODER, DECODER-stem.losses.png, sample grids in DECODER-stem.samples/ and the resume state "
        "DECODER.resume.safetensors. Several processes: run under torchrun.",
    )
    _add_pair_args(t, d, "DECODER", "decoder file")
    add_field(t, d, "steps", positive_int, "optimizer steps")
    add_field(t, d, "lr", positive_float, "Adam learning rate")
    add_field(t, d, "lr_decay", non_negative_float, "lr / (1 + decay * step)")
    add_field(t, d, "style_weight", non_negative_float, "λ of the style loss")
    add_field(t, d, "content_weight", non_negative_float, "content loss weight")
    add_field(t, d, "width", positive_float, "decoder channels relative to the paper's")
    add_encoder_args(
        t,
        "the fixed encoder: imagenet (official VGG file), random (tests only) or PATH to VGG weights "
        "(default: imagenet)",
        "VGG depth",
        "encoder pooling",
    )
    add_training_args(t, d, "decoder", "0: at the end")
    t.set_defaults(func=cmd_train)


def _add_pair_args(t: argparse.ArgumentParser, d: dict[str, Any], metavar: str, what: str) -> None:
    """What both AdaIN trainers (train, distill) take of their photo/style pairs: --content, --style, --label,
    -o, and the crop, load and batch sizes."""
    add_trainer_io(t, metavar, what)
    t.add_argument("--style", nargs="+", required=True, metavar="IMAGES", help="style folders, images or manifests")
    t.add_argument("--label", help="train on the style manifest's rows with this label (default: all its rows)")
    add_field(t, d, "size", positive_int, "training crop side in pixels (multiple of 8)")
    add_field(t, d, "load_size", positive_int, LOAD_HELP)
    add_field(t, d, "batch_size", positive_int, "pairs per step (per process)")


def _register_distill(actions: Any) -> None:
    from styleverse.fast.adain.distill import AdaINDistillConfig

    d = defaults(AdaINDistillConfig)
    t: Parser = actions.add_parser(
        "distill",
        help="a small encoder in place of VGG, and the decoder tuned to it (AdaIN in real time on a CPU)",
        description="Train a small encoder to reproduce TEACHER's VGG features (relu1_1..relu4_1) on the photos and "
        "style images, then tune the decoder (TEACHER's, or a new narrower one) on the small encoder's features "
        "with adain train's losses. SMALL opens wherever a decoder does (adain apply, video, the app, adain "
        "export) and takes the style banks of TEACHER's VGG. Outputs and resume as adain train; see README "
        "'Real time on a CPU'.",
    )
    t.add_argument("teacher", metavar="TEACHER", help="an AdaIN decoder (.safetensors) from adain train")
    _add_pair_args(t, d, "SMALL", "model file")
    add_field(t, d, "width", positive_int, "the small encoder's channels at full resolution (x2, x4, x8 deeper)")
    add_field(t, d, "blocks", positive_int, "depthwise-separable convolutions per downsampled stage")
    t.add_argument(
        "--decoder-width", type=positive_float, default=d["decoder_width"],
        help="a new decoder of this width relative to the paper's, trained from scratch (e.g. 0.25 for real time; "
        "default: TEACHER's decoder, fine-tuned)",
    )  # fmt: skip
    add_field(t, d, "steps", positive_int, "optimizer steps in all")
    add_field(t, d, "encoder_steps", non_negative_int, "first steps that train the encoder alone")
    add_field(t, d, "lr", positive_float, "the encoder's Adam learning rate")
    add_field(t, d, "decoder_lr", positive_float, "the decoder's Adam learning rate")
    add_field(t, d, "lr_decay", non_negative_float, "lr / (1 + decay * step), both networks")
    add_field(t, d, "feature_weight", non_negative_float, "weight of the encoder's feature loss")
    t.add_argument("--style-weight", type=non_negative_float, help="λ of the style loss (default: TEACHER's)")
    t.add_argument("--content-weight", type=non_negative_float, help="content loss weight (default: TEACHER's)")
    add_training_args(t, d, "model", "save model + state every N steps (0: at the end)")
    t.set_defaults(func=cmd_distill)


def _add_style_args(p: argparse.ArgumentParser, weights: bool = True) -> None:
    from styleverse.fast.open import StylizerSpec

    d = defaults(StylizerSpec)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--style", nargs="+", default=[], metavar="IMG", help="style images or folders (one style each)")
    g.add_argument("--style-bank", nargs="+", default=[], metavar="BANK", help="style banks: a universe as one style")
    if weights:
        p.add_argument("--style-weights", nargs="+", type=non_negative_float, metavar="W", help="mix the styles")
    p.add_argument("--style-size", type=positive_int, default=d["style_size"], help="longest side of style images")


def _register_apply(actions: Any) -> None:
    from styleverse.fast.adain.apply import COLOR_MODES
    from styleverse.fast.job import ApplyJob
    from styleverse.fast.open import StylizerSpec

    d = defaults(StylizerSpec, ApplyJob)
    a: Parser = actions.add_parser(
        "apply",
        help="stylise images and folders with any style",
        description="Stylise each IN (folders are expanded) with style images or style banks. -o is a file for "
        "one image, a folder otherwise (results keep their input names).",
    )
    a.add_argument("model", metavar="DECODER", help="an AdaIN decoder (.safetensors from `adain train`)")
    add_images_io(a)
    _add_style_args(a)
    a.add_argument("--alpha", type=unit_float, default=d["alpha"], help="0 = the content decoded, 1 = full style")
    a.add_argument(
        "--preserve-color", choices=COLOR_MODES, default=d["preserve_color"],
        help="keep the photo's colours: luminance (any style, steady on video) or histogram (recolours style images)",
    )  # fmt: skip
    a.add_argument("--mask", metavar="MASK", help="black-and-white image: white takes the first style, black the 2nd")
    a.add_argument("--size", type=positive_int, default=d["size"], help="longest side of the output in pixels")
    add_apply_run_args(a)
    a.set_defaults(func=cmd_apply)


def _register_export(actions: Any) -> None:
    e: Parser = actions.add_parser(
        "export",
        help="export a decoder (with its encoder) to ONNX",
        description="Write encoder + AdaIN + decoder as ONNX. Without a style the graph takes a content and a style "
        "image; with --style/--style-bank the style's statistics are baked in and it takes only the content. "
        "Both take alpha; height and width must be multiples of 8.",
    )
    e.add_argument("model", metavar="DECODER", help="an AdaIN decoder (.safetensors)")
    add_onnx_output(e)
    _add_style_args(e)
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    from styleverse.fast.adain.train import AdaINTrainConfig, train_adain

    given = {"content": tuple(args.content), "style": tuple(args.style), "features": features_from_args(args)}
    cfg = AdaINTrainConfig(**fields_from(args, AdaINTrainConfig, **given))

    def summary(result: Any) -> str:
        return f"decoder: {result.output} ({len(result.history)} steps, encoder {result.model.encoder.get('identity')})"

    return train_command(args, "adain train", cfg, train_adain, summary)


def cmd_distill(args: argparse.Namespace) -> int:
    from styleverse.fast.adain.distill import AdaINDistillConfig, distill_adain

    given = {"content": tuple(args.content), "style": tuple(args.style)}
    cfg = AdaINDistillConfig(**fields_from(args, AdaINDistillConfig, **given))

    def summary(result: Any) -> str:
        s, last = result.model.student, result.history[-1]
        terms = ", ".join(f"{k} {last[k]:.3g}" for k in ("feature", "content", "style"))
        shape = f"encoder width {s.width} x {s.blocks} blocks, decoder width {result.model.spec.width:g}"
        return f"model: {result.output} ({shape}; {len(result.history)} steps; {terms})"

    return train_command(args, "adain distill", cfg, distill_adain, summary)


def cmd_apply(args: argparse.Namespace) -> int:
    from styleverse.fast.open import ADAIN_KINDS, StylizerSpec

    spec = StylizerSpec(
        args.model, styles=tuple(args.style), banks=tuple(args.style_bank),
        style_weights=tuple(args.style_weights) if args.style_weights else None, alpha=args.alpha,
        mask=args.mask, style_size=args.style_size, preserve_color=args.preserve_color, device=args.device,
        precision=args.precision,
    )  # fmt: skip
    return apply_command(args, spec, ADAIN_KINDS, "adain apply", planned=False)


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from styleverse.fast.adain.apply import load_styles
    from styleverse.fast.adain.export import export_onnx
    from styleverse.fast.adain.model import load_adain, mix_stats

    inputs = [args.model, *args.style, *args.style_bank]
    out = onnx_output(args, [p for p in inputs if Path(p).is_file()])
    model = load_adain(args.model)
    stats = None
    if args.style or args.style_bank:
        styles = load_styles(model, args.style, args.style_bank, args.style_size, torch.device("cpu"), "fp32")
        stats = mix_stats([s.stats for s in styles], args.style_weights)
    else:
        need(not args.style_weights, "--style-weights needs --style or --style-bank")
    written = export_onnx(model, out, stats)
    how = "content and style images are inputs" if stats is None else "style baked in; content is the input"
    print(f"wrote {written} ({how}; alpha is an input; height and width must be multiples of 8)")
    return 0
