"""What to harvest: labelled whole clips or labelled time ranges of a film (segments CSV), and labels.

The paper (section 5) collected frames for five universes of one film; a universe's screen time is spread
over many scenes, so a segments CSV names each scene's time range and universe:

    video,start,end,label
    film.mkv,00:01:02.500,00:01:40,miles
    film.mkv,125,190.25,gwen

Times are seconds (``125``, ``190.25``) or ``[HH:]MM:SS[.mmm]``; video paths are relative to the CSV's
folder. Every problem in the file is reported with its line number before anything is harvested. Rows
labelled ``unsure`` (what ``frames discover`` calls time it could not place in a universe) are skipped.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from styleverse.errors import ConfigError, InputError
from styleverse.io.paths import is_plain_name, resolve_inside

SEGMENT_COLUMNS = ("video", "start", "end", "label")
RESERVED_LABELS = frozenset({"stats"})  # DATASET/stats/ holds the stats command's output
UNSURE = "unsure"  # frames discover's label for time in no universe: harvest skips it
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


@dataclass(frozen=True)
class Job:
    """One unit of harvesting: frames of ``video`` in ``[start, end)`` (end None = to the end) for ``label``.

    ``source`` is the video path as the user gave it (command line or CSV cell); it is what the manifest
    records. ``video`` is where the file actually is."""

    video: Path
    source: str
    label: str
    start: float = 0.0
    end: float | None = None

    @property
    def stem(self) -> str:
        return self.video.stem


def parse_time(text: str) -> float:
    """Seconds from ``"90"``, ``"90.5"``, ``"01:30"``, ``"00:01:30.500"``; ValueError if malformed."""
    s = text.strip()
    m = _TIME.match(s)
    if m:
        hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
        if (m.group(1) is not None and minutes >= 60) or seconds >= 60:
            raise ValueError(f"'{text}' has minutes or seconds of 60 or more")
        return hours * 3600 + minutes * 60 + seconds
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"'{text}' is not a time (seconds like 90.5 or HH:MM:SS.mmm)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"'{text}' is not a time >= 0")
    return value


def check_label(label: str) -> str:
    """A label becomes a folder name: refuse what is not a plain name (:func:`styleverse.io.paths.is_plain_name`:
    empty, hidden, path-like) and reserved names. The one rule for labels, from the command line, a segments
    CSV or a manifest."""
    if not is_plain_name(label):
        raise ConfigError(f"label '{label}' cannot be a folder name (use letters, digits, '-' or '_')")
    if label in RESERVED_LABELS:
        raise ConfigError(f"label '{label}' is reserved (DATASET/{label}/ holds other output); choose another")
    return label


def clip_jobs(labelled: Sequence[tuple[str, Sequence[str | os.PathLike[str]]]]) -> list[Job]:
    """One job per whole clip from ``[(label, [video, ...]), ...]``; videos are checked when harvested."""
    jobs: list[Job] = []
    for label, videos in labelled:
        check_label(label)
        if not videos:
            raise ConfigError(f"label '{label}' has no videos; give label NAME VIDEO [VIDEO ...]", setting="label")
        jobs.extend(Job(Path(v), os.fspath(v), label) for v in videos)
    check_stems(jobs)
    return jobs


def read_segments(path: str | os.PathLike[str], confine: bool = False) -> list[Job]:
    """Jobs from a segments CSV (header ``video,start,end,label``); :class:`InputError` names the bad line.

    Video paths are relative to the CSV's folder. On the command line they may lead anywhere (the user's
    own films); with ``confine`` (a CSV that came with an upload) each must stay inside the CSV's folder
    (:func:`styleverse.io.paths.resolve_inside`)."""
    csv_path = Path(path)
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such segments CSV file")
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{csv_path}: cannot read segments CSV ({e})") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in SEGMENT_COLUMNS if c not in header]
    if missing:
        raise InputError(f"{csv_path}: header must be {','.join(SEGMENT_COLUMNS)} (missing {', '.join(missing)})")
    col = {c: header.index(c) for c in SEGMENT_COLUMNS}
    rows = enumerate(reader, start=2)
    parsed = (_segment(csv_path, n, cells, col, confine) for n, cells in rows if any(c.strip() for c in cells))
    jobs = [job for job in parsed if job.label != UNSURE]
    if not jobs:
        raise InputError(f"{csv_path}: no segments after the header (besides '{UNSURE}' ones)")
    check_stems(jobs)
    return jobs


def _segment(csv_path: Path, lineno: int, cells: list[str], col: dict[str, int], confine: bool) -> Job:
    where = f"{csv_path} line {lineno}"
    if len(cells) < len(col) or len(cells) <= max(col.values()):
        raise InputError(f"{where}: expected {len(col)} fields ({','.join(SEGMENT_COLUMNS)}), got {len(cells)}")
    video, start_s, end_s, label = (cells[col[c]].strip() for c in SEGMENT_COLUMNS)
    if not video:
        raise InputError(f"{where}: empty video path")
    try:
        start, end = parse_time(start_s), parse_time(end_s)
    except ValueError as e:
        raise InputError(f"{where}: {e}") from None
    if end <= start:
        raise InputError(f"{where}: end {end_s} is not after start {start_s}")
    try:
        check_label(label)
    except ConfigError as e:
        raise InputError(f"{where}: {e}") from None
    where_video = resolve_inside(csv_path.parent, video, where) if confine else csv_path.parent / video
    return Job(where_video, video, label, start, end)


def check_stems(jobs: Sequence[Job]) -> None:
    """Frames are named ``<label>/<video-stem>_<ms>.jpg``: two different videos with one stem in one label
    would overwrite each other's frames, so that is refused up front."""
    seen: dict[tuple[str, str], Path] = {}
    for job in jobs:
        key = (job.label, job.stem)
        where = job.video.resolve()
        other = seen.setdefault(key, where)
        if other != where:
            raise ConfigError(
                f"label '{job.label}': videos {other} and {where} share the name '{job.stem}' "
                "and their frames would collide; rename one"
            )
