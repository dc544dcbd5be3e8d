"""The inputs of ``styleverse demo`` written to a folder: the bundled photo and every drawn sample style
(:mod:`styleverse.samples`). The demo stylises them; the app offers them as examples."""

from __future__ import annotations

import os
from pathlib import Path

from styleverse.io.images import save_image
from styleverse.samples import SAMPLE_STYLES, content_photo, sample_style


def write_samples(folder: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """Write the bundled photo (``content.png``) and every sample style (``styles/NAME.png``) into ``folder``
    (atomically, each); returns their paths."""
    out = Path(folder)
    (out / "styles").mkdir(parents=True, exist_ok=True)
    content = save_image(content_photo(), out / "content.png")
    styles = [save_image(sample_style(name), out / "styles" / f"{name}.png") for name in SAMPLE_STYLES]
    return content, styles
