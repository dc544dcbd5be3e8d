"""The files beside a trained model, checked before any work (shared by fast and AdaIN training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from styleverse.errors import ConfigError, OutputError, StyleverseError
from styleverse.io.images import temp_beside
from styleverse.io.state import state_path
from styleverse.training.outputs import (
    check_training_outputs,
    loss_plot_path,
    sample_file,
    samples_path,
    training_run,
    write_model,
)
from styleverse.training.settings import TrainerConfig


def _check(out: Path, **kw) -> Path:  # type: ignore[no-untyped-def]
    args = {"resume": False, "overwrite": False, "sample_every": 0, "inputs": [], "photo_sources": ()} | kw
    return check_training_outputs(out, **args)


def test_paths_beside_the_model(tmp_path: Path) -> None:
    out = tmp_path / "gwen.safetensors"
    assert loss_plot_path(out) == tmp_path / "gwen.losses.png"
    assert samples_path(out) == tmp_path / "gwen.samples"
    assert sample_file(out, 12) == tmp_path / "gwen.samples" / "step_000012.png" and samples_path(out).is_dir()


def test_refusals_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    assert _check(out) == out
    with pytest.raises(ConfigError, match=r"must end in \.safetensors"):
        _check(tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="no saved state"):
        _check(out, resume=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    with pytest.raises(OutputError, match="loss plot would join the photos"):
        _check(photos / "m.safetensors", photo_sources=[photos])
    for earlier in (out, loss_plot_path(out), state_path(out)):
        earlier.write_bytes(b"x")
        with pytest.raises(OutputError, match=rf"{earlier.name}: already exists .*--resume"):
            _check(out)
        assert _check(out, overwrite=True) == out
        earlier.unlink()
    state_path(out).write_bytes(b"x")
    assert _check(out, resume=True) == out
    with pytest.raises(OutputError, match="also an input"):
        _check(out, resume=True, inputs=[out])


def test_write_model_turns_a_failed_write_into_one_line(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"

    def fail(_: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match=r"m\.safetensors: cannot write \(No space left on device\)"):
        write_model(out, fail, [], "t")
    write_model(out, lambda p: p.write_bytes(b"model"), [{"step": 1.0, "total": 2.0}], "title")
    assert out.read_bytes() == b"model" and loss_plot_path(out).stat().st_size > 0


def test_a_training_run_checks_its_outputs_then_holds_the_models_lock(tmp_path: Path) -> None:
    cfg, out, photos = TrainerConfig(device="cpu"), tmp_path / "m.safetensors", tmp_path / "photos"
    photos.mkdir()
    with pytest.raises(OutputError, match="also an input"), training_run(cfg, out, [out]):
        pytest.fail("the body runs only after every output passed its check")
    with (
        pytest.raises(OutputError, match="loss plot would join the photos"),
        training_run(cfg, photos / "m.safetensors", [], [photos]),
    ):
        pytest.fail("the body runs only after every output passed its check")
    leftover = temp_beside(out)  # what a killed run's write left
    with training_run(cfg, out, []) as (ctx, device, got):
        assert ctx.is_main and device.type == "cpu" and got == out
        with pytest.raises(StyleverseError, match="in use by another styleverse run"), training_run(cfg, out, []):
            pytest.fail("a second run on the same model must not start")
        out.write_bytes(b"model")
    assert not leftover.exists()
    with pytest.raises(OutputError, match="already exists"), training_run(cfg, out, []):
        pytest.fail("an earlier run's model needs resume or overwrite")
    with training_run(TrainerConfig(device="cpu", overwrite=True), out, []) as (_, _, got):
        assert got == out
