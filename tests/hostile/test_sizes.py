"""Sizes and counts that cannot fit are refused up front in one line, with nothing written: ``frames balance
--per-class 1e8`` planned 10⁸ augmentations per class and ended in a MemoryError; a count that fits memory but
not the disk is refused before the first augmented image is written."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.videos import universe_frame
from styleverse.errors import StyleverseError
from styleverse.frames.balance import BalanceConfig, balance
from styleverse.frames.manifest import Row, manifest_path, write_manifest
from styleverse.frames.quality import phash_hex


def small_dataset(root: Path) -> bytes:
    """Two classes of four harvested-looking frames; the manifest's bytes."""
    rows = []
    for label in ("gwen", "miles"):
        (root / label).mkdir(parents=True)
        for i in range(4):
            img = Image.fromarray(universe_frame(label, 3.0 * i, (40, 32)))
            img.save(root / label / f"{i}.jpg", quality=95)
            rows.append(Row(f"{label}/{i}.jpg", label, f"videos/{label}.mp4", 3.0 * i, phash_hex(img)))
    write_manifest(root, rows)
    return manifest_path(root).read_bytes()


def test_balance_with_a_count_beyond_memory_is_refused_up_front(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = small_dataset(tmp_path)
    files = sorted(tmp_path.rglob("*"))
    code, _, err = cli("frames", "balance", tmp_path, "--per-class", "10000000000", "--quiet")
    line = one_error_line(err)
    assert code == 2 and "--per-class 10000000000 needs about" in line, err
    assert manifest_path(tmp_path).read_bytes() == before and sorted(tmp_path.rglob("*")) == files


def test_balance_that_would_fill_the_disk_is_refused_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = small_dataset(tmp_path)
    files = sorted(tmp_path.rglob("*"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - (20 << 20), 20 << 20))
    balance(tmp_path, BalanceConfig(per_class=6, block_seconds=2.0))  # a few more images fit in 20 MB
    manifest_path(tmp_path).write_bytes(before)
    for extra in set(tmp_path.rglob("*_aug*.jpg")):
        extra.unlink()
    with pytest.raises(StyleverseError, match="cannot write") as e:
        balance(tmp_path, BalanceConfig(per_class=5000, block_seconds=2.0))  # ~5000 frames of a few kB: no
    assert "\n" not in str(e.value)
    assert manifest_path(tmp_path).read_bytes() == before and sorted(tmp_path.rglob("*")) == files
