"""``styleverse styles``: style banks (a universe's averaged style as one file) and style-set analysis."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from styleverse.styles.analysis import AnalysisSettings
from styleverse.styles.job import BankJob, StyleInputs

from .common import (
    Parser,
    add_model_args,
    console,
    features_from_args,
    fields_from,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    setup_logging,
    stopping,
)
from .flags import add_field, defaults

A = defaults(AnalysisSettings)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="style images, folders of them, or frame manifests (DATASET/manifest.csv, or a DATASET/ folder "
        "holding one; paths in it are relative to its folder)",
    )
    p.add_argument(
        "--weights", nargs="+", type=non_negative_float, metavar="W",
        help="one weight per INPUT (normalised to sum 1; a folder or manifest shares its weight among its images)",
    )  # fmt: skip
    p.add_argument(
        "--label", help="use only manifest rows with this label (e.g. gwen); augmented rows are always skipped"
    )
    add_model_args(p)
    add_field(p, defaults(StyleInputs), "seed", int, "seed of --backbone random (and of the analysis sketch)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary, only errors")


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "styles",
        help="style banks, and which style images belong together",
        description="Build style banks (the weighted mean Gram matrices of many style images, paper section 4) "
        "and analyse a style set: distances to its average style, spread, outliers, a tight subset "
        "(paper section 6).",
    )
    ss = p.add_subparsers(dest="styles_command", metavar="ACTION", parser_class=Parser)
    ss.required = True
    _register_bank(ss)
    _register_analyze(ss)
    i = ss.add_parser("info", help="show what style bank files hold", description="Summarise style bank files.")
    i.add_argument("banks", nargs="+", metavar="BANK", help="style bank files (.safetensors)")
    i.set_defaults(func=cmd_info)


def _register_bank(ss: Any) -> None:
    """``styles bank``: average many style images into one file."""
    b: Parser = ss.add_parser(
        "bank",
        help="average many style images into a reusable .safetensors style bank",
        description="Stream any number of images through the feature network (bounded memory) and store the "
        "weighted mean Gram matrix per style layer plus the sums that give the set's spread. Use it with "
        "`styleverse stylize --style-bank FILE`.",
    )
    _add_inputs(b)
    b.add_argument("-o", "--output", required=True, help="bank file to write, e.g. gwen.style.safetensors")
    add_field(
        b, defaults(StyleInputs), "size", positive_int, "longest side images are seen at (use your stylize --size)"
    )
    every_help = (
        "save the running sums to OUTPUT.resume.safetensors every N images and on Ctrl-C (0: only on Ctrl-C), so an "
        "interrupted build continues with --resume"
    )
    add_field(b, defaults(BankJob), "checkpoint_every", non_negative_int, every_help, metavar="N")
    b.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted build from OUTPUT.resume.safetensors (same inputs and settings)",
    )
    b.set_defaults(func=cmd_bank)


def _register_analyze(ss: Any) -> None:
    """``styles analyze``: which style images belong together."""
    a: Parser = ss.add_parser(
        "analyze",
        help="rank style images by distance to the set's average style; flag outliers; suggest a subset",
        description="Per image: distance to the mean Gram (per layer and overall, relative to the mean's size) "
        "and Gram traces. For the set: spread, robust outliers, a low-spread subset, a 2-D map and a contact "
        "sheet. Writes report.json, report.md and pictures into the output folder. Needs temporary disk for "
        "the Gram matrices (about 1.2 MB per image for full VGG19 layers) in $TMPDIR.",
    )
    _add_inputs(a)
    a.add_argument("-o", "--output", required=True, help="report folder (created if missing)")
    add_field(a, A, "size", positive_int, "longest side images are seen at")
    a.add_argument(
        "--keep", type=positive_int, help="size of the suggested subset (default: the number of non-outliers)"
    )
    add_field(a, A, "mad_k", positive_float, "outlier if distance > median + K x 1.4826 x MAD")
    a.add_argument(
        "--write-bank",
        metavar="FILE",
        help="also write a style bank of the suggested subset and, when the set splits into groups, "
        "one bank per group beside it (FILE.group1.safetensors, ...)",
    )
    a.set_defaults(func=cmd_analyze)


def _source(args: argparse.Namespace) -> StyleInputs:
    setup_logging(args.quiet)
    weights = tuple(args.weights) if args.weights else None
    given = {"inputs": tuple(args.inputs), "weights": weights, "features": features_from_args(args)}
    return StyleInputs(**fields_from(args, StyleInputs, **given))


def _progressing(bar: Any, label: str) -> Any:
    task = bar.add_task(label, total=None, status="")

    def update(ev: Any) -> None:
        bar.update(task, total=ev.total, completed=ev.done, status=Path(ev.item).name if ev.item else ev.stage)

    return update


def cmd_bank(args: argparse.Namespace) -> int:
    from styleverse.styles.job import BankJob, run_bank
    from styleverse.styles.resume import BankInterrupted

    job = BankJob(_source(args), Path(args.output), args.checkpoint_every, args.resume, args.overwrite)
    try:
        with progress(args.quiet) as bar, stopping() as stop:
            bank, out = run_bank(job, _progressing(bar, "bank"), stop)
    except BankInterrupted as e:
        line = f"interrupted after {e.done} of {e.total} images; state saved to {e.path}; "
        console.print(line + "rerun the same command with --resume", style="yellow", markup=False, soft_wrap=True)
        return 130
    if not args.quiet:
        who, sp = bank.backbone.get("identity"), bank.mean_spread()
        console.print(
            f"wrote {out}: {bank.count} images, {len(bank.layers)} layers, spread {sp:.4g} (mean over layers), {who}"
        )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from styleverse.styles.analysis import AnalysisSettings
    from styleverse.styles.job import AnalyzeJob, run_analyze

    settings = AnalysisSettings(size=args.size, mad_k=args.mad_k, keep=args.keep, seed=args.seed)
    write_bank = Path(args.write_bank) if args.write_bank else None
    job = AnalyzeJob(_source(args), Path(args.output), settings, write_bank, args.overwrite)
    with progress(args.quiet) as bar, stopping() as stop:
        result = run_analyze(job, _progressing(bar, "analyze"), stop)
    if not args.quiet:
        _summary(result, job.output)
    return 0


def _summary(result: Any, out_dir: Path) -> None:
    from styleverse.styles.report import change

    table = Table(title="least typical style images (outliers first)")
    cols = ("rank", "image", "to mean", "far from mean", "to nearest", "outlier", "group", "in subset")
    for col in cols:
        table.add_column(col, justify="right" if col in ("rank", "to mean", "to nearest", "group") else "left")
    for r in sorted(result.images, key=lambda r: (-r.outlier, -r.distance))[:10]:
        table.add_row(
            str(r.rank), r.path, f"{r.distance:.4g}", "yes" if r.far_from_mean else "", f"{r.knn_distance:.4g}",
            "yes" if r.outlier else "", str(r.group + 1) if r.group >= 0 else "-", "yes" if r.in_subset else "no",
        )  # fmt: skip
    out = Console()
    out.print(table)
    cut = 1 - result.subset_spread / result.spread if result.spread > 0 else 0.0
    groups = len(result.groups)
    out.print(
        f"{len(result.images)} images, {len(result.outliers)} outliers (far from every other image), {groups} "
        f"group{'s' * (groups != 1)}; spread {result.spread:.4g} -> subset of {len(result.subset)}: "
        f"{result.subset_spread:.4g} ({change(cut)}{'; ' + result.subset_note if result.subset_note else ''}). "
        f"Report: {out_dir / 'report.md'}"
    )


def cmd_info(args: argparse.Namespace) -> int:
    from styleverse.styles.bank import load_bank

    setup_logging(False)
    out = Console()
    for path in args.banks:
        b = load_bank(path)
        spread = b.mean_spread()
        # one block per bank, long values folded rather than cut, so names and identities read whole at 80 columns
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("bank", str(path))
        up = b.settings.get("upscaled")
        enlarged = f"; {up['count']} enlarged from as small as {up['smallest']} px" if isinstance(up, dict) else ""
        grid.add_row("images", f"{b.count} (seen at {b.size or 'original'} px{enlarged})")
        grid.add_row("backbone", str(b.backbone.get("identity")))
        grid.add_row("precision", str(b.settings.get("precision", "fp32")))
        grid.add_row("layers", " ".join(b.layers))
        grid.add_row("spread", f"{spread:.4g} (mean over layers; 0 = identical images)")
        grid.add_row(
            "AdaIN stats",
            "channel mean and std per layer (serves `adain apply --style-bank`)"
            if b.stats is not None
            else "none (made before styleverse stored them; rebuild the bank for `adain apply`)",
        )
        out.print(grid)
        out.print()
    return 0
