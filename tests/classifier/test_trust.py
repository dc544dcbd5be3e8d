"""When a classifier's answers can be trusted: one rule (``classifier.metrics.learning_warnings``) measured on
a good, a weak and a collapsed classifier trained on synthetic universes, printed by train/eval/predict and
applied by ``evaluate``'s judge, which gives no verdict when its classifier fails it.

Measured here (VGG16 at 1/8 width, 32 px): the good model reaches balanced accuracy 1.0 with ECE 0.115 (a
later run 0.159; temperature 0.28 brings it to 0.030) and at least 0.82 for each class on its own images; the
weak one (a quarter of each class's labels swapped) 0.857 with ECE 0.31 and 0.51 / 0.58 on its own images
(chance 0.5): the case of issue 19; the collapsed one (every image the same grey) answers one class for
everything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.classifier import KINDS, make_universes, tiny, universe_image
from styleverse.classifier import run as run_files
from styleverse.classifier.metrics import MAX_ECE, trust_warnings
from styleverse.classifier.model import load_classifier
from styleverse.classifier.train import train
from styleverse.evaluation.evaluate import EvaluateSettings, evaluate
from styleverse.evaluation.sources import Overrides
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def _weak_data(root: Path, swapped: float = 0.25) -> Path:
    """Two universes whose folders each hold ``swapped`` of the other's frames: learnable, but not surely."""
    for k, kind in enumerate(KINDS[:2]):
        (root / kind).mkdir(parents=True)
        for i in range(24):
            src = KINDS[1 - k] if (i * 7919 % 100) < swapped * 100 else kind
            universe_image(src, 1000 * k + i).save(root / kind / f"{i}.jpg")
    return root


def _flat_data(root: Path) -> Path:
    from PIL import Image

    for kind in KINDS:
        (root / kind).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (40, 32), (128, 128, 128)).save(root / kind / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def models(one_thread: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trust")
    runs = {
        "good": tiny(make_universes(root / "good", 20), root / "rg", epochs=6, batch_size=8, lr=5e-4, width=1 / 8,
                     dropout=0.0, val_fraction=0.3),
        "weak": tiny(_weak_data(root / "weak"), root / "rw", epochs=8, batch_size=8, lr=2e-3, width=1 / 8,
                     dropout=0.0, val_fraction=0.3),
        "collapsed": tiny(_flat_data(root / "flat"), root / "rc"),
    }  # fmt: skip
    for cfg in runs.values():
        train(cfg)
    return {name: Path(cfg.out) for name, cfg in runs.items()} | {"root": root}


def _recorded(run: Path) -> dict:
    return load_classifier(run / "best.safetensors").config["metrics"]


def test_the_trust_rule_passes_the_good_and_fails_the_weak_and_the_collapsed(models: dict[str, Path]) -> None:
    good, weak, collapsed = (trust_warnings(_recorded(models[k])) for k in ("good", "weak", "collapsed"))
    assert good == []
    assert any("not confident" in w for w in weak) and any("ECE" in w for w in weak)
    assert _recorded(models["weak"])["val_balanced_accuracy"] > 0.8  # accuracy alone would have passed it
    assert _recorded(models["weak"])["val_ece"] > MAX_ECE > _recorded(models["good"])["val_ece"]
    assert any("collapse" in w for w in collapsed) and any("near chance" in w for w in collapsed)
    assert trust_warnings({}) is None  # nothing recorded: the rule cannot say


def test_the_pictures_are_drawn_for_the_best_epoch(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[object, str]] = []
    monkeypatch.setattr(run_files, "plot_confusion", lambda conf, names, path, title: drawn.append((conf, title)))
    monkeypatch.setattr(run_files, "plot_reliability", lambda probs, path, title: drawn.append((probs, title)))
    root = models["root"]
    res = train(tiny(root / "weak", root / "again", epochs=8, batch_size=8, lr=2e-3, width=1 / 8, dropout=0.0,
                     val_fraction=0.3))  # fmt: skip
    assert res.best_epoch is not None and res.best_epoch < len(res.history)  # the last epoch is not the best
    best = res.history[res.best_epoch - 1]
    (conf, title), (probs, _) = drawn[-2:]
    assert conf == best["val_confusion"] and probs == best["val_probabilities"]
    assert f"epoch {res.best_epoch} (best.safetensors)" in title


def test_predict_and_eval_warn_about_the_weak_model(cli, models: dict[str, Path]) -> None:
    root = models["root"]
    frame = root / "weak" / KINDS[0] / "0.jpg"
    code, _, err = cli("classifier", "predict", models["weak"] / "best.safetensors", frame, "--device", "cpu")
    assert code == 0 and "not confident" in err and "ECE" in err
    code, _, err = cli("classifier", "predict", models["good"] / "best.safetensors", frame, "--device", "cpu")
    assert code == 0 and "warning" not in err
    code, _, err = cli("classifier", "eval", models["weak"] / "best.safetensors", root / "weak", "--device", "cpu")
    assert code == 0 and "warning" in err


def test_the_judge_gives_no_verdict_with_an_untrustworthy_classifier(models: dict[str, Path]) -> None:
    root = models["root"]
    photo, result = root / "photo.png", root / "result.png"
    universe_image(KINDS[2], 7).save(photo)
    universe_image(KINDS[0], 77).save(result)
    style = root / "weak" / KINDS[0]
    verdicts = {}
    for name in ("good", "weak"):
        settings = EvaluateSettings(
            FeatureSpec("random"), classifier=models[name] / "best.safetensors", device="cpu", precision="fp32"
        )
        ev = evaluate([result], settings, Overrides(photo, StyleSpec((style,))))
        verdicts[name] = ev.scores[0].verdict
    good, weak = verdicts["good"], verdicts["weak"]
    assert good is not None and good.trusted and good.validation and good.validation["ece"] < MAX_ECE
    assert weak is not None and not weak.trusted and weak.problems and weak.validation
    assert weak.validation["ece"] > MAX_ECE
    from styleverse.evaluation.report import row, score_dict

    assert row(ev.scores[0])["looks like"] == "no verdict" and "ECE" in row(ev.scores[0])["judge val."]
    assert json.loads(json.dumps(score_dict(ev.scores[0])["judge"]))["trusted"] is False


def test_validation_fits_a_temperature_and_predict_uses_it(models: dict[str, Path], tmp_path: Path) -> None:
    """Each run records the temperature its validation fitted and the ECE it leaves; ``predict`` divides the
    logits by the checkpoint's temperature (a checkpoint with T = 1 gives the raw softmax)."""
    import torch

    from styleverse.classifier.predict import predict_images

    weak = _recorded(models["weak"])
    assert weak["val_temperature"] < 1.0  # the weak model was unsure (0.51 / 0.58 on its own, 0.857 right)
    assert weak["val_ece_scaled"] < weak["val_ece"]
    image = universe_image(KINDS[0], 4242)
    image.save(tmp_path / "x.png")
    ckpt = load_classifier(models["weak"] / "best.safetensors")
    scaled = predict_images(ckpt, [tmp_path / "x.png"], device="cpu", precision="fp32", workers=0)[0]
    ckpt.config["metrics"]["val_temperature"] = 1.0
    raw = predict_images(ckpt, [tmp_path / "x.png"], device="cpu", precision="fp32", workers=0)[0]
    assert scaled.label == raw.label  # scaling never changes the answer
    p_raw = torch.tensor(list(raw.probabilities.values()))
    expected = (p_raw.log() / weak["val_temperature"]).softmax(0)
    assert torch.allclose(torch.tensor(list(scaled.probabilities.values())), expected, atol=1e-5)
    assert scaled.confidence > raw.confidence  # sharpened
