"""Dataset statistics: images per class and split, and one contact sheet per class to eyeball.

Counting is what exposed the paper's imbalance problem (section 5); a contact sheet is the quickest way to
see what the counts cannot: near-duplicates that slipped through, blank frames, a mislabelled scene.
Outputs go to ``DATASET/stats/``: ``counts.csv`` and ``<label>.jpg`` per class. A sheet is bounded
(``--thumb`` up to :data:`MAX_THUMB`, ``--per-sheet`` up to :data:`MAX_PER_SHEET`, and its memory estimated
and refused up front when it cannot fit), every output is checked against the manifest's images before
anything is written, and ``DATASET/stats`` is locked while it is written.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from styleverse.devices import require_memory
from styleverse.errors import ConfigError, InputError
from styleverse.frames.manifest import Row, read_manifest
from styleverse.io.images import load_image, remove_temp_files, write_bytes_atomic
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs
from styleverse.plots import contact_sheet

COUNT_COLUMNS = ("total", "train", "val", "excluded", "unsplit", "harvested", "augmented")
SHEET_COLS = 8
MAX_THUMB = 1024  # px; 8 columns of it make an 8192 px wide sheet
MAX_PER_SHEET = 400  # 50 rows of the largest thumbnails stay under JPEG's 65,535 px side limit


def sheet_bytes(per_sheet: int, thumb: int) -> int:
    """Memory of one contact sheet: the RGB sheet plus the thumbnails held while it is drawn."""
    rows = -(-per_sheet // SHEET_COLS)
    return 3 * (SHEET_COLS * thumb * rows * (thumb + 16) + per_sheet * thumb * thumb)


def check_sheet_settings(per_sheet: int, thumb: int) -> None:
    """:class:`ConfigError` for sheet settings out of bounds or too big for this machine's free memory."""
    if not 16 <= thumb <= MAX_THUMB:
        raise ConfigError(f"--thumb must be 16..{MAX_THUMB} pixels, got {thumb}")
    if not 1 <= per_sheet <= MAX_PER_SHEET:
        raise ConfigError(f"--per-sheet must be 1..{MAX_PER_SHEET} images, got {per_sheet}")
    need = sheet_bytes(per_sheet, thumb)
    require_memory(need, torch.device("cpu"), "a contact sheet", "lower --thumb or --per-sheet")


def class_counts(rows: Sequence[Row]) -> dict[str, dict[str, int]]:
    """Per label (sorted): total rows, rows per split (``unsplit`` = no split yet) and per origin."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        c = counts.setdefault(r.label, dict.fromkeys(COUNT_COLUMNS, 0))
        c["total"] += 1
        c[r.split or "unsplit"] += 1
        c[r.origin] += 1
    return dict(sorted(counts.items()))


def sheet_rows(rows: Sequence[Row], limit: int) -> list[Row]:
    """Up to ``limit`` rows spread evenly over time (by source, timestamp); excluded rows are left out
    when the class has been split, since they are not part of what the classifier sees."""
    usable = [r for r in rows if r.split != "excluded"] or list(rows)
    usable.sort(key=lambda r: (r.source, r.timestamp, r.path))
    if len(usable) <= limit:
        return usable
    step = len(usable) / limit
    return [usable[int(i * step)] for i in range(limit)]


@dataclass(frozen=True)
class SheetWritten:
    """Progress event: contact sheet for ``label`` written (``done`` of ``total``)."""

    label: str
    path: Path
    done: int
    total: int


@dataclass(frozen=True)
class StatsReport:
    counts: dict[str, dict[str, int]]
    counts_csv: Path
    sheets: dict[str, Path]


def write_stats(
    dataset: str | os.PathLike[str],
    per_sheet: int = 48,
    thumb: int = 128,
    on_event: Callable[[SheetWritten], None] | None = None,
) -> StatsReport:
    """Write ``DATASET/stats/counts.csv`` and ``DATASET/stats/<label>.jpg`` (a contact sheet of up to
    ``per_sheet`` images labelled with their time and origin). Settings and outputs are checked before
    anything is written (see module doc)."""
    check_sheet_settings(per_sheet, thumb)
    root = Path(dataset)
    rows = read_manifest(root)
    if not rows:
        raise InputError(f"{root / 'manifest.csv'}: manifest has no rows; nothing to count")
    counts = class_counts(rows)
    out = root / "stats"
    outputs: dict[str, Output | Path] = {"stats folder": Output(out, "folder"), "counts": out / "counts.csv"}
    outputs |= {f"sheet of '{label}'": out / f"{label}.jpg" for label in counts}
    check_outputs(outputs, [root / r.path for r in rows], overwrite=True)
    with output_lock(out):
        remove_temp_files(out)
        return _write_stats(root, rows, counts, out, per_sheet, thumb, on_event)


def _write_stats(
    root: Path,
    rows: Sequence[Row],
    counts: dict[str, dict[str, int]],
    out: Path,
    per_sheet: int,
    thumb: int,
    on_event: Callable[[SheetWritten], None] | None,
) -> StatsReport:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("label", *COUNT_COLUMNS))
    for label, c in counts.items():
        writer.writerow((label, *(c[k] for k in COUNT_COLUMNS)))
    counts_csv = out / "counts.csv"
    write_bytes_atomic(counts_csv, buf.getvalue().encode())
    sheets: dict[str, Path] = {}
    for i, label in enumerate(counts, start=1):
        chosen = sheet_rows([r for r in rows if r.label == label], per_sheet)
        images: list[Image.Image] = []
        texts: list[str] = []
        for r in chosen:
            try:
                img = load_image(root / r.path)
            except InputError:
                continue  # a missing file shows up as a gap in the sheet, not an abort
            img.thumbnail((thumb, thumb))  # hold thumbnails, not whole frames
            images.append(img)
            texts.append(f"{r.timestamp:.1f}s{' aug' if r.origin == 'augmented' else ''} {r.split}")
        sheets[label] = contact_sheet(images, texts, out / f"{label}.jpg", cols=SHEET_COLS, thumb=thumb)
        if on_event:
            on_event(SheetWritten(label, sheets[label], i, len(counts)))
    return StatsReport(counts, counts_csv, sheets)
