"""The one progress event of the library's long operations (DESIGN.md: progress leaves the core as small
events passed to a callback; the library logs, never prints)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` (None: not known yet) in ``stage`` (e.g. ``grams``, ``eval``, ``augment``,
    ``contact sheets``); ``item`` names what was just done: an image path, a label."""

    stage: str
    done: int
    total: int | None
    item: str | None = None
