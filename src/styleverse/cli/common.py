"""Shared CLI plumbing: one-line errors with exit status 2, logging to stderr, progress bars, JSON sidecars,
Ctrl-C/SIGTERM/SIGHUP as a long job's stop flag."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console
from rich.logging import RichHandler

from styleverse.cancel import StopFlag, Stopped, stop_on_signals
from styleverse.cli.progress import ProgressLike
from styleverse.cli.progress import progress as _progress
from styleverse.errors import ConfigError, StyleverseError

if TYPE_CHECKING:
    from styleverse.nn.features import FeatureSpec
    from styleverse.styles.spec import StyleSpec
    from styleverse.transfer.config import WarmStart

console = Console(stderr=True)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` for every flag that has a real default (not None, empty or a plain switch)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        d = action.default
        if d is None or d is False or d == [] or d == argparse.SUPPRESS or "%(default)" in (action.help or ""):
            return action.help
        if isinstance(action.default, list):
            return f"{action.help} (default: {' '.join(map(str, action.default))})"
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit status 2, and whose help shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def _whole_number(text: str, least: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"expected a number >= {least}, got {v}")
    return v


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return v


def positive_float(text: str) -> float:
    v = non_negative_float(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected a number > 0, got 0")
    return v


def setup_logging(quiet: bool = False) -> None:
    """Library log records (logger 'styleverse') go to stderr through rich."""
    log = logging.getLogger("styleverse")
    log.handlers[:] = [RichHandler(console=console, show_time=False, show_path=False, markup=False)]
    log.setLevel(logging.ERROR if quiet else logging.INFO)
    log.propagate = False


def progress(disable: bool = False) -> ProgressLike:
    """Progress for a long command on the shared console (see :mod:`styleverse.cli.progress`)."""
    return _progress(console, disable)


def flag_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """Each option's ``dest`` -> its flag (the first long one), over ``parser`` and the subcommand parsers
    ``args`` chose: how the CLI says a setting that a :class:`ConfigError` names (``steps`` -> ``--steps``)."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            names |= flag_names(chosen, args) if chosen is not None else {}
        elif action.option_strings:
            flag = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
            names.setdefault(action.dest, flag)
    return names


def run_command(
    func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, flags: Mapping[str, str] | None = None
) -> int:
    """Run a command; a :class:`StyleverseError` becomes one line on stderr and exit status 2, the settings
    it names said as their ``flags`` (see :func:`flag_names`); a job stopped
    (:class:`~styleverse.cancel.Stopped`) or a Ctrl-C that reached here exit status 130."""
    try:
        return int(func(args) or 0)
    except StyleverseError as e:
        console.file.flush()
        sys.stderr.write(f"styleverse: error: {e.worded((flags or {}).get)}\n")
        return e.exit_code
    except (Stopped, KeyboardInterrupt):
        sys.stderr.write("styleverse: interrupted\n")
        return 130
    except Exception as e:
        if os.environ.get("STYLEVERSE_DEBUG"):
            raise
        sys.stderr.write(
            f"styleverse: internal error: {type(e).__name__}: {e} "
            "(a bug: please report it; set STYLEVERSE_DEBUG=1 to see the traceback)\n"
        )
        return 1


def fields_from(args: argparse.Namespace, cls: type, **given: Any) -> dict[str, Any]:
    """The keyword arguments of dataclass ``cls`` that the flags give (a flag is named after the field it
    sets; a field no flag names keeps its default), then ``given`` (values the flags give converted)."""
    names = {f.name for f in dataclasses.fields(cls)} - given.keys()
    return {n: getattr(args, n) for n in names if hasattr(args, n)} | given


def need(cond: bool, message: str) -> None:
    """Raise a :class:`ConfigError` with ``message`` unless ``cond`` holds."""
    if not cond:
        raise ConfigError(message)


def usage(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group run without its action: its help on stderr, exit status 2."""

    def show(_args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    return show


def add_actions(p: argparse.ArgumentParser, *registers: Callable[[Any], None]) -> None:
    """The ACTIONs of a command group (``fast train``, ...), each added by one of ``registers``; the group
    alone shows its help (:func:`usage`)."""
    p.set_defaults(func=usage(p))
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    for register in registers:
        register(actions)


def add_model_args(p: argparse.ArgumentParser, from_bank: bool = False, backbone_help: str | None = None) -> None:
    """Feature-network flags shared by every command that computes style features, defaults from
    :class:`~styleverse.nn.features.FeatureSpec`. ``from_bank`` (stylize, video, evaluate): without
    --backbone the command uses the network its inputs record; ``backbone_help`` words that its own way."""
    from styleverse.nn.features import FeatureSpec
    from styleverse.nn.vgg import CONFIGS

    f = FeatureSpec()
    tail = "; stylize uses the network the first --style-bank was made with (default: imagenet)"
    p.add_argument(
        "--backbone",
        default=f.backbone,
        help=backbone_help
        or "feature network weights: 'imagenet' (official torchvision VGG file, downloaded once into the "
        "torch hub cache), 'random' (untrained, seeded; poor look, for tests/offline), or a PATH to a "
        ".safetensors/.pth VGG state dict or a universe-classifier checkpoint"
        + (tail if from_bank else "")
        + ("" if from_bank else " (default: imagenet)"),
    )
    p.add_argument("--arch", choices=list(CONFIGS), default=f.arch, help="VGG depth")
    p.add_argument("--pooling", choices=["max", "avg"], default=f.pooling, help="pooling layers (avg: smoother look)")
    p.add_argument(
        "--style-layers",
        nargs="+",
        default=list(f.style_layers),
        metavar="LAYER[:W]",
        help="layers whose Gram matrices define style, optional weight after a colon (default 1); the style "
        "loss is the weighted sum over layers, weights not normalised: adding a layer adds its term and leaves "
        "the others as strong as they were",
    )
    add_device_args(p)


def features_from_args(args: argparse.Namespace) -> FeatureSpec:
    """The :class:`~styleverse.nn.features.FeatureSpec` the flags describe; a flag the command lacks keeps
    the spec's default (``--seed`` is also the seed of a ``random`` backbone)."""
    from styleverse.nn.features import FeatureSpec

    f = FeatureSpec()
    return FeatureSpec(
        backbone=args.backbone, arch=args.arch, pooling=args.pooling, seed=getattr(args, "seed", f.seed),
        style_layers=tuple(getattr(args, "style_layers", f.style_layers)),
        content_layers=tuple(getattr(args, "content_layers", f.content_layers)),
    )  # fmt: skip


def style_from_args(args: argparse.Namespace) -> StyleSpec:
    """The :class:`~styleverse.styles.spec.StyleSpec` of --style, --style-bank, --style-weights and, where the
    command has them, --style-scale and --preserve-color."""
    from pathlib import Path

    from styleverse.styles.spec import StyleSpec

    d = StyleSpec()
    return StyleSpec(
        images=tuple(map(Path, args.style)), banks=tuple(map(Path, args.style_bank)),
        weights=tuple(args.style_weights) if args.style_weights else None, scale=getattr(args, "style_scale", d.scale),
        preserve_color=getattr(args, "preserve_color", d.preserve_color),
    )  # fmt: skip


def warm_from_args(args: argparse.Namespace, style: StyleSpec) -> WarmStart | None:
    """The network ``--init fast:MODEL[:UNIVERSE]`` / ``adain:DECODER`` names, opened for ``style`` on --device
    and --precision (:func:`styleverse.fast.warm.warm_stylizer`); None for any other --init."""
    from styleverse.fast.warm import warm_stylizer
    from styleverse.transfer.config import parse_warm

    warm = parse_warm(args.init)
    return warm_stylizer(warm, style, args.device, args.precision) if warm else None


def add_device_args(p: argparse.ArgumentParser) -> None:
    """--device and --precision, shared by every command that runs the network."""
    from styleverse.devices import PRECISIONS

    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda[:N]")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="bf16 autocast + channels_last for the convolutions (losses stay float32); auto = bf16 only on "
        "hardware that runs it natively (CUDA with bf16, CPUs with AMX/AVX512-BF16)",
    )


def _stopping_notice(signal_name: str) -> None:
    who = "Ctrl-C" if signal_name == "SIGINT" else signal_name
    console.print(f"[yellow]{who}: stopping after this step, saving what it needs to continue (Ctrl-C again to abort)")


@contextmanager
def stopping() -> Iterator[StopFlag]:
    """The stop flag of a long command: Ctrl-C, SIGTERM and SIGHUP set it within the block
    (:func:`styleverse.cancel.stop_on_signals`); the job it is passed to saves its state and ends as it does
    for Ctrl-C. A second Ctrl-C aborts at once."""
    with stop_on_signals(StopFlag(), _stopping_notice) as flag:
        yield flag
