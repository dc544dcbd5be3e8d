"""Video stylisation on a synthetic clip with camera motion and an occluder: seconds per frame for decode,
flow, stylise and encode, and the temporal warping error (Lai et al. 2018) of independent frames versus
Ruder et al.'s temporal loss, in one pass or several (their multi-pass scheme, ``video --passes``).

    .venv/bin/python benchmarks/bench_video.py [--seconds 5] [--fps 24] [--size 256] [--frames 12]
        [--steps-first 20] [--steps 6] [--weights 0.02] [--passes 1 4] [--style-layers relu1_1 relu2_1 relu3_1]
        [--crfs 18 12]

The clip (written to a temporary folder, H.264) is a textured scene seen by a camera that pans along a
smooth path (sub-pixel motion, changing speed) with a disc crossing in front. Decode, flow (DIS forward +
backward, the reliable-flow mask and the warp, on ONE thread as the target says) and encode are timed on
every frame of the clip; stylisation (random VGG19, float32, all threads) on the first ``--frames``
frames, once with ``temporal_weight 0`` (independent frames, each from the content with ``--steps-first``
steps) and once per ``--weights`` value and ``--passes`` count (frame 1 ``--steps-first`` steps, later
frames warm with ``--steps``; each later pass ``--steps`` more per frame, backward and forward in turn;
s/frame sums a frame's passes). The outputs are then encoded (H.264 at each ``--crfs``), decoded and
measured again: that is the file a viewer sees; "off disc" is that error away from the flat disc, where
the flow is wrong (see ``encoded_errors``). The "input" row is the input frames through the same encoder:
over the flow's whole mask it is the error any video that shows the disc where it is scores there, so that
column cannot fall to half of independent frames' for a correct output. Targets: the encoded file's warping
error off the disc at most half of independent frames', the per-frame style loss within 25% of theirs, flow
at most 20 ms per frame at 256 px on one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from styleverse.io.video import VideoReader, frame_to_array
from styleverse.io.video_writer import CHROMA, DEFAULT_CRF, VideoWriter
from styleverse.nn.features import build_model
from styleverse.styles.targets import image_grams
from styleverse.transfer.optimize import TransferConfig
from styleverse.video.config import VideoConfig
from styleverse.video.flow import DISFlow, to_gray
from styleverse.video.gatys import GatysFrameStylizer
from styleverse.video.loop import FrameLoop, FrameResult, pass_order, to_array, to_tensor
from styleverse.video.metrics import mean_error, warping_error
from styleverse.video.warp import warp_previous


def texture(w: int, h: int, seed: int) -> np.ndarray:
    """Colour regions with greyscale detail at two finer scales, RGB uint8."""
    rng = np.random.default_rng(seed)

    def noise(cell: int, ch: int) -> np.ndarray:
        small = rng.uniform(0, 1, (h // cell + 2, w // cell + 2, ch)).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w].reshape(h, w, ch)

    img = 0.6 * noise(48, 3) + 0.25 * noise(12, 1) + 0.15 * noise(4, 1)
    return ((img - img.min()) / (img.max() - img.min()) * 255).astype(np.uint8)


def disc(i: int, n: int, size: tuple[int, int]) -> tuple[int, int, int]:
    """Centre x, y and radius of the flat disc in frame ``i`` of ``n``: it drifts left and down, slower than
    the pan, so DIS (which sees no motion inside a flat region) gives it the background's motion."""
    w, h = size
    t = i / max(1, n - 1)
    return int(w * (0.9 - 0.8 * t)), int(h * (0.3 + 0.4 * t)), h // 6


def away_from_disc(i: int, n: int, size: tuple[int, int], margin: int = 8) -> torch.Tensor:
    """(1,1,H,W) float32: 0 within ``margin`` px of the disc in frames ``i`` and ``i`` − 1, else 1."""
    w, h = size
    keep = np.ones((h, w), np.uint8)
    for j in (i - 1, i):
        cx, cy, r = disc(j, n, size)
        cv2.circle(keep, (cx, cy), r + margin, 0, -1)
    return torch.from_numpy(keep).float()[None, None]


def make_clip(path: Path, seconds: float, fps: int, size: tuple[int, int]) -> int:
    """A camera panning over a large texture along a smooth path, a disc crossing in front; frame count."""
    w, h = size
    scene = texture(3 * w, 2 * h, 0)
    n = round(seconds * fps)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "16", "preset": "fast"}
        for i in range(n):
            t = i / max(1, n - 1)
            x, y = 1.6 * w * t + 0.1 * w * np.sin(6 * t), 0.5 * h * (1 - np.cos(3 * t)) / 2 + 0.2 * h
            m = np.float32([[1, 0, -x], [0, 1, -y]])  # sub-pixel camera position
            frame = cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_CUBIC)
            cx, cy, r = disc(i, n, size)
            cv2.circle(frame, (cx, cy), r, (230, 60, 40), -1, lineType=cv2.LINE_AA)
            out.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(s.encode(None))
    return n


def time_io_and_flow(clip: Path, size: tuple[int, int], tmp: Path) -> tuple[list[np.ndarray], dict[str, float]]:
    """Decode every frame, flow + mask + warp between neighbours on one thread, encode them again."""
    t0 = time.perf_counter()
    with VideoReader(clip) as r:
        frames = [frame_to_array(d.frame, size, 0, r.reformatter) for d in r.frames()]
    decode = (time.perf_counter() - t0) / len(frames)
    cv2.setNumThreads(1)
    flow, threads = DISFlow(), torch.get_num_threads()
    torch.set_num_threads(1)
    grays = [to_gray(f) for f in frames]
    flow_t, warp_t, flow_cpu, warp_cpu = [], [], [], []
    for a, b, out in zip(grays, grays[1:], frames, strict=False):
        t0, c0 = time.perf_counter(), time.thread_time()
        pair = flow.pair(a, b)
        t1, c1 = time.perf_counter(), time.thread_time()
        warp_previous(to_tensor(out), pair)
        t2, c2 = time.perf_counter(), time.thread_time()
        flow_t.append(t1 - t0)
        warp_t.append(t2 - t1)
        flow_cpu.append(c1 - c0)
        warp_cpu.append(c2 - c1)
    torch.set_num_threads(threads)
    cv2.setNumThreads(-1)
    t0 = time.perf_counter()
    with VideoWriter(tmp / "re.mp4", size[0], size[1], Fraction(1, 24), Fraction(24)) as w:
        for i, f in enumerate(frames):
            w.write(f, i)
    encode = (time.perf_counter() - t0) / len(frames)
    return frames, {
        "decode": decode,
        "flow": statistics.median(flow_t),
        "mask+warp": statistics.median(warp_t),
        "flow cpu": statistics.median(flow_cpu),
        "mask+warp cpu": statistics.median(warp_cpu),
        "encode": encode,
    }


def stylise(frames: list[np.ndarray], weight: float, passes: int, args: argparse.Namespace) -> list[FrameResult]:
    """The Gatys frame loop over ``frames`` with one temporal weight (0: independent frames) and ``passes``
    passes (Ruder et al.'s multi-pass scheme, as ``video --passes`` runs it); each frame's result of the last
    pass, with its seconds and steps summed over the passes."""
    model, _ = build_model("random", style_layers=args.style_layers, content_layers=args.content_layers, seed=0)
    style = to_tensor(texture(frames[0].shape[1], frames[0].shape[0], 7))[:, [2, 0, 1]]  # another texture
    targets = image_grams(model, style, torch.device("cpu"))
    cfg = TransferConfig(precision="fp32", device="cpu", seed=0)
    stylizer = GatysFrameStylizer(model, cfg, targets, weight, args.steps_first, args.steps)
    out: list[FrameResult] = []
    for p in range(passes if weight > 0 else 1):
        order = pass_order(len(frames), p)
        loop = FrameLoop(stylizer, order=order.step)
        loop.index = order[0]
        for i in order:
            res = loop.step(frames[i], to_array(out[i].image) if p else None)
            if p:
                res = replace(res, seconds=res.seconds + out[i].seconds, steps=res.steps + out[i].steps)
            out[i : i + 1] = [res]
    return out


def label(weight: float, passes: int) -> str:
    """A run's name in the tables."""
    return "independent" if weight == 0 else f"temporal w={weight:g}" + (f", {passes} passes" if passes > 1 else "")


def texture_energy(image: torch.Tensor) -> float:
    """Mean absolute difference from the 3x3 mean, in 8-bit levels: the fine grain a blurring warp erodes."""
    return 255 * float((image - torch.nn.functional.avg_pool2d(image, 3, 1, 1, count_include_pad=False)).abs().mean())


def encoded_errors(
    frames: list[np.ndarray], outputs: list[np.ndarray], crf: int, tmp: Path, clip_frames: int, chroma: str = "420"
) -> tuple[list[float], list[float]]:
    """Per-frame warping error (Lai et al.) of ``outputs`` after an H.264 round trip at ``crf``, measured with
    the flow of the input ``frames`` (what a viewer of the written file sees): over the flow's mask, and over
    it away from the disc (:func:`away_from_disc`; ``clip_frames`` places it). The flow is wrong on the flat
    disc, so there a frame that shows the disc where it is disagrees with the warp and one that holds a
    ghost of it agrees: the second number is the steadiness where the flow can be believed."""
    h, w = outputs[0].shape[:2]
    path = tmp / f"out{crf}.mp4"
    with VideoWriter(path, w, h, Fraction(1, 24), Fraction(24), crf, chroma=chroma) as writer:
        for i, f in enumerate(outputs):
            writer.write(f, i)
    with VideoReader(path) as r:
        decoded = [to_tensor(frame_to_array(d.frame, (w, h), 0, r.reformatter)) for d in r.frames()]
    flow, errors, away = DISFlow(), [], []
    for t in range(1, len(frames)):
        carried = warp_previous(decoded[t - 1], flow.pair(to_gray(frames[t - 1]), to_gray(frames[t])))
        errors.append(warping_error(decoded[t], carried.image, carried.mask) or float("nan"))
        off = carried.mask * away_from_disc(t, clip_frames, (w, h))
        away.append(warping_error(decoded[t], carried.image, off) or float("nan"))
    return errors, away


def quality_table(
    console: Console, frames: list[np.ndarray], runs: dict[tuple[float, int], list[FrameResult]], crfs: list[int],
    size: tuple[int, int], clip_frames: int, chroma: str = "420",
) -> None:  # fmt: skip
    """Warping error before and after encoding (and away from the disc, see :func:`encoded_errors`), style
    loss and texture against independent frames, with the input frames' own errors first; the target is the
    encoded file's error off the disc at most half of independent frames' with the style loss within 25%."""
    quality = Table(title="temporal warping error (Lai et al. 2018), style loss and texture, frames 2..N")
    cols = ("run", "s/frame", "E_warp frames", *(f"E_warp crf {c}" for c in crfs), "vs indep.",
            f"off disc crf {crfs[0]}", "vs indep.", "style loss", "vs indep.", "texture last", "target")  # fmt: skip
    for col in cols:
        quality.add_column(col)
    with tempfile.TemporaryDirectory() as d:
        both = {w: [encoded_errors(frames, [to_array(r.image) for r in res], c, Path(d), clip_frames, chroma)
                    for c in crfs]
                for w, res in runs.items()}  # fmt: skip
        floor = [encoded_errors(frames, frames, c, Path(d), clip_frames, chroma) for c in crfs]
    enc = {w: [statistics.mean(e) for e, _ in v] for w, v in both.items()}
    off = {w: statistics.mean(v[0][1]) for w, v in both.items()}
    e0, o0, s0 = enc[0.0, 1][0], off[0.0, 1], statistics.mean(r.losses["style"] for r in runs[0.0, 1][1:])
    fe, fo = [statistics.mean(e) for e, _ in floor], statistics.mean(floor[0][1])
    raw = mean_error(r.input_warp_error for r in runs[0.0, 1]) or float("nan")
    quality.add_row("input", "-", f"{raw:.3e}", *(f"{v:.3e}" for v in fe), f"{e0 / fe[0]:.2f}x lower", f"{fo:.3e}",
                    f"{o0 / fo:.2f}x lower", "-", "-", "-", "floor")  # fmt: skip
    for (w, passes), res in runs.items():
        e = mean_error(r.warp_error for r in res) or float("nan")
        s = statistics.mean(r.losses["style"] for r in res[1:])
        met = w > 0 and off[w, passes] <= o0 / 2 and s <= 1.25 * s0
        quality.add_row(label(w, passes),
                        f"{statistics.mean(r.seconds for r in res[1:]):.2f}", f"{e:.3e}",
                        *(f"{v:.3e}" for v in enc[w, passes]), f"{e0 / enc[w, passes][0]:.2f}x lower",
                        f"{off[w, passes]:.3e}", f"{o0 / off[w, passes]:.2f}x lower", f"{s:.3e}",
                        f"{100 * (s / s0 - 1):+.1f}%", f"{texture_energy(res[-1].image):.1f}",
                        "-" if w == 0 else ("met" if met else "NOT MET"))  # fmt: skip
    console.print(quality)
    console.print(f"target: encoded (crf {crfs[0]}, chroma {chroma}) E_warp off the disc at most half of independent "
                  "frames', style loss within 25%")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--size", type=int, default=256, help="width; height is 9/16 of it")
    p.add_argument("--frames", type=int, default=12, help="frames stylised (from the start of the clip)")
    p.add_argument("--steps-first", type=int, default=20)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--weights", type=float, nargs="+", default=[VideoConfig().temporal_weight])
    p.add_argument(
        "--passes",
        type=int,
        nargs="+",
        default=sorted({1, VideoConfig().passes}),
        help=f"passes of each temporal run (default: 1 and video's default, {VideoConfig().passes})",
    )
    p.add_argument("--style-layers", nargs="+", default=None, help="default: relu1_1..relu5_1")
    p.add_argument("--content-layers", nargs="+", default=None, help="default: relu4_2")
    p.add_argument(
        "--crfs",
        type=int,
        nargs="+",
        default=[DEFAULT_CRF],
        help=f"H.264 qualities the outputs are encoded at (the first for the target; default {DEFAULT_CRF})",
    )
    p.add_argument("--chroma", choices=sorted(CHROMA), default="420", help="H.264 chroma of the encoded outputs")
    p.add_argument("--sheet", help="write the stylised frames of every run as one PNG contact sheet")
    args = p.parse_args()
    console = Console(width=160)
    size = (args.size, 2 * round(args.size * 9 / 32))
    cpu = platform.processor() or platform.machine()
    console.print(f"{os.cpu_count()} CPUs ({cpu}), torch {torch.__version__} threads {torch.get_num_threads()}, "
                  f"OpenCV {cv2.__version__}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "clip.mp4"
        n = make_clip(clip, args.seconds, args.fps, size)
        frames, io = time_io_and_flow(clip, size, Path(d))
    console.print(f"clip: {n} frames {size[0]}x{size[1]} at {args.fps} fps; stylising the first {args.frames}")
    table = Table(title=f"bench_video: seconds per frame at {size[0]}x{size[1]}")
    for col in ("stage", "s/frame", "note"):
        table.add_column(col)
    table.add_row("decode (+RGB)", f"{io['decode']:.4f}", "PyAV, all frames")
    table.add_row(
        "flow (DIS fwd+bwd)",
        f"{io['flow']:.4f}",
        f"median wall, 1 thread; CPU time {io['flow cpu']:.4f} (target 0.020)",
    )
    table.add_row("mask + warp", f"{io['mask+warp']:.4f}", f"median wall, 1 thread; CPU time {io['mask+warp cpu']:.4f}")
    table.add_row("encode (H.264)", f"{io['encode']:.4f}", f"libx264 crf {DEFAULT_CRF}, incl. RGB->YUV")
    console.print(table)
    if args.frames < 1:
        return
    runs: dict[tuple[float, int], list[FrameResult]] = {}
    for w, passes in [(0.0, 1), *((w, n) for w in args.weights for n in args.passes)]:
        runs[w, passes] = res = stylise(frames[: args.frames], w, passes, args)
        secs = [r.seconds for r in res]
        mean = statistics.mean(secs[1:])
        console.print(f"stylise, {label(w, passes)}: {mean:.2f} s/frame (frame 1: {secs[0]:.2f} s)")
    quality_table(console, frames[: args.frames], runs, args.crfs, size, n, args.chroma)
    if args.sheet:
        rows = [frames[: args.frames], *([to_array(r.image) for r in res] for res in runs.values())]
        sheet = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
        Image.fromarray(sheet).save(args.sheet)
        console.print(f"frames: input, then one row per run in the order above: {args.sheet}")


if __name__ == "__main__":
    main()
