"""A proposal of universes for a film: every described record with its label, as segments, and its edits.

Labels are ``u1``, ``u2``, ... (by screen time, largest first), ``unsure`` (fades, blanks, and shots that
fit no universe well) or empty (dropped by an edit). ``proposal.csv`` is in the segments format of
:mod:`styleverse.frames.segments` (``video,start,end,label``, video paths relative to the CSV's folder), so
``frames harvest --segments proposal.csv`` takes it as it is; consecutive records of one label are one row,
and dropped records are left out. ``frames harvest`` skips ``unsure`` rows.

Edits (:func:`edit_labels`) speak of the labels as they are before the edit: ``merge`` joins universes
(``u2=u4``: u4's shots become u2's), ``drop`` removes universes (or ``unsure``) from the CSV, ``rename``
gives universes their names (``u1=miles``); they apply in that order. Every name is checked first, so a
refused edit changes nothing.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from styleverse.errors import ConfigError, InputError
from styleverse.frames.describe import Shot
from styleverse.frames.segments import SEGMENT_COLUMNS, UNSURE, check_label
from styleverse.io.images import write_bytes_atomic, write_json

STATE = "proposal.json"


@dataclass
class Proposal:
    """What ``frames discover`` proposed: the films (as proposal.csv names them, relative to the output
    folder), the key of each film's shot store, every record with its label and why it is unsure, the
    settings that made it and the edits applied since."""

    films: list[str]
    stores: list[str]
    shots: list[Shot]
    labels: list[str]
    why: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    edits: list[str] = field(default_factory=list)

    def universes(self) -> list[str]:
        """The universe labels in order of first use by screen time (largest first)."""
        seconds: dict[str, float] = {}
        for s, label in zip(self.shots, self.labels, strict=True):
            if label and label != UNSURE:
                seconds[label] = seconds.get(label, 0.0) + s.seconds
        return sorted(seconds, key=lambda k: -seconds[k])

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "shots": [list(asdict(s).values()) for s in self.shots]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proposal:
        return cls(**{**data, "shots": [Shot(*row) for row in data["shots"]]})


def format_time(seconds: float) -> str:
    """``HH:MM:SS.mmm``, as :func:`styleverse.frames.segments.parse_time` reads it."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return f"{h:02d}:{m:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def segments(p: Proposal) -> list[tuple[int, float, float, str]]:
    """(film, start, end, label) of consecutive records of one label, dropped records left out."""
    out: list[tuple[int, float, float, str]] = []
    previous: tuple[int, str] | None = None
    for s, label in zip(p.shots, p.labels, strict=True):
        if label and previous == (s.film, label):
            film, start, _, _ = out[-1]
            out[-1] = (film, start, s.end, label)
        elif label:
            out.append((s.film, s.start, s.end, label))
        previous = (s.film, label)
    return out


def write_csv(out: Path, p: Proposal) -> Path:
    """``OUT/proposal.csv`` (see the module doc), written atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SEGMENT_COLUMNS)
    for film, start, end, label in segments(p):
        w.writerow([p.films[film], format_time(start), format_time(end), label])
    write_bytes_atomic(out / "proposal.csv", buf.getvalue().encode())
    return out / "proposal.csv"


def save(out: Path, p: Proposal) -> Path:
    """Keep the proposal where an edit finds it: ``OUT/.discover/proposal.json``."""
    (out / ".discover").mkdir(parents=True, exist_ok=True)
    return write_json(out / ".discover" / STATE, p.to_json())


def load(out: str | os.PathLike[str]) -> Proposal:
    """The proposal ``frames discover`` left in ``out``; :class:`InputError` when there is none."""
    path = Path(out) / ".discover" / STATE
    if not path.is_file():
        raise InputError(f"{out}: holds no proposal; run frames discover FILM... --out {out} first")
    import json

    try:
        return Proposal.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise InputError(f"{path}: cannot read the proposal ({e}); run frames discover again") from None


def parse_pairs(items: Sequence[str], what: str) -> list[tuple[str, str]]:
    """``["u1=miles", ...]`` -> ``[("u1", "miles"), ...]``; a :class:`ConfigError` naming ``what``."""
    pairs = []
    for item in items:
        a, eq, b = item.partition("=")
        if not (eq and a.strip() and b.strip()):
            raise ConfigError(f"{what}: '{item}' is not OLD=NEW (e.g. u1=miles)", setting=what)
        pairs.append((a.strip(), b.strip()))
    return pairs


def edit_labels(
    labels: Sequence[str],
    rename: Sequence[tuple[str, str]] = (),
    merge: Sequence[tuple[str, str]] = (),
    drop: Sequence[str] = (),
) -> list[str]:
    """Labels after merging, dropping and renaming (see the module doc); checked whole before any change."""
    present = {x for x in labels if x}

    def known(name: str, what: str) -> None:
        if name not in present:
            have = ", ".join(sorted(present)) or "none"
            raise ConfigError(f"{what}: no universe '{name}' in the proposal (it has {have})", setting=what)

    for into, other in merge:
        known(into, "merge")
        known(other, "merge")
        if UNSURE in (into,) or into == other:
            raise ConfigError(f"merge: cannot merge '{other}' into '{into}'", setting="merge")
    for name in drop:
        known(name, "drop")
    mapping = {other: into for into, other in merge} | dict.fromkeys(drop, "")
    after = {mapping.get(x, x) for x in present} - {""}
    names = {}
    for old, new in rename:
        known(old, "rename")
        check_label(new)
        if old == UNSURE or new == UNSURE or old in mapping:
            raise ConfigError(f"rename: cannot rename '{old}' to '{new}'", setting="rename")
        if new in after - {old} and new not in {o for o, _ in rename}:
            raise ConfigError(f"rename: '{new}' is already a universe; use merge to join two", setting="rename")
        names[old] = new
    if len(set(names.values())) < len(names):
        raise ConfigError("rename: two universes would get one name; use merge to join them", setting="rename")
    return [names.get(mapping.get(x, x), mapping.get(x, x)) if x else x for x in labels]
