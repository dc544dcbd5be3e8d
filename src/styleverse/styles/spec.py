"""StyleSpec: which style a job gives its result, said once for every job that takes one.

Style images (folders expanded, each entry weighted), style banks (a universe's averaged style, weighted
after the images), the multiple of the size the images are seen at, and how the content's colours are kept.
``stylize``, ``video``, ``evaluate --sweep`` and the web app take it instead of loose fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from styleverse.errors import ConfigError
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.bank import Bank, bank_targets, load_bank
from styleverse.styles.targets import StyleSet, expand_styles

COLOR_MODES = ("none", "luminance", "histogram")


@dataclass(frozen=True)
class StyleSpec:
    """Style images or folders (``images``) and ``banks``, with ``weights``: one per image entry, then one per
    bank (None: all equal; a folder shares its weight among its images). ``scale``: style images are seen at
    this multiple of the size. ``preserve_color``: one of :data:`COLOR_MODES`."""

    images: tuple[Path, ...] = ()
    banks: tuple[Path, ...] = ()
    weights: tuple[float, ...] | None = None
    scale: float = 1.0
    preserve_color: str = "none"

    def __bool__(self) -> bool:
        return bool(self.images or self.banks)

    def validate(self) -> None:
        """One-line :class:`ConfigError` naming the flag for a colour mode or weight count that cannot be."""
        if self.preserve_color not in COLOR_MODES:
            raise ConfigError(f"preserve_color must be one of {', '.join(COLOR_MODES)}", setting="preserve_color")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ConfigError("style_scale must be a positive number", setting="style_scale")
        n, w = len(self.images) + len(self.banks), self.weights
        if w is not None and len(w) != n:
            raise ConfigError(
                f"style_weights has {len(w)} values for {n} styles and banks; give one per style",
                setting="style_weights",
            )

    def sources(self) -> tuple[StyleSet, list[float]]:
        """Weighted style images (folders expanded) and the banks' weights, in ``weights`` order."""
        if not self:
            raise ConfigError("give at least one style image or folder, or a style bank")
        self.validate()
        w = self.weights
        images = expand_styles(list(self.images), list(w[: len(self.images)]) if w else None) if self.images else []
        bank_weights = list(w[len(self.images) :]) if w else [1.0] * len(self.banks)
        return StyleSet(images, style_scale=self.scale), bank_weights

    def load_banks(self) -> list[Bank]:
        """Every bank read (and checked) once, in order."""
        return [load_bank(p) for p in self.banks]

    def add_bank_targets(
        self, styles: StyleSet, banks: Sequence[Bank], weights: Iterable[float], info: BackboneInfo,
        layers: Iterable[str], size: int, precision: str,
    ) -> None:  # fmt: skip
        """Append each loaded bank's mean Grams to ``styles.extra`` with its weight, after the bank is checked
        to fit the network ``info`` describes, its ``layers`` and ``precision``."""
        layers = list(layers)
        for path, bank, w in zip(self.banks, banks, weights, strict=True):
            styles.extra.append((bank_targets(bank, info, layers, size, precision, where=str(path)), w))

    def inputs(self, styles: StyleSet | None = None) -> list[Path]:
        """The files this style reads (``styles``: the expanded images, else the entries as given), which no
        output may replace."""
        images = styles.paths() if styles is not None else list(self.images)
        return [*images, *self.banks]

    def settings(self) -> dict[str, Any]:
        """Plain JSON values under the keys sidecars have always used (``evaluate`` reads them back)."""
        return {
            "styles": [str(p) for p in self.images],
            "style_banks": [str(p) for p in self.banks],
            "style_weights": list(self.weights) if self.weights is not None else None,
            "style_scale": self.scale,
            "preserve_color": self.preserve_color,
        }

    @classmethod
    def from_settings(cls, d: Mapping[str, Any]) -> StyleSpec:
        """The inverse of :meth:`settings` for what a sidecar recorded: paths as written, missing or malformed
        keys their defaults, unknown keys ignored (sidecars of older versions read too)."""
        w, scale, colour = d.get("style_weights"), d.get("style_scale"), d.get("preserve_color")
        number = (int, float)
        return cls(
            tuple(Path(p) for p in d.get("styles") or () if isinstance(p, str)),
            tuple(Path(p) for p in d.get("style_banks") or () if isinstance(p, str)),
            tuple(float(x) for x in w) if isinstance(w, list) and all(isinstance(x, number) for x in w) else None,
            float(scale) if isinstance(scale, number) and scale > 0 and math.isfinite(scale) else 1.0,
            colour if isinstance(colour, str) else "none",
        )
