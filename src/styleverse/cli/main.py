"""``styleverse`` entry point: builds the parser from one module per command group."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from .common import Parser, run_command

# command name -> module in styleverse.cli exposing ``register(subparsers)``; each command sets
# ``func`` (taking the parsed namespace) with ``set_defaults``.
COMMANDS = {
    "stylize": "stylize",
    "demo": "demo",
    "styles": "styles",
    "frames": "frames",
    "classifier": "classifier",
    "fast": "fast",
    "adain": "adain",
    "evaluate": "evaluate",
    "video": "video",
    "app": "app",
}


def build_parser() -> Parser:
    from styleverse import __version__

    parser = Parser(
        prog="styleverse",
        description="Turn photos and video into the look of an animated universe.",
    )
    parser.add_argument("--version", action="version", version=f"styleverse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for mod in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(f".{mod}", __package__).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return run_command(args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
