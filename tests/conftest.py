"""Shared fixtures: tiny images on disk, tiny random networks, and an in-process CLI runner."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# The same suite on every CPU: `--precision auto` behaves as on a CPU without native bf16 unless a test (or
# the developer, with STYLEVERSE_NATIVE_BF16=1) asks for the bf16 path; tests that compare numbers pin fp32.
os.environ.setdefault("STYLEVERSE_NATIVE_BF16", "0")
# One torch thread: tiny tensors gain nothing from more, and parallel test processes must not oversubscribe.
torch.set_num_threads(1)


def make_image(path: Path, size: tuple[int, int] = (48, 40), seed: int = 0, mode: str = "RGB") -> Path:
    """A smooth random colour image (so resizing and features are well defined)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(base, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.integers(-20, 20, (h, w, 3))
    arr = np.clip(np.asarray(img, dtype=np.int32) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(arr, "RGB").convert(mode).save(path)
    return path


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    """A content image and three style images (48x40 .. 40x48 PNGs)."""
    d = tmp_path / "in"
    d.mkdir()
    return {
        "content": make_image(d / "content.png", (48, 40), 1),
        "style_a": make_image(d / "style_a.png", (40, 48), 2),
        "style_b": make_image(d / "style_b.png", (44, 44), 3),
        "style_c": make_image(d / "style_c.jpg", (36, 52), 4),
    }


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``styleverse ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from styleverse.cli.main import main

    def run(*args: str | Path) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse errors and --help
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(autouse=True)
def _quiet_library_logs() -> None:
    logging.getLogger("styleverse").setLevel(logging.ERROR)
    torch.manual_seed(0)


@pytest.fixture(params=["0", "1"], ids=["cpu-without-bf16", "cpu-with-bf16"])
def native_bf16(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test as on a CPU without and as on one with native bf16 (`--precision auto` follows it)."""
    monkeypatch.setenv("STYLEVERSE_NATIVE_BF16", request.param)
    return request.param == "1"


def one_error_line(err: str) -> str:
    """The single error line a failing command must print (usage lines and warnings aside)."""
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]
