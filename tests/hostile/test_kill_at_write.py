"""SIGKILL in the middle of each kind of checkpoint write: the previous checkpoint survives whole, and the next
run takes over the dead process's lock, removes its half-written temporary file and continues from that
checkpoint to the end.

A real ``styleverse`` process runs with ``os.replace`` wrapped: at the N-th atomic replace onto the checkpoint
file it cuts the temporary file to half (a write the kill interrupted) and sends itself SIGKILL, the moment
between "new state written" and "new state in place" that an atomic write must survive. Kinds: a bank build's
state, a training state (fast train; classifier and AdaIN runs save through the same loop and writer) and a
video work folder's state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import styleverse
from fixtures.clips import pan_frames, write_clip
from fixtures.fast import make_banks, make_photos
from fixtures.images import make_image, noise_image
from styleverse.io.tensorfile import read_tensors

SRC = str(Path(styleverse.__file__).parents[1])
NET = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--quiet"]
RUNNER = """
import os, signal, sys
target, nth = sys.argv[1], int(sys.argv[2])
real, seen = os.replace, [0]
def replace(src, dst, *a, **k):
    if str(dst).endswith(target):
        seen[0] += 1
        if seen[0] == nth:
            with open(src, "r+b") as f:
                f.truncate(os.path.getsize(src) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
from styleverse.cli.main import main
sys.exit(main(sys.argv[3:]))
"""

pytestmark = pytest.mark.slow


def run(*args: str | Path, kill_at: tuple[str, int] | None = None) -> tuple[int, str]:
    """``styleverse ARGS`` in a process of its own (one thread), killed at ``kill_at`` = (file name, n)."""
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    target, nth = kill_at or ("/never/", 0)
    cmd = [sys.executable, "-c", RUNNER, target, str(nth), *map(str, args)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stderr


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file() and ".tmp" in p.name]


def bank_case(tmp: Path) -> tuple[list[str | Path], str, list[str]]:
    for i in range(5):
        noise_image(tmp / "styles" / f"s{i}.png", i, (32, 32))
    out = tmp / "b.safetensors"
    args = ["styles", "bank", tmp / "styles", "-o", out, "--size", "32", "--checkpoint-every", "1", *NET]
    return args, "b.safetensors.resume.safetensors", ["--resume"]


def fast_case(tmp: Path) -> tuple[list[str | Path], str, list[str]]:
    make_banks(tmp / "banks")
    make_photos(tmp / "photos", 3)
    bank = tmp / "banks" / "stripes.style.safetensors"
    args = ["fast", "train", "--content", tmp / "photos", "--style-bank", bank,
            "-o", tmp / "m.safetensors", "--size", "32", "--batch-size", "2", "--steps", "4", "--width", "4",
            "--blocks", "1", "--checkpoint-every", "1", "--precision", "fp32", "--device", "cpu",
            "--quiet"]  # fmt: skip
    return args, "m.safetensors.resume.safetensors", ["--resume"]


def video_case(tmp: Path) -> tuple[list[str | Path], str, list[str]]:
    clip = write_clip(tmp / "in" / "clip.mp4", pan_frames(4))
    style = make_image(tmp / "in" / "style.png", (40, 40), 3)
    args = ["video", clip, "--style", style, "-o", tmp / "o.mp4", "--style-layers", "relu1_1", "--content-layers",
            "relu1_1", "--steps-first", "2", "--steps", "1", *NET]  # fmt: skip
    return args, "000000.safetensors", []  # the state of the clip's first segment (video/work.py)


CASES = {"bank build": bank_case, "fast train": fast_case, "video": video_case}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(kind: str, tmp_path: Path) -> None:
    args, name, again = CASES[kind](tmp_path)
    code, err = run(*args, kill_at=(name, 2))
    assert code == -signal.SIGKILL, err
    states = [p for p in tmp_path.rglob(name) if p.is_file()]
    assert len(states) == 1 and temp_files(tmp_path), "the kill left the first state and a cut temporary file"
    read_tensors(states[0])  # the first state is whole: its checksum holds
    locks = [*tmp_path.rglob(".*.lock"), *tmp_path.rglob(".styleverse.lock")]
    assert locks, "the dead process left its lock file"
    code, err = run(*args, *again)  # continues from the first state (a cut one would be refused)
    assert code == 0, err
    assert not temp_files(tmp_path) and not any(p.exists() for p in locks)
