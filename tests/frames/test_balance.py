"""Balancing, augmentation, leak-free train/val split and dataset stats."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.videos import make_video, universe_frame
from styleverse.errors import ConfigError, InputError
from styleverse.frames.augment import AugmentConfig, augment
from styleverse.frames.balance import EXCLUDED, TRAIN, VAL, BalanceConfig, balance, block_key, split_blocks
from styleverse.frames.harvest import Row, read_manifest, write_manifest
from styleverse.frames.quality import phash_hex
from styleverse.frames.stats import class_counts, sheet_rows, write_stats
from styleverse.plots import LINE_H

Cli = Callable[..., tuple[int, str, str]]


def make_dataset(root: Path, classes: dict[str, int], sources: int = 2, step: float = 1.0) -> list[Row]:
    """A harvested-looking dataset without decoding video: ``n`` frames per class, ``step`` seconds apart,
    spread over ``sources`` videos."""
    rows = []
    for label, n in classes.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            src, t = f"videos/{label}{i % sources}.mp4", (i // sources) * step
            img = Image.fromarray(universe_frame(label, t + 0.1 * (i % sources), (40, 32)))
            rel = f"{label}/{label}{i % sources}_{round(t * 1000)}.jpg"
            img.save(root / rel, quality=95)
            rows.append(Row(rel, label, src, t, phash_hex(img)))
    write_manifest(root, rows)
    return rows


def by_split(rows: list[Row]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for r in rows:
        out.setdefault(r.label, Counter())[r.split] += 1
    return out


# --- augmentation -------------------------------------------------------------------------------------


def test_augment_same_size_different_deterministic() -> None:
    img = torch.from_numpy(universe_frame("gwen", 0.0, (40, 32))).permute(2, 0, 1)[None].float() / 255
    copy = img.clone()
    outs = [augment(img, torch.Generator().manual_seed(s)) for s in range(6)]
    assert torch.equal(img, copy)  # input untouched
    for out in outs:
        assert out.shape == img.shape and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 1
        assert (out - img).abs().mean() > 0.02
    assert torch.equal(outs[0], augment(img, torch.Generator().manual_seed(0)))
    assert (outs[0] - outs[1]).abs().mean() > 0.01
    flipped = augment(
        img,
        torch.Generator().manual_seed(0),
        AugmentConfig(flip=1.0, rotation=0, brightness=0, contrast=0, saturation=0, hue=0),
    )
    assert (flipped - img.flip(-1)).abs().mean() < (flipped - img).abs().mean()
    with pytest.raises(ValueError):
        augment(img[0], torch.Generator())


# --- split --------------------------------------------------------------------------------------------


def test_split_blocks_greedy_and_edge_cases() -> None:
    rows = [Row(f"a/x_{i}.jpg", "a", "x.mp4", float(i), "0") for i in range(100)]
    val = split_blocks(rows, 0.2, 10.0, np.random.default_rng(0))
    assert len(val) == 2 and all(k[0] == "x.mp4" for k in val)
    assert split_blocks(rows, 0.0, 10.0, np.random.default_rng(0)) == set()
    assert split_blocks(rows[:10], 0.2, 10.0, np.random.default_rng(0)) == set()  # one block: cannot split
    two = split_blocks(rows[:20], 0.01, 10.0, np.random.default_rng(0))
    assert len(two) == 1  # at least one val block when there are two
    assert len(split_blocks(rows[:20], 0.9, 10.0, np.random.default_rng(0))) == 1  # at least one stays train


def test_no_source_time_block_in_both_splits(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"miles": 60, "gwen": 45, "hq": 30}, sources=3, step=1.0)
    cfg = BalanceConfig(per_class=40, val_fraction=0.25, block_seconds=3.0, seed=1)
    balance(tmp_path, cfg)
    rows = read_manifest(tmp_path)
    for label in ("miles", "gwen", "hq"):
        train = {block_key(r, 3.0) for r in rows if r.label == label and r.split == TRAIN}
        val = {block_key(r, 3.0) for r in rows if r.label == label and r.split == VAL}
        assert train and val and not train & val
        originals = {r.path[: -len(".jpg")]: r.split for r in rows if r.label == label}
        for r in rows:
            if r.label == label and r.origin == "augmented":
                assert originals[r.path.rsplit("_aug", 1)[0]] == r.split  # augmented follow their original


# --- balance ------------------------------------------------------------------------------------------


def test_balance_default_is_smallest_class_exact_quotas(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"miles": 50, "gwen": 30, "hq": 20})
    report = balance(tmp_path, BalanceConfig(block_seconds=2.0))
    rows = read_manifest(tmp_path)
    assert report.per_class == 20 and report.val_quota == 4
    counts = by_split(rows)
    for label in ("miles", "gwen", "hq"):
        assert (counts[label][TRAIN], counts[label][VAL]) == (16, 4)
    assert counts["miles"][EXCLUDED] >= 30 and counts["gwen"][EXCLUDED] >= 10
    assert all(r.split in (TRAIN, VAL, EXCLUDED) for r in rows)
    assert all((tmp_path / r.path).is_file() for r in rows)  # down-sampled-away files are kept
    assert sum(r.origin == "harvested" for r in rows) == 100


def test_balance_augments_small_classes(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"miles": 24, "gwen": 8})
    report = balance(tmp_path, BalanceConfig(per_class=24, block_seconds=2.0, val_fraction=0.25))
    rows = read_manifest(tmp_path)
    counts = by_split(rows)
    assert (counts["gwen"][TRAIN], counts["gwen"][VAL]) == (18, 6) == (counts["miles"][TRAIN], counts["miles"][VAL])
    aug = [r for r in rows if r.origin == "augmented"]
    assert len(aug) == report.classes["gwen"].augmented + report.classes["miles"].augmented >= 16
    assert {r.label for r in aug} >= {"gwen"}
    warned = [w for w in report.warnings if "augmented copies" in w]  # the share of copies is said
    assert any(w.startswith(f"class 'gwen': {report.classes['gwen'].augmented} of its 24 images") for w in warned)
    for r in aug:
        orig_path = r.path.rsplit("_aug", 1)[0] + ".jpg"
        orig = next(o for o in rows if o.path == orig_path)
        assert (r.source, r.timestamp) == (orig.source, orig.timestamp)
        with Image.open(tmp_path / r.path) as a, Image.open(tmp_path / orig_path) as o:
            assert a.size == o.size
            diff = np.abs(np.asarray(a, dtype=np.float32) - np.asarray(o, dtype=np.float32)).mean()
            assert diff > 3
    assert len({r.path for r in rows}) == len(rows)


def test_balance_repeatable_and_replaces_old_augmentations(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"miles": 30, "gwen": 10})
    cfg = BalanceConfig(per_class=25, block_seconds=2.0)
    balance(tmp_path, cfg)
    first = (tmp_path / "manifest.csv").read_bytes()
    balance(tmp_path, cfg)
    assert (tmp_path / "manifest.csv").read_bytes() == first
    balance(tmp_path, BalanceConfig(per_class=25, block_seconds=2.0, seed=5))
    assert (tmp_path / "manifest.csv").read_bytes() != first
    balance(tmp_path, BalanceConfig(per_class=10, block_seconds=2.0))
    rows = read_manifest(tmp_path)
    listed = {r.path for r in rows}
    on_disk = {f"{p.parent.name}/{p.name}" for p in tmp_path.glob("*/*.jpg")}
    assert on_disk == listed  # augmented files of earlier runs are gone, harvested ones all kept
    assert sum(r.origin == "harvested" for r in rows) == 40


def test_balance_one_block_class_warns_and_trains_only(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"miles": 20, "gwen": 6}, sources=1, step=0.5)
    report = balance(tmp_path, BalanceConfig(per_class=10, block_seconds=5.0))
    counts = by_split(read_manifest(tmp_path))
    assert counts["gwen"][TRAIN] == 10 and counts["gwen"][VAL] == 0
    assert any("gwen" in w for w in report.warnings)


def test_balance_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no manifest"):
        balance(tmp_path)
    write_manifest(tmp_path, [])
    with pytest.raises(InputError, match="no harvested frames"):
        balance(tmp_path)
    with pytest.raises(ConfigError):
        balance(tmp_path, BalanceConfig(val_fraction=1.0))
    rows = make_dataset(tmp_path / "ds", {"miles": 4, "gwen": 4})
    (tmp_path / "ds" / rows[2].path).unlink()
    before = (tmp_path / "ds" / "manifest.csv").read_bytes()
    with pytest.raises(InputError, match="1 frame"):
        balance(tmp_path / "ds")
    assert (tmp_path / "ds" / "manifest.csv").read_bytes() == before


# --- stats --------------------------------------------------------------------------------------------


def test_stats_counts_and_sheets(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"miles": 12, "gwen": 6})
    # counting, not leakage: no guard gap and no near-duplicate check (make_dataset's two "videos" of a
    # class are copies 0.1 s apart), so every harvested frame stays usable and the counts are exact
    cfg = BalanceConfig(per_class=8, block_seconds=2.0, val_fraction=0.25, guard_seconds=0.0, duplicate_bits=0)
    balance(tmp_path, cfg)
    report = write_stats(tmp_path, per_sheet=10, thumb=32)
    assert report.counts == class_counts(read_manifest(tmp_path))
    assert report.counts["gwen"] == {
        "total": 8,
        "train": 6,
        "val": 2,
        "excluded": 0,
        "unsplit": 0,
        "harvested": 6,
        "augmented": 2,
    }
    assert report.counts["miles"]["excluded"] == 4 and report.counts["miles"]["total"] == 12
    for label in ("miles", "gwen"):  # 8 images each (excluded rows are not shown): one row of 8 thumbnails
        with Image.open(tmp_path / "stats" / f"{label}.jpg") as im:  # under a title, with 2 caption lines
            assert im.size[0] == 8 * 32 and 32 + 2 * LINE_H < im.size[1] < 2 * 32 + 4 * LINE_H
    rows = read_manifest(tmp_path)
    few = sheet_rows([r for r in rows if r.label == "miles"], 3)
    assert len(few) == 3 and EXCLUDED not in {r.split for r in few}
    assert [(r.source, r.timestamp) for r in few] == sorted((r.source, r.timestamp) for r in few)
    assert len(sheet_rows([r for r in rows if r.label == "miles"], 50)) == 8
    with (tmp_path / "stats" / "counts.csv").open() as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["gwen", "miles"]


# --- command line: harvest -> balance -> stats --------------------------------------------------------


def test_cli_pipeline(tmp_path: Path, cli: Cli) -> None:
    a = make_video(tmp_path / "a.mp4", "miles", seconds=6)
    b = make_video(tmp_path / "b.mp4", "gwen", seconds=3)
    out = tmp_path / "ds"
    code, _, err = cli("frames", "harvest", "--out", out, "--label", "miles", a, "--label", "gwen", b, "--quiet")
    assert code == 0, err
    code, stdout, err = cli("frames", "balance", out, "--per-class", "5", "--block-seconds", "2", "--quiet")
    assert code == 0, err
    assert "5 per class" in stdout and "augmented" in stdout
    assert "guard" in stdout and "near-dup" in stdout and "nearest" in stdout
    counts = by_split(read_manifest(out))
    assert counts["miles"][TRAIN] == counts["gwen"][TRAIN] == 4 and counts["miles"][VAL] == counts["gwen"][VAL] == 1
    code, stdout, err = cli("frames", "stats", out)
    assert code == 0, err
    assert (out / "stats" / "miles.jpg").is_file() and (out / "stats" / "gwen.jpg").is_file()
    assert "miles" in stdout and "excluded" in stdout
    assert "nearest train-val pair:" in stdout and "bits apart" in stdout


@pytest.mark.parametrize(
    "args",
    [
        ["balance", "{tmp}/nowhere"],
        ["balance", "{tmp}/ds", "--val-fraction", "1.5"],
        ["balance", "{tmp}/ds", "--per-class", "0"],
        ["balance", "{tmp}/ds", "--duplicate-bits", "70"],
        ["balance", "{tmp}/ds", "--guard-seconds", "-1"],
        ["stats", "{tmp}/nowhere"],
        ["stats"],
    ],
)
def test_cli_balance_stats_errors(tmp_path: Path, cli: Cli, args: list[str]) -> None:
    make_dataset(tmp_path / "ds", {"miles": 4, "gwen": 4})
    before = (tmp_path / "ds" / "manifest.csv").read_bytes()
    code, _, stderr = cli("frames", *(a.format(tmp=tmp_path) for a in args))
    assert code == 2
    one_error_line(stderr)
    assert (tmp_path / "ds" / "manifest.csv").read_bytes() == before
