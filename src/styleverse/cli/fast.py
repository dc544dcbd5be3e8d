"""``styleverse fast train|apply|export``: one feed-forward network for every universe of a film.

Flags and handlers shared with the other network commands: :mod:`styleverse.cli.flags`,
:mod:`styleverse.cli.networks`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import (
    Parser,
    add_actions,
    features_from_args,
    fields_from,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .flags import (
    add_apply_run_args,
    add_content_layers,
    add_encoder_args,
    add_field,
    add_images_io,
    add_mix_args,
    add_onnx_output,
    add_trainer_io,
    add_training_args,
    defaults,
    parse_mix,
)
from .networks import apply_command, onnx_output, train_command


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "fast",
        help="real-time stylisation: train, apply and export a multi-universe feed-forward network",
        description="A Johnson-style transform network with one conditional instance normalisation per universe "
        "(Dumoulin et al. 2017), trained against style banks: stylises a photo in one pass.",
    )
    add_actions(p, _register_train, _register_distill, _register_apply, _register_export)


def _register_train(actions: Any) -> None:
    from styleverse.fast.train import FastTrainConfig
    from styleverse.nn.features import FeatureSpec

    d, f = defaults(FastTrainConfig), FeatureSpec()
    t: Parser = actions.add_parser(
        "train",
        help="train one network for several universes (style banks and style images)",
        description="Train on content photos towards each universe's mean Gram matrices (the stylize losses, "
        "through the feature network the banks record). Writes MODEL (e.g. m.safetensors), the loss curves "
        "m.losses.png, sample grids in m.samples/ and the resume state m.safetensors.resume.safetensors, at every "
        "checkpoint, on Ctrl-C and at the end. Several processes: run under torchrun.",
    )
    add_trainer_io(t, "MODEL", "model file")
    t.add_argument("--style-bank", nargs="+", default=[], metavar="[NAME=]BANK", help="one universe per bank file")
    t.add_argument("--style", nargs="+", default=[], metavar="[NAME=]IMAGE", help="extra universes: an image or folder")
    add_field(t, d, "size", positive_int, "training crop side in pixels")
    add_field(t, d, "batch_size", positive_int, "photos per step (per process)")
    add_field(t, d, "steps", positive_int, "optimizer steps")
    add_field(t, d, "lr", positive_float, "Adam learning rate")
    add_field(t, d, "style_weight", non_negative_float, "weight of the style loss")
    add_field(t, d, "content_weight", non_negative_float, "content loss weight")
    add_field(t, d, "tv_weight", non_negative_float, "total-variation smoothing")
    add_field(t, d, "width", positive_int, "channels of the first layer (Johnson: 32)")
    add_field(t, d, "blocks", non_negative_int, "residual blocks (Johnson: 5)")
    t.add_argument(
        "--separable", action="store_true",
        help="depthwise-separable residual blocks (default: off); with --width 16 --blocks 3 the real-time "
        "variant, see README 'Real time on a CPU'",
    )  # fmt: skip
    t.add_argument("--style-layers", nargs="+", default=list(f.style_layers), metavar="LAYER[:W]", help="style layers")
    add_content_layers(t)
    add_encoder_args(
        t, "feature network: imagenet, random or PATH (default: the one the banks record)", "VGG depth (without banks)",
        "pooling (without banks)",
    )  # fmt: skip
    add_training_args(t, d, "model", "save model + state every N steps")
    t.set_defaults(func=cmd_train)


def _register_distill(actions: Any) -> None:
    from styleverse.fast.distill import DistillConfig

    d = defaults(DistillConfig)
    t: Parser = actions.add_parser(
        "distill",
        help="train a small, fast network to reproduce a trained one (for real time on a CPU)",
        description="Train a student network towards TEACHER's outputs on content photos, every universe of the "
        "teacher (pixel loss, no VGG: much cheaper than fast train). The default student (width 16, 3 "
        "depthwise-separable blocks) is the real-time variant of README 'Real time on a CPU'.",
    )
    t.add_argument("teacher", metavar="TEACHER", help="a fast model (.safetensors) from fast train")
    add_trainer_io(t, "STUDENT", "student model file")
    add_field(t, d, "width", positive_int, "channels of the student's first layer")
    add_field(t, d, "blocks", non_negative_int, "the student's residual blocks")
    t.add_argument(
        "--separable", action=argparse.BooleanOptionalAction, default=d["separable"],
        help="depthwise-separable residual blocks",
    )  # fmt: skip
    add_field(t, d, "size", positive_int, "training crop side in pixels")
    add_field(t, d, "batch_size", positive_int, "photos per step (per process)")
    add_field(t, d, "steps", positive_int, "optimizer steps")
    add_field(t, d, "lr", positive_float, "Adam learning rate")
    add_training_args(t, d, "student", "save student + state every N steps")
    t.set_defaults(func=cmd_distill)


def _register_apply(actions: Any) -> None:
    register_apply(actions, "fast", "a trained network", "a fast model (.safetensors) or an exported .onnx file")


def register_apply(actions: Any, family: str, what: str, model_help: str, note: str = "") -> None:
    """``FAMILY apply``: the one apply command of every network that opens as a fast stylizer (fast, gan)."""
    from styleverse.fast.open import StylizerSpec

    d = defaults(StylizerSpec)
    a: Parser = actions.add_parser(
        "apply",
        help=f"stylise images and folders with {what} (.safetensors or exported .onnx)",
        description="Stylise each IMAGE (folders are expanded). -o is a file for one image, a folder otherwise "
        f"(results keep their input names).{note}",
    )
    a.add_argument("model", metavar="MODEL", help=model_help)
    add_images_io(a)
    add_mix_args(a)
    a.add_argument("--strength", type=non_negative_float, default=d["strength"], help="0 = the photo, 1 = full style")
    a.add_argument("--size", type=positive_int, default=None, help="longest side in pixels (default: as the input)")
    a.add_argument("--preserve-color", action="store_true", help="keep the photo's colours (luminance transfer)")
    add_apply_run_args(a)
    a.set_defaults(func=cmd_apply, family=family)


def _register_export(actions: Any) -> None:
    register_export(
        actions, "fast", "a trained network", "a fast model (.safetensors)",
        "Write MODEL as ONNX. Without --universe/--mix/--strength the universe weights and strength are inputs of "
        "the graph (choose them when applying); with them they are baked in.",
    )  # fmt: skip


def register_export(actions: Any, family: str, what: str, model_help: str, description: str) -> None:
    """``FAMILY export``: the one ONNX export of every network fast's graph writer takes (fast, gan)."""
    e: Parser = actions.add_parser(
        "export",
        help=f"export {what} to ONNX",
        description=f"{description} The ONNX graph runs in float32; `{family} apply` of the .safetensors model "
        "runs in bf16 on CPUs that have it (precision auto), which can differ from the export by up to about 25 "
        "of 255 levels: apply with --precision fp32 to get the export's pixels.",
    )
    e.add_argument("model", metavar="MODEL", help=model_help)
    add_onnx_output(e)
    add_mix_args(e)
    e.add_argument("--strength", type=non_negative_float, default=None, help="bake this strength in (0..1)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.set_defaults(func=cmd_export, family=family)


def cmd_train(args: argparse.Namespace) -> int:
    from styleverse.fast.train import FastTrainConfig, train_fast

    given = {"content": tuple(args.content), "banks": tuple(args.style_bank), "styles": tuple(args.style)}
    cfg = FastTrainConfig(**fields_from(args, FastTrainConfig, features=features_from_args(args), **given))

    def summary(result: Any) -> str:
        return f"model: {result.output} (universes: {', '.join(result.model.universes)}; {len(result.history)} steps)"

    return train_command(args, "fast train", cfg, train_fast, summary)


def cmd_distill(args: argparse.Namespace) -> int:
    from styleverse.fast.distill import DistillConfig, distill_fast

    cfg = DistillConfig(**fields_from(args, DistillConfig, content=tuple(args.content)))

    def summary(result: Any) -> str:
        s = result.model.net.spec
        shape = f"width {s.width}, {s.blocks} {'separable ' if s.separable else ''}blocks"
        return f"student: {result.output} ({shape}; pixel loss {result.history[-1]['pixel']:.3g})"

    return train_command(args, "fast distill", cfg, distill_fast, summary)


def cmd_apply(args: argparse.Namespace) -> int:
    from styleverse.fast.open import FAST_KINDS, StylizerSpec

    spec = StylizerSpec(
        args.model, mix=parse_mix(args.universe, args.mix), strength=args.strength,
        preserve_color="luminance" if args.preserve_color else "none", device=args.device, precision=args.precision,
    )  # fmt: skip
    return apply_command(args, spec, FAST_KINDS, f"{args.family} apply", planned=True)


def cmd_export(args: argparse.Namespace) -> int:
    from styleverse.fast.export import export_onnx
    from styleverse.fast.gan.model import load_gan
    from styleverse.fast.model import load_model

    out = onnx_output(args, [args.model])
    model = load_gan(args.model) if args.family == "gan" else load_model(args.model)
    # a gan generator takes what a fast network takes (image, universe weights), so fast's export writes it
    written = export_onnx(model, out, parse_mix(args.universe, args.mix), args.strength)  # type: ignore[arg-type]
    baked = args.universe is not None or bool(args.mix) or args.strength is not None
    how = "mix baked in" if baked else "weights and strength are inputs"
    fp32 = f"float32: `{args.family} apply --precision fp32` matches it"
    print(f"wrote {written} ({', '.join(model.universes)}; {how}; any frame size; {fp32})")
    return 0
