"""How well and how fast ``frames discover`` finds the universes of synthetic films.

    .venv/bin/python benchmarks/bench_discover.py [--films 0 1 2 5u] [--describers pixels random random-only]
        [--size 64] [--resolution 64x48] [--fps 10]

Each film is the tests' synthetic cut film (``tests/fixtures/films.py``: three universes in 42 shots of varied
length, motion, framing and exposure, a title card, fades; ``5u`` has five universes in 60 shots; in
``twins`` two of three universes share their colours and differ only in texture). Per film and describer it
prints the universes found (and the true number), the adjusted Rand index over the universes'
frames (10 per second, 0.3 s away from cuts; unsure counts as a label of its own), the share of title and fade
frames left unsure (or in a group of no universe's frames), and seconds per film-minute (wall clock, and CPU
time of all threads: on a shared machine the wall clock mostly measures the neighbours).

Describers: ``pixels`` (colour and edge statistics only, ``--pixel-weight 1``), ``random`` (an untrained VGG19
with the pixel statistics: the default weighting, what works offline), ``random-only`` (that network alone,
``--pixel-weight 0``: how wrong an untrusted network goes), ``imagenet`` (needs the weights in the torch hub
cache). A larger ``--resolution`` and ``--size 256`` measure speed on film-like frames.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sklearn.metrics import adjusted_rand_score

from fixtures.films import TRANSITIONS, Truth, cut_film
from styleverse.frames.cluster import ClusterSettings
from styleverse.frames.discover import DiscoverConfig, discover
from styleverse.frames.segments import parse_time
from styleverse.nn.features import FeatureSpec

UNIVERSES = {
    "3u": ("miles", "gwen", "pavitr"),
    "5u": ("miles", "gwen", "pavitr", "hq", "42"),
    "twins": ("miles", "miles+pavitr", "gwen"),  # two universes of one palette, told apart by texture only
}
DESCRIBERS = {
    "pixels": (None, 1.0),
    "random": ("random", 0.5),
    "random-only": ("random", 0.0),
    "imagenet": ("imagenet", 0.5),
}


def score(out: Path, truth: Truth) -> tuple[float, float]:
    """ARI over universe frames, and the share of transition frames kept out of every universe's label."""
    import csv

    with (out / "proposal.csv").open() as f:
        rows = [(parse_time(r["start"]), parse_time(r["end"]), r["label"]) for r in csv.DictReader(f)]

    def at(t: float) -> str:
        return next((lab for a, b, lab in rows if a <= t < b), "gap")

    want, got, trans = [], [], []
    for t in np.arange(0, truth.seconds, 0.1):
        w, g = truth.label_at(float(t)), at(float(t))
        if w in TRANSITIONS:
            trans.append(g)
        elif w is not None:
            want.append(w)
            got.append(g)
    universe_labels = set(got)
    apart = np.mean([g in ("unsure", "gap") or g not in universe_labels for g in trans]) if trans else float("nan")
    return adjusted_rand_score(want, got), float(apart)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--films", nargs="+", default=["0", "1", "2", "5u", "twins"],
                    help="film seeds; 5u: five universes; twins: two of them share a palette")  # fmt: skip
    ap.add_argument("--describers", nargs="+", default=["pixels", "random", "random-only"], choices=list(DESCRIBERS))
    ap.add_argument("--size", type=int, default=64, help="longest side frames are described at")
    ap.add_argument("--resolution", default="64x48", help="film frame size WxH")
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--universes", type=int, default=None, help="force this many universes (default: chosen)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    w, h = map(int, args.resolution.split("x"))
    print("| film | describer | universes (true) | ARI | title+fades apart | s per film-minute (wall / CPU) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.films:
            kind = name if name in UNIVERSES else "3u"
            seed = int(name) if kind == "3u" else 5
            shots = 60 if kind == "5u" else 42
            path, truth = cut_film(Path(tmp) / f"film{name}.mp4", UNIVERSES[kind], shots, seed, args.fps, (w, h))
            for describer in args.describers:
                backbone, weight = DESCRIBERS[describer]
                cfg = DiscoverConfig(size=args.size, cluster=ClusterSettings(args.universes, pixel_weight=weight))
                spec = FeatureSpec(backbone=backbone or "random")
                start, cpu = time.perf_counter(), time.process_time()
                result = discover([path], Path(tmp) / f"out-{name}-{describer}", cfg, spec)
                took, cpu = time.perf_counter() - start, time.process_time() - cpu
                ari, apart = score(result.out, truth)
                found, minutes = len(result.proposal.universes()), truth.seconds / 60
                print(f"| {name} | {describer} | {found} ({len(UNIVERSES[kind])}) | {ari:.3f} | {apart:.0%} | "
                      f"{took / minutes:.1f} / {cpu / minutes:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
