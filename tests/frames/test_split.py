"""The leak-free split: cut detection, val windows on cuts, guard gap, cross-split near-duplicates, stats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from fixtures.videos import make_film, make_video
from styleverse.frames.balance import TRAIN, VAL, BalanceConfig, balance
from styleverse.frames.harvest import HarvestConfig, clip_jobs, harvest
from styleverse.frames.manifest import Row, read_manifest
from styleverse.frames.quality import colour_signature, hamming_matrix, hash_ints, phash_hex
from styleverse.frames.shots import Unit, shot_numbers
from styleverse.frames.split import drop_cross_duplicates, window_order
from styleverse.frames.stats import sheet_caption, sheet_title, write_stats
from styleverse.plots import ellipsize


def pan_frames(photo: np.ndarray, n: int, speed: float) -> list[Image.Image]:
    """``n`` frames of a slow pan (``speed`` of the free range per frame) over a photo: one shot."""
    img = Image.fromarray(photo[..., :3])
    w, h = img.size
    cw, ch = int(w * 0.6), int(h * 0.6)
    frames = []
    for i in range(n):
        x, y = int((w - cw) * i * speed), int((h - ch) * i * speed / 2)
        frames.append(img.crop((x, y, x + cw, y + ch)).resize((96, 72)))
    return frames


def test_cuts_between_shots_not_within_pans() -> None:
    shots = [pan_frames(getattr(skimage.data, name)(), 6, 0.08) for name in ("astronaut", "coffee", "chelsea")]
    frames = [f for shot in shots for f in shot]
    rows = [Row(f"a/{i}.jpg", "a", "film.mp4", 0.5 * i, phash_hex(f.convert("L"))) for i, f in enumerate(frames)]
    sigs = {r.path: colour_signature(f) for r, f in zip(rows, frames, strict=True)}
    assert shot_numbers(rows, sigs, block_seconds=10.0) == [0] * 6 + [1] * 6 + [2] * 6
    later = rows[:3] + [Row(r.path, "a", "film.mp4", r.timestamp + 20, r.phash) for r in rows[3:6]]
    assert shot_numbers(later, sigs, block_seconds=10.0) == [0, 0, 0, 1, 1, 1]  # a gap of a block or more


def _unit(k: int, n: int, starts: bool, ends: bool) -> Unit:
    rows = tuple(Row(f"a/{k}_{i}.jpg", "a", "v.mp4", float(10 * k + i), "0") for i in range(n))
    return Unit("v.mp4", 0, rows, starts, ends)


def test_val_window_prefers_cuts_then_size() -> None:
    # shots: [u0 u1] [u2] [u3 u4] (u0/u1 and u3/u4 are blocks of long shots), 4 frames each
    units = [_unit(0, 4, True, False), _unit(1, 4, False, True), _unit(2, 4, True, True)]
    units += [_unit(3, 4, True, False), _unit(4, 4, False, True)]
    best = next(window_order(units, target=4.0, rng=np.random.default_rng(0)))
    assert best == (2, 3)  # the whole middle shot: both ends are cuts, exactly the size
    first = {next(window_order(units, 8.0, np.random.default_rng(s))) for s in range(10)}
    assert first == {(0, 2), (3, 5)}  # whole two-block shots beat (1, 3) and (2, 4), which cut a shot
    assert list(window_order(units[:1], 2.0, np.random.default_rng(0))) == []  # one unit: none leaves train


def test_cross_split_duplicates_drop_train_twins_but_a_recurring_val_frame() -> None:
    def row(path: str, h: int) -> Row:
        return Row(path, "a", "v.mp4", 0.0, f"{h:016x}")

    val = [row("v0", 0), row("v1", 0xFFFF_0000_0000_0000)]
    # v0 has one twin in train (3 bits off); v1 (a title card) has ten (identical), more than the 7 train
    # frames per val frame: dropping v1 costs less than dropping its ten twins
    train = [row("t0", 0b111), row("t1", 0x00FF_FF00_FF00_FF00)] + [row(f"c{i}", 0xFFFF << 48) for i in range(10)]
    train += [row(f"x{i}", 0x0F0F_0F0F_0F0F_0F0F ^ (i << 8)) for i in range(2)]
    drop_t, drop_v = drop_cross_duplicates(train, val, bits=10)
    assert drop_t == {"t0"} and drop_v == {"v1"}
    kept_t = [r for r in train if r.path not in drop_t]
    kept_v = [r for r in val if r.path not in drop_v]
    assert hamming_matrix(hash_ints(r.phash for r in kept_v), hash_ints(r.phash for r in kept_t)).min() >= 10
    assert drop_cross_duplicates(train, val, bits=0) == (set(), set())


@pytest.fixture(scope="module")
def film_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[tuple[float, float]]]]:
    """A harvest of three kinds of clip for one label, every 0.5 s: a film of three shots (universes), a
    clip that is one long shot, and a 1.5 s clip too short to split; plus a second label."""
    d = tmp_path_factory.mktemp("films")
    make_film(d / "film.mp4", [("miles", 6), ("gwen", 6), ("pavitr", 6)], size=(48, 32))
    make_video(d / "long.mp4", "hq", seconds=14, size=(48, 32))
    make_video(d / "short.mp4", "42", seconds=1.5, size=(48, 32))
    make_video(d / "other.mp4", 7, seconds=12, size=(48, 32))
    jobs = clip_jobs([("anim", [d / "film.mp4", d / "long.mp4", d / "short.mp4"]), ("live", [d / "other.mp4"])])
    harvest(d / "ds", jobs, HarvestConfig(every=0.5))
    shots = {"film.mp4": [(0, 6), (6, 12), (12, 18)], "long.mp4": [(0, 14)], "short.mp4": [(0, 1.5)]}
    return d / "ds", shots


def test_balance_on_a_film_harvest_is_leak_free(film_dataset, tmp_path: Path) -> None:
    shutil.copytree(film_dataset[0], tmp_path / "ds")
    ds, shots = tmp_path / "ds", film_dataset[1]
    report = balance(ds, BalanceConfig(val_fraction=0.3, block_seconds=4.0, guard_seconds=2.0))
    rows = [r for r in read_manifest(ds) if r.label == "anim" and r.origin == "harvested"]
    used = {s: [r for r in rows if r.split == s] for s in (TRAIN, VAL)}
    by_video = {v: {s: [r for r in used[s] if Path(r.source).name == v] for s in used} for v in shots}
    # the film is split at a cut: no shot on both sides
    shot_of = {v: lambda t, v=v: next(i for i, (a, b) in enumerate(shots[v]) if a <= t < b) for v in shots}
    film = {s: {shot_of["film.mp4"](r.timestamp) for r in by_video["film.mp4"][s]} for s in used}
    assert film[TRAIN] and film[VAL] and not film[TRAIN] & film[VAL]
    # the one-shot clip is represented in val too, by blocks, with the guard gap
    long = by_video["long.mp4"]
    assert long[VAL] and long[TRAIN]
    assert min(abs(t.timestamp - v.timestamp) for t in long[TRAIN] for v in long[VAL]) >= 2.0
    # nothing on one side is a near-duplicate of the other
    d = hamming_matrix(hash_ints(r.phash for r in used[VAL]), hash_ints(r.phash for r in used[TRAIN]))
    assert d.min() >= BalanceConfig().duplicate_bits
    c = report.classes["anim"]
    assert (c.videos, c.val_videos) == (3, 2) and c.shots >= 5 and c.guard >= 1
    assert c.nearest_bits is not None and c.nearest_bits >= 10
    # the short clip could not be split and is named
    assert any("short.mp4" in w and "no val frames" in w for w in report.warnings), report.warnings
    stats = write_stats(ds, per_sheet=12, thumb=32)
    pair = stats.nearest["anim"]
    everything = [r for r in read_manifest(ds) if r.label == "anim"]
    tr = [r for r in everything if r.split == TRAIN]
    va = [r for r in everything if r.split == VAL]
    brute = hamming_matrix(hash_ints(r.phash for r in va), hash_ints(r.phash for r in tr)).min()
    assert pair is not None and pair.bits == brute


def test_sheet_title_and_caption_say_what_is_shown() -> None:
    video = "clips/street_cam_north.mp4"
    rows = [Row(f"a/x_{i}.jpg", "a", video, i, "0", TRAIN if i % 3 else "excluded") for i in range(9)]
    assert sheet_title("a", rows, 4) == "a: 4 of 6 images shown (evenly over time, 3 excluded not shown); 1 video"
    assert sheet_title("a", rows[1:3], 2) == "a: 2 of 2 images shown (all); 1 video"
    aug = Row("a/x_aug1.jpg", "a", video, 2.5, "0", VAL, "augmented")
    assert sheet_caption(aug) == "street_cam_north\n2.5s val aug"


def test_ellipsize_keeps_both_ends() -> None:
    name = "big_buck_bunny_3000.jpg"
    assert ellipsize(name, 1000) == name
    short = ellipsize(name, 60)
    assert "…" in short and short.startswith("big") and short.endswith(".jpg") and len(short) < len(name)
