"""The Stylise tab's gallery of universes: a card per bank the page offers (its stored preview, name and
image count), a bank built in Universes joining it when the lists are read again, and a click picking it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from fixtures.app import make_ctx, upload
from styleverse.app import gallery, universes
from styleverse.app.context import BUILT
from styleverse.app.controls import refresh_pickers
from styleverse.app.jobs import Ticket
from styleverse.styles.bank import load_bank, save_bank


def _built_bank(ctx, tmp_path: Path, colours: list[tuple[int, int, int]]) -> Path:
    """A bank built as the Universes tab builds one, from flat images of ``colours``."""
    paths = []
    for i, c in enumerate(colours):
        Image.new("RGB", (40, 30), c).save(tmp_path / f"flat{i}.png")
        paths.append(upload(ctx, tmp_path / f"flat{i}.png"))
    done = list(universes.make_bank(ctx, universes.Request(tuple(paths), size=32, name="reds"), Ticket()))[-1]
    assert done.bank is not None, done.status
    return Path(done.bank)


def test_a_bank_built_in_universes_joins_the_gallery_with_its_own_images_as_picture(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.offer(object(), lambda: {"value": gallery.items(gallery.cards(ctx))})
    assert gallery.cards(ctx) == []
    built = _built_bank(ctx, tmp_path, [(250, 0, 0), (0, 0, 250), (0, 250, 0)])
    [card] = gallery.cards(ctx)
    assert card.name == BUILT + built.relative_to(ctx.workspace.root).as_posix()
    assert card.caption == f"reds · 3 images · {card.name}"  # the file's own name first, where the card shows it
    pic = np.asarray(card.picture)
    assert pic.shape[:2] == (96, 96)  # 2x2 tiles of 48 px: three images and a white corner
    assert tuple(pic[24, 24]) == (250, 0, 0) and tuple(pic[24, 72]) == (0, 0, 250) and tuple(pic[72, 24]) == (0, 250, 0)
    assert tuple(pic[72, 72]) == (255, 255, 255)
    [update] = refresh_pickers(ctx)  # the page's refresh hands the gallery its cards
    assert [caption for _, caption in update["value"]] == [card.caption]


def test_the_picture_is_stored_in_the_bank_and_survives_its_images_going_away(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    built = _built_bank(ctx, tmp_path, [(10, 200, 10)])
    bank = load_bank(built)
    assert bank.preview and all(not Path(p).exists() or Path(p).is_relative_to(built.parent) for p, _ in bank.sources)
    moved = save_bank(replace(bank, sources=[("/nowhere/a.png", 1.0)]), tmp_path / "banks" / "green.safetensors")
    card = gallery.card("green.safetensors", moved)
    assert card.picture is not None and tuple(np.asarray(card.picture)[24, 24]) == (10, 200, 10)


def test_an_old_bank_gets_its_picture_from_its_images_or_says_it_has_none(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    bank = load_bank(_built_bank(ctx, tmp_path, [(0, 0, 200)]))
    source = tmp_path / "kept.png"
    Image.new("RGB", (30, 30), (123, 45, 67)).save(source)
    old = save_bank(replace(bank, preview="", sources=[(str(source), 1.0)]), tmp_path / "banks" / "old.safetensors")
    assert "preview" not in load_bank(old).metadata()  # a bank as made before previews were stored
    assert tuple(np.asarray(gallery.card("old.safetensors", old).picture)[24, 24]) == (123, 45, 67)
    nowhere = [("/nowhere/a.png", 1.0)]
    gone = save_bank(replace(bank, preview="", sources=nowhere), tmp_path / "banks" / "gone.safetensors")
    card = gallery.card("gone.safetensors", gone)
    assert card.picture is None and card.caption == "gone · 1 image · gone.safetensors"
    (tmp_path / "banks" / "junk.safetensors").write_bytes(b"not a bank")
    names = [c.caption for c in gallery.cards(ctx)]
    assert "junk · not a readable bank · junk.safetensors" in names and card.caption in names
    assert gallery.items([card])[0][0].size == (96, 96)  # a grey card that says "no preview"


def test_a_damaged_or_huge_preview_is_not_decoded() -> None:
    assert gallery.decode("not base64!") is None and gallery.decode("A" * 300_000) is None
    assert gallery.decode("") is None


def test_clicking_a_card_adds_its_universe_once() -> None:
    offered = ["a.safetensors", "made here/bank-1/b.style.safetensors", "x/a.safetensors"]
    assert gallery.picked("a · 3 images · a.safetensors", None, offered) == ["a.safetensors"]
    assert gallery.picked("a · 3 images · a.safetensors", ["a.safetensors"], offered) == ["a.safetensors"]
    both = gallery.picked("b · 1 image · made here/bank-1/b.style.safetensors", ["a.safetensors"], offered)
    assert both == offered[:2]
    assert gallery.picked("a · 3 images · x/a.safetensors", [], offered) == ["x/a.safetensors"]  # the whole name
    assert gallery.picked("gone · 2 images · gone.safetensors", [], offered) == []  # not offered: nothing picked
