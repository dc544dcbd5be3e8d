"""One process against two under torchrun (gloo, one thread each) for the three jobs that scale out — video
frames (shots and chunks), bank images, a folder of photos — the warping error at chunk joins against inside
chunks, and a projection of a 2-hour film at 512 px on 1, 8 and 64 GPUs.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py [--shots 4] [--frames-per-shot 24] [--size 96]
        [--chunk-frames 8] [--overlap 3] [--steps-first 20] [--steps 8] [--photos 8] [--bank-images 32]
        [--gpu-seconds-per-frame 1.5] [--shot-seconds 4] [--project-chunk 240]

Each job runs as the real command (``styleverse video / styles bank / stylize``, random VGG19, float32)
under ``torchrun --nproc_per_node N`` with ``OMP_NUM_THREADS=1`` and one torch thread per process, so one
process uses one core and two use two; "seconds" is the slowest rank's time inside the command (start-up of
Python and torchrun left out, it is the same for any job length). The video's frames from one and two
processes are compared byte for byte (the chunking is the same).

The projection takes the GPU's seconds per stylised frame at 512 px from ``--gpu-seconds-per-frame``: no GPU
is measured here, so it is an ASSUMPTION (the issue's 1-3 s per frame on one GPU for Gatys with the temporal
loss at 100 warm steps; the first frame of each shot costs steps_first/steps times more). The rank-0 work
that does not spread — the decoding pass that finds the cuts, and encoding the output — is measured here
per frame at 512 px on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from styleverse.io.video import VideoReader
from styleverse.io.video_writer import VideoWriter
from styleverse.video.flow import DISFlow, to_gray
from styleverse.video.loop import to_tensor
from styleverse.video.metrics import warping_error
from styleverse.video.segments import find_cuts, plan_segments
from styleverse.video.warp import warp_previous

SRC = Path(__file__).resolve().parents[1] / "src"
FILM_FRAMES = 2 * 3600 * 24  # a 2-hour film at 24 fps
WORKER = """
import json, os, sys, time
import torch
torch.set_num_threads(1)
from styleverse.cli.main import main
t0 = time.perf_counter()
code = main(sys.argv[2:])
with open(f"{sys.argv[1]}.{os.environ.get('RANK', '0')}", "w") as f:
    json.dump({"seconds": time.perf_counter() - t0, "code": code}, f)
sys.exit(code)
"""
TINY_NET = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--quiet"]


def scene(w: int, h: int, seed: int) -> np.ndarray:
    """A smooth colour field with detail, its palette set by ``seed`` (shots differ in colour)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    img = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC), np.float32)
    tint = rng.uniform(0.3, 1.0, 3)
    return np.clip(img * tint + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def make_film(path: Path, shots: int, per_shot: int, size: int) -> int:
    """``shots`` pans over different scenes, ``per_shot`` frames each, 24 fps, H.264; frame count."""
    w, h = size, size * 9 // 16 // 2 * 2
    with VideoWriter(path, w, h, Fraction(1, 24), Fraction(24), 12) as out:
        for s in range(shots):
            big = scene(w + 2 * per_shot + 8, h + per_shot + 8, s)
            for t in range(per_shot):
                out.write(big[4 + t // 2 : 4 + t // 2 + h, 4 + 2 * t : 4 + 2 * t + w], s * per_shot + t)
    return shots * per_shot


def launch(tmp: Path, nproc: int, args: list[str]) -> float:
    """Run ``styleverse ARGS`` on ``nproc`` processes; the slowest rank's seconds inside the command."""
    script, stamp = tmp / "worker.py", tmp / f"time{nproc}"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    proc = subprocess.run([*cmd, str(script), str(stamp), *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return max(json.loads(Path(f"{stamp}.{r}").read_text())["seconds"] for r in range(nproc))


def seam_errors(film: Path, out: Path, joins: set[int], cuts: set[int]) -> tuple[float, float]:
    """Mean warping error (Lai et al.) of the output between consecutive frames across chunk joins, and
    between the other consecutive frames within a shot."""
    flow = DISFlow()
    frames = sorted(out.glob("frame_*.png"))
    with VideoReader(film) as reader:
        inputs = [np.array(d.frame.to_image().convert("RGB")) for d in reader.frames()]
    at, inside = [], []
    for i in range(1, len(frames)):
        if i in cuts:
            continue
        pair = flow.pair(to_gray(inputs[i - 1]), to_gray(inputs[i]))
        a, b = (to_tensor(np.array(Image.open(p).convert("RGB"))) for p in (frames[i - 1], frames[i]))
        carried = warp_previous(a, pair)
        e = warping_error(b, carried.image, carried.mask)
        if e is not None:
            (at if i in joins else inside).append(e)
    return float(np.mean(at)) if at else float("nan"), float(np.mean(inside)) if inside else float("nan")


def rank0_costs(tmp: Path, frames: int = 24) -> tuple[float, float]:
    """Seconds per frame at 512 px on one core: the cut-finding decode pass, and H.264 encoding."""
    torch.set_num_threads(1)
    film = tmp / "film512.mp4"
    make_film(film, 2, frames // 2, 512)
    with VideoReader(film) as r:
        t0 = time.perf_counter()
        find_cuts(r.frames(), r.reformatter)
        scan = (time.perf_counter() - t0) / frames
    img = np.asarray(Image.new("RGB", (512, 288), (90, 120, 30)))
    t0 = time.perf_counter()
    with VideoWriter(tmp / "enc.mp4", 512, 288, Fraction(1, 24), Fraction(24)) as out:
        for i in range(frames):
            out.write(img, i)
    return scan, (time.perf_counter() - t0) / frames


def projection(args: argparse.Namespace, scan: float, encode: float) -> Table:
    """Hours for a 2-hour film at 512 px on 1, 8 and 64 GPUs (one process each). Upper bounds: on more
    than one GPU every shot is taken as chunked (``--project-chunk`` frames, ``--overlap`` lead-in frames
    stylised twice), and the slowest GPU gets one whole segment more than its share."""
    table = Table(title=f"2-hour film ({FILM_FRAMES} frames, 512 px): projected hours")
    for col in ("GPUs", "stylise / GPU", "cut pass (rank 0)", "encode (rank 0)", "total", "speed-up"):
        table.add_column(col, justify="right")
    shots = FILM_FRAMES // round(args.shot_seconds * 24)
    first_extra = args.steps_first / args.steps - 1  # a shot's first frame costs steps_first/steps frames
    work = (FILM_FRAMES + shots * first_extra) * args.gpu_seconds_per_frame
    base = None
    for gpus in (1, 8, 64):
        lead = 0 if gpus == 1 else args.overlap / args.project_chunk
        per_gpu = work * (1 + lead) / gpus + (0 if gpus == 1 else args.project_chunk * args.gpu_seconds_per_frame)
        total = per_gpu + FILM_FRAMES * (scan + encode)
        base = base or total
        hours = [per_gpu / 3600, FILM_FRAMES * scan / 3600, FILM_FRAMES * encode / 3600, total / 3600]
        table.add_row(str(gpus), *(f"{h:.2f}" for h in hours), f"{base / total:.1f}x")
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shots", type=int, default=4, help="shots in the synthetic clip (default 4)")
    p.add_argument("--frames-per-shot", type=int, default=24, help="frames per shot (default 24)")
    p.add_argument("--size", type=int, default=96, help="frame and photo size in pixels (default 96)")
    p.add_argument(
        "--chunk-frames", type=int, default=8, help="video --chunk-frames: longest piece of a shot (default 8)"
    )
    p.add_argument("--overlap", type=int, default=3, help="video --overlap: frames a chunk leads in with (default 3)")
    p.add_argument("--steps-first", type=int, default=20, help="Gatys steps on a shot's first frame (default 20)")
    p.add_argument("--steps", type=int, default=8, help="Gatys steps on each later frame (default 8)")
    p.add_argument("--photos", type=int, default=8, help="photos in the batch-stylise job (default 8)")
    p.add_argument("--bank-images", type=int, default=32, help="style images in the bank job (default 32)")
    p.add_argument(
        "--gpu-seconds-per-frame",
        type=float,
        default=1.5,
        help="ASSUMED GPU cost per 512 px frame in seconds (default 1.5)",
    )
    p.add_argument(
        "--shot-seconds", type=float, default=4.0, help="mean shot length of the projected film in seconds (default 4)"
    )
    p.add_argument("--project-chunk", type=int, default=240, help="--chunk-frames of the projected film (default 240)")
    args = p.parse_args()
    console = Console(width=140)
    console.print(f"{os.cpu_count()} CPUs, torch {torch.__version__}; one thread per process")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        film = tmp / "film.mp4"
        n = make_film(film, args.shots, args.frames_per_shot, args.size)
        style = tmp / "style.png"
        Image.fromarray(scene(64, 64, 99)).save(style)
        (tmp / "photos").mkdir()
        for i in range(max(args.photos, args.bank_images)):
            Image.fromarray(scene(args.size, args.size * 3 // 4, 200 + i)).save(tmp / "photos" / f"p{i:03d}.png")
        bank_dir = tmp / "bank_in"
        bank_dir.mkdir()
        for i in range(args.bank_images):
            (bank_dir / f"b{i:03d}.png").write_bytes((tmp / "photos" / f"p{i:03d}.png").read_bytes())
        photo_dir = tmp / "photo_in"
        photo_dir.mkdir()
        for i in range(args.photos):
            (photo_dir / f"p{i:03d}.png").write_bytes((tmp / "photos" / f"p{i:03d}.png").read_bytes())
        steps = ["--steps-first", str(args.steps_first), "--steps", str(args.steps)]
        chunks = ["--chunk-frames", str(args.chunk_frames), "--overlap", str(args.overlap)]
        video = ["video", str(film), "--style", str(style), *steps, *chunks, *TINY_NET]
        bank = ["styles", "bank", str(bank_dir), "--size", str(args.size), *TINY_NET]
        batch = ["stylize", str(photo_dir), "--style", str(style), "--steps", str(args.steps_first)]
        jobs = {
            f"video frames ({n})": lambda o: [*video, "-o", f"{o}/"],
            f"bank images ({args.bank_images})": lambda o: [*bank, "-o", f"{o}.safetensors"],
            f"batch stylise ({args.photos})": lambda o: [*batch, "--size", str(args.size), *TINY_NET, "-o", f"{o}/"],
        }
        table = Table(title="one process against two (seconds inside the command, slowest rank)")
        for col in ("job", "1 process", "2 processes", "speed-up"):
            table.add_column(col, justify="right")
        for name, job_args in jobs.items():
            key = name.split()[0]
            one = launch(tmp, 1, job_args(str(tmp / f"{key}1")))
            two = launch(tmp, 2, job_args(str(tmp / f"{key}2")))
            table.add_row(name, f"{one:.1f}", f"{two:.1f}", f"{one / two:.2f}x")
        console.print(table)
        same = [p.read_bytes() for p in sorted((tmp / "video1").glob("*.png"))] == [
            p.read_bytes() for p in sorted((tmp / "video2").glob("*.png"))
        ]
        console.print(f"video frames of one and two processes byte-identical: {same}")
        with VideoReader(film) as r:
            cuts, count = find_cuts(r.frames(), r.reformatter)
        segs = plan_segments(count, cuts, args.chunk_frames, args.overlap)
        joins = {i for s in segs if s.lead for i in range(s.first, s.start + 1)}  # pairs the blend touches
        at, inside = seam_errors(film, tmp / "video2", joins, set(cuts))
        console.print(
            f"{len(segs)} segments, cuts at {cuts}; warping error of frame pairs across chunk joins (the blended "
            f"lead-in and the step out of it) {at:.3e}, inside chunks {inside:.3e} (ratio {at / inside:.2f})"
        )
        scan, encode = rank0_costs(tmp)
        per = f"cut pass {scan * 1e3:.1f} ms, encode {encode * 1e3:.1f} ms"
        console.print(f"rank-0 work per 512 px frame on one core: {per}")
        console.print(projection(args, scan, encode))
        console.print(
            f"ASSUMED GPU cost {args.gpu_seconds_per_frame} s per stylised 512 px frame (no GPU measured here); "
            f"shots of {args.shot_seconds:g} s; the first frame of a shot {args.steps_first}/{args.steps} times a "
            "warm one"
        )


if __name__ == "__main__":
    main()
