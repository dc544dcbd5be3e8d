"""Loading every kind of image a user may hand us, and refusing the ones we cannot use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.icc import swapped_red_green
from fixtures.images import make_image
from styleverse.errors import InputError, OutputError
from styleverse.io.images import (
    check_output,
    list_images,
    load_image,
    load_tensor,
    pil_to_tensor,
    save_image,
    tensor_to_pil,
)


def test_tensor_round_trip_and_shapes(tmp_path: Path) -> None:
    t = load_tensor(make_image(tmp_path / "a.png", (48, 40)), size=24)
    assert t.shape == (1, 3, 20, 24) and t.dtype == torch.float32 and 0 <= t.min() <= t.max() <= 1
    back = pil_to_tensor(tensor_to_pil(t))
    assert torch.allclose(back, t, atol=1 / 255)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.png", None, "no such file"),
        ("empty.png", b"", "empty"),
        ("text.png", b"hello, this is not an image\n" * 10, "not an image"),
    ],
)
def test_unusable_files_raise_input_error(tmp_path: Path, name: str, content: bytes | None, match: str) -> None:
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError, match=match):
        load_image(p)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_file_is_refused(tmp_path: Path, ext: str) -> None:
    full = make_image(tmp_path / f"full.{ext}", (64, 64))
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match="cannot read"):
        load_image(cut)


def test_extension_that_lies_still_loads_by_content(tmp_path: Path) -> None:
    png = make_image(tmp_path / "real.png", (30, 20))
    liar = tmp_path / "liar.jpg"
    liar.write_bytes(png.read_bytes())
    assert np.array_equal(np.asarray(load_image(liar)), np.asarray(load_image(png)))


def test_pixel_limit_and_pillow_bomb_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = make_image(tmp_path / "big.png", (64, 64))
    with pytest.raises(InputError, match="pixel limit"):
        load_image(p, max_pixels=1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 px: Pillow warns (treated as an error)
    with pytest.raises(InputError, match="decompression bomb"):
        load_image(p)


def test_modes_are_normalised_to_rgb(tmp_path: Path) -> None:
    src = Image.open(make_image(tmp_path / "src.png", (32, 32)))
    src.convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    src.convert("L").save(tmp_path / "l.png")
    src.convert("CMYK").save(tmp_path / "cmyk.jpg")
    for name in ("p.png", "l.png", "cmyk.jpg"):
        img = load_image(tmp_path / name)
        assert img.mode == "RGB" and img.size == (32, 32)
    grey = np.asarray(load_image(tmp_path / "l.png"))
    assert np.array_equal(grey[..., 0], grey[..., 1])


def test_transparency_is_composited_over_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.getpixel((5, 5)) == (255, 255, 255) and img.getpixel((0, 0)) == (0, 0, 255)


def test_sixteen_bit_greyscale_keeps_its_range(tmp_path: Path) -> None:
    arr = np.linspace(0, 65535, 64 * 16, dtype=np.uint16).reshape(16, 64)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = np.asarray(load_image(tmp_path / "g16.png"))[..., 0]
    assert out.min() == 0 and out.max() == 255 and out[0, 32] > out[0, 4]


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    img.save(tmp_path / "rot.jpg", exif=exif, quality=98)
    up = load_image(tmp_path / "rot.jpg")
    assert up.size == (20, 40)
    assert np.asarray(up)[:10].mean() > 200 and np.asarray(up)[-10:].mean() < 50  # band now on top


def test_icc_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "icc.png", icc_profile=swapped_red_green())
    r, g, b = load_image(tmp_path / "icc.png").getpixel((3, 3))
    assert g > 150 and r < 80 and b < 80  # 'red' in that profile is sRGB green


def test_save_is_atomic_metadata_free_and_format_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N"}  # GPS
    src = tmp_path / "gps.jpg"
    Image.new("RGB", (16, 16), (10, 200, 10)).save(src, exif=exif)
    out = save_image(load_image(src), tmp_path / "out.jpg")
    assert not Image.open(out).getexif()
    with pytest.raises(OutputError, match="extension"):
        save_image(load_image(src), tmp_path / "out.unknownext")

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        save_image(load_image(src), tmp_path / "never.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gps.jpg", "out.jpg"]  # no partial or temp file


def test_check_output_guards_inputs_and_existing_files(tmp_path: Path) -> None:
    a = make_image(tmp_path / "a.png")
    with pytest.raises(OutputError, match="also an input"):
        check_output(tmp_path / "." / "a.png", [a])
    with pytest.raises(OutputError, match="already exists"):
        check_output(a, [])
    assert check_output(a, [], overwrite=True) == a
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        check_output(blocker / "out.png", [])
    assert check_output(tmp_path / "new" / "deep" / "o.png", []).parent.is_dir()


def test_list_images_expands_folders(tmp_path: Path) -> None:
    d = tmp_path / "styles"
    d.mkdir()
    for i in range(3):
        make_image(d / f"{i}.png")
    (d / "notes.txt").write_text("ignored")
    assert [p.name for p in list_images([d])] == ["0.png", "1.png", "2.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        list_images([tmp_path / "empty"])


def test_json_written_is_strict_json_with_nan_and_infinities_as_null(tmp_path: Path) -> None:
    """A report or sidecar holding NaN (an analysis of one image has no spread) stays readable everywhere."""
    import json

    from styleverse.io.images import write_json

    path = write_json(tmp_path / "r.json", {"spread": float("nan"), "rows": [1.5, float("inf")], "t": (float("-inf"),)})

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"spread": None, "rows": [1.5, None], "t": [None]}
