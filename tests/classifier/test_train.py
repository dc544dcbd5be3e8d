"""The universe classifier: model, checkpoints, datasets, balanced sampling, training, resume, CLI.

Networks are tiny (VGG at 1/16 or 1/8 width, 32 px crops) and run on one CPU thread: on a shared
2-core machine two OpenMP threads per tiny convolution were up to 40x slower than one.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from fixtures.classifier import KINDS, make_universes, tiny
from styleverse.classifier.data import balanced_order, epoch_plan, read_dataset, shard
from styleverse.classifier.metrics import confusion_matrix, summarize
from styleverse.classifier.model import (
    ClassifierSpec,
    UniverseClassifier,
    init_weights,
    load_classifier,
    save_checkpoint,
    set_trainable,
)
from styleverse.classifier.predict import evaluate, predict_images
from styleverse.classifier.run import RESUME
from styleverse.classifier.train import TrainStep, train
from styleverse.errors import ConfigError, InputError, OutputError, WeightsError
from styleverse.nn.vgg import load_backbone


def tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def universes(tmp_path: Path) -> Path:
    return make_universes(tmp_path / "data", 8)


@pytest.fixture(scope="module")
def trained(one_thread: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real (tiny) training run shared by the tests that need a trained classifier."""
    root = tmp_path_factory.mktemp("trained")
    data = make_universes(root / "data", 20)
    cfg = tiny(data, root / "run", epochs=6, batch_size=8, lr=5e-4, width=1 / 8, dropout=0.0, val_fraction=0.3)
    train(cfg)
    return {"data": data, "run": root / "run"}


# ---------------------------------------------------------------- model and checkpoint


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_forward_any_size_and_state_dict_keys(arch: str) -> None:
    model = UniverseClassifier(ClassifierSpec(KINDS, arch, width=1 / 16)).eval()
    for hw in ((32, 32), (48, 40)):
        assert model(torch.rand(2, 3, *hw)).shape == (2, 3)
    keys = set(model.state_dict())
    conv_keys = set(load_backbone("random", arch=arch, width=1 / 16)[0].state_dict())
    assert {k for k in keys if k.startswith("features.")} == conv_keys
    assert keys - conv_keys and all(k.startswith("head.") for k in keys - conv_keys)
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    dropouts = [m for m in model.head if isinstance(m, torch.nn.Dropout)]
    assert len(linears) == 3 and len(dropouts) == 2  # the paper's three dense layers with dropout between


def test_checkpoint_round_trip_and_backbone(tmp_path: Path) -> None:
    model = UniverseClassifier(ClassifierSpec(KINDS, "vgg16", width=1 / 16, image_size=48))
    init_weights(model, seed=3)
    path = save_checkpoint(model, tmp_path / "c.safetensors", {"metrics": {"val_accuracy": 0.5}})
    ck = load_classifier(path)
    assert ck.class_names == list(KINDS)
    assert ck.config["image_size"] == 48 and ck.config["metrics"]["val_accuracy"] == 0.5
    assert ck.config["layer_names"][:2] == ["conv1_1", "relu1_1"]
    for k, v in model.state_dict().items():
        assert torch.equal(ck.model.state_dict()[k], v), k
    x = torch.rand(2, 3, 40, 40)
    assert torch.allclose(ck.model(x), model.eval()(x))
    vgg, info = load_backbone(str(path))
    assert info.source == "classifier" and info.arch == "vgg16" and info.width == 1 / 16
    for k, v in vgg.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_load_classifier_rejects_other_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"features.0.weight": torch.zeros(4, 3, 3, 3)}, str(plain))
    with pytest.raises(WeightsError, match="not a styleverse classifier"):
        load_classifier(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_classifier(junk)


def test_set_trainable_freezes_what_it_says() -> None:
    model = UniverseClassifier(ClassifierSpec(KINDS, "vgg19", width=1 / 16))
    trainable = lambda: {n for n, p in model.named_parameters() if p.requires_grad}  # noqa: E731
    heads = {n for n, _ in model.named_parameters() if n.startswith("head.")}
    set_trainable(model, "head")
    assert trainable() == heads
    set_trainable(model, "block5")
    conv5 = {
        f"features.{i}.{w}" for i, n in enumerate(model.names) if n.startswith("conv5") for w in ("weight", "bias")
    }
    assert len(conv5) == 8 and trainable() == heads | conv5
    assert len(set_trainable(model, "all")) == len(list(model.parameters()))
    with pytest.raises(ConfigError):
        set_trainable(model, "block9")


def test_training_block5_leaves_earlier_blocks_untouched(universes: Path, tmp_path: Path) -> None:
    res = train(tiny(universes, tmp_path / "run", train_layers="block5"))
    before = UniverseClassifier(res.model.spec)  # type: ignore[union-attr]
    init_weights(before, seed=0)
    after = tensors(res.last_path)
    changed = {k for k, v in before.state_dict().items() if not torch.equal(v, after[k])}
    conv5 = {f"features.{i}" for i, n in enumerate(before.names) if n.startswith("conv5")}
    assert changed and {k.rsplit(".", 1)[0] for k in changed if k.startswith("features.")} <= conv5
    assert any(k.startswith("head.") for k in changed)
    assert any(k.startswith("features.") for k in changed)


def test_init_from_classifier_checkpoint_or_vgg_state_dict(universes: Path, tmp_path: Path) -> None:
    from styleverse.classifier.run import build_classifier

    src = UniverseClassifier(ClassifierSpec(KINDS, "vgg16", width=1 / 16, image_size=32))
    init_weights(src, seed=7)
    ckpt = save_checkpoint(src, tmp_path / "prev.safetensors")
    model, _ = build_classifier(tiny(universes, tmp_path / "r", init=str(ckpt)), KINDS, None)
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in model.state_dict().items())  # head too
    vgg = tmp_path / "vgg16.pth"
    torch.save({k: v for k, v in src.state_dict().items() if k.startswith("features.")}, vgg)
    model, _ = build_classifier(tiny(universes, tmp_path / "r", init=str(vgg), seed=1), ("a", "b"), None)
    for k, v in model.state_dict().items():
        if k.startswith("features.") or k.endswith(".weight"):  # biases start at zero either way
            assert torch.equal(v, src.state_dict()[k]) == k.startswith("features."), k  # fresh head, 2 classes
    with pytest.raises(ConfigError, match="pass arch vgg16 width"):
        build_classifier(tiny(universes, tmp_path / "r", init=str(ckpt), width=1 / 8), KINDS, None)
    with pytest.raises(WeightsError, match="shape"):
        build_classifier(tiny(universes, tmp_path / "r", init=str(vgg), width=1 / 8), KINDS, None)


# ---------------------------------------------------------------- data, sampling, metrics


def test_balanced_order_draws_classes_equally_and_shards_cover_the_batch() -> None:
    labels = [0] * 10 + [1] * 2 + [2] * 4
    order = balanced_order(labels, 3, 24, seed=1, epoch=0)
    counts = np.bincount([labels[i] for i in order], minlength=3)
    assert counts.tolist() == [8, 8, 8]
    assert order == balanced_order(labels, 3, 24, seed=1, epoch=0)
    assert order != balanced_order(labels, 3, 24, seed=1, epoch=1)
    assert len({i for i in order if labels[i] == 1}) == 2  # the small class is fully used, then repeated
    steps, samples = epoch_plan(16, batch_size=3, world_size=2)
    assert (steps, samples) == (3, 18)
    for st in range(steps):
        parts = [shard(order, st, 3, r, 2) for r in range(2)]
        assert parts[0] + parts[1] == order[st * 6 : st * 6 + 6]


def test_stratified_split_is_seeded(universes: Path) -> None:
    a, b, c = (read_dataset(universes, 0.25, s) for s in (0, 0, 1))
    assert a.source == "folders" and a.class_names == KINDS
    assert a.val == b.val and a.val != c.val
    assert a.counts("val") == [2, 2, 2] and a.counts("train") == [6, 6, 6]
    assert not {s.path for s in a.val} & {s.path for s in a.train}
    (universes / "stats").mkdir()  # written by `frames stats`; not a universe
    (universes / "stats" / "sheet.jpg").write_bytes(
        (universes / KINDS[0] / sorted(os.listdir(universes / KINDS[0]))[0]).read_bytes()
    )
    assert read_dataset(universes, 0.25, 0).class_names == KINDS


def _write_manifest(root: Path, rows: list[tuple[str, str, str]]) -> None:
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "source", "timestamp", "phash", "split", "origin"])
        for path, label, split in rows:
            w.writerow([path, label, "movie.mp4", "1.0", "ff00", split, "harvested"])


def test_manifest_splits_are_used_and_other_rows_ignored(universes: Path) -> None:
    rows = []
    for kind in KINDS:
        files = sorted((universes / kind).iterdir())
        rows += [
            (f"{kind}/{f.name}", kind, s)
            for f, s in zip(files, ["train"] * 4 + ["val"] * 2 + ["excluded", ""], strict=True)
        ]
    _write_manifest(universes, rows)
    d = read_dataset(universes)
    assert d.source == "manifest" and d.counts("train") == [4, 4, 4] and d.counts("val") == [2, 2, 2]
    # without any train/val split the manifest's rows are split, and "excluded" rows stay out
    _write_manifest(universes, [(p, lab, "excluded" if s == "excluded" else "") for p, lab, s in rows])
    d = read_dataset(universes, 0.25)
    assert d.source == "manifest" and sum(d.counts("train")) + sum(d.counts("val")) == 21
    excluded = {universes / p for p, _, s in rows if s == "excluded"}
    assert len(excluded) == 3 and not excluded & {s.path for s in (*d.train, *d.val)}
    _write_manifest(universes, [("gwen/missing.jpg", "gwen", "train"), *rows])
    with pytest.raises(InputError, match=r"missing\.jpg does not exist"):
        read_dataset(universes)


def test_summarize_recall_balanced_accuracy_and_collapse() -> None:
    conf = confusion_matrix(torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 1, 2, 0]), 3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    s = summarize(conf, KINDS)
    assert s["recall"] == {"gwen": 0.5, "miles": 1.0, "pavitr": 0.5}
    assert math.isclose(s["balanced_accuracy"], 2 / 3) and math.isclose(s["accuracy"], 4 / 6)
    assert s["collapse"] is None
    collapsed = summarize(torch.tensor([[10, 0, 0], [9, 1, 0], [10, 0, 0]]), KINDS)
    assert collapsed["collapse"] == {"class": "gwen", "share": 29 / 30}
    no_support = summarize(torch.tensor([[3, 1, 0], [0, 0, 0], [0, 0, 2]]), KINDS)
    assert no_support["recall"]["miles"] is None and math.isclose(no_support["balanced_accuracy"], (0.75 + 1) / 2)


# ---------------------------------------------------------------- training


def test_learns_three_universes_and_writes_run_files(trained: dict[str, Path]) -> None:
    run = trained["run"]
    metrics = json.loads((run / "metrics.json").read_text())
    hist = metrics["history"]
    assert len(hist) == 6 and metrics["class_names"] == list(KINDS)
    assert metrics["best_score"] >= 0.75, [h["val_balanced_accuracy"] for h in hist]  # chance is 1/3
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert set(hist[0]["val_recall"]) == set(KINDS) and len(hist[0]["val_confusion"]) == 3
    best = load_classifier(run / "best.safetensors")
    assert best.config["epoch"] == metrics["best_epoch"]
    assert best.config["metrics"]["val_balanced_accuracy"] == metrics["best_score"]
    assert load_classifier(run / "last.safetensors").config["epoch"] == 6
    for png in ("curves.png", "confusion.png"):
        with Image.open(run / png) as im:
            assert im.format == "PNG" and im.width > 100
    assert not list(run.glob(".*"))  # no temp files left behind


def test_eval_reproduces_the_validation_split(trained: dict[str, Path]) -> None:
    run = trained["run"]
    metrics = json.loads((run / "metrics.json").read_text())
    report = evaluate(run / "best.safetensors", trained["data"], "val", device="cpu", precision="fp32", workers=0)
    assert report.n_images == sum(metrics["dataset"]["val_counts"]) == 18
    best = metrics["history"][metrics["best_epoch"] - 1]
    assert report.confusion.tolist() == best["val_confusion"]
    everything = evaluate(run / "best.safetensors", trained["data"], "all", device="cpu", precision="fp32")
    assert everything.n_images == 60


def test_predict_images(trained: dict[str, Path]) -> None:
    data = read_dataset(trained["data"], 0.3, 0)
    preds = predict_images(trained["run"] / "best.safetensors", [s.path for s in data.val], "cpu", "fp32")
    right = sum(p.label == KINDS[s.label] for p, s in zip(preds, data.val, strict=True))
    assert right >= 0.75 * len(preds)
    assert all(0 < p.confidence <= 1 and math.isclose(sum(p.probabilities.values()), 1, rel_tol=1e-5) for p in preds)


def test_stylize_with_the_trained_classifier(trained: dict[str, Path]) -> None:
    from styleverse.nn.features import build_model
    from styleverse.styles.targets import StyleImage, StyleSet
    from styleverse.transfer.optimize import StyleTransfer, TransferConfig

    model, info = build_model(str(trained["run"] / "best.safetensors"))
    assert info.source == "classifier" and info.width == 1 / 8
    content = torch.rand(1, 3, 32, 32)
    style = next((trained["data"] / "gwen").iterdir())
    result = StyleTransfer(model, TransferConfig(steps=3, scales=(32,), precision="fp32")).run(
        content, StyleSet([StyleImage(style)])
    )
    assert result.image.shape == (1, 3, 32, 32)
    assert result.history and all(math.isfinite(v) for h in result.history for v in h.values())


def _final(run: Path) -> dict[str, torch.Tensor]:
    return tensors(run / "last.safetensors")


def test_resume_after_interrupt_equals_uninterrupted(universes: Path, tmp_path: Path) -> None:
    kw = dict(epochs=2, dropout=0.5, workers=2)  # dropout > 0: RNG states must be restored too
    straight = train(tiny(universes, tmp_path / "a", **kw))
    train(tiny(universes, tmp_path / "b", **{**kw, "epochs": 1}))
    resumed = train(tiny(universes, tmp_path / "b", **kw, resume=True))
    steps: list[int] = []
    cut = train(
        tiny(universes, tmp_path / "c", **kw),
        callback=lambda ev: steps.append(1) if isinstance(ev, TrainStep) else None,
        stop=lambda: len(steps) == 6,  # mid-epoch 2 (5 steps per epoch)
    )
    assert cut.interrupted and len(cut.history) == 1
    finished = train(tiny(universes, tmp_path / "c", **kw, resume=True))
    a = _final(tmp_path / "a")
    for other in (tmp_path / "b", tmp_path / "c"):
        b = _final(other)
        assert all(torch.equal(a[k], b[k]) for k in a), other
    assert resumed.history[-1]["train_loss"] == straight.history[-1]["train_loss"]
    assert finished.history == straight.history
    again = train(tiny(universes, tmp_path / "a", **kw, resume=True))  # a finished run: nothing to do
    assert len(again.history) == 2
    with pytest.raises(ConfigError, match="lr"):
        train(tiny(universes, tmp_path / "a", **{**kw, "lr": 0.1}, resume=True))


@pytest.mark.parametrize("victim", ["checkpoint", "resume"])
def test_kill_during_save_leaves_previous_files_loadable(
    universes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: str
) -> None:
    run = tmp_path / "run"
    train(tiny(universes, run))
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    real_write_bytes = Path.write_bytes

    def half_write(self: Path, data: bytes) -> int:  # every .safetensors is written through a temporary file
        is_state = RESUME in self.name
        if ".safetensors" not in self.name or is_state != (victim == "resume"):
            return real_write_bytes(self, data)
        real_write_bytes(self, data[: len(data) // 2])  # part of the file is written, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_write)
    with pytest.raises(OutputError, match="No space left"):
        train(tiny(universes, run, epochs=2, resume=True))
    monkeypatch.undo()
    assert not list(run.glob(".*")), "temporary files left behind"
    assert load_classifier(run / "last.safetensors").config["epoch"] in (1, 2)
    assert (run / RESUME).read_bytes() == before[RESUME]
    if victim == "checkpoint":
        assert (run / "last.safetensors").read_bytes() == before["last.safetensors"]
    done = train(tiny(universes, run, epochs=2, resume=True))  # and the run continues from there
    assert len(done.history) == 2


def test_one_class_collapse_is_warned_and_recorded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "flat"
    for kind in KINDS:  # every universe looks the same: the model cannot but predict one class
        (data / kind).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (40, 32), (128, 128, 128)).save(data / kind / f"{i}.png")
    log = logging.getLogger("styleverse")
    log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="styleverse")
    try:
        res = train(tiny(data, tmp_path / "run"))
    finally:
        log.removeHandler(caplog.handler)
    assert res.history[0]["collapse"] and res.history[0]["collapse"]["share"] == 1.0
    assert any("one-class collapse" in r.getMessage() for r in caplog.records)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["history"][0]["collapse"]["class"] in KINDS


# ---------------------------------------------------------------- CLI


def test_cli_train_eval_predict(cli, universes: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--arch", "vgg16", "--width", "0.0625", "--size", "32", "--init", "scratch", "--epochs", "2"]
    code, out, err = cli("classifier", "train", universes, "--out", run, *args, "--lr", "1e-3", "--batch-size", "4")
    assert code == 0, err
    assert "best checkpoint" in out and "balanced accuracy" in out and "epoch 2/2" in err
    ckpt = run / "best.safetensors"
    code, out, err = cli("classifier", "eval", ckpt, universes, "--out", tmp_path / "conf.png", "--workers", "0")
    assert code == 0, err
    assert "6 images (split val)" in out and all(k in out for k in KINDS)
    assert (tmp_path / "conf.png").stat().st_size > 1000
    img = next((universes / "miles").iterdir())
    code, out, err = cli("classifier", "predict", ckpt, img, universes / "gwen", "--top", "2")
    assert code == 0, err
    rows = [ln.split("\t") for ln in out.strip().splitlines()]
    assert rows[0][:3] == ["image", "universe", "confidence"] and len(rows) == 10
    assert rows[1][0] == str(img) and rows[1][1] in KINDS and 0 < float(rows[1][2]) <= 1
    code, _, err = cli("classifier", "train", universes, "--out", run, *args)
    assert code == 2 and "--resume" in err and "--overwrite" in err
    code, _, err = cli("classifier", "train", universes, "--out", run, *args, "--overwrite", "--epochs", "1")
    assert code == 0, err
    assert len(json.loads((run / "metrics.json").read_text())["history"]) == 1


def _error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if "error" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "dataset folder not found"),
        ("one_class", "need at least 2 classes"),
        ("empty_class", "holds no images"),
        ("epochs0", "expected a number >= 1"),
        ("bad_lr", "expected a finite number"),
        ("val_fraction", "--val-fraction must be between 0 and 1"),
        ("train_layers", "invalid choice"),
        ("bad_init", "--init"),
        ("imagenet_offline", "cannot download ImageNet"),
        ("imagenet_width", "--width 1"),
        ("huge_batch", "lower --batch-size or --size"),
    ],
)
def test_cli_train_bad_inputs_exit_2_and_write_nothing(
    cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    message: str,
) -> None:
    data = make_universes(tmp_path / "data", 3)
    extra: list[str] = ["--init", "scratch", "--width", "0.0625", "--size", "32"]
    if case == "missing":
        data = tmp_path / "nowhere"
    elif case == "one_class":
        data = make_universes(tmp_path / "one", 3, ("gwen",))
    elif case == "empty_class":
        (data / "empty").mkdir()
    elif case == "epochs0":
        extra += ["--epochs", "0"]
    elif case == "bad_lr":
        extra += ["--lr", "nan"]
    elif case == "val_fraction":
        extra += ["--val-fraction", "1.5"]
    elif case == "train_layers":
        extra += ["--train-layers", "block9"]
    elif case == "bad_init":
        extra += ["--init", str(tmp_path / "none.safetensors")]
    elif case == "huge_batch":  # used to hang allocating gigabytes
        extra += ["--batch-size", "100000000"]
    elif case.startswith("imagenet"):
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))

        def offline(*a: object, **k: object) -> None:
            raise OSError("network is unreachable")

        monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
        extra = ["--init", "imagenet", "--size", "32"] + (["--width", "0.5"] if case == "imagenet_width" else [])
    code, _, err = cli("classifier", "train", data, "--out", tmp_path / "run", *extra)
    assert code == 2, err
    assert message in _error_line(err)
    assert not (tmp_path / "run").exists()


def test_cli_eval_predict_bad_inputs(cli, universes: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"garbage")
    img = next((universes / "gwen").iterdir())
    for args, message in (
        (("predict", junk, img), "not a readable weights file"),
        (("eval", junk, universes), "not a readable weights file"),
        (("predict", tmp_path / "missing.safetensors", img), "weights file not found"),
    ):
        code, _, err = cli("classifier", *args)
        assert code == 2 and message in _error_line(err), err
    model = UniverseClassifier(ClassifierSpec(("a", "b"), "vgg16", width=1 / 16))
    ck = save_checkpoint(model, tmp_path / "ab.safetensors")
    code, _, err = cli("classifier", "eval", ck, universes)
    assert code == 2 and "unknown to the checkpoint" in _error_line(err)
    code, _, err = cli("classifier", "predict", ck, tmp_path / "nope.jpg")
    assert code == 2 and "no such file" in _error_line(err)
    code, _, err = cli("classifier")
    assert code == 2 and "train" in err


def test_offline_imagenet_init_advice_names_the_init_flag(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_universes(tmp_path / "data", 3)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))

    def offline(*a: object, **k: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    code, _, err = cli("classifier", "train", data, "--out", tmp_path / "run", "--init", "imagenet", "--size", "32")
    line = _error_line(err)
    assert code == 2 and "--init PATH" in line and "--init scratch" in line and "--backbone" not in line
