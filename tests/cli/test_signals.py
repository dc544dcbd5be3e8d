"""SIGTERM to a running command saves what Ctrl-C saves: a real ``styleverse`` process is signalled while it
works (tiny inputs, random networks, one thread), exits with status 130 naming its saved state, and the
same command with ``--resume`` (video: run again) finishes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import styleverse
from fixtures.images import make_image
from fixtures.videos import make_video
from styleverse.fast.adain.model import load_adain
from styleverse.io.state import state_path

SRC = str(Path(styleverse.__file__).parents[1])
NET = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--quiet"]
SMALL_NET = [*NET, "--style-layers", "relu1_1", "relu2_1", "--content-layers", "relu2_1"]

pytestmark = pytest.mark.slow


def start(*args: str | Path) -> subprocess.Popen[str]:
    """``styleverse ARGS`` in a process of its own, on one thread (two cores are shared by the suite)."""
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "styleverse.cli.main", *map(str, args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def signal_once(proc: subprocess.Popen[str], ready: Path, sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Wait until ``ready`` exists (the job is inside its loop), send ``sig``, and wait for the process."""
    deadline = time.monotonic() + 300
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"finished before the signal (status {proc.returncode}): {finish(proc)[1]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{ready} never appeared")
        time.sleep(0.02)
    proc.send_signal(sig)
    return finish(proc)


def test_sigterm_saves_a_stylize_run_that_resume_finishes(tmp_path: Path) -> None:
    content, style = make_image(tmp_path / "c.png", (48, 40), 1), make_image(tmp_path / "s.png", (40, 48), 2)
    out, snaps = tmp_path / "o.png", tmp_path / "snaps"
    args = ["stylize", content, "--style", style, "-o", out, "--size", "32", "--steps", "150", "--tol", "0",
            "--save-every", "1", "--snapshot-dir", snaps, *SMALL_NET]  # fmt: skip
    code, err = signal_once(start(*args), snaps / "step_00001.png")
    assert code == 130 and "interrupted; state saved to" in err, err
    assert state_path(out).is_file() and not out.exists()
    code, err = finish(start(*args, "--resume"))
    assert code == 0, err
    assert out.is_file() and not state_path(out).exists()


def test_sigterm_saves_adain_training_that_resume_continues(tmp_path: Path) -> None:
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    photos.mkdir()
    styles.mkdir()
    for i in range(3):
        make_image(photos / f"p{i}.png", (48, 40), i)
        make_image(styles / f"s{i}.png", (44, 44), 10 + i)
    out = tmp_path / "dec.safetensors"
    args = ["adain", "train", "--content", photos, "--style", styles, "-o", out, "--size", "32", "--load-size", "40",
            "--batch-size", "1", "--width", "0.0625", "--sample-every", "1", *NET]  # fmt: skip
    code, err = signal_once(start(*args, "--steps", "5000"), tmp_path / "dec.samples" / "step_000001.png")
    assert code == 130 and "interrupted; state saved beside" in err, err
    stopped = load_adain(out).step  # the decoder is written with the state (default checkpoints: every 1000)
    assert 1 <= stopped < 5000 and state_path(out).is_file()
    code, err = finish(start(*args, "--steps", str(stopped + 2), "--resume"))
    assert code == 0, err
    assert load_adain(out).step == stopped + 2


def test_sigterm_keeps_a_video_run_that_the_same_command_finishes(tmp_path: Path) -> None:
    clip, style = make_video(tmp_path / "clip.mp4", 0, seconds=1.0), make_image(tmp_path / "s.png", (40, 40), 3)
    out = tmp_path / "o.mp4"
    args = ["video", clip, "--style", style, "-o", out, "--steps-first", "6", "--steps", "20", "--passes", "1",
            *SMALL_NET]  # fmt: skip
    work = tmp_path / "o.mp4.work"
    code, err = signal_once(start(*args), work / "frames" / "000000.png")
    assert code == 130 and "finished frames are kept in" in err, err
    assert (work / "state.safetensors").is_file() and not out.exists()
    code, err = finish(start(*args))
    assert code == 0, err
    assert out.is_file() and not work.exists()


def test_ctrl_c_while_the_command_is_still_starting_is_one_line_and_status_130(tmp_path: Path) -> None:
    """The command's imports (torch) take a second or two; a Ctrl-C then used to print a traceback."""
    content, style = make_image(tmp_path / "c.png", (48, 40), 1), make_image(tmp_path / "s.png", (40, 48), 2)
    proc = start("stylize", content, "--style", style, "-o", tmp_path / "o.png", "--size", "32", *SMALL_NET)
    # Send it while torch is being imported (its library is mapped, the command has not started): a fixed
    # sleep could land before Python's own start-up on a busy machine, which no program can answer.
    maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 120
    while proc.poll() is None and "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130 and "Traceback" not in err and "interrupted" in err, err
