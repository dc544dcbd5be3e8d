"""gan train on the shared step loop: both networks take turns, outputs and health are written, a resumed
run (after a finished run, a stop, or a Ctrl-C) is bit-identical to an uninterrupted one, and bad settings
are refused in one line before any work."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from fixtures.gan import make_data, make_frames, tiny
from styleverse.errors import ConfigError, InputError, OutputError
from styleverse.fast.gan.data import load_universes
from styleverse.fast.gan.model import load_gan
from styleverse.fast.gan.train import train_gan
from styleverse.io.state import state_path

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data(tmp_path_factory.mktemp("gan"))


def test_both_networks_train_in_turns_and_the_outputs_are_written(data: Path, tmp_path: Path) -> None:
    cfg = tiny(data, steps=8, sample_every=4, win_rate=0.5, output=str(tmp_path / "m.safetensors"))
    result = train_gan(cfg)
    h = result.history
    assert len(h) == 8 and not result.interrupted
    turns = [row["g_turn"] for row in h]
    assert 0.0 in turns and 1.0 in turns, "the gate gave both networks steps"
    for row in h:
        expected = row["style"] + row["content"] + row["transformed"] if row["g_turn"] else row["discriminator"]
        assert row["total"] == pytest.approx(expected, rel=1e-5)
        assert all(0.0 <= row[k] <= 1.0 for k in ("acc_real", "acc_photo", "acc_fake", "success"))
    model = load_gan(tmp_path / "m.safetensors")
    assert model.universes == ("gwen", "miles") and model.step == 8
    assert set(model.health["accuracy"]) == {"real", "fake"} and model.health["warnings"] == []
    assert model.settings["universe_sources"]["gwen"].endswith("gwen")
    assert (tmp_path / "m.losses.png").is_file()
    assert sorted(p.name for p in (tmp_path / "m.samples").iterdir()) == ["step_000004.png", "step_000008.png"]
    with safe_open(str(state_path(tmp_path / "m.safetensors")), "pt") as f:
        assert any("discriminator" in k for k in f.keys())  # noqa: SIM118  # safe_open is not a dict


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_gan(path).net.state_dict()


def test_resume_after_a_finished_run_and_after_a_stop_is_bit_identical(data: Path, tmp_path: Path) -> None:
    straight = train_gan(tiny(data, steps=6, output=str(tmp_path / "a.safetensors")))
    b = tmp_path / "b.safetensors"
    train_gan(tiny(data, steps=3, output=str(b)))
    resumed = train_gan(tiny(data, steps=6, output=str(b), resume=True))
    c = tmp_path / "c.safetensors"
    calls = iter(range(100))
    stopped = train_gan(tiny(data, steps=6, output=str(c)), stop=lambda: next(calls) == 1)  # after step 2
    assert stopped.interrupted and len(stopped.history) == 2
    after_stop = train_gan(tiny(data, steps=6, output=str(c), resume=True))
    for other, run in ((b, resumed), (c, after_stop)):
        assert run.history == straight.history
        wa, wo = _weights(tmp_path / "a.safetensors"), _weights(other)
        assert all(torch.equal(wa[k], wo[k]) for k in wa)
    health = load_gan(b).health
    assert health["accuracy"] == load_gan(tmp_path / "a.safetensors").health["accuracy"]


def test_a_ctrl_c_inside_a_step_leaves_no_trace_in_the_resumed_run(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from styleverse.fast.gan import train as gan_train

    straight = train_gan(tiny(data, steps=5, output=str(tmp_path / "a.safetensors")))
    real, seen = gan_train.GanTask.losses, []

    def interrupted(self: gan_train.GanTask, batch: object, step: int) -> dict[str, torch.Tensor]:
        out = real(self, batch, step)  # the gate has seen this step's accuracies: they must not count
        seen.append(step)
        if step == 3:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(gan_train.GanTask, "losses", interrupted)
    cut = train_gan(tiny(data, steps=5, output=str(tmp_path / "b.safetensors")))
    assert cut.interrupted and len(cut.history) == 3
    monkeypatch.setattr(gan_train.GanTask, "losses", real)
    resumed = train_gan(tiny(data, steps=5, output=str(tmp_path / "b.safetensors"), resume=True))
    assert resumed.history == straight.history


def test_universes_from_folders_names_and_manifest_labels(tmp_path: Path) -> None:
    from styleverse.frames.manifest import Row, write_manifest

    frames = make_frames(tmp_path / "frames")
    named = load_universes([str(frames / "gwen"), str(frames / "miles" / "miles_0.png")], [], 32)
    assert [u.name for u in named] == ["gwen", "miles_0"] and len(named[0].frames) == 8
    pngs = sorted(frames.glob("*/*.png"))
    rows = [Row(str(p.relative_to(frames)), p.parent.name, "film.mp4", 0.0, "0") for p in pngs]
    write_manifest(frames, rows)
    by_label = load_universes([str(frames)], ["miles", "gwen"], 32)
    assert [u.name for u in by_label] == ["miles", "gwen"]
    assert all("miles" in p.name for p in by_label[0].frames)
    with pytest.raises(ConfigError, match="two universes are named gwen"):
        load_universes([str(frames / "gwen"), f"{frames / 'gwen'}/"], [], 32)
    with pytest.raises(InputError, match="too small"):
        load_universes([str(frames / "gwen")], [], 64)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"win_rate": 1.5}, "win_rate"),
        ({"adversarial_weight": 0.0}, "adversarial_weight"),
        ({"size": 16}, "size"),
        ({"load_size": 16, "size": 32}, "load_size"),
        ({"content_weight": -1.0}, "content_weight"),
        ({"resume": True, "overwrite": True}, "contradict"),
        ({"style": ()}, "style"),
    ],
)
def test_bad_settings_are_one_line_errors(data: Path, tmp_path: Path, change: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        train_gan(replace(tiny(data, output=str(tmp_path / "m.safetensors")), **change))
    assert not list(tmp_path.iterdir())


def test_an_existing_model_needs_resume_or_overwrite(data: Path, tmp_path: Path) -> None:
    cfg = tiny(data, steps=1, output=str(tmp_path / "m.safetensors"))
    train_gan(cfg)
    with pytest.raises(OutputError, match="--resume"):
        train_gan(cfg)
    with pytest.raises(OutputError, match="photos"):
        train_gan(replace(cfg, output=str(data / "photos" / "m.safetensors"), overwrite=True))
    json.dumps(load_gan(tmp_path / "m.safetensors").settings)  # the settings are plain JSON


def test_batches_depend_on_the_step_alone_and_split_over_processes(data: Path) -> None:
    from styleverse.fast.gan.data import GanBatches
    from styleverse.training.photos import content_photos

    universes = load_universes([str(data / "frames" / "gwen"), str(data / "frames" / "miles")], [], 32)
    photos = content_photos([str(data / "photos")], 32)
    one = GanBatches(photos, universes, 32, 36, 2, seed=3)
    ranks = [GanBatches(photos, universes, 32, 36, 1, seed=3, rank=r, world_size=2) for r in range(2)]
    try:
        for step in (5, 0, 5, 6):  # out of order, repeated: a resumed run starts anywhere
            x, u, f = one(step)
            assert u.tolist() == [0, 1]  # every universe equally often
            for r, b in enumerate(ranks):
                xr, ur, fr = b(step)
                assert torch.equal(xr[0], x[r]) and torch.equal(fr[0], f[r]) and int(ur[0]) == int(u[r])
        assert not torch.equal(one(5)[2], one(6)[2])
    finally:
        for b in (one, *ranks):
            b.close()
