"""The results of one browser visit, each with the settings that made it, to look back at and run again.

The history lives in the page's session (a ``gr.State``: each visitor has their own, and it goes with the
page); this module holds what an entry is and the pure functions the Stylise tab's handlers call, so tests
call them without a browser. An entry keeps the request itself (any tab's frozen request dataclass), so
running it again is the same request, checked again as any other (an upload that has since expired is
refused in one line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from styleverse.errors import ConfigError

MAX_ENTRIES = 50  # a visit keeps its newest results; older ones leave the list (their files stay until swept)


@dataclass(frozen=True)
class Entry:
    """One result: the request that made it, the result image (its path in the job's folder) and its
    settings in one line."""

    request: Any
    image: str
    summary: str


def add(history: Sequence[Entry] | None, *entries: Entry) -> list[Entry]:
    """The history with ``entries`` in front (newest first), at most :data:`MAX_ENTRIES` long."""
    return [*reversed(entries), *(history or [])][:MAX_ENTRIES]


def still_picked(index: int | None, added: int) -> int | None:
    """Where the picked entry (``index`` in the gallery) is once ``added`` new ones came in front of it;
    None when nothing was picked or it left the list."""
    if index is None or index + added >= MAX_ENTRIES:
        return None
    return index + added


def items(history: Sequence[Entry] | None) -> list[tuple[str, str]]:
    """The history gallery's value: (image, ``N. summary``), numbered oldest first as the visit made them."""
    entries = list(history or [])
    return [(e.image, f"{len(entries) - i}. {e.summary}") for i, e in enumerate(entries)]


def chosen(history: Sequence[Entry] | None, index: int | None) -> Entry:
    """The entry the page has selected (its index in the gallery), or a one-line ConfigError."""
    entries = list(history or [])
    if not entries:
        raise ConfigError("no result in this visit yet; run one first")
    if index is None or not 0 <= index < len(entries):
        raise ConfigError("click a result in the history first")
    return entries[index]
