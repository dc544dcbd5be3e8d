"""``styleverse`` entry point: builds the parser from one module per command group."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from .common import Parser, flag_names, run_command

# command name -> its one-line help; each is a module in styleverse.cli exposing ``register(subparsers)``, which
# adds the command (with this help) and sets ``func`` (taking the parsed namespace) with ``set_defaults``.
# Only the command being run is imported: ``styleverse --help`` loads neither torch nor matplotlib.
COMMANDS = {
    "stylize": "stylise an image with one or many style images",
    "demo": "stylise a bundled photo with built-in comic styles",
    "styles": "style banks, and which style images belong together",
    "frames": "harvest, balance and inspect a labelled frame dataset",
    "classifier": "train, evaluate and use the universe classifier",
    "fast": "real-time stylisation: train, apply and export a multi-universe feed-forward network",
    "adain": "any style image in real time: train, apply and export an AdaIN decoder",
    "gan": "a universe learned from its frames alone: train, apply and export a style-aware generator",
    "evaluate": "measure results: style distance, content fidelity, universe judge, video steadiness, cost",
    "video": "stylise a video, coherent from frame to frame, keeping its timing and sound",
    "app": "the web app: stylise, real time, video and universes in the browser",
}


def build_parser(only: str | None = "") -> Parser:
    """The whole parser (``only=""``), or one whose commands other than ``only`` are names and help lines
    only (``only=None``: all of them), so that parsing imports just the command that runs."""
    from styleverse.versions import __version__

    parser = Parser(
        prog="styleverse",
        description="Turn photos and video into the look of an animated universe.",
    )
    parser.add_argument("--version", action="version", version=f"styleverse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, help_line in COMMANDS.items():
        if only == "" or name == only:
            importlib.import_module(f".{name}", __package__).register(sub)
        else:
            sub.add_parser(name, help=help_line)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if it is one."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; exit status 130 for a Ctrl-C that comes while it is still starting (the
    command's imports take a second or two), with the same one line as one that comes later."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        sys.stderr.write("styleverse: interrupted\n")
        return 130


def _main(argv: list[str]) -> int:
    parser = build_parser(only=_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return run_command(args.func, args, flag_names(parser, args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
