"""The dataset manifest: ``DATASET/manifest.csv``, one row per image, read and written whole.

Header ``path,label,source,timestamp,phash,split,origin``:

* ``path`` — the image, relative to DATASET, forward slashes (``gwen/film_61500.jpg``);
* ``label`` — the class (universe); ``source`` — the video path as the user gave it;
* ``timestamp`` — seconds into the source video (3 decimals);
* ``phash`` — ``imagehash.phash`` as 16 hex digits (of a harvested frame's 128-px greyscale thumbnail, which
  is within a few bits of the phash of the saved JPEG);
* ``split`` — empty until ``frames balance`` sets ``train``, ``val`` or ``excluded`` (sampled away: neither
  trained nor validated on; the file is kept);
* ``origin`` — ``harvested`` (a video frame) or ``augmented`` (made by ``balance`` from a harvested frame,
  with that frame's source, timestamp and split).

The file is always replaced atomically, so a reader never sees half of it. A manifest is data, not
instructions: on reading, every ``path`` must stay inside DATASET (:func:`styleverse.io.paths.resolve_inside`)
and every ``label`` be a plain folder name (:func:`styleverse.frames.segments.check_label`), or the read
fails naming the line; a row repeating an earlier row's path is dropped with a warning (counting it twice
would skew training), or refused when it gives that path another label.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from styleverse.errors import ConfigError, InputError
from styleverse.frames.segments import check_label
from styleverse.io.images import remove_temp_files, write_bytes_atomic
from styleverse.io.paths import resolve_inside

log = logging.getLogger("styleverse")

MANIFEST_NAME = "manifest.csv"
STATE_NAME = ".harvest-state.json"
MANIFEST_FIELDS = ("path", "label", "source", "timestamp", "phash", "split", "origin")
UNSPLIT, TRAIN, VAL, EXCLUDED = "", "train", "val", "excluded"  # a row's split: harvested, then balanced
SPLITS = (UNSPLIT, TRAIN, VAL, EXCLUDED)
ORIGINS = ("harvested", "augmented")


@dataclass(frozen=True)
class Row:
    """One image of the dataset (a manifest line). ``split`` is ``""``, ``train``, ``val`` or ``excluded``."""

    path: str
    label: str
    source: str
    timestamp: float
    phash: str
    split: str = ""
    origin: str = "harvested"


def manifest_path(dataset: str | os.PathLike[str]) -> Path:
    return Path(dataset) / MANIFEST_NAME


def read_manifest(dataset: str | os.PathLike[str], missing_ok: bool = False) -> list[Row]:
    """All rows of ``DATASET/manifest.csv``; :class:`InputError` if absent (unless ``missing_ok``) or malformed."""
    path = manifest_path(dataset)
    if not path.is_file():
        if missing_ok:
            return []
        raise InputError(f"{path}: no manifest; run 'styleverse frames harvest --out {dataset} ...' first")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read manifest ({e})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != MANIFEST_FIELDS:
        raise InputError(f"{path}: header is not {','.join(MANIFEST_FIELDS)}; not a styleverse manifest")
    rows: list[Row] = []
    first_line: dict[str, tuple[int, str]] = {}
    for lineno, rec in enumerate(reader, start=2):
        if None in rec.values() or None in rec:
            raise InputError(f"{path} line {lineno}: expected {len(MANIFEST_FIELDS)} fields")
        try:
            row = Row(**{k: rec[k] for k in MANIFEST_FIELDS if k != "timestamp"}, timestamp=float(rec["timestamp"]))
        except ValueError:
            raise InputError(f"{path} line {lineno}: timestamp '{rec['timestamp']}' is not a number") from None
        if row.split not in SPLITS or row.origin not in ORIGINS:
            raise InputError(f"{path} line {lineno}: unknown split '{row.split}' or origin '{row.origin}'")
        if _is_repeat(path, lineno, row, first_line):
            continue
        rows.append(row)
    return rows


def _is_repeat(path: Path, lineno: int, row: Row, first_line: dict[str, tuple[int, str]]) -> bool:
    """Check one row's label and path (see module doc); True when it repeats an earlier row's path."""
    where = f"{path} line {lineno}"
    try:
        check_label(row.label)
    except ConfigError as e:
        raise InputError(f"{where}: {e}") from None
    resolve_inside(path.parent, row.path, where)
    earlier = first_line.setdefault(row.path, (lineno, row.label))
    if earlier[0] == lineno:
        return False
    if earlier[1] != row.label:
        raise InputError(f"{where}: {row.path} is labelled '{row.label}' here and '{earlier[1]}' on line {earlier[0]}")
    log.warning("%s: repeats %s of line %d; the repeat is ignored", where, row.path, earlier[0])
    return True


def write_manifest(dataset: str | os.PathLike[str], rows: Sequence[Row]) -> Path:
    """Write ``DATASET/manifest.csv`` atomically (readers see the old or the new file, never a part)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_FIELDS)
    for r in rows:
        writer.writerow([r.path, r.label, r.source, f"{r.timestamp:.3f}", r.phash, r.split, r.origin])
    path = manifest_path(dataset)
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))
    return path


def remove_leftovers(dataset: str | os.PathLike[str], labels: Iterable[str] = ()) -> int:
    """Remove temporary files a killed run left in DATASET and in the folders of ``labels`` and of every
    label the manifest lists; returns how many. Call it holding the dataset's lock."""
    root = Path(dataset)
    names = set(labels) | {r.label for r in read_manifest(root, missing_ok=True)}
    return remove_temp_files(root) + sum(remove_temp_files(root / name) for name in sorted(names))
