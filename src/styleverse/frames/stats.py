"""Dataset statistics: images per class and split, the closest train-val pair, a contact sheet per class.

Counting is what exposed the paper's imbalance problem (section 5); a contact sheet is the quickest way to
see what the counts cannot: near-duplicates that slipped through, blank frames, a mislabelled scene. The
closest train-val pair (phash bits, per class) says how far validation is from anything trained on: a
few bits means val holds near-copies of train frames and its scores measure memory (issue 14).
Outputs go to ``DATASET/stats/``: ``counts.csv`` (with ``nearest_train_val_bits``) and ``<label>.jpg`` per
class, titled with how many of the class's images it shows, each image captioned with its video. A sheet is bounded
(``--thumb`` up to :data:`MAX_THUMB`, ``--per-sheet`` up to :data:`MAX_PER_SHEET`, and its memory estimated
and refused up front when it cannot fit), every output is checked against the manifest's images before
anything is written, and ``DATASET/stats`` is locked while it is written.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styleverse.devices import require_memory
from styleverse.errors import ConfigError, InputError
from styleverse.frames.manifest import Row, read_manifest
from styleverse.frames.quality import hamming_matrix, hash_ints
from styleverse.io.images import load_image, remove_temp_files, write_bytes_atomic
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs
from styleverse.plots import contact_sheet
from styleverse.progress import Progress

COUNT_COLUMNS = ("total", "train", "val", "excluded", "unsplit", "harvested", "augmented")
SHEET_COLS = 8
MAX_THUMB = 1024  # px; 8 columns of it make an 8192 px wide sheet
MAX_PER_SHEET = 400  # 50 rows of the largest thumbnails stay under JPEG's 65,535 px side limit


def check_sheet_settings(per_sheet: int, thumb: int) -> None:
    """:class:`ConfigError` for sheet settings out of bounds or too big for this machine's free memory."""
    if not 16 <= thumb <= MAX_THUMB:
        raise ConfigError(f"thumb must be 16..{MAX_THUMB} pixels, got {thumb}", setting="thumb")
    if not 1 <= per_sheet <= MAX_PER_SHEET:
        raise ConfigError(f"per_sheet must be 1..{MAX_PER_SHEET} images, got {per_sheet}", setting="per_sheet")
    rows = -(-per_sheet // SHEET_COLS)
    need = 3 * (SHEET_COLS * thumb * (rows * (thumb + 28) + 64) + per_sheet * thumb * thumb)  # sheet + thumbnails
    require_memory(need, torch.device("cpu"), "a contact sheet", "lower thumb or per_sheet", ("thumb", "per_sheet"))


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
class NearestPair:
    """The closest train-val pair of one class: phash bits apart, the val and the train image."""

    bits: int
    val: str
    train: str


def nearest_pair(rows: Sequence[Row]) -> NearestPair | None:
    """The train-val pair of ``rows`` (one class) with the fewest differing phash bits; None without both."""
    train = [r for r in rows if r.split == "train"]
    val = [r for r in rows if r.split == "val"]
    if not train or not val:
        return None
    d = hamming_matrix(hash_ints(r.phash for r in val), hash_ints(r.phash for r in train))
    i, j = np.unravel_index(int(d.argmin()), d.shape)
    return NearestPair(int(d[i, j]), val[i].path, train[j].path)


def sheet_title(label: str, rows: Sequence[Row], shown: int) -> str:
    """``gwen: 48 of 312 images shown (evenly over time, 40 excluded not shown); 3 videos`` and the like."""
    usable = [r for r in rows if r.split != "excluded"] or list(rows)
    left_out = len(rows) - len(usable)
    videos = len({r.source for r in rows})
    how = "all" if shown == len(usable) else "evenly over time"
    extra = f", {left_out} excluded not shown" if left_out else ""
    return f"{label}: {shown} of {len(usable)} images shown ({how}{extra}); {videos} video{'s' * (videos != 1)}"


def sheet_caption(row: Row) -> str:
    """Two caption lines: the source video's name, then time, split and whether it is augmented."""
    aug = " aug" if row.origin == "augmented" else ""
    return f"{Path(row.source).stem}\n{row.timestamp:.1f}s {row.split or 'unsplit'}{aug}"


@dataclass(frozen=True)
class StatsReport:
    """Counts per class, the closest train-val pair per class (None before a split), files written."""

    counts: dict[str, dict[str, int]]
    counts_csv: Path
    sheets: dict[str, Path]
    nearest: dict[str, NearestPair | None] = field(default_factory=dict)


def write_stats(
    dataset: str | os.PathLike[str],
    per_sheet: int = 48,
    thumb: int = 128,
    on_event: Callable[[Progress], None] | None = None,
) -> StatsReport:
    """Write ``DATASET/stats/counts.csv`` and ``DATASET/stats/<label>.jpg`` (a contact sheet of up to
    ``per_sheet`` images captioned with video, time, split and origin) and find each class's closest
    train-val pair. Settings and outputs are checked before anything is written (see module doc)."""
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


def _write_stats(root: Path, rows: Sequence[Row], counts: dict[str, dict[str, int]], out: Path, per_sheet: int,
                 thumb: int, on_event: Callable[[Progress], None] | None) -> StatsReport:  # fmt: skip
    nearest = {label: nearest_pair([r for r in rows if r.label == label]) for label in counts}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("label", *COUNT_COLUMNS, "nearest_train_val_bits"))
    for label, c in counts.items():
        pair = nearest[label]
        writer.writerow((label, *(c[k] for k in COUNT_COLUMNS), "" if pair is None else pair.bits))
    counts_csv = out / "counts.csv"
    write_bytes_atomic(counts_csv, buf.getvalue().encode())
    sheets: dict[str, Path] = {}
    for i, label in enumerate(counts, start=1):
        members = [r for r in rows if r.label == label]
        chosen = sheet_rows(members, per_sheet)
        images: list[Image.Image] = []
        texts: list[str] = []
        for r in chosen:
            try:
                img = load_image(root / r.path)
            except InputError:
                continue  # a missing file is left out of the sheet (and of its count), not an abort
            img.thumbnail((thumb, thumb))  # hold thumbnails, not whole frames
            images.append(img)
            texts.append(sheet_caption(r))
        title = sheet_title(label, members, len(images))
        path = out / f"{label}.jpg"
        sheets[label] = contact_sheet(images, texts, path, cols=SHEET_COLS, thumb=thumb, title=title)
        if on_event:
            on_event(Progress("contact sheets", i, len(counts), label))
    return StatsReport(counts, counts_csv, sheets, nearest)
