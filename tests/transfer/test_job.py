"""The stylise job: what it keeps when interrupted or when writing fails, and what it refuses to resume from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styleverse.errors import ConfigError, OutputError
from styleverse.io.state import load_state, save_state, state_path
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.config import StepEvent, TransferConfig
from styleverse.transfer.job import STATE_KIND, StylizeJob, fingerprint, run_stylize


def _job(images: dict[str, Path], out: Path, **kw: object) -> StylizeJob:
    cfg = TransferConfig(size=32, steps=6, precision="fp32", seed=3)
    style, features = StyleSpec((images["style_a"],)), FeatureSpec(backbone="random", seed=3)
    return StylizeJob(images["content"], out, style, cfg, features, **kw)  # type: ignore[arg-type]


def _pixels(p: Path) -> np.ndarray:
    return np.asarray(Image.open(p))


def test_interrupted_and_resumed_equals_uninterrupted(images: dict[str, Path], tmp_path: Path) -> None:
    straight = run_stylize(_job(images, tmp_path / "a.png"))

    def interrupt_at_4(ev: object) -> None:
        if isinstance(ev, StepEvent) and ev.step == 4:
            raise KeyboardInterrupt

    job = _job(images, tmp_path / "b.png")
    first = run_stylize(job, callback=interrupt_at_4)
    assert first.interrupted and not (tmp_path / "b.png").exists() and state_path(job.output).exists()
    resumed = run_stylize(_job(images, tmp_path / "b.png", resume=True))
    assert np.array_equal(_pixels(tmp_path / "a.png"), _pixels(tmp_path / "b.png"))
    assert resumed.result.final_losses == straight.result.final_losses
    assert resumed.sidecar["resumed_from_step"] == 4 and not state_path(job.output).exists()


def test_a_result_that_cannot_be_written_is_kept(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while saving -o: the finished image goes to the resume state; --resume writes it without
    optimising again."""
    import styleverse.transfer.job as jobmod

    def disk_full(*a: object, **k: object) -> None:
        raise OutputError("o.png: cannot write (no space left on the device (disk full))")

    job = _job(images, tmp_path / "o.png")
    monkeypatch.setattr(jobmod, "save_image", disk_full)
    with pytest.raises(OutputError, match="finished result is kept"):
        run_stylize(job)
    monkeypatch.undo()
    kept = load_state(state_path(job.output), STATE_KIND, fingerprint(job))
    assert kept["finished"] is True
    steps: list[int] = []
    out = run_stylize(_job(images, tmp_path / "o.png", resume=True), callback=lambda ev: steps.append(1))
    assert steps == [] and (tmp_path / "o.png").exists()
    assert torch.equal(out.result.image, kept["image"])
    assert not state_path(job.output).exists()


def test_damaged_resume_state_is_refused_and_left_alone(images: dict[str, Path], tmp_path: Path) -> None:
    job = _job(images, tmp_path / "o.png", resume=True)
    path = state_path(job.output)
    save_state(path, STATE_KIND, fingerprint(job), {"image": torch.full((1, 3, 8, 8), float("nan")), "finished": True})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="NaN"):
        run_stylize(job)
    assert path.read_bytes() == before and not job.output.exists()


def test_a_state_of_an_older_optimiser_asks_to_start_afresh(images: dict[str, Path], tmp_path: Path) -> None:
    def interrupt_at_2(ev: object) -> None:
        if isinstance(ev, StepEvent) and ev.step == 2:
            raise KeyboardInterrupt

    job = _job(images, tmp_path / "o.png")
    assert run_stylize(job, callback=interrupt_at_2).interrupted
    path = state_path(job.output)
    state = load_state(path, STATE_KIND, fingerprint(job))
    save_state(path, STATE_KIND, fingerprint(job), {**state, "transfer": {**state["transfer"], "version": 0}})
    with pytest.raises(ConfigError, match=r"another version of styleverse; run without --resume$"):
        run_stylize(_job(images, tmp_path / "o.png", resume=True))
    assert path.exists() and not job.output.exists()


def test_a_second_run_on_the_same_output_is_refused(images: dict[str, Path], tmp_path: Path) -> None:
    from styleverse.errors import LockedError
    from styleverse.io.lock import output_lock

    job = _job(images, tmp_path / "o.png")
    with output_lock(job.output), pytest.raises(LockedError, match="pid"):
        run_stylize(job)
    assert not job.output.exists()


def test_a_size_that_cannot_fit_is_refused_before_any_work(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import styleverse.devices as dv
    import styleverse.transfer.job as tj

    monkeypatch.setattr(dv, "available_memory", lambda device: 2**30)  # 1 GiB free

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the content was loaded (at 16384 px that is gigabytes) before the memory check")

    monkeypatch.setattr(tj, "load_image", no_loading)  # the size comes from the file's header
    job = StylizeJob(images["content"], tmp_path / "o.png", StyleSpec((images["style_a"],)),
                     TransferConfig(size=4096, steps=1, precision="fp32"), FeatureSpec("random"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"size 4096 needs about .* GiB"):
        run_stylize(job)
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # the inputs only: nothing was written


@pytest.mark.parametrize("native", ["0", "1"])
def test_the_memory_check_counts_the_precision_and_checkpointing_the_run_will_use(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: str
) -> None:
    import styleverse.devices as dv

    monkeypatch.setenv("STYLEVERSE_NATIVE_BF16", native)
    monkeypatch.setattr(dv, "available_memory", lambda device: 2**30)
    job = StylizeJob(images["content"], tmp_path / "o.png", StyleSpec((images["style_a"],)),
                     TransferConfig(size=4096, steps=1), FeatureSpec("random"))  # fmt: skip
    with pytest.raises(ConfigError) as e:
        run_stylize(job)
    want = dv.vgg_pass_bytes(4096, 3413, precision="bf16" if native == "1" else "fp32", checkpoint_blocks=2)
    assert f"needs about {want / dv.GIB:.1f} GiB" in str(e.value)
