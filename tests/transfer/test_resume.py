"""Exact resume (state in, state out), the stop callable, and extra objective terms (the video hook)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from styleverse.cancel import StopFlag
from styleverse.errors import ConfigError
from styleverse.io.state import load_state, save_state
from styleverse.transfer.optimize import StepEvent, StyleTransfer, TransferConfig


def _cfg(**kw: object) -> TransferConfig:
    base: dict[str, object] = {"steps": 5, "scales": (24, 32), "precision": "fp32", "tol": 0.0, "device": "cpu"}
    return TransferConfig(**{**base, **kw})  # type: ignore[arg-type]


def _interrupt_after(k: int, flag: StopFlag | None = None):  # type: ignore[no-untyped-def]
    """Ctrl-C after step ``k``: a KeyboardInterrupt, or (with ``flag``) the flag a signal sets."""

    def callback(ev: object) -> None:
        if isinstance(ev, StepEvent) and ev.step == k:
            if flag is None:
                raise KeyboardInterrupt
            flag.set("interrupted")

    return callback


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert torch.equal(a.image, b.image)
    assert a.history == b.history
    assert a.final_losses == b.final_losses and a.stop_reason == b.stop_reason and a.scales == b.scales


@pytest.mark.parametrize("by_signal", [False, True], ids=["KeyboardInterrupt", "StopFlag"])
@pytest.mark.parametrize(("optimizer", "k"), [("lbfgs", 3), ("lbfgs", 5), ("lbfgs", 7), ("adam", 4)])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(  # type: ignore[no-untyped-def]
    tiny, optimizer: str, k: int, by_signal: bool, tmp_path: Path
) -> None:
    model, content, styles = tiny
    cfg = _cfg(optimizer=optimizer)
    straight = StyleTransfer(model, cfg).run(content, styles)
    flag = StopFlag() if by_signal else None
    cut = StyleTransfer(model, cfg).run(content, styles, callback=_interrupt_after(k, flag), stop=flag)
    assert cut.interrupted and cut.stop_reason == "interrupted" and cut.stopped_at == k and cut.state is not None
    assert len(cut.history) == k and cut.final_losses == {}
    # the state is plain tensors and JSON values: it survives the project's state file
    save_state(tmp_path / "s.safetensors", "stylize", {"k": k}, cut.state)
    state = load_state(tmp_path / "s.safetensors", "stylize", {"k": k})
    resumed = StyleTransfer(model, cfg).run(content, styles, state=state)
    _same(resumed, straight)
    assert resumed.stop_reason == "max_steps" and resumed.stopped_at == 10 and resumed.state is None


def test_stop_callable_ends_cleanly_and_resumes_exactly(tiny) -> None:  # type: ignore[no-untyped-def]
    model, content, styles = tiny
    cfg = _cfg(scales=(32,), steps=6)
    straight = StyleTransfer(model, cfg).run(content, styles)
    asked = {"n": 0}

    def stop() -> bool:
        asked["n"] += 1
        return asked["n"] > 2

    part = StyleTransfer(model, cfg).run(content, styles, stop=stop)
    assert part.stop_reason == "stopped" and part.stopped_at == 2 and not part.interrupted
    assert part.final_losses and part.state is not None  # a clean stop measures what it would save
    _same(StyleTransfer(model, cfg).run(content, styles, state=part.state), straight)


def test_state_from_another_run_shape_is_refused(tiny) -> None:  # type: ignore[no-untyped-def]
    model, content, styles = tiny
    cut = StyleTransfer(model, _cfg()).run(content, styles, callback=_interrupt_after(6))
    with pytest.raises(ConfigError, match="scale 1"):
        StyleTransfer(model, _cfg(scales=(32,))).run(content, styles, state=cut.state)
    with pytest.raises(ConfigError, match="another version of styleverse; run without --resume"):
        StyleTransfer(model, _cfg()).run(content, styles, state={**cut.state, "version": 0})  # type: ignore[dict-item]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_state_whose_tensors_do_not_fit_the_run_is_refused_in_one_line(tiny, optimizer: str) -> None:  # type: ignore[no-untyped-def]
    """Shapes and dtypes are checked against the run's own variables: a cut, a wrong dtype or a curvature pair
    of another size used to end in an internal error or a damaged image."""
    model, content, styles = tiny
    cut = StyleTransfer(model, _cfg(optimizer=optimizer)).run(content, styles, callback=_interrupt_after(7))
    state = cut.state
    param = state["param"]
    tampered = [
        {**state, "param": param[:-1]},
        {**state, "param": param.double()},
        {**state, "best_param": param.int()},
    ]
    if optimizer == "lbfgs":
        opt = state["optimizer"]
        tampered.append({**state, "optimizer": {**opt, "s": [s[:-3] for s in opt["s"]]}})
    for bad in tampered:
        with pytest.raises(ConfigError, match="the saved state does not fit this run"):
            StyleTransfer(model, _cfg(optimizer=optimizer)).run(content, styles, state=bad)
    resumed = StyleTransfer(model, _cfg(optimizer=optimizer)).run(content, styles, state=state)
    assert resumed.stop_reason == "max_steps"  # the untouched state still continues


def test_extra_loss_terms_join_the_objective_and_the_history(tiny) -> None:  # type: ignore[no-untyped-def]
    model, content, styles = tiny
    cfg = _cfg(scales=(32,), steps=8)
    seen: list[tuple[int, ...]] = []

    def brighter(x: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(tuple(x.shape))
        return {"bright": 1000.0 * (x.mean() - 0.9) ** 2}

    plain = StyleTransfer(model, cfg).run(content, styles)
    res = StyleTransfer(model, cfg).run(content, styles, extra_loss=brighter)
    h = res.history[-1]
    assert h["total"] == pytest.approx(h["style"] + h["content"] + h["tv"] + h["bright"], rel=1e-6)
    assert "bright" in res.final_losses and "bright" not in plain.history[-1]
    assert res.history[0]["bright"] == pytest.approx(1000.0 * (content.mean().item() - 0.9) ** 2, rel=0.05)
    assert res.image.mean() > plain.image.mean() + 0.02  # the term pulls the image towards its target
    assert seen[0] == (1, 3, 27, 32)
    with pytest.raises(ConfigError, match="clashes"):
        StyleTransfer(model, cfg).run(content, styles, extra_loss=lambda x: {"style": x.mean()})
