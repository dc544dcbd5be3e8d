"""Style sources picked in the page: universes (banks in the ``--banks`` folder), uploaded banks and uploaded
style images, each with a weight in an editable table. Shared by the Stylise and Video tabs.

Everything is checked before a job folder is made (:func:`check_styles`), then accepted uploads are copied
into the job's folder (:func:`stage_styles`), so the job and its sidecar name files that stay there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from styleverse.app.context import AppContext
from styleverse.errors import ConfigError

UNIVERSE, BANK, IMAGE = "universe", "bank", "image"
SEP = " · "


def row_label(kind: str, name: str) -> str:
    """The first column of the weights table: ``universe · gwen.safetensors``."""
    return f"{kind}{SEP}{name}"


@dataclass(frozen=True)
class StyleChoice:
    """What the page sends: universe names (relative to ``--banks``), uploaded bank and image paths (in the
    uploads folder), and the weights table's rows ``[label, weight]``."""

    universes: tuple[str, ...] = ()
    bank_uploads: tuple[str, ...] = ()
    image_uploads: tuple[str, ...] = ()
    rows: tuple[tuple[str, Any], ...] = ()

    def labels(self) -> list[str]:
        """Row labels in the order the job takes weights: style images first, then banks (uploaded, then
        universes)."""
        images = [row_label(IMAGE, Path(p).name) for p in self.image_uploads]
        banks = [row_label(BANK, Path(p).name) for p in self.bank_uploads]
        return images + banks + [row_label(UNIVERSE, u) for u in self.universes]


def weight_rows(choice: StyleChoice) -> list[list[Any]]:
    """The weights table for the current choice, keeping weights already typed in for rows that remain."""
    old = {str(r[0]): r[1] for r in choice.rows if len(r) >= 2}
    return [[label, old.get(label, 1.0)] for label in choice.labels()]


def _weights(choice: StyleChoice) -> tuple[float, ...]:
    typed = {str(r[0]): r[1] for r in choice.rows if len(r) >= 2}
    out = []
    for label in choice.labels():
        raw = typed.get(label, 1.0)
        try:
            w = float(raw if raw not in (None, "") else 1.0)
        except (TypeError, ValueError):
            raise ConfigError(f"weight of {label}: '{raw}' is not a number") from None
        if not (w >= 0 and math.isfinite(w)):
            raise ConfigError(f"weight of {label}: must be a number >= 0")
        out.append(w)
    if out and sum(out) <= 0:
        raise ConfigError("the style weights are all zero; give at least one a positive weight")
    return tuple(out)


@dataclass(frozen=True)
class CheckedStyles:
    """Style sources that passed every check: upload paths (not yet copied), universe bank files, weights."""

    images: tuple[Path, ...]
    bank_uploads: tuple[Path, ...]
    universes: tuple[Path, ...]
    weights: tuple[float, ...]


def check_styles(ctx: AppContext, choice: StyleChoice, required: bool = True) -> CheckedStyles:
    """Every source checked: uploads in the uploads folder, images readable and within the limits, banks
    readable, universes inside ``--banks``, weights numbers >= 0. One-line StyleverseError otherwise."""
    limits, ws = ctx.config.limits, ctx.workspace
    if required and not (choice.universes or choice.bank_uploads or choice.image_uploads):
        raise ConfigError("choose a universe or upload a style image or bank first")
    if len(choice.image_uploads) > limits.max_style_images:
        raise ConfigError(f"{len(choice.image_uploads)} style images; this server takes {limits.max_style_images}")
    images = tuple(ws.upload(p, "style image", "image") for p in choice.image_uploads)
    banks = tuple(ws.upload(p, "style bank", "bank") for p in choice.bank_uploads)
    universes = tuple(ctx.bank_path(u) for u in choice.universes)
    return CheckedStyles(images, banks, universes, _weights(choice))


def stage_styles(ctx: AppContext, checked: CheckedStyles, folder: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Copy the uploads into ``folder/styles/``; returns (style images, banks) in the job's order (uploaded
    banks, then universes, which stay in ``--banks``)."""
    target = folder / "styles"
    target.mkdir(exist_ok=True)
    images = tuple(ctx.workspace.stage(p, target, "style") for p in checked.images)
    banks = tuple(ctx.workspace.stage(p, target, "bank") for p in checked.bank_uploads)
    return images, banks + checked.universes


def choice_from(
    universes: Sequence[str] | None, banks: list[str], images: list[str], rows: list[list[Any]]
) -> StyleChoice:
    """A :class:`StyleChoice` from the page's values (already turned into paths and rows)."""
    return StyleChoice(
        tuple(universes or ()), tuple(banks), tuple(images), tuple((str(r[0]), r[1]) for r in rows if len(r) >= 2)
    )
