"""``styleverse styles``: style banks (a universe's averaged style as one file) and style-set analysis."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from styleverse.errors import ConfigError, OutputError
from styleverse.io.images import check_output, probe_folder, remove_temp_files
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs

from .common import (
    Parser,
    add_model_args,
    console,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    setup_logging,
    versions,
)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="style images, folders of them, or frame manifests (DATASET/manifest.csv, or a DATASET/ folder "
        "holding one; paths in it are relative to its folder)",
    )
    p.add_argument(
        "--weights",
        nargs="+",
        type=non_negative_float,
        metavar="W",
        help="one weight per INPUT (normalised to sum 1; a folder or manifest shares its weight among its images)",
    )
    p.add_argument(
        "--label", help="use only manifest rows with this label (e.g. gwen); augmented rows are always skipped"
    )
    add_model_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of --backbone random (and of the analysis sketch)")
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
    b = ss.add_parser(
        "bank",
        help="average many style images into a reusable .safetensors style bank",
        description="Stream any number of images through the feature network (bounded memory) and store the "
        "weighted mean Gram matrix per style layer plus the sums that give the set's spread. Use it with "
        "`styleverse stylize --style-bank FILE`.",
    )
    _add_inputs(b)
    b.add_argument("-o", "--output", required=True, help="bank file to write, e.g. gwen.style.safetensors")
    b.add_argument(
        "--size", type=positive_int, default=512, help="longest side images are seen at (use your stylize --size)"
    )
    b.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        default=200,
        metavar="N",
        help="save the running sums to OUTPUT.resume.safetensors every N images and on Ctrl-C (0: only on "
        "Ctrl-C), so an interrupted build continues with --resume",
    )
    b.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted build from OUTPUT.resume.safetensors (same inputs and settings)",
    )
    b.set_defaults(func=cmd_bank)
    a = ss.add_parser(
        "analyze",
        help="rank style images by distance to the set's average style; flag outliers; suggest a subset",
        description="Per image: distance to the mean Gram (per layer and overall, relative to the mean's size) "
        "and Gram traces. For the set: spread, robust outliers, a low-spread subset, a 2-D map and a contact "
        "sheet. Writes report.json, report.md and pictures into the output folder. Needs temporary disk for "
        "the Gram matrices (about 1.2 MB per image for full VGG19 layers) in $TMPDIR.",
    )
    _add_inputs(a)
    a.add_argument("-o", "--output", required=True, help="report folder (created if missing)")
    a.add_argument("--size", type=positive_int, default=256, help="longest side images are seen at")
    a.add_argument(
        "--keep", type=positive_int, help="size of the suggested subset (default: the number of non-outliers)"
    )
    a.add_argument("--mad-k", type=positive_float, default=3.0, help="outlier if distance > median + K x 1.4826 x MAD")
    a.add_argument("--write-bank", metavar="FILE", help="also write a style bank of the suggested subset")
    a.set_defaults(func=cmd_analyze)
    i = ss.add_parser("info", help="show what style bank files hold", description="Summarise style bank files.")
    i.add_argument("banks", nargs="+", metavar="BANK", help="style bank files (.safetensors)")
    i.set_defaults(func=cmd_info)


def _inputs(args: argparse.Namespace) -> tuple[list, list[Path]]:
    """Weighted images, and every input file and folder (outputs must not replace or join any of them)."""
    from styleverse.styles.bank import expand_inputs

    setup_logging(args.quiet)
    images = expand_inputs(args.inputs, args.weights, args.label)
    return images, [s.path for s in images] + [Path(p) for p in args.inputs]


def _check_size(args: argparse.Namespace) -> None:
    """Refuse, before any work, a --size beyond the bound or whose feature maps cannot fit in memory."""
    from styleverse.devices import MAX_IMAGE_SIDE, require_memory, resolve_device, vgg_pass_bytes

    if args.size > MAX_IMAGE_SIDE:
        raise ConfigError(f"--size must be at most {MAX_IMAGE_SIDE} pixels, got {args.size}")
    need = vgg_pass_bytes(args.size, args.size, arch=args.arch, backward=False)
    require_memory(need, resolve_device(args.device), f"--size {args.size}")


_BANK_SUFFIXES = (".safetensors",)


def _model(args: argparse.Namespace) -> tuple[Any, Any, Any, str]:
    """Feature network on its device, its BackboneInfo, the device and the precision actually used."""
    from styleverse.devices import memory_format, resolve_device, resolve_precision
    from styleverse.transfer.optimize import build_model

    device = resolve_device(args.device)
    # A bank is reference data that every later run compares against, so ``auto`` means float32 here: a
    # float32 bank serves every run, a bf16 one only bf16 runs (see styles.bank.check_compatible).
    precision = "fp32" if args.precision == "auto" else resolve_precision(args.precision, device)
    model, info = build_model(args.backbone, args.style_layers, arch=args.arch, pooling=args.pooling, seed=args.seed)
    return model.to(device, memory_format=memory_format(precision)).eval(), info, device, precision


def _progressing(bar: Any, label: str, total: int) -> Any:
    task = bar.add_task(label, total=total, status="")

    def update(ev: Any) -> None:
        bar.update(task, completed=ev.done, status=Path(ev.path).name if ev.path else ev.stage)

    return update


def _checkpoint(args: argparse.Namespace, protected: list[Path]) -> Any:
    """The build's resume state file, checked before any work: present for --resume, else not holding an
    interrupted build unless --overwrite, never an input."""
    from styleverse.styles.resume import BankCheckpoint, resume_path

    ckpt = BankCheckpoint(resume_path(args.output), args.checkpoint_every, args.resume)
    if args.resume and not ckpt.path.is_file():
        raise ConfigError(f"--resume: no saved state at {ckpt.path}; run without --resume to start afresh")
    if not args.resume and ckpt.path.exists() and not args.overwrite:
        raise OutputError(
            f"{ckpt.path}: holds an interrupted build; pass --resume to continue it or --overwrite to start over"
        )
    check_output(ckpt.path, protected, overwrite=True)
    return ckpt


def cmd_bank(args: argparse.Namespace) -> int:
    """Build a bank: every check first (size and memory, inputs, outputs, resume state), then the work
    under the output's lock, so a second build of the same file is refused rather than racing it."""
    _check_size(args)
    images, protected = _inputs(args)
    check_outputs({"-o": Output(args.output, suffixes=_BANK_SUFFIXES)}, protected, args.overwrite)
    ckpt = _checkpoint(args, protected)
    with output_lock(args.output):
        remove_temp_files(Path(args.output).parent, [Path(args.output).name, ckpt.path.name])
        return _bank(args, images, protected, ckpt)


def _bank(args: argparse.Namespace, images: list, protected: list[Path], ckpt: Any) -> int:
    from styleverse.styles.bank import build_bank, save_bank
    from styleverse.styles.resume import BankInterrupted

    model, info, device, precision = _model(args)
    settings = {"inputs": list(args.inputs), "label": args.label, "weights": args.weights, "device": str(device)}
    try:
        with progress(args.quiet) as bar:
            cb = _progressing(bar, "bank", len(images))
            bank = build_bank(model, info, images, args.size, device, precision, cb, settings, ckpt)
    except BankInterrupted as e:
        line = f"interrupted after {e.done} of {e.total} images; state saved to {e.path}; "
        console.print(line + "rerun the same command with --resume", style="yellow", markup=False, soft_wrap=True)
        return 130
    bank.settings["versions"] = versions()
    out = save_bank(bank, args.output, args.overwrite, protected)
    ckpt.clear()
    if not args.quiet:
        sp = sum(w * bank.spread()[k] for k, w in model.style_weights.items())
        console.print(f"wrote {out}: {bank.count} images, {len(bank.layers)} layers, spread {sp:.4g}, {info.identity}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from styleverse.styles.analysis import AnalysisSettings

    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; -o takes the report folder")
    AnalysisSettings(size=args.size, mad_k=args.mad_k, keep=args.keep).validate()
    _check_size(args)
    images, protected = _inputs(args)
    created = not out_dir.exists()
    try:
        return _analyze(args, out_dir, images, protected)
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # leave nothing behind on failure
        raise


def _analyze(args: argparse.Namespace, out_dir: Path, images: list, protected: list[Path]) -> int:
    """Check every output (the report folder, its files, --write-bank) against the inputs and each other,
    then analyse holding the report folder's and the bank's locks."""
    from styleverse.styles.report import report_paths

    outputs: dict[str, Output | Path | None] = {"-o": Output(out_dir, "folder")}
    outputs |= {f"-o ({p.name})": p for p in report_paths(out_dir).values()}
    outputs["--write-bank"] = Output(args.write_bank, suffixes=_BANK_SUFFIXES) if args.write_bank else None
    check_outputs(outputs, protected, args.overwrite)
    probe_folder(out_dir)  # created now (the caller removes it again if the run fails)
    with contextlib.ExitStack() as held:
        held.enter_context(output_lock(out_dir, folder=True))
        remove_temp_files(out_dir)
        if args.write_bank:
            held.enter_context(output_lock(args.write_bank))
            remove_temp_files(Path(args.write_bank).parent, [Path(args.write_bank).name])
        return _analyze_locked(args, out_dir, images, protected)


def _analyze_locked(args: argparse.Namespace, out_dir: Path, images: list, protected: list[Path]) -> int:
    from styleverse.styles.analysis import AnalysisSettings, analyze
    from styleverse.styles.bank import save_bank
    from styleverse.styles.report import write_report

    model, info, device, precision = _model(args)
    cfg = AnalysisSettings(size=args.size, mad_k=args.mad_k, keep=args.keep, seed=args.seed, precision=precision)
    with progress(args.quiet) as bar:
        cb = _progressing(bar, "analyze", len(images))
        result = analyze(model, info, images, cfg, device, cb)
    extra = {"inputs": list(args.inputs), "label": args.label, "device": str(device), "versions": versions()}
    write_report(result, out_dir, extra)
    if args.write_bank and result.subset_bank is not None:
        result.subset_bank.settings["versions"] = versions()
        save_bank(result.subset_bank, args.write_bank, args.overwrite, protected)
    if not args.quiet:
        _summary(result, out_dir)
    return 0


def _summary(result: Any, out_dir: Path) -> None:
    table = Table(title="least typical style images")
    for col in ("rank", "image", "distance", "outlier", "in subset"):
        table.add_column(col, justify="right" if col in ("rank", "distance") else "left")
    for r in sorted(result.images, key=lambda r: -r.distance)[:10]:
        table.add_row(
            str(r.rank), r.path, f"{r.distance:.4g}", "yes" if r.outlier else "", "yes" if r.in_subset else "no"
        )
    out = Console()
    out.print(table)
    cut = 1 - result.subset_spread / result.spread if result.spread > 0 else 0.0
    out.print(
        f"{len(result.images)} images, {len(result.outliers)} outliers; spread {result.spread:.4g} -> subset of "
        f"{len(result.subset)}: {result.subset_spread:.4g} ({cut:.0%} lower). Report: {out_dir / 'report.md'}"
    )


def cmd_info(args: argparse.Namespace) -> int:
    from styleverse.styles.bank import load_bank

    setup_logging(False)
    table = Table(title="style banks")
    for col in ("bank", "images", "size", "backbone", "layers", "spread (layer mean)"):
        table.add_column(col)
    for path in args.banks:
        b = load_bank(path)
        spread = sum(b.spread().values()) / max(1, len(b.layers))
        table.add_row(
            path, str(b.count), str(b.size), str(b.backbone.get("identity")), " ".join(b.layers), f"{spread:.4g}"
        )
    Console().print(table)
    return 0
