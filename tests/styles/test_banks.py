"""Style banks: weighted streaming means, file format, compatibility checks, inputs (tiny random VGG)."""

from __future__ import annotations

import os
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures.cli import styles_cli
from fixtures.images import noise_image
from styleverse.cancel import StopFlag, Stopped
from styleverse.errors import ConfigError, InputError, OutputError
from styleverse.io.images import load_tensor
from styleverse.nn.losses import style_loss
from styleverse.styles import bank as banks
from styleverse.styles import inputs as bank_inputs
from styleverse.styles import stream as bank_stream
from styleverse.styles.bank import (
    bank_targets,
    build_bank,
    check_compatible,
    load_bank,
    save_bank,
)
from styleverse.styles.inputs import expand_inputs
from styleverse.styles.resume import BankCheckpoint, BankInterrupted, resume_path
from styleverse.styles.targets import RunningSums, StyleImage, StyleSet, add_all, expand_styles, image_grams

CPU = torch.device("cpu")


def grams_of(model, path: Path, size: int) -> dict[str, torch.Tensor]:
    return image_grams(model, load_tensor(path, size), CPU)


def test_weighted_mean_equals_hand_computed(tiny_vgg, tmp_path):
    model, info = tiny_vgg
    folder = tmp_path / "folder"
    a, b = noise_image(folder / "a.png", 1), noise_image(folder / "b.png", 2)
    c = noise_image(tmp_path / "c.png", 3)
    images = expand_inputs([folder, c], weights=[2.0, 3.0])
    assert [s.weight for s in images] == [1.0, 1.0, 3.0]  # the folder shares its weight
    assert [s.weight for s in expand_inputs([folder, c], weights=[0.0, 1.0])] == [0.0, 0.0, 1.0]
    bank = build_bank(model, info, images, size=32)
    ga, gb, gc = (grams_of(model, p, 32) for p in (a, b, c))
    for k in bank.layers:
        hand = (1.0 * ga[k].double() + 1.0 * gb[k].double() + 3.0 * gc[k].double()) / 5.0
        torch.testing.assert_close(bank.mean[k].double(), hand, rtol=1e-5, atol=1e-7)
        sq = sum(w * float(g[k].double().pow(2).sum()) for g, w in ((ga, 1), (gb, 1), (gc, 3)))
        assert bank.sq_norm_sum[k] == pytest.approx(sq, rel=1e-9)
    assert (bank.weight_sum, bank.weight_sq_sum, bank.count) == (5.0, 11.0, 3)


def test_streaming_equals_in_memory_and_holds_nothing(tiny_vgg, tmp_path):
    model, info = tiny_vgg
    paths = [noise_image(tmp_path / f"f{i:03d}.png", i, (24, 20)) for i in range(16)]
    weights = [1.0 + (i % 4) for i in range(16)]
    bank = build_bank(model, info, [StyleImage(p, w) for p, w in zip(paths, weights, strict=True)], size=24)
    stacked = {k: torch.stack([grams_of(model, p, 24)[k].double() for p in paths]) for k in bank.layers}
    wt = torch.tensor(weights, dtype=torch.float64)
    for k, g in stacked.items():
        m = (wt[:, None, None] * g).sum(0) / wt.sum()
        torch.testing.assert_close(bank.mean[k].double(), m, rtol=1e-5, atol=1e-7)
        var = (wt * (g - m).pow(2).sum((1, 2))).sum() / wt.sum()
        assert bank.abs_spread()[k] == pytest.approx(float(var), rel=1e-4)

    refs: list[weakref.ref] = []

    def many():  # 2000 Grams: the running sums must drop each one once it is added
        for i in range(2000):
            g = {"x": torch.full((6, 6), float(i % 7))}
            refs.append(weakref.ref(g["x"]))
            if i >= 2:
                assert refs[i - 2]() is None, "the running sums keep Grams alive"
            yield g, 1.0

    sums = add_all(RunningSums(), many())
    mean, w, n = sums.mean(), sums.weight, sums.count
    assert n == 2000 and w == 2000.0
    torch.testing.assert_close(mean["x"], torch.full((6, 6), float(np.mean(np.arange(2000) % 7))))


def test_prefetch_is_bounded(tmp_path, monkeypatch):
    paths = [noise_image(tmp_path / f"p{i}.png", i, (16, 16)) for i in range(12)]
    loaded, consumed = [], []
    real = bank_inputs.load_tensor
    monkeypatch.setattr(bank_inputs, "load_tensor", lambda p, s: (loaded.append(p), real(p, s))[1])
    for t in bank_inputs.prefetch_tensors([StyleImage(p) for p in paths], 16, ahead=3):
        consumed.append(t)
        assert len(loaded) - len(consumed) <= 3
    assert len(consumed) == 12


def test_bank_file_gives_styleset_targets(tiny_vgg, tmp_path):
    model, info = tiny_vgg
    paths = [noise_image(tmp_path / f"s{i}.png", 10 + i, (48, 36)) for i in range(4)]
    bank = build_bank(model, info, expand_styles(paths), size=40)
    out = save_bank(bank, tmp_path / "gwen.style.safetensors", inputs=paths)
    got = bank_targets(out, info, list(model.style_weights), size=40)
    want = StyleSet(expand_styles(paths)).targets(model, 40, CPU)
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == torch.float32
        torch.testing.assert_close(got[k], want[k], rtol=1e-6, atol=1e-8)
    again = load_bank(out)
    assert again.backbone["identity"] == info.identity
    assert (again.count, again.size, again.layers) == (4, 40, list(model.style_weights))
    assert [p for p, _ in again.sources] == [str(p) for p in paths]
    assert again.spread() == pytest.approx(bank.spread(), rel=1e-6)
    assert bank_targets(out, info, ["relu2_1:0.5"]).keys() == {"relu2_1"}


def test_mismatched_bank_is_a_config_error(tiny_vgg, tmp_path):
    model, info = tiny_vgg
    bank = build_bank(model, info, [StyleImage(noise_image(tmp_path / "a.png", 0))], size=32)
    path = save_bank(bank, tmp_path / "b.safetensors")
    cases = {
        "--seed 0": replace(info, seed=1),
        "made with max pooling, this run uses avg": replace(info, pooling="avg"),
        "imagenet": replace(info, source="imagenet", seed=None, width=1.0),
    }
    for needle, other in cases.items():
        with pytest.raises(ConfigError, match=needle) as e:
            bank_targets(path, other, ["relu1_1"])
        assert "\n" not in str(e.value)
    small = replace(bank, mean={"relu1_1": bank.mean["relu1_1"]})
    with pytest.raises(ConfigError, match="relu3_1"):
        check_compatible(small, info, ["relu1_1", "relu3_1"])
    check_compatible(bank, info, ["relu1_1", "relu3_1"])  # the compatible case passes
    wrong = replace(bank, mean={**bank.mean, "relu3_1": torch.eye(5)})
    with pytest.raises(InputError, match="5 channels"):
        check_compatible(wrong, info, ["relu3_1"])


def test_bad_bank_files_are_input_errors(tiny_vgg, tmp_path):
    from safetensors.torch import save_file

    model, info = tiny_vgg
    bank = build_bank(model, info, [StyleImage(noise_image(tmp_path / "a.png", 0))], size=32)
    good = save_bank(bank, tmp_path / "good.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00\x01not a safetensors file" * 10)
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    nan = replace(bank, mean={**bank.mean, "relu2_1": bank.mean["relu2_1"] * float("nan")})
    save_bank(nan, tmp_path / "nan.safetensors")
    data = good.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    why = {
        "missing": "no such style bank",
        "garbage": "not a readable style bank",
        "plain": "not a style bank",
        "nan": "mean.relu2_1 holds NaN or infinite values",
        "cut": "not a readable style bank",
    }
    for name, message in why.items():
        with pytest.raises(InputError, match=message) as e:
            load_bank(tmp_path / f"{name}.safetensors")
        assert "\n" not in str(e.value) and name in str(e.value)


def test_spread_identity_from_bank_alone(tiny_vgg):
    """Σwᵢ style_loss(G, Gᵢ)/Σw = style_loss(G, Ḡ) + spread_loss, for a random target G."""
    model, info = tiny_vgg
    gen = torch.Generator().manual_seed(0)
    items = [(image_grams(model, torch.rand(1, 3, 32, 32, generator=gen), CPU), float(w)) for w in (0.5, 1, 2, 3)]
    sums = add_all(RunningSums(), iter(items))
    mean, w, w2, sq, n = sums.mean(), sums.weight, sums.weight_sq, dict(sums.sq_norm), sums.count
    bank = banks.Bank(mean, w, w2, sq, n, info.to_dict())
    target = {k: torch.rand(g.shape, generator=gen) * 2 * g.abs().max() for k, g in mean.items()}
    lw = model.style_weights
    direct = sum(wi * float(style_loss({k: g[k][None] for k in lw}, target, lw)) for g, wi in items) / w
    against_mean = float(style_loss({k: target[k][None] for k in lw}, bank.mean, lw))
    assert against_mean + bank.spread_loss(lw) == pytest.approx(direct, rel=1e-5)
    assert bank.spread_loss(lw) > 0


def test_manifest_inputs(tmp_path):
    ds = tmp_path / "DATASET"
    rows = [("gwen/g0.png", "gwen", "harvested"), ("gwen/g1.png", "gwen", "harvested")]
    rows += [("gwen/g1_aug.png", "gwen", "augmented"), ("miles/m0.png", "miles", "harvested")]
    for i, (p, _, _) in enumerate(rows):
        noise_image(ds / p, i)
    header = "path,label,source,timestamp,phash,split,origin\n"
    body = "".join(f"{p},{lab},film.mp4,{i}.0,0123456789abcdef,train,{o}\n" for i, (p, lab, o) in enumerate(rows))
    (ds / "manifest.csv").write_text(header + body)
    gwen = expand_inputs([ds / "manifest.csv"], weights=[3.0], label="gwen")
    assert [s.path for s in gwen] == [ds / "gwen/g0.png", ds / "gwen/g1.png"]  # augmented copies skipped
    assert [s.weight for s in gwen] == [1.5, 1.5]
    assert len(expand_inputs([ds])) == 3  # a folder holding manifest.csv is a manifest
    with pytest.raises(InputError, match="labels: gwen, miles"):
        expand_inputs([ds], label="pavitr")
    with pytest.raises(ConfigError, match="label filters"):
        expand_inputs([ds / "gwen"], label="gwen")
    with pytest.raises(ConfigError, match="one per input"):
        expand_inputs([ds, ds], weights=[1.0])
    (ds / "gwen" / "g1.png").unlink()
    with pytest.raises(InputError, match=r"g1\.png"):
        expand_inputs([ds])


def test_save_refuses_existing_and_inputs(tiny_vgg, tmp_path):
    model, info = tiny_vgg
    src = noise_image(tmp_path / "a.png", 0)
    bank = build_bank(model, info, [StyleImage(src)], size=32)
    out = save_bank(bank, tmp_path / "b.safetensors")
    before = out.read_bytes()
    with pytest.raises(OutputError, match="--overwrite"):
        save_bank(bank, out)
    assert out.read_bytes() == before
    with pytest.raises(OutputError, match="also an input"):
        save_bank(bank, src, overwrite=True, inputs=[src])
    save_bank(bank, out, overwrite=True)


def stop_at(k: int, error: type[BaseException] = KeyboardInterrupt, seen: list[int] | None = None):
    """A progress callback that records ``done`` and raises ``error`` once ``k`` images are done."""

    def cb(ev) -> None:
        if seen is not None:
            seen.append(ev.done)
        if ev.done == k:
            raise error("stop")

    return cb


def assert_same_bank(a, b) -> None:
    """Bit-identical sums and means: a resumed build adds the same float64 terms in the same order."""
    assert a.layers == b.layers and (a.count, a.weight_sum, a.weight_sq_sum) == (b.count, b.weight_sum, b.weight_sq_sum)
    for k in a.layers:
        assert torch.equal(a.mean[k], b.mean[k]), k
        assert a.sq_norm_sum[k] == b.sq_norm_sum[k], k


@pytest.fixture
def seven(tmp_path) -> list[StyleImage]:
    return [StyleImage(noise_image(tmp_path / f"r{i}.png", 40 + i, (24, 20 + 2 * i)), 0.5 + i) for i in range(7)]


def test_interrupted_build_resumes_to_the_identical_bank(tiny_vgg, tmp_path, seven):
    model, info = tiny_vgg
    full = build_bank(model, info, seven, size=24)
    ckpt = BankCheckpoint(tmp_path / "b.resume.safetensors", every=0)
    flag = StopFlag()
    with pytest.raises(BankInterrupted) as e:  # stop() turns true after image 3: asked before image 4
        build_bank(model, info, seven, 24, callback=lambda ev: ev.done == 3 and flag.set(), checkpoint=ckpt, stop=flag)
    assert (e.value.done, e.value.total, e.value.path) == (3, 7, ckpt.path) and ckpt.path.is_file()
    assert isinstance(e.value, Stopped)  # what every stopped job that returns no outcome raises
    with pytest.raises(BankInterrupted):  # a Ctrl-C (KeyboardInterrupt) after resuming saves the same way
        build_bank(model, info, seven, 24, callback=stop_at(5), checkpoint=replace(ckpt, resume=True))
    seen: list[int] = []
    resumed = build_bank(model, info, seven, 24, callback=stop_at(99, seen=seen), checkpoint=replace(ckpt, resume=True))
    assert seen == [5, 6, 7]  # only the last two images were computed
    assert_same_bank(resumed, full)
    assert ckpt.path.is_file()  # kept until the caller has saved the bank
    ckpt.clear()
    assert not ckpt.path.exists()


def test_periodic_checkpoint_survives_a_crash(tiny_vgg, tmp_path, seven):
    model, info = tiny_vgg
    ckpt = BankCheckpoint(resume_path(tmp_path / "b.safetensors"), every=2)
    assert ckpt.path.name == "b.safetensors.resume.safetensors"
    with pytest.raises(RuntimeError):  # not Ctrl-C: no save at the crash, the last checkpoint remains
        build_bank(model, info, seven, 24, callback=stop_at(5, RuntimeError), checkpoint=ckpt)
    seen: list[int] = []
    resumed = build_bank(model, info, seven, 24, callback=stop_at(99, seen=seen), checkpoint=replace(ckpt, resume=True))
    assert seen == [4, 5, 6, 7]
    assert_same_bank(resumed, build_bank(model, info, seven, size=24))


def test_resume_refuses_other_inputs_settings_and_bad_state(tiny_vgg, tmp_path, seven):
    model, info = tiny_vgg
    ckpt = BankCheckpoint(tmp_path / "b.resume.safetensors", every=0, resume=True)
    with pytest.raises(ConfigError, match="no saved state"):
        build_bank(model, info, seven, 24, checkpoint=ckpt)
    with pytest.raises(BankInterrupted):
        build_bank(model, info, seven, 24, callback=stop_at(2), checkpoint=replace(ckpt, resume=False))
    saved = ckpt.path.read_bytes()
    reweighted = [*seven[:-1], StyleImage(seven[-1].path, 9.0)]
    first = seven[0].path
    cases = {
        "size: 24 then, 32 now": lambda: build_bank(model, info, seven, 32, checkpoint=ckpt),
        "input images changed": lambda: build_bank(model, info, reweighted, 24, checkpoint=ckpt),
        "images: 7 then, 6 now": lambda: build_bank(model, info, seven[:6], 24, checkpoint=ckpt),
        "label: None then, 'gwen' now": lambda: build_bank(
            model, info, seven, 24, settings={"label": "gwen"}, checkpoint=ckpt
        ),
        "backbone vgg19": lambda: build_bank(model, replace(info, seed=5), seven, 24, checkpoint=ckpt),
    }
    for needle, call in cases.items():
        with pytest.raises(ConfigError, match=needle) as e:
            call()
        assert "\n" not in str(e.value) and e.value.settings == ("resume",)
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))  # the file was replaced
    with pytest.raises(ConfigError, match="input images changed"):
        build_bank(model, info, seven, 24, checkpoint=ckpt)
    assert ckpt.path.read_bytes() == saved  # a refused resume leaves the state alone
    ckpt.path.write_bytes(saved[: len(saved) // 2])
    with pytest.raises(ConfigError, match="cannot read"):
        build_bank(model, info, seven, 24, checkpoint=ckpt)


def test_cli_bank_interrupt_then_resume(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "set"
    for i in range(6):
        noise_image(folder / f"f{i}.png", 60 + i)
    out, state = tmp_path / "b.safetensors", tmp_path / "b.safetensors.resume.safetensors"
    real, calls = bank_stream.image_grams, []

    def grams(*a, **k):
        calls.append(1)
        if len(calls) == 4 and interrupt:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(bank_stream, "image_grams", grams)
    interrupt = True
    bank = ["bank", str(folder), "-o", str(out), "--size", "32", "--checkpoint-every", "2"]
    assert styles_cli(*bank) == 130
    assert not out.exists() and state.is_file()  # no partial output, only the state
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"interrupted after 3 of 6 images; state saved to {state}; rerun the same command with --resume"]
    assert styles_cli(*bank) == 2  # a fresh run would throw the saved work away
    assert "--resume" in capsys.readouterr().err and state.is_file()
    interrupt, calls[:] = False, []
    assert styles_cli(*bank, "--resume") == 0
    assert len(calls) == 3 and out.is_file() and not state.exists()
    assert styles_cli(*bank[:3], str(tmp_path / "straight.safetensors"), *bank[4:]) == 0
    assert_same_bank(load_bank(out), load_bank(tmp_path / "straight.safetensors"))
    assert styles_cli(*bank, "--resume", "--overwrite") == 2
    assert "no saved state" in capsys.readouterr().err


def test_preview_sheet_shows_the_first_four_readable_images_and_nothing_else(tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    paths = []
    for i, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9), (200, 200, 0)]):
        Image.new("RGB", (20, 40), c).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    (tmp_path / "text.png").write_text("not an image")
    sheet = banks.preview_sheet([tmp_path / "text.png", tmp_path / "missing.png", *paths])
    with Image.open(io.BytesIO(base64.b64decode(sheet))) as im:
        pic = np.asarray(im.convert("RGB"))
    assert pic.shape == (96, 96, 3)  # 2 x 2 tiles of 48 px, the fifth image left out
    assert [tuple(pic[y, x]) for y, x in ((24, 24), (24, 72), (72, 24), (72, 72))] == [
        (255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]  # fmt: skip
    assert banks.preview_sheet([tmp_path / "text.png"]) == "" and banks.preview_sheet([]) == ""
