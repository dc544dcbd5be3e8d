"""The app's files: one folder per job, uploads checked (size, image or not, pixels, damage) and every path
from the page confined to the folder it belongs to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from fixtures.app import make_ctx, upload
from fixtures.images import make_image
from styleverse.app.config import Limits
from styleverse.app.files import check_bank, check_image, list_files, pick, safe_name
from styleverse.errors import InputError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.JPG", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\my cat (1).png", "my_cat_1.png"),
        (".hidden.png", "hidden.png"),
        ("....png", "upload.png"),
        ("", "upload"),
        ("ça va?.webp", "a_va.webp"),
        ("x" * 200 + ".png", "x" * 60 + ".png"),
    ],
)
def test_safe_name_keeps_a_plain_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_each_job_gets_a_folder_of_its_own(tmp_path: Path) -> None:
    ws = make_ctx(tmp_path).workspace
    a, b = ws.new_job("stylise"), ws.new_job("stylise")
    assert a != b and a.parent == b.parent == ws.root and a.name.startswith("stylise-")
    with pytest.raises(ValueError):
        ws.new_job("../x")


def test_uploads_must_lie_in_the_uploads_folder(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ws = ctx.workspace
    inside = Path(upload(ctx, make_image(tmp_path / "p.png")))
    assert ws.upload(str(inside)) == inside
    outside = make_image(tmp_path / "elsewhere.png")
    for bad in (str(outside), "/etc/passwd", str(ws.uploads / ".." / "x.png"), "../p.png"):
        with pytest.raises(InputError, match=r"outside|climbs out"):
            ws.upload(bad)
    job = ws.new_job("stylise")  # inside the outputs folder, but not an upload
    (job / "x.png").write_bytes(b"x")
    with pytest.raises(InputError, match="outside"):
        ws.upload(str(job / "x.png"))
    with pytest.raises(InputError, match="choose a file"):
        ws.upload(None)


def test_a_symbolic_link_out_of_the_uploads_folder_is_refused(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    secret = tmp_path / "secret.png"
    make_image(secret)
    link = ctx.workspace.uploads / "abc"
    link.mkdir()
    os.symlink(secret, link / "photo.png")
    with pytest.raises(InputError, match="symbolic link"):
        ctx.workspace.upload(str(link / "photo.png"))


def test_check_image_refuses_what_is_not_an_acceptable_image(tmp_path: Path) -> None:
    lim = Limits()
    good = make_image(tmp_path / "ok.png", (40, 30))
    assert check_image(good, lim) == good
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with pytest.raises(InputError, match=r"^notes.png: not an image; upload a PNG"):
        check_image(fake, lim)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        check_image(empty, lim)
    with pytest.raises(InputError, match=r"40x30 is 0.0 megapixels, more than the 0.001"):
        check_image(good, Limits(max_pixels=1000))
    with pytest.raises(InputError, match="MB is more than"):
        check_image(good, Limits(max_upload_mb=0.0001))
    truncated = tmp_path / "cut.png"
    big = make_image(tmp_path / "big.png", (200, 200))
    truncated.write_bytes(big.read_bytes()[:2000])
    with pytest.raises(InputError, match="damaged or unreadable"):
        check_image(truncated, lim)


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 MP, a few kB on disk
    assert bomb.stat().st_size < 200_000
    with pytest.raises(InputError, match=r"megapixels|far more pixels"):
        check_image(bomb, Limits())


def test_check_bank_refuses_an_image_posing_as_a_bank(tmp_path: Path) -> None:
    fake = tmp_path / "gwen.safetensors"
    fake.write_bytes(make_image(tmp_path / "x.png").read_bytes())
    with pytest.raises(InputError, match=r"gwen\.safetensors: not a style bank"):
        check_bank(fake, Limits())


def test_picking_from_a_folder_stays_inside_it(tmp_path: Path) -> None:
    banks = tmp_path / "banks"
    (banks / "sub").mkdir(parents=True)
    (banks / "a.safetensors").write_bytes(b"x")
    (banks / "sub" / "b.safetensors").write_bytes(b"x")
    (banks / ".hidden.safetensors").write_bytes(b"x")
    (banks / "notes.txt").write_text("x")
    (tmp_path / "outside.safetensors").write_bytes(b"x")
    assert list_files(banks, [".safetensors"]) == ["a.safetensors", "sub/b.safetensors"]
    assert pick(banks, "sub/b.safetensors", "universe") == banks / "sub" / "b.safetensors"
    for bad, why in (("../outside.safetensors", "climbs out"), (str(tmp_path / "outside.safetensors"), "absolute"),
                     ("missing.safetensors", "no such file")):  # fmt: skip
        with pytest.raises(InputError, match=why):
            pick(banks, bad, "universe")
    with pytest.raises(InputError, match="without a folder"):
        pick(None, "a.safetensors", "universe")
    assert list_files(None, [".safetensors"]) == []


def test_a_refused_upload_is_removed_at_once(tmp_path: Path) -> None:
    from fixtures.app import make_ctx, upload

    ctx = make_ctx(tmp_path)
    fake = tmp_path / "holiday.png"
    fake.write_text("not an image")
    path = Path(upload(ctx, fake))
    with pytest.raises(InputError, match=r"holiday\.png: not an image"):
        ctx.workspace.upload(str(path), "photo", "image")
    assert not path.exists() and not path.parent.exists()


def test_sweep_removes_by_age_then_by_size_and_keeps_what_a_page_shows(tmp_path: Path) -> None:
    import os
    import time

    from fixtures.app import make_ctx
    from styleverse.app.disk import sweep

    ctx = make_ctx(tmp_path)
    ws = ctx.workspace
    old, shown, recent, newest = (ws.new_job(k) for k in ("old", "shown", "recent", "newest"))
    for i, folder in enumerate((old, shown, recent, newest)):
        (folder / "result.png").write_bytes(b"x" * 400_000)
        stamp = time.time() - (4 - i) * 3600 * (10 if folder in (old, shown) else 0.1)
        os.utime(folder / "result.png", (stamp, stamp))
    sweep(ws, keep_hours=24, max_disk_gb=1, held={shown})
    assert not old.exists() and shown.exists() and recent.exists() and newest.exists()  # 40 h old; shown kept
    sweep(ws, keep_hours=24, max_disk_gb=1.0 / 1024, held={shown})  # 1 MB: the oldest unheld goes
    assert shown.exists() and not recent.exists() and newest.exists()
