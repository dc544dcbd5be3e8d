"""Flag groups that several commands share, one function each, with their option parsers.

A default is read from the library's dataclass that owns it, never restated here. Where commands word a
flag's help differently, the wording is a parameter and the flag itself is defined once.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .common import add_device_args, need, non_negative_float, non_negative_int, positive_float

# --load-size of adain and gan training
LOAD_HELP = "short side larger images are scaled down to before the crop (smaller ones keep their size)"


def defaults(*classes: type) -> dict[str, Any]:
    """The field defaults of dataclasses (later classes win), for flags that mirror their fields."""
    return {
        f.name: f.default for cls in classes for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }


def add_field(p: Any, d: dict[str, Any], name: str, kind: Any, help: str, **kw: Any) -> None:
    """--NAME for the dataclass field ``name``: the flag is the field's name, its default the field's (in ``d``)."""
    p.add_argument("--" + name.replace("_", "-"), type=kind, default=d[name], help=help, **kw)


def add_style_args(p: argparse.ArgumentParser, style_help: str, bank_help: str, weights_help: str) -> None:
    """--style, --style-bank and --style-weights: the styles of a Gatys run or the target of an evaluation."""
    p.add_argument("--style", nargs="+", default=[], metavar="STYLE", help=style_help)
    p.add_argument("--style-bank", nargs="+", default=[], metavar="BANK", help=bank_help)
    p.add_argument("--style-weights", nargs="+", type=non_negative_float, metavar="W", help=weights_help)


def add_content_layers(p: argparse.ArgumentParser) -> None:
    """--content-layers, defaults from :class:`~styleverse.nn.features.FeatureSpec`."""
    from styleverse.nn.features import FeatureSpec

    default = list(FeatureSpec().content_layers)
    p.add_argument("--content-layers", nargs="+", default=default, metavar="LAYER", help="content layers")


def add_gatys_args(p: argparse.ArgumentParser, d: Any, helps: dict[str, str]) -> None:
    """The Gatys optimisation flags stylize and video share (--optimizer to --style-scale); ``d`` holds the
    defaults (:class:`~styleverse.transfer.optimize.TransferConfig` or
    :class:`~styleverse.video.config.GatysSettings`), ``helps`` each command's wording by flag."""
    from styleverse.styles.spec import StyleSpec
    from styleverse.transfer.config import DEFAULT_LR, OPTIMIZERS

    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help=helps["optimizer"])
    p.add_argument(
        "--lr", type=positive_float, default=None,
        help="learning rate (default: " + ", ".join(f"{v} for {k}" for k, v in DEFAULT_LR.items()) + ")",
    )  # fmt: skip
    for name in ("content_weight", "style_weight", "tv_weight"):
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, type=non_negative_float, default=getattr(d, name), help=helps[name])
    add_content_layers(p)
    p.add_argument("--style-scale", type=positive_float, default=StyleSpec().scale, help=helps["style_scale"])


def add_encoder_args(p: argparse.ArgumentParser, backbone_help: str, arch_help: str, pooling_help: str) -> None:
    """--backbone, --arch and --pooling of a network trainer (fast, adain), defaults from FeatureSpec."""
    from styleverse.nn.features import FeatureSpec

    f = FeatureSpec()
    p.add_argument("--backbone", default=f.backbone, help=backbone_help)
    p.add_argument("--arch", choices=["vgg19", "vgg16"], default=f.arch, help=arch_help)
    p.add_argument("--pooling", choices=["max", "avg"], default=f.pooling, help=pooling_help)


def add_trainer_io(p: argparse.ArgumentParser, metavar: str, what: str) -> None:
    """--content and -o of a network trainer: the photos it trains on and the file it writes (``metavar``,
    ``what`` it is)."""
    p.add_argument("--content", nargs="+", required=True, metavar="PHOTOS", help="photo folders, images or manifests")
    p.add_argument("-o", "--output", required=True, metavar=metavar, help=f"{what} to write (.safetensors)")


def add_run_args(p: argparse.ArgumentParser, d: dict[str, Any], seed: str, resume: str, overwrite: str) -> None:
    """--seed, --resume, --overwrite, --device and --precision: the flags of
    :class:`~styleverse.training.settings.RunSettings` (every training run), each with its help; ``d`` holds
    the run's defaults."""
    add_field(p, d, "seed", int, seed)
    p.add_argument("--resume", action="store_true", help=resume)
    p.add_argument("--overwrite", action="store_true", help=overwrite)
    add_device_args(p)


def add_training_args(p: argparse.ArgumentParser, d: dict[str, Any], what: str, checkpoint_help: str) -> None:
    """The flags of :class:`~styleverse.training.settings.TrainerConfig` (--seed to --precision) and --quiet, of
    a network trainer (fast, distill, adain, gan); ``d`` holds its config's defaults and ``what`` names the file
    it writes (model, decoder)."""
    add_field(p, d, "checkpoint_every", non_negative_int, checkpoint_help)
    add_field(p, d, "sample_every", non_negative_int, "sample grid every K steps")
    add_run_args(
        p, d, "seed for the initial weights and the data order", "continue the interrupted (or finished) run exactly",
        f"replace an existing {what} and start afresh",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or info messages, only errors")


def add_images_io(p: argparse.ArgumentParser) -> None:
    """IN... and -o of a command that stylises images and folders (fast apply, adain apply)."""
    p.add_argument("inputs", nargs="+", metavar="IN", help="images or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output image (one input) or folder")


def add_apply_run_args(p: argparse.ArgumentParser) -> None:
    """--overwrite, --quiet, --device and --precision of fast apply and adain apply."""
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only errors")
    add_device_args(p)


def add_onnx_output(p: argparse.ArgumentParser) -> None:
    """-o of an ONNX export."""
    p.add_argument("-o", "--output", required=True, metavar="ONNX", help="file to write (.onnx)")


def add_mix_args(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--universe or --mix: which universes of a multi-universe network (see :func:`parse_mix`)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--universe", metavar="NAME", help="the universe to apply (default: the model's first)")
    g.add_argument("--mix", nargs="+", metavar="NAME:W", help="a weighted mix of universes, e.g. gwen:2 miles:1")


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
