"""``styleverse frames``: harvest labelled frames from video, balance the classes, show dataset stats.

Exit status: 0 on success; 2 for a usage problem (bad flag, missing or malformed segments CSV, bad label)
with one error line and nothing written; 1 when harvesting finished but some videos failed (missing,
corrupt, or undecodable mid-way) — the others were harvested, the dataset is valid, and a re-run retries
only what is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from styleverse import progress as library
from styleverse.errors import ConfigError

from .common import (
    Parser,
    console,
    fields_from,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
)
from .flags import add_field, defaults
from .frames_discover import register_discover


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return v


def _stdout() -> Console:
    """Results (tables) go to stdout; when that is not a terminal, wide enough that no column is cut."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "frames",
        help="harvest, balance and inspect a labelled frame dataset",
        description="Build the universe classifier's data set (paper section 5): harvest frames from video, "
        "balance the classes with a leak-free train/val split, and look at the result.",
    )
    cmds = p.add_subparsers(dest="frames_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    _register_harvest(cmds)
    _register_balance(cmds)
    _register_stats(cmds)
    register_discover(cmds)


def _register_harvest(cmds: Any) -> None:
    from styleverse.frames.harvest import HarvestConfig

    d = defaults(HarvestConfig)
    p: Parser = cmds.add_parser(
        "harvest",
        help="sample frames from labelled clips or film segments into DATASET",
        description="Sample frames at a regular interval into DATASET/<label>/<video-stem>_<ms>.jpg and "
        "DATASET/manifest.csv, dropping near-duplicates (perceptual hash) and blank frames. Re-running "
        "resumes: frames already harvested are skipped.",
        epilog="Exit status: 0 ok; 1 some videos failed (the rest were harvested); 2 bad usage (nothing written).",
    )
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset folder (created; re-use to resume)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--label", nargs="+", action="append", metavar=("NAME", "VIDEO"),
        help="a label and its whole clips; repeat for more labels (--label gwen a.mp4 b.mkv --label miles c.mp4)",
    )  # fmt: skip
    src.add_argument(
        "--segments",
        metavar="CSV",
        help="labelled time ranges: CSV with header video,start,end,label; times in seconds or HH:MM:SS.mmm, "
        "video paths relative to the CSV's folder",
    )
    rate = p.add_mutually_exclusive_group()
    add_field(rate, d, "every", non_negative_float, "seconds between samples (0: every frame)", metavar="SECONDS")
    rate.add_argument("--fps", type=positive_float, default=None, help="samples per second (instead of --every)")
    p.add_argument(
        "--size", type=positive_int, default=None, metavar="PX",
        help="scale larger frames down to this longest side (default: as decoded)",
    )  # fmt: skip
    add_field(
        p, d, "dedup_threshold", non_negative_int, "drop a frame whose perceptual hash is fewer than BITS bits (of 64) "
        "from a kept frame of the same label; 0 keeps near-duplicates", metavar="BITS",
    )  # fmt: skip
    add_field(
        p, d, "blank_threshold", non_negative_float, "drop black, white and faded frames whose luminance std-dev "
        "(0-255) is below this; 0 keeps them", metavar="STD",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars, only errors and the summary")
    p.set_defaults(func=cmd_harvest)


def _register_balance(cmds: Any) -> None:
    from styleverse.frames.balance import BalanceConfig

    d = defaults(BalanceConfig)
    p: Parser = cmds.add_parser(
        "balance",
        help="equal class sizes (down-sample / augment) and a leak-free train/val split",
        description="Split every class into train/val without leakage, then bring every class to N images by "
        "seeded down-sampling (extra frames are marked split=excluded, files kept) or by augmenting its frames "
        "(new files, origin=augmented). The split: per video, a run of whole shots (cuts found from frame "
        "differences; a long shot is cut into --block-seconds blocks) goes to val, so every video long enough is "
        "represented there; train frames within --guard-seconds of it are excluded; videos too short to split "
        "go whole to one side; and a train/val pair of near-duplicate frames (phash closer than "
        "--duplicate-bits) loses one frame. Rewrites DATASET/manifest.csv.",
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset folder made by 'frames harvest'")
    p.add_argument(
        "--per-class", type=positive_int, default=None, metavar="N",
        help="images per class (default: the size of the smallest class)",
    )  # fmt: skip
    add_field(p, d, "seed", int, "seed for the split, down-sampling and augmentation", metavar="N")
    add_field(p, d, "val_fraction", fraction, "share of each class for validation", metavar="F")
    add_field(
        p, d, "block_seconds", positive_float, "a shot longer than this is split into blocks of this many seconds; "
        "frames of one video within a block share a split unless a cut separates them", metavar="SECONDS",
    )  # fmt: skip
    add_field(
        p, d, "guard_seconds", non_negative_float, "train frames closer than this to a val frame of the same video "
        "are excluded (the guard gap)", metavar="SECONDS",
    )  # fmt: skip
    add_field(
        p, d, "duplicate_bits", non_negative_int, "a train frame and a val frame of a class fewer than BITS phash "
        "bits apart (of 64) are near-duplicates: one of them is excluded; 0 turns the check off", metavar="BITS",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar, only errors and the summary")
    p.set_defaults(func=cmd_balance)


def _register_stats(cmds: Any) -> None:
    p: Parser = cmds.add_parser(
        "stats",
        help="class counts per split and a contact sheet per class",
        description="Print images per class and split; write DATASET/stats/counts.csv and a contact sheet "
        "DATASET/stats/<label>.jpg per class.",
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset folder with a manifest.csv")
    p.add_argument("--per-sheet", type=positive_int, default=48, metavar="N", help="images per contact sheet")
    p.add_argument("--thumb", type=positive_int, default=128, metavar="PX", help="thumbnail size on the sheets")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only errors and the table")
    p.set_defaults(func=cmd_stats)


def _jobs(args: argparse.Namespace) -> list:
    from styleverse.frames.segments import clip_jobs, read_segments

    if args.segments:
        return read_segments(args.segments)
    groups = []
    for group in args.label:
        if len(group) < 2:
            raise ConfigError(f"--label {group[0]}: give at least one video after the label name")
        groups.append((group[0], group[1:]))
    return clip_jobs(groups)


class _HarvestView:
    """Turns harvest events into two progress bars (videos, frames of the current video) and messages."""

    def __init__(self, bars: Progress, n_jobs: int) -> None:
        self.bars, self.n_jobs = bars, n_jobs
        self.videos: TaskID | None = None  # added on the first event, so a refused run shows no bar
        self.frames: TaskID | None = None
        self.tally = {"kept": 0, "existing": 0, "duplicate": 0, "blank": 0}

    def __call__(self, event: Any) -> None:
        from styleverse.frames.harvest import FrameDone, JobDone, JobFailed, JobSkipped, JobStarted

        if self.videos is None:
            self.videos = self.bars.add_task("videos", total=self.n_jobs, status="")
        if isinstance(event, JobStarted):
            self.tally = dict.fromkeys(self.tally, 0)
            name = f"{event.job.label}: {event.job.video.name}"
            if self.frames is not None:
                self.bars.remove_task(self.frames)
            self.frames = self.bars.add_task(name, total=event.expected, status="")
        elif isinstance(event, FrameDone) and self.frames is not None:
            self.tally[event.outcome] += 1
            status = " ".join(f"{k} {v}" for k, v in self.tally.items() if v)
            self.bars.update(self.frames, advance=1, status=status)
        elif isinstance(event, JobDone | JobSkipped | JobFailed):
            if isinstance(event, JobFailed):
                self.bars.console.print(f"[red]video failed:[/] {event.message}", highlight=False, soft_wrap=True)
            elif isinstance(event, JobSkipped):
                self.bars.console.print(
                    f"{event.job.source} ({event.job.label}): done earlier, skipped", highlight=False, soft_wrap=True
                )
            if self.frames is not None and isinstance(event, JobDone):
                done = sum(self.tally.values())
                self.bars.update(self.frames, total=done, completed=done)
            self.bars.update(self.videos, advance=1)


def cmd_harvest(args: argparse.Namespace) -> int:
    from styleverse.frames.harvest import HarvestConfig, harvest

    every = 1.0 / args.fps if args.fps else args.every
    config = HarvestConfig(
        every=every, size=args.size, dedup_threshold=args.dedup_threshold, blank_threshold=args.blank_threshold
    )
    config.validate()
    jobs = _jobs(args)
    with progress(disable=args.quiet) as bars:
        report = harvest(args.out, jobs, config, _HarvestView(bars, len(jobs)))
    table = Table(title=f"harvest into {args.out}")
    for col in ("label", "kept", "existing", "duplicates", "blank", "errors"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, c in sorted(report.labels.items()):
        table.add_row(label, *map(str, (c.kept, c.existing, c.duplicates, c.blank, c.errors)))
    _stdout().print(table)
    if report.pruned:
        console.print(f"{report.pruned} manifest rows pointed at missing files and were dropped", highlight=False)
    for w in report.warnings:  # videos read only in part: a truncated file, a range past the end
        sys.stderr.write(f"styleverse: warning: {w}\n")
    if report.failures:
        sys.stderr.write(
            f"styleverse: {len(report.failures)} of {len(jobs)} videos failed (listed above); the others were "
            "harvested; fix or remove them and run again to resume\n"
        )
        return 1
    return 0


def _shown_on_first_event(bars: Progress, label: str) -> Callable[[library.Progress], None]:
    """A bar for a stage that may not happen (augmenting, drawing sheets): hidden until its first event."""
    task = bars.add_task(label, total=None, status="", visible=False)

    def on_event(e: library.Progress) -> None:
        bars.update(task, total=e.total, completed=e.done, status=e.item, visible=True)

    return on_event


def cmd_balance(args: argparse.Namespace) -> int:
    from styleverse.frames.balance import BalanceConfig, balance

    config = BalanceConfig(**fields_from(args, BalanceConfig))
    with progress(disable=args.quiet) as bars:
        report = balance(args.dataset, config, _shown_on_first_event(bars, "augmenting"))
    table = Table(
        title=f"balance: {report.per_class} per class ({report.per_class - report.val_quota} train, "
        f"{report.val_quota} val)"
    )
    cols = ("label", "harvested", "videos", "in val", "shots", "guard", "near-dup", "train", "val", "excluded")
    for col in (*cols, "augmented", "nearest"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, c in report.classes.items():
        values = (c.harvested, c.videos, c.val_videos, c.shots, c.guard, c.duplicates, c.train, c.val, c.excluded)
        nearest = "-" if c.nearest_bits is None else str(c.nearest_bits)
        table.add_row(label, *map(str, values), str(c.augmented), nearest)
    out = _stdout()
    out.print(table)
    out.print(
        "videos: source videos, in val: those with val frames; guard: train frames excluded for sitting within "
        f"{config.guard_seconds:g} s of a val frame; near-dup: frames excluded as near-duplicates (< "
        f"{config.duplicate_bits} bits) of a frame on the other side ({report.duplicates} in all); nearest: phash bits "
        "between the closest train-val pair of harvested frames of the class ('frames stats' counts augmented too)",
        highlight=False,
    )
    for w in report.warnings:
        sys.stderr.write(f"styleverse: warning: {w}\n")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from styleverse.frames.stats import COUNT_COLUMNS, write_stats

    with progress(disable=args.quiet) as bars:
        on_event = _shown_on_first_event(bars, "contact sheets")
        report = write_stats(args.dataset, per_sheet=args.per_sheet, thumb=args.thumb, on_event=on_event)
    table = Table(title=f"{args.dataset}: images per class")
    for col in ("label", *COUNT_COLUMNS, "nearest train-val"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, c in report.counts.items():
        pair = report.nearest.get(label)
        table.add_row(label, *(str(c[k]) for k in COUNT_COLUMNS), "-" if pair is None else f"{pair.bits} bits")
    out = _stdout()
    out.print(table)
    pairs = {label: p for label, p in report.nearest.items() if p is not None}
    if pairs:
        label, p = min(pairs.items(), key=lambda kv: kv[1].bits)
        out.print(
            f"nearest train-val pair: {p.bits} of 64 phash bits apart ({label}: val {p.val}, train {p.train}); "
            "under about 10 bits the two look alike, and val scores then partly measure memory",
            highlight=False,
        )
    else:
        out.print("nearest train-val pair: none (no class has both train and val images yet)", highlight=False)
    out.print(f"counts: {report.counts_csv}", highlight=False)
    for label, path in report.sheets.items():
        out.print(f"contact sheet {label}: {path}", highlight=False)
    return 0
