"""Gatys warm start: ``stylize --init fast:MODEL[:UNIVERSE]`` / ``adain:DECODER`` starts the optimisation from
the network's result (opened by the one opener), records it, and refuses bad models with one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fixtures.cli import one_error_line
from fixtures.networks import adain_model, fast_model
from styleverse.errors import ConfigError
from styleverse.fast.apply import FastStylizer
from styleverse.fast.model import load_model
from styleverse.fast.warm import warm_stylizer
from styleverse.io.images import load_image, pil_to_tensor
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.config import parse_warm
from styleverse.transfer.job import StylizeJob, _initial_image

Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["--size", "32", "--backbone", "random", "--precision", "fp32", "--quiet"]


def test_parse_warm(tmp_path: Path) -> None:
    assert parse_warm("content") is None and parse_warm("photo.png") is None and parse_warm("c:/x.png") is None
    assert parse_warm("fast:m.safetensors") == ("fast", "m.safetensors", None)
    assert parse_warm("fast:m.safetensors:miles") == ("fast", "m.safetensors", "miles")
    assert parse_warm("adain:d.safetensors") == ("adain", "d.safetensors", None)
    odd = tmp_path / "a:b.safetensors"
    odd.write_bytes(b"")
    assert parse_warm(f"fast:{odd}") == ("fast", str(odd), None)
    with pytest.raises(ConfigError, match="names no model"):
        parse_warm("fast:")


def test_job_starts_from_the_networks_result(tmp_path: Path) -> None:
    model = fast_model(tmp_path / "m.safetensors")
    content = torch.rand(1, 3, 32, 40)
    warm = warm_stylizer(("fast", str(model), "miles"), StyleSpec(), "cpu", "fp32")
    assert warm.identity["mix"] == "miles"
    job = StylizeJob(tmp_path / "c.png", tmp_path / "o.png", init=f"fast:{model}:miles", warm=warm)
    ref = FastStylizer(load_model(model), mix="miles", precision="fp32")(content)
    assert torch.equal(_initial_image(job, content), ref)
    assert (ref - content).abs().mean() > 0.05
    assert "warm" not in job.settings() and job.settings()["init"] == f"fast:{model}:miles"
    with pytest.raises(ConfigError, match="warm_stylizer"):
        _initial_image(StylizeJob(tmp_path / "c.png", tmp_path / "o.png", init=f"fast:{model}"), content)


def test_cli_warm_start_fast_and_adain(cli: Cli, images: dict[str, Path], tmp_path: Path) -> None:
    model, decoder = fast_model(tmp_path / "m.safetensors"), adain_model(tmp_path / "d.safetensors")
    base = ["stylize", images["content"], "--style", images["style_a"], "--steps", "1", "--tol", "0", *FAST]
    outs = {}
    for init in ("content", f"fast:{model}:miles", f"adain:{decoder}"):
        out = tmp_path / f"{len(outs)}.png"
        code, _, err = cli(*base, "--init", init, "-o", out)
        assert code == 0, err
        assert json.loads(out.with_name(out.name + ".json").read_text())["settings"]["init"] == init
        outs[init] = pil_to_tensor(load_image(out))
    first, *warm = outs.values()
    assert all((w - first).abs().mean() > 0.02 for w in warm)  # one step from elsewhere lands elsewhere
    for init, message in (
        (f"fast:{tmp_path / 'none.safetensors'}", "no such model file"),
        (f"fast:{model}:nobody", "unknown universe 'nobody'"),
        (f"adain:{model}", "adain"),
    ):
        code, _, err = cli(*base, "--init", init, "-o", tmp_path / "x.png")
        assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "x.png").exists()
