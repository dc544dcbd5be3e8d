"""Pytest fixtures shared by every test: tiny images on disk, a tiny random VGG, an in-process CLI runner,
one torch thread, and the two native-bf16 worlds. The helpers they use live in ``tests/fixtures/``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from fixtures.images import make_image

# The same suite on every CPU: `--precision auto` behaves as on a CPU without native bf16 unless a test (or
# the developer, with STYLEVERSE_NATIVE_BF16=1) asks for the bf16 path; tests that compare numbers pin fp32.
os.environ.setdefault("STYLEVERSE_NATIVE_BF16", "0")
# One torch thread: tiny tensors gain nothing from more, and parallel test processes must not oversubscribe.
torch.set_num_threads(1)


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


@pytest.fixture(scope="module")
def tiny_vgg() -> Any:
    """A random VGG at 1/16 width as (feature model, backbone info), one per test module."""
    from fixtures.networks import random_vgg

    return random_vgg()


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op torch thread for a module's tests, the count before put back afterwards (the app's job
    runner sets its own): on 2 shared cores, two spinning OpenMP threads ran tiny training up to 40x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
