"""Training an AdaIN decoder: the loss falls on tiny data, a resumed run equals an uninterrupted one, and the
command writes its outputs and refuses to clobber a run (tiny random encoder and decoder, 32 px crops)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fixtures.cli import one_error_line
from fixtures.images import image_folder, is_window, noise_image
from styleverse.distributed import DistContext
from styleverse.fast.adain.model import STYLE_LAYERS, load_adain
from styleverse.fast.adain.train import AdaINTrainConfig, PairBatches, style_loss, train_adain
from styleverse.io.images import load_tensor
from styleverse.nn.features import FeatureSpec
from styleverse.styles.targets import channel_stats


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    photos = image_folder(tmp_path / "photos", 4, (48, 40), "p{i}.png")
    return photos, image_folder(tmp_path / "styles", 4, (44, 44), "s{i}.jpg", seed=10)


def config(data: tuple[Path, Path], out: Path, **kw: object) -> AdaINTrainConfig:
    base = AdaINTrainConfig(
        content=(str(data[0]),), style=(str(data[1]),), output=str(out), size=32, load_size=40, batch_size=2,
        steps=6, lr=1e-3, width=1 / 16, features=FeatureSpec("random", width=1 / 16), precision="fp32",
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_style_loss_is_zero_for_equal_statistics_and_positive_otherwise() -> None:
    a = {k: torch.rand(2, 4, 6, 6) for k in STYLE_LAYERS}
    assert float(style_loss(a, a)) == 0
    shifted = {k: v * 2 + 1 for k, v in a.items()}
    expect = sum(
        float(((channel_stats(v, 1e-5)[0] * 2 + 1 - channel_stats(v, 1e-5)[0]) ** 2).mean()) for v in a.values()
    )
    assert float(style_loss(shifted, a)) > expect  # the mean term alone, plus a positive std term


def test_training_lowers_the_loss(data, tmp_path: Path) -> None:
    """Paired on the same batches: the trained decoder's losses over the last 10 steps against those of the
    untrained one (a run with a negligible learning rate sees the very same batches, data order is seeded)."""
    kw = {"steps": 50, "checkpoint_every": 0}
    frozen = train_adain(config(data, tmp_path / "f.safetensors", lr=1e-12, lr_decay=0.0, **kw))
    trained = train_adain(config(data, tmp_path / "d.safetensors", lr=3e-3, **kw))
    assert len(trained.history) == 50 and all(h.keys() >= {"style", "content"} for h in trained.history)
    before, after = (sum(h["total"] for h in r.history[-10:]) for r in (frozen, trained))
    assert after < 0.7 * before, (before, after)
    assert (tmp_path / "d.safetensors").is_file() and (tmp_path / "d.losses.png").is_file()
    assert load_adain(tmp_path / "d.safetensors").step == 50


def test_bf16_training_path_runs_with_float32_losses(data, tmp_path: Path) -> None:
    result = train_adain(config(data, tmp_path / "b.safetensors", steps=2, precision="bf16", checkpoint_every=0))
    assert len(result.history) == 2 and all(math.isfinite(h["total"]) and h["total"] > 0 for h in result.history)
    assert next(result.model.net.decoder.parameters()).dtype == torch.float32


def test_resumed_run_equals_an_uninterrupted_one(data, tmp_path: Path) -> None:
    straight = train_adain(config(data, tmp_path / "a.safetensors"))
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) == 3

    first = train_adain(config(data, tmp_path / "b.safetensors"), stop=stop)
    assert first.interrupted and first.model.step == 3
    resumed = train_adain(config(data, tmp_path / "b.safetensors", resume=True))
    assert [h["total"] for h in resumed.history] == [h["total"] for h in straight.history]
    a, b = load_adain(tmp_path / "a.safetensors"), load_adain(tmp_path / "b.safetensors")
    for (k, x), y in zip(a.net.decoder.state_dict().items(), b.net.decoder.state_dict().values(), strict=True):
        assert torch.equal(x, y), k
    with pytest.raises(Exception, match="size: 32 then, 40 now"):
        train_adain(config(data, tmp_path / "b.safetensors", resume=True, size=40, load_size=48))


def test_cli_train_writes_outputs_and_refuses_to_clobber(cli, data, tmp_path: Path) -> None:
    out = tmp_path / "dec.safetensors"
    args = ["adain", "train", "--content", data[0], "--style", data[1], "-o", out, "--size", "32", "--load-size",
            "40", "--batch-size", "1", "--steps", "2", "--width", "0.0625", "--backbone", "random",
            "--sample-every", "2", "--precision", "fp32", "--quiet"]  # fmt: skip
    code, stdout, err = cli(*args)
    assert code == 0, err
    assert "decoder:" in stdout and out.is_file() and (tmp_path / "dec.samples" / "step_000002.png").is_file()
    code, _, err = cli(*args)
    assert code == 2 and "--resume" in one_error_line(err)
    code, _, err = cli(*args, "--steps", "3", "--resume")  # the last --steps counts: train on to step 3
    assert code == 0, err
    assert load_adain(out).step == 3
    code, _, err = cli(*args[:2], "--content", data[0], "--style", data[1], "-o", tmp_path / "x.pt")
    assert code == 2 and ".safetensors" in one_error_line(err)


def test_a_style_manifest_takes_a_label_and_the_counts_are_said(cli, data, tmp_path: Path) -> None:
    """Issue 19: `adain train --style manifest.csv` took every universe's frames; --label picks one, as
    `styles bank --label` does, and the run says how many content and style images it found."""
    from styleverse.frames.manifest import Row, write_manifest

    frames = tmp_path / "frames"
    rows = []
    for label, n in (("gwen", 3), ("miles", 2)):
        image_folder(frames / label, n, (44, 44), label + "{i}.png", seed=len(label))
        rows += [Row(f"{label}/{label}{i}.png", label, "clip.mp4", float(i), "0" * 16) for i in range(n)]
    write_manifest(frames, rows)
    out = tmp_path / "dec.safetensors"
    args = ["adain", "train", "--content", data[0], "--style", frames, "-o", out, "--size", "32", "--load-size",
            "40", "--batch-size", "1", "--steps", "1", "--width", "0.0625", "--backbone", "random",
            "--precision", "fp32"]  # fmt: skip
    code, _, err = cli(*args, "--label", "miles")
    assert code == 0, err
    assert "found 4 content photos and 2 style images" in " ".join(err.split())
    code, _, err = cli(*args[:4], "--style", data[1], *args[6:], "--label", "miles", "--overwrite")
    assert code == 2 and "label" in one_error_line(err)  # a label with no manifest to filter


def test_style_frames_smaller_than_load_size_are_not_enlarged(data, tmp_path: Path) -> None:
    """Issue 19 item 5: a 44-px style frame with --load-size 64 is cropped from its own pixels."""
    frame = noise_image(tmp_path / "frames" / "f.png", 5, (52, 44))
    cfg = config(data, tmp_path / "d.safetensors", style=(str(frame.parent),), load_size=64)
    batches = PairBatches(cfg, sorted(data[0].iterdir()), [frame], DistContext())
    try:
        styles = batches(0)[1]
    finally:
        batches.close()
    assert styles.shape == (2, 3, 32, 32) and all(is_window(s, load_tensor(frame)[0]) for s in styles)
