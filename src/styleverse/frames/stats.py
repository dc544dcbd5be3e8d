"""Dataset statistics: images per class and split, and one contact sheet per class to eyeball.

Counting is what exposed the paper's imbalance problem (section 5); a contact sheet is the quickest way to
see what the counts cannot: near-duplicates that slipped through, blank frames, a mislabelled scene.
Outputs go to ``DATASET/stats/``: ``counts.csv`` and ``<label>.jpg`` per class.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from styleverse.errors import InputError, OutputError
from styleverse.frames.manifest import Row, read_manifest
from styleverse.io.images import load_image, write_bytes_atomic
from styleverse.plots import contact_sheet

COUNT_COLUMNS = ("total", "train", "val", "excluded", "unsplit", "harvested", "augmented")


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
    ``per_sheet`` images labelled with their time and origin)."""
    root = Path(dataset)
    rows = read_manifest(root)
    if not rows:
        raise InputError(f"{root / 'manifest.csv'}: manifest has no rows; nothing to count")
    counts = class_counts(rows)
    out = root / "stats"
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create stats folder ({e.strerror or e})") from None
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
                images.append(load_image(root / r.path))
            except InputError:
                continue  # a missing file shows up as a gap in the sheet, not an abort
            texts.append(f"{r.timestamp:.1f}s{' aug' if r.origin == 'augmented' else ''} {r.split}")
        sheets[label] = contact_sheet(images, texts, out / f"{label}.jpg", cols=8, thumb=thumb)
        if on_event:
            on_event(SheetWritten(label, sheets[label], i, len(counts)))
    return StatsReport(counts, counts_csv, sheets)
