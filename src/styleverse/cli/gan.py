"""``styleverse gan train|apply|export``: a universe learned from its frames alone (Sanakoyeu et al. 2018).

Flags and handlers shared with the other network commands: :mod:`styleverse.cli.flags`,
:mod:`styleverse.cli.networks`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import Parser, add_actions, fields_from, non_negative_float, non_negative_int, positive_float, positive_int
from .fast import register_apply, register_export
from .flags import LOAD_HELP, add_field, add_trainer_io, add_training_args, defaults
from .networks import train_command


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "gan",
        help="a universe learned from its frames alone: train, apply and export a style-aware generator",
        description="Style-aware training (Sanakoyeu et al. 2018, 'A Style-Aware Content Loss for Real-time HD "
        "Style Transfer'): an encoder-decoder generator learns a universe from a collection of its frames against "
        "a multi-scale patch discriminator, keeping content through the style-aware content loss (in the "
        "encoder's latent) and the transformed image loss (after average pooling). No pretrained network; one "
        "pass per frame, at any size.",
    )
    add_actions(p, _register_train, _register_apply, _register_export)


def _register_train(actions: Any) -> None:
    from styleverse.fast.gan.train import GanTrainConfig

    d = defaults(GanTrainConfig)
    t: Parser = actions.add_parser(
        "train",
        help="train a generator on content photos and a universe's frames",
        description="Defaults are the paper's and its released code's (loss weights 1/100/100, Adam 2e-4, 768-px "
        "crops of 800-px images, one image per step, discriminator success rate 0.8, 300k steps). Writes MODEL "
        "(e.g. m.safetensors) with its training health, the curves m.losses.png (losses and discriminator "
        "accuracy), sample grids in m.samples/ and the resume state m.safetensors.resume.safetensors, at every "
        "checkpoint, on Ctrl-C and at the end. Several processes: run under torchrun.",
    )
    add_trainer_io(t, "MODEL", "model file")
    t.add_argument(
        "--style", nargs="+", required=True, metavar="FRAMES",
        help="the universe's frames: folders, images or frame manifests; each item is a universe named after its "
        "folder or file, unless --label is given",
    )  # fmt: skip
    t.add_argument(
        "--label", nargs="+", default=[], metavar="LABEL",
        help="universes from the manifests' labels (e.g. gwen miles): one universe per label; augmented rows skipped",
    )  # fmt: skip
    add_field(t, d, "size", positive_int, "training crop side in pixels")
    add_field(t, d, "load_size", positive_int, LOAD_HELP)
    add_field(t, d, "batch_size", positive_int, "photos per step (per process)")
    add_field(t, d, "steps", positive_int, "optimizer steps (generator or discriminator)")
    add_field(t, d, "lr", positive_float, "Adam learning rate of both networks")
    add_field(t, d, "adversarial_weight", non_negative_float, "λ of the adversarial loss (generator and discriminator)")
    add_field(t, d, "content_weight", non_negative_float, "λ of the style-aware content loss (encoder latent)")
    add_field(t, d, "transformed_weight", non_negative_float, "λ of the transformed image loss (average-pooled MSE)")
    add_field(
        t, d, "win_rate", positive_float,
        "discriminator success rate: it trains while its running success is below this, else the generator",
    )  # fmt: skip
    add_field(t, d, "pool", positive_int, "average-pooling side of the transformed loss")
    add_field(t, d, "width", positive_int, "generator channels of the first layer")
    add_field(t, d, "blocks", non_negative_int, "generator residual blocks")
    add_field(t, d, "disc_width", positive_int, "discriminator base channels")
    add_field(t, d, "health_window", positive_int, "steps a collapse must last before it is warned about")
    add_training_args(t, d, "model", "save model + state every N steps")
    t.set_defaults(func=cmd_train)


def _register_apply(actions: Any) -> None:
    register_apply(
        actions, "gan", "a trained generator", "a gan model (.safetensors) or its exported .onnx file",
        " `fast apply` and `video --model` take the same files.",
    )  # fmt: skip


def _register_export(actions: Any) -> None:
    register_export(
        actions, "gan", "a trained generator", "a gan model (.safetensors)",
        "Write MODEL as ONNX in the format of `fast export` (any frame size). Without --universe/--mix/--strength "
        "the universe weights and strength are graph inputs; with them they are baked in.",
    )  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    from styleverse.fast.gan.train import GanTrainConfig, train_gan

    given = {"content": tuple(args.content), "style": tuple(args.style), "labels": tuple(args.label)}
    cfg = GanTrainConfig(**fields_from(args, GanTrainConfig, **given))

    def summary(result: Any) -> str:
        health = result.model.health
        acc = health.get("accuracy", {})
        warned = f"; {len(health['warnings'])} health warning(s), see the log" if health.get("warnings") else ""
        return (
            f"model: {result.output} (universes: {', '.join(result.model.universes)}; {len(result.history)} steps; "
            f"discriminator accuracy on frames {acc.get('real', 0):.0%}, on stylised photos {acc.get('fake', 0):.0%}"
            f"{warned})"
        )

    return train_command(args, "gan train", cfg, train_gan, summary)
