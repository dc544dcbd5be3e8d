"""Train/val leakage of `frames balance` on a synthetic harvest: the split by fixed blocks against the
leak-free split (shots, guard gap, cross-split near-duplicates).

    .venv/bin/python benchmarks/bench_split_leakage.py [--every 0.5] [--dedup-threshold 6] [--old-commit 5c2457c]

Builds two classes the way issue 14 found them: "animated" (two clips of flat-colour cartoon shots that
pan slowly, with a title card at the start and end of each) and "live" (slow pans over scikit-image
photos: two clips of several shots sharing one photo, and a clip that is one 20 s shot). Harvests every
``--every`` seconds, then balances twice: with ``balance.py`` of ``--old-commit`` (blocks of 10 s) and
with the current one (defaults). Prints, over the frames each split uses (train and val, harvested):
val frames with a train frame of their class closer than 6 and than 10 phash bits, the nearest such
pair, val frames with a train frame of the same video within 2 s, and val frames whose (ground-truth)
shot also has frames in train.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import skimage.data as sd
from PIL import Image, ImageDraw

from styleverse.frames.balance import BalanceConfig, balance
from styleverse.frames.harvest import HarvestConfig, clip_jobs, harvest
from styleverse.frames.manifest import Row, read_manifest
from styleverse.frames.quality import hamming_matrix, hash_ints

FPS, SIZE = 10, (160, 120)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "cat")


def cartoon(seed: int) -> Image.Image:
    """A 480x360 canvas of flat-coloured shapes with dark outlines, palette from the seed."""
    rng = np.random.default_rng(seed)
    palette = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(5)]
    im = Image.new("RGB", (480, 360), palette[0])
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x, y = rng.integers(0, 480), rng.integers(0, 360)
        r = int(rng.integers(15, 70))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=palette[int(rng.integers(1, 5))], outline=(20, 20, 20), width=3)
    return im


def title_card() -> Image.Image:
    im = Image.new("RGB", (480, 360), (250, 240, 200))
    ImageDraw.Draw(im).rectangle((120, 140, 360, 220), fill=(200, 30, 30), outline=(0, 0, 0), width=6)
    return im


def pan(img: Image.Image, seconds: float, seed: int) -> list[np.ndarray]:
    """A slow pan (and slight zoom) over ``img``: one shot."""
    rng = np.random.default_rng(seed)
    w, h = img.size
    n = round(seconds * FPS)
    (x0, y0), (x1, y1) = rng.uniform(0, 0.4, 2), rng.uniform(0, 0.4, 2)
    frames = []
    for i in range(n):
        f = i / max(1, n - 1)
        zoom = 0.6 - 0.05 * f
        cx, cy = (x0 + (x1 - x0) * f) * w, (y0 + (y1 - y0) * f) * h
        box = (int(cx), int(cy), int(cx + zoom * w), int(cy + zoom * h))
        frames.append(np.asarray(img.crop(box).resize(SIZE, Image.Resampling.BILINEAR)))
    return frames


def write(path: Path, shots: list[tuple[Image.Image, float, int]]) -> list[tuple[float, float]]:
    """Encode consecutive shots; returns each shot's (start, end) time."""
    spans, t = [], 0.0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = *SIZE, "yuv420p", 2_000_000
        for img, seconds, seed in shots:
            frames = pan(img, seconds, seed) if seed >= 0 else [np.asarray(img.resize(SIZE))] * round(seconds * FPS)
            for arr in frames:
                for p in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    out.mux(p)
            spans.append((t, t + len(frames) / FPS))
            t += len(frames) / FPS
        for p in stream.encode():
            out.mux(p)
    return spans


def make_films(root: Path) -> dict[str, tuple[str, list[tuple[float, float]]]]:
    """The five clips; returns video name -> (label, shot spans)."""
    photos = [Image.fromarray(getattr(sd, n)()[..., :3]) if getattr(sd, n)().ndim == 3 else None for n in PHOTOS]
    photos = [p for p in photos if p is not None]
    card = title_card()
    plans = {
        "cartoon_a.mp4": ("animated", [(card, 2, -1)] + [(cartoon(s), 6, s) for s in range(4)] + [(card, 2, -1)]),
        "cartoon_b.mp4": ("animated", [(card, 2, -1)] + [(cartoon(s), 5, s) for s in range(4, 9)] + [(card, 2, -1)]),
        "street_a.mp4": ("live", [(photos[i], 6, 10 + i) for i in range(4)]),
        "street_b.mp4": ("live", [(photos[i], 6, 20 + i) for i in range(3, len(photos))]),
        "traffic_long.mp4": ("live", [(photos[0], 20, 99)]),
    }
    return {name: (label, write(root / name, shots)) for name, (label, shots) in plans.items()}


def load_old_balance(commit: str) -> object:
    """``frames/balance.py`` as it was at ``commit`` (the split by fixed blocks), importable on its own."""
    text = subprocess.run(
        ["git", "show", f"{commit}:src/styleverse/frames/balance.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_balance.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_balance", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["old_balance"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def leakage(rows: list[Row], shots: dict[str, tuple[str, list[tuple[float, float]]]]) -> dict[str, float]:
    """The printed measures over the harvested train and val rows."""
    out = {"val": 0, "<6 bits": 0, "<10 bits": 0, "within 2 s": 0, "shot in train": 0, "nearest": 64}

    def shot_of(r: Row) -> tuple[str, int]:
        name = Path(r.source).name
        spans = shots[name][1]
        return name, next((i for i, (a, b) in enumerate(spans) if a <= r.timestamp < b), len(spans) - 1)

    for label in sorted({r.label for r in rows}):
        train = [r for r in rows if r.label == label and r.split == "train" and r.origin == "harvested"]
        val = [r for r in rows if r.label == label and r.split == "val" and r.origin == "harvested"]
        if not train or not val:
            continue
        d = hamming_matrix(hash_ints(r.phash for r in val), hash_ints(r.phash for r in train)).min(axis=1)
        train_shots = {shot_of(r) for r in train}
        out["val"] += len(val)
        out["<6 bits"] += int((d < 6).sum())
        out["<10 bits"] += int((d < 10).sum())
        out["nearest"] = min(out["nearest"], int(d.min()))
        shared = [v for v in val if shot_of(v) in train_shots]
        out["shot in train"] += len(shared)
        out["shared shots"] = out.get("shared shots", set()) | {shot_of(v) for v in shared}
        out["within 2 s"] += sum(
            any(t.source == v.source and abs(t.timestamp - v.timestamp) < 2 for t in train) for v in val
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--dedup-threshold", type=int, default=6, help="harvest's --dedup-threshold (0: keep all)")
    ap.add_argument("--old-commit", default="5c2457c", help="commit whose balance.py split by blocks")
    args = ap.parse_args()
    old = load_old_balance(args.old_commit)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shots = make_films(root)
        groups = {}
        for name, (label, _) in shots.items():
            groups.setdefault(label, []).append(root / name)
        ds = root / "ds"
        harvest(
            ds, clip_jobs(sorted(groups.items())), HarvestConfig(every=args.every, dedup_threshold=args.dedup_threshold)
        )
        rows = read_manifest(ds)
        counts = {lab: sum(r.label == lab for r in rows) for lab in groups}
        print(f"harvested every {args.every} s: {counts}")
        results = {}
        old.balance(ds, old.BalanceConfig())
        results[f"blocks of 10 s ({args.old_commit})"] = leakage(read_manifest(ds), shots)
        report = balance(ds, BalanceConfig())
        results["shots + guard + near-duplicates"] = leakage(read_manifest(ds), shots)
        cols = ["val", "<6 bits", "<10 bits", "nearest", "within 2 s", "shot in train"]
        print(f"{'split':36s} " + " ".join(f"{c:>13s}" for c in cols))
        for name, r in results.items():
            print(f"{name:36s} " + " ".join(f"{r[c]:>13}" for c in cols))
        for name, r in results.items():
            print(f"{name}: shots (video, shot number) on both sides: {sorted(r.get('shared shots', ()))}")
        for label, c in report.classes.items():
            print(f"{label}: {c}")
        for w in report.warnings:
            print("warning:", w)


if __name__ == "__main__":
    sys.exit(main())
