"""Resume states edited with their checksum redone, as a careful editor would: a changed count, a zero weight
sum, another layer list, huge but finite numbers, a tensor of another dtype or shape. Each is refused in one line
naming the file (exit 2 from the CLI), the state is left as it was and nothing is written from it; before, a bank
build finished into a bank full of inf and a stylise run wrote a damaged image or died in an internal error."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from fixtures.cli import one_error_line
from fixtures.images import noise_image
from styleverse.errors import ConfigError
from styleverse.io.state import save_state, unflatten
from styleverse.io.tensorfile import read_tensors
from styleverse.training.loop import LoopConfig, TrainTask, run_loop

Change = Callable[[dict[str, Any]], None]


def edit_state(path: Path, change: Change) -> bytes:
    """Rewrite the state at ``path`` with ``change`` applied, fingerprint and checksum redone; its new bytes."""
    tensors, meta = read_tensors(path)
    state = unflatten(json.loads(meta["state"]), tensors)
    change(state)
    save_state(path, meta["styleverse_kind"], json.loads(meta["fingerprint"]), state)
    return path.read_bytes()


def _set(key: str, value: Any) -> Change:
    return lambda s: s.__setitem__(key, value)


def _scale(key: str, factor: float) -> Change:
    def change(s: dict[str, Any]) -> None:
        s[key] = {k: v * factor for k, v in s[key].items()}

    return change


def _drop_layer(s: dict[str, Any]) -> None:
    gone = s["layers"].pop()
    for key in ("sum", "sq_norm_sum", "stat_mean", "stat_std"):
        s[key].pop(gone)


def _half_precision(s: dict[str, Any]) -> None:
    s["sum"] = {k: v.float() for k, v in s["sum"].items()}


def _stop_at(k: int) -> Callable[[Any], None]:
    def callback(ev: Any) -> None:
        if ev.done == k:
            raise KeyboardInterrupt

    return callback


BANK_CASES: dict[str, Change] = {
    "count": _set("count", 7),
    "zero weight sum": lambda s: s.__setitem__("weight_sum", torch.tensor(0.0, dtype=torch.float64)),
    "layer list": _drop_layer,
    "huge sums": _scale("sum", 1e300),
    "scaled sums": _scale("sum", 1e12),
    "dtype": _half_precision,
    "statistics shape": lambda s: s.__setitem__("stat_mean", {k: v[:-1] for k, v in s["stat_mean"].items()}),
}


@pytest.mark.parametrize("case", sorted(BANK_CASES))
def test_a_tampered_bank_build_state_is_refused(tiny_vgg, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    from styleverse.styles.bank import build_bank
    from styleverse.styles.resume import BankCheckpoint, BankInterrupted
    from styleverse.styles.targets import StyleImage

    model, info = tiny_vgg
    images = [StyleImage(noise_image(tmp_path / f"r{i}.png", 40 + i, (24, 24)), 0.5 + i) for i in range(7)]
    ckpt = BankCheckpoint(tmp_path / "b.resume.safetensors", every=0)

    with pytest.raises(BankInterrupted):
        build_bank(model, info, images, 24, callback=_stop_at(3), checkpoint=ckpt)
    edited = edit_state(ckpt.path, BANK_CASES[case])
    with pytest.raises(ConfigError) as e:
        build_bank(model, info, images, 24, checkpoint=replace(ckpt, resume=True))
    msg = str(e.value)
    assert "\n" not in msg and ckpt.path.name in msg and e.value.settings == ("resume",), msg
    assert ckpt.path.read_bytes() == edited


def test_an_untouched_bank_state_still_resumes(tiny_vgg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The checks pass what a real build saves, a state saved before the first image included."""
    from styleverse.styles.bank import build_bank
    from styleverse.styles.resume import BankCheckpoint, BankInterrupted
    from styleverse.styles.targets import StyleImage

    model, info = tiny_vgg
    images = [StyleImage(noise_image(tmp_path / f"r{i}.png", 50 + i, (24, 24)), 1.0 + i) for i in range(3)]
    full = build_bank(model, info, images, 24)
    ckpt = BankCheckpoint(tmp_path / "b.resume.safetensors", every=0)
    with pytest.raises(BankInterrupted):  # stopped before the first image: nothing summed yet
        build_bank(model, info, images, 24, checkpoint=ckpt, stop=lambda: True)
    with pytest.raises(BankInterrupted):
        build_bank(model, info, images, 24, checkpoint=replace(ckpt, resume=True), callback=_stop_at(2))
    resumed = build_bank(model, info, images, 24, checkpoint=replace(ckpt, resume=True))
    assert resumed.count == 3 and all(torch.equal(resumed.mean[k], full.mean[k]) for k in full.layers)


def _lbfgs_pairs_scaled(s: dict[str, Any]) -> None:
    s["transfer"]["optimizer"]["s"] = [v * 1e20 for v in s["transfer"]["optimizer"]["s"]]


def _transfer(key: str, value: Callable[[Any], Any]) -> Change:
    return lambda s: s["transfer"].__setitem__(key, value(s["transfer"][key]))


STYLIZE_CASES: dict[str, Change] = {
    "rng dtype": _transfer("rng", lambda t: t.to(torch.int32)),
    "curvature pairs": _lbfgs_pairs_scaled,
    "variables far out": _transfer("param", lambda t: t * 1e6),
    "step count": _transfer("step", lambda n: n + 5),
    "loss scale": _transfer("loss_scale", lambda v: -1.0),
    "image dtype": lambda s: s.__setitem__("image", s["image"].double()),
    "image values": lambda s: s.__setitem__("image", s["image"] * 300),
}


@pytest.mark.parametrize("case", sorted(STYLIZE_CASES))
def test_a_tampered_stylise_state_is_refused_and_kept(  # type: ignore[no-untyped-def]
    cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from styleverse.cli import stylize as mod
    from styleverse.transfer.config import StepEvent

    def interrupt_at_2(self, ev):  # type: ignore[no-untyped-def]
        if isinstance(ev, StepEvent) and ev.step == 2:
            raise KeyboardInterrupt

    out = tmp_path / "r.png"
    args = ["stylize", images["content"], "--style", images["style_a"], "-o", out, "--size", "32", "--steps", "4",
            "--backbone", "random", "--precision", "fp32", "--quiet"]  # fmt: skip
    monkeypatch.setattr(mod.StepReporter, "__call__", interrupt_at_2)
    assert cli(*args)[0] == 130
    monkeypatch.undo()
    state = tmp_path / "r.png.resume.safetensors"
    edited = edit_state(state, STYLIZE_CASES[case])
    code, _, err = cli(*args, "--resume")
    line = one_error_line(err)
    assert code == 2 and "does not fit this run" in line and "--lr" not in line, err
    assert state.read_bytes() == edited and not out.exists()


class _Fit(TrainTask):
    """y = x·w with dropout: a model, an Adam optimiser with moments and RNGs, like every trainer's state."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
        self.x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))

    def batch(self, step: int, ctx: Any) -> torch.Tensor:
        return self.x

    def losses(self, batch: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        return {"total": ((self.model(batch) - batch.sum(1, keepdim=True)) ** 2).mean()}


def _first(key: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Change:
    def change(s: dict[str, Any]) -> None:
        part = s[key]
        name = sorted(part)[0]
        part[name] = fn(part[name])

    return change


def _moment(s: dict[str, Any]) -> None:
    s["optimizer"]["state"][0]["exp_avg"] = s["optimizer"]["state"][0]["exp_avg"][:1]


LOOP_CASES: dict[str, Change] = {
    "model dtype": _first("model", lambda t: t.to(torch.int32)),
    "model shape": _first("model", lambda t: t[:1]),
    "optimizer moment": _moment,
    "rng dtype": lambda s: s["ranks"][0].__setitem__("torch", s["ranks"][0]["torch"].to(torch.int32)),
    "step count": _set("step", 40),
}


@pytest.mark.parametrize("case", sorted(LOOP_CASES))
def test_a_tampered_training_state_is_refused(tmp_path: Path, case: str) -> None:
    """fast, AdaIN and classifier training share this loop and its state."""
    path = tmp_path / "m.safetensors.resume.safetensors"

    def train(resume: bool) -> None:
        task = _Fit()
        cfg = LoopConfig(steps=3, state_path=path, kind="fast_train", fingerprint={"lr": 0.1}, resume=resume)
        run_loop(task, torch.optim.Adam(task.model.parameters(), lr=0.1), cfg)

    train(False)
    edited = edit_state(path, LOOP_CASES[case])
    with pytest.raises(ConfigError, match="does not fit this run") as e:
        train(True)
    assert "\n" not in str(e.value) and path.name in str(e.value) and path.read_bytes() == edited


@pytest.mark.parametrize("field", ["pts", "time", "index", "pass"])
def test_a_tampered_video_work_state_is_refused(tmp_path: Path, field: str) -> None:
    from styleverse.video.work import WorkFolder

    work = WorkFolder(tmp_path / "v.mp4.work", {"size": 32})
    work.path.mkdir()
    record = {"index": 0, "time": 0.0, "pts": 0, "seconds": 1.0, "flow_ms": 0.0, "steps": 4, "losses": {"total": 1.0},
              "warp_error": None, "input_warp_error": None}  # fmt: skip
    second = {**record, "index": 1, "time": 0.04, "pts": 1}
    work.save_frame(0, torch.rand(1, 3, 8, 8))
    work.save_frame(1, torch.rand(1, 3, 8, 8))
    work.save([record, second], {"loss_scale": 2.0})
    assert work.load()[0] == [record, second]
    # a segment's records start at its first frame and then run on one by one: an index out of that order is edited
    bad = {"pts": "soon", "time": -5.0, "index": 3, "pass": -1}[field]
    edited = edit_state(work.state_file, lambda s: s["frames"][1].__setitem__(field, bad))
    with pytest.raises(ConfigError, match="does not fit this run") as e:
        work.load()
    assert "\n" not in str(e.value) and work.state_file.read_bytes() == edited


@pytest.mark.parametrize("value", [-1.0, 0.0, "big", 7])
def test_a_tampered_video_stylizer_state_is_refused(tiny_vgg, value: Any) -> None:  # type: ignore[no-untyped-def]
    from styleverse.transfer.config import TransferConfig
    from styleverse.video.gatys import GatysFrameStylizer

    model, _ = tiny_vgg
    stylizer = GatysFrameStylizer(model, TransferConfig(), {}, 1.0, 2, 2)
    stylizer.load_state_dict({"loss_scale": 3.5})
    with pytest.raises(ValueError, match="loss_scale"):
        stylizer.load_state_dict({"loss_scale": value})
