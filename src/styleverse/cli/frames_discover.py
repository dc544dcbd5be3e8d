"""``styleverse frames discover``: propose a film's universes, and rename, merge or drop them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from .common import (
    Parser,
    add_model_args,
    features_from_args,
    fields_from,
    non_negative_float,
    positive_float,
    positive_int,
    progress,
    setup_logging,
    stopping,
)


def register_discover(cmds: Any) -> None:
    from styleverse.frames.cluster import ClusterSettings
    from styleverse.frames.discover import DiscoverConfig

    d, c = DiscoverConfig(), ClusterSettings()
    p: Parser = cmds.add_parser(
        "discover",
        help="propose the universes of films: shots grouped by style, for you to name",
        description="Sample the films, find their shots, describe each shot's style (the feature network's "
        "channel statistics plus colour and edge statistics) and group the shots into universes. Writes into "
        "--out: proposal.csv (segments video,start,end,label with labels u1..uK and unsure, for 'frames harvest "
        "--segments'), sheets/<label>.png (each universe's shots, most typical first), timeline.png, report.md "
        "and report.json. Fades, blank frames and shots that fit no universe are 'unsure'. Interrupted, the same "
        "command continues at the next shot. Without films, --rename/--merge/--drop edit the proposal in --out.",
        epilog="Example: frames discover film.mkv --out disc/ ; frames discover --out disc/ --rename u1=miles "
        "u3=gwen --merge u2=u4 --drop u5 ; frames harvest --segments disc/proposal.csv --out dataset/",
    )
    p.add_argument("films", nargs="*", metavar="FILM", help="video files (none: edit the proposal in --out)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; re-use to resume or edit)")
    p.add_argument("--every", type=positive_float, default=d.every, metavar="SECONDS",
                   help="seconds between sampled frames; cuts are found between samples")  # fmt: skip
    p.add_argument("--size", type=positive_int, default=d.size, metavar="PX",
                   help="longest side frames are described at")  # fmt: skip
    p.add_argument("--frames-per-shot", type=positive_int, default=d.frames_per_shot, metavar="N",
                   help="frames spread over a shot whose statistics are averaged into its description")  # fmt: skip
    p.add_argument("--universes", type=positive_int, default=None, metavar="K",
                   help="force K universes (default: chosen by silhouette)")  # fmt: skip
    p.add_argument("--max-universes", type=positive_int, default=c.max_universes, metavar="K",
                   help="most universes tried when choosing")  # fmt: skip
    p.add_argument("--min-silhouette", type=float, default=c.min_silhouette, metavar="S",
                   help="below this mean silhouette for every K the film is one universe")  # fmt: skip
    p.add_argument("--min-shots", type=positive_int, default=c.min_shots, metavar="N",
                   help="a group of fewer shots is unsure")  # fmt: skip
    p.add_argument("--pixel-weight", type=non_negative_float, default=c.pixel_weight, metavar="W",
                   help="share (0-1) of colour and edge statistics in a shot's description, the rest the network's; "
                   "1 runs no network at all (fast, ignores --backbone)")  # fmt: skip
    p.add_argument("--per-sheet", type=positive_int, default=d.per_sheet, metavar="N", help="shots per contact sheet")
    p.add_argument("--seed", type=int, default=c.seed, help="seed of a random backbone and of the silhouette sample")
    add_model_args(p)
    p.add_argument("--rename", nargs="+", default=[], metavar="OLD=NEW", help="name universes, e.g. u1=miles u3=gwen")
    p.add_argument("--merge", nargs="+", default=[], metavar="INTO=OTHER",
                   help="join universes: OTHER's shots become INTO's, e.g. u2=u4")  # fmt: skip
    p.add_argument("--drop", nargs="+", default=[], metavar="LABEL",
                   help="leave universes (or unsure) out of proposal.csv")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars or info messages, only errors and the table")
    p.set_defaults(func=cmd_discover)


def _view(bars: Any) -> Any:
    """Library progress events as one bar per film (seconds of film described) and a stage bar."""
    tasks: dict[str, Any] = {}

    def on_event(e: Any) -> None:
        if e.stage == "describe":
            key = f"describe {e.item}"
            if key not in tasks:
                tasks[key] = bars.add_task(key, total=e.total, status="")
            bars.update(tasks[key], completed=e.done, status="s of film")
        elif e.stage == "sheets" and "sheets" not in tasks:
            tasks["sheets"] = bars.add_task("contact sheets and report", total=None, status="")

    return on_event


def cmd_discover(args: argparse.Namespace) -> int:
    from styleverse.frames.cluster import ClusterSettings
    from styleverse.frames.discover import DiscoverConfig, discover, edit
    from styleverse.frames.proposal import parse_pairs

    setup_logging(args.quiet)
    rename, merge = parse_pairs(args.rename, "rename"), parse_pairs(args.merge, "merge")
    cluster = ClusterSettings(**fields_from(args, ClusterSettings))
    config = DiscoverConfig(**fields_from(args, DiscoverConfig, cluster=cluster))
    result = None
    with progress(disable=args.quiet) as bars, stopping() as stop:
        on_event = _view(bars)
        if args.films:
            result = discover(args.films, args.out, config, features_from_args(args), on_event, stop)
        if rename or merge or args.drop or not args.films:
            result = edit(args.out, rename, merge, args.drop, on_event)
    _print(result)
    return 0


def _print(result: Any) -> None:
    """The universes table (from report.json) on stdout, and where the files are."""
    from styleverse.frames.proposal import format_time

    data = json.loads((result.out / "report.json").read_text())
    table = Table(title=f"universes proposed in {result.out}")
    for col in ("universe", "shots", "screen time", "nearest", "separation"):
        table.add_column(col, justify="left" if col in ("universe", "nearest") else "right")
    for u in data["universes"]:
        sep = "-" if u["separation"] is None else f"{u['separation']:.2f}"
        table.add_row(u["label"], str(u["shots"]), format_time(u["seconds"])[:-4], u["nearest"] or "-", sep)
    out = Console() if sys.stdout.isatty() else Console(width=160)
    out.print(table)
    unsure = sum(data["unsure_seconds"].values())
    out.print(f"unsure: {format_time(unsure)[:-4]} (fades, blanks, shots that fit no universe)", highlight=False)
    for name in ("proposal.csv", "timeline.png", "report.md"):
        out.print(f"{name}: {result.out / name}", highlight=False)
    out.print(f"contact sheets: {result.out / 'sheets'}", highlight=False)
