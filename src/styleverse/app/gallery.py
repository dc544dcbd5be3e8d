"""The gallery of universes in the Stylise tab: every bank the page offers as a card (its picture, name and
image count); clicking a card picks that universe.

The picture is the bank's own ``preview`` (a contact sheet of its first images, stored in the bank when it
is made: :func:`styleverse.styles.bank.preview_sheet`); a bank made before previews were stored gets one
from its source images where they are still on this server, and otherwise a plain card that says it has no
preview — never a picture made up from its statistics. Cards follow :meth:`AppContext.bank_names`, so the
gallery is read again with the dropdowns (:func:`styleverse.app.controls.refresh_pickers`: when a page opens
and when a bank is built).
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from styleverse.app.context import AppContext
from styleverse.errors import StyleverseError
from styleverse.styles.bank import PREVIEW_TILE, load_bank, preview_sheet

SEP = " · "  # caption: SHORT · N images · NAME (the card shows its start; a click is resolved by its end)
CARD = 2 * PREVIEW_TILE  # side of a card's picture (px)
MAX_PREVIEW_CHARS = 200_000  # a preview longer than this in a bank's metadata is not decoded


@dataclass(frozen=True)
class Card:
    """One universe as the gallery shows it: its name in the page's lists, its image count, its picture
    (None: neither a stored preview nor readable source images) or why it is not usable."""

    name: str
    count: int
    picture: Image.Image | None
    problem: str = ""

    @property
    def caption(self) -> str:
        """``gwen · 12 images · universes/gwen.safetensors``: what the card says under its picture, the file's
        own name first (built banks' names all begin ``made here/bank-…``), the name in the lists last."""
        short = Path(self.name).name.removesuffix(".safetensors").removesuffix(".style")
        what = self.problem or f"{self.count} image{'s' if self.count != 1 else ''}"
        return SEP.join((short, what, self.name))


_cache: dict[tuple[str, float, int], Card] = {}  # (file, mtime, size) -> card: a bank is read once
_lock = threading.Lock()


def card(name: str, path: Path) -> Card:
    """The card of one bank file (read once per version of the file)."""
    try:
        st = path.stat()
    except OSError:
        return Card(name, 0, None, "no longer on the server")
    key = (str(path), st.st_mtime, st.st_size)
    with _lock:
        if key in _cache:
            return _cache[key]
    try:
        bank = load_bank(path)
    except StyleverseError:
        made = Card(name, 0, None, "not a readable bank")
    else:
        picture = decode(bank.preview) or decode(preview_sheet([p for p, _ in bank.sources]))
        made = Card(name, bank.count, picture)
    with _lock:
        _cache[key] = made
    return made


def cards(ctx: AppContext) -> list[Card]:
    """A card for every universe the page offers, in the lists' order."""
    out = []
    for name in ctx.bank_names():
        try:
            out.append(card(name, ctx.bank_path(name)))
        except StyleverseError:  # went away between listing and reading
            continue
    return out


def decode(preview: str) -> Image.Image | None:
    """A preview sheet (base64 PNG) as an image; None for none or one that is not a small PNG."""
    if not preview or len(preview) > MAX_PREVIEW_CHARS:
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(preview, validate=True))) as im:
            if im.format != "PNG" or max(im.size) > 4 * CARD:
                return None
            return im.convert("RGB")
    except (OSError, ValueError, binascii.Error, Image.DecompressionBombError):
        return None


def placeholder(text: str = "no preview") -> Image.Image:
    """A grey card for a bank without a picture, saying so."""
    img = Image.new("RGB", (CARD, CARD), (222, 226, 230))
    ImageDraw.Draw(img).text((8, CARD // 2 - 6), text, fill=(73, 80, 87))
    return img


def items(found: list[Card]) -> list[tuple[Image.Image, str]]:
    """The gallery's value: (picture, caption) per card."""
    return [(c.picture or placeholder(), c.caption) for c in found]


def picked(caption: str, chosen: list[str] | None, offered: list[str]) -> list[str]:
    """The universes selection after a click on the card captioned ``caption``: its universe added (once);
    unchanged for a caption naming no universe the page offers."""
    chosen = list(chosen or [])
    names = sorted((n for n in offered if caption.endswith(SEP + n)), key=len, reverse=True)
    if names and names[0] not in chosen:
        chosen.append(names[0])
    return chosen
