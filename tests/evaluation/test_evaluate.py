"""``styleverse evaluate``: known answers for every number, the judge on a toy classifier, videos, sweeps,
and one-line refusals.

Known answers: the content photo scores content loss 0, SSIM 1 and relative style distance 1; a style image
measured against itself scores style distance 0; a real short run lies in between, and the evaluator measures
exactly the style and content losses the optimiser reported for the saved image. Networks are random
(``--backbone random``) and tiny images keep every test to seconds; numbers are compared in fp32.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.images import make_image
from fixtures.networks import adain_model, fast_model
from fixtures.videos import universe_frame
from styleverse.cancel import StopFlag, Stopped
from styleverse.evaluation.evaluate import EvaluateSettings, evaluate
from styleverse.evaluation.metrics import relative, ssim, style_distance
from styleverse.evaluation.sources import Overrides
from styleverse.nn.features import FeatureSpec
from styleverse.nn.losses import style_loss
from styleverse.styles.spec import StyleSpec

FP32 = ("--backbone", "random", "--precision", "fp32", "--quiet")
SETTINGS = EvaluateSettings(FeatureSpec("random"), precision="fp32", device="cpu")


@pytest.fixture
def pics(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "in"
    d.mkdir()
    return {
        "photo": make_image(d / "photo.png", (40, 32), 1),
        "style": make_image(d / "style.png", (36, 36), 2),
        "style2": make_image(d / "style2.png", (32, 40), 3),
    }


def report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


# ---------------------------------------------------------------- metrics


def test_ssim_is_scikit_images_and_one_for_the_same_image() -> None:
    from skimage.metrics import structural_similarity

    from styleverse.evaluation.metrics import luma

    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 36, 44, generator=g)
    b = (a + 0.15 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    ya, yb = (luma(x)[0, 0].double().numpy() for x in (a, b))
    ref = structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-5)
    assert 0.3 < ssim(a, b) < 0.95
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)


def test_style_distance_is_the_unweighted_style_loss_and_relative_is_a_ratio() -> None:
    g = torch.Generator().manual_seed(1)
    grams = {"a": torch.rand(1, 4, 4, generator=g), "b": torch.rand(1, 6, 6, generator=g)}
    targets = {"a": torch.rand(4, 4, generator=g), "b": torch.rand(6, 6, generator=g)}
    weights = {"a": 1.0, "b": 0.5}
    d = style_distance(grams, targets, weights)
    assert d.total == pytest.approx(float(style_loss(grams, targets, weights)), rel=1e-6)
    assert d.per_layer["b"] == pytest.approx(float(((grams["b"][0] - targets["b"]) ** 2).mean()), rel=1e-6)
    rel, per = relative(d, d)
    assert rel == 1.0 and per == {"a": 1.0, "b": 1.0}
    zero = style_distance(targets, targets, weights)
    assert zero.total == 0.0 and relative(d, zero)[0] is None  # nothing to move: no ratio, not inf


def test_flicker_is_the_mean_absolute_frame_change() -> None:
    from styleverse.video.steadiness import temporal_score

    a, b = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 128, np.uint8)
    assert temporal_score(zip([a, b, a], [a, b, a], strict=True)).flicker == pytest.approx(128 / 255)
    assert temporal_score(zip([a, b, a], [a, a, a], strict=True)).flicker == 0.0
    assert temporal_score(zip([a], [a], strict=True)).flicker is None


# ---------------------------------------------------------------- known answers end to end


def test_content_photo_scores_zero_and_one_style_image_scores_zero(cli, pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rep"
    code, stdout, err = cli(
        "evaluate", pics["photo"], pics["style"], "--content", pics["photo"], "--style", pics["style"], "-o", out,
        *FP32[:-1],
    )  # fmt: skip
    assert code == 0, err
    assert "photo.png" in stdout and "rel. style" in stdout
    photo, style = report(out)["results"]
    assert photo["content_fidelity"]["loss"] == 0.0
    assert photo["content_fidelity"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert photo["style"]["relative"] == pytest.approx(1.0, abs=1e-6)
    assert all(v == pytest.approx(1.0, abs=1e-5) for v in photo["style"]["relative_per_layer"].values())
    assert photo["style"]["distance"] > 0
    assert style["style"]["distance"] <= 1e-6 * style["style"]["content_photo_distance"]
    assert style["content_fidelity"]["loss"] > 0 and style["content_fidelity"]["ssim"] < 0.9
    for name in ("report.md", "results.png", "layers.png", "tradeoff.png"):
        assert (out / name).stat().st_size > 0
    assert "| result |" in (out / "report.md").read_text()


def test_real_run_lies_between_and_matches_the_optimisers_own_losses(pics: dict[str, Path], tmp_path: Path) -> None:
    from styleverse.transfer.config import TransferConfig
    from styleverse.transfer.job import StylizeJob, run_stylize

    cfg = TransferConfig(steps=8, size=32, scales=(32,), precision="fp32", device="cpu", style_weight=1e5)
    out = tmp_path / "out.png"
    run_stylize(StylizeJob(pics["photo"], out, StyleSpec((pics["style"], pics["style2"])), cfg, FeatureSpec("random")))
    side = json.loads(out.with_name("out.png.json").read_text())
    ev = evaluate([out], EvaluateSettings(precision="fp32", device="cpu"))  # network, content, styles: the sidecar's
    s = ev.scores[0]
    assert ev.backbone.source == "random" and s.source.method == "gatys lbfgs"
    assert s.relative_style is not None and 0.0 < s.relative_style < 0.9
    assert s.content_loss > 0 and 0.0 < s.ssim < 1.0
    assert s.style.total * cfg.style_weight == pytest.approx(side["final_losses"]["style"], rel=1e-4)
    assert s.content_loss * cfg.content_weight == pytest.approx(side["final_losses"]["content"], rel=1e-4)
    assert s.seconds == side["seconds"] and s.size == (32, 26)


def test_style_bank_is_a_target_and_its_label_the_intended_universe(pics: dict[str, Path], tmp_path: Path) -> None:
    """A bank of one image is that image's style: the image scores distance 0 against it; the bank's label
    names the universe the judge is asked about."""
    from styleverse.evaluation.judge import intended_universe
    from styleverse.nn.features import build_model
    from styleverse.styles.bank import build_bank, load_bank, save_bank
    from styleverse.styles.targets import StyleImage

    model, info = build_model("random")
    bank = build_bank(model, info, [StyleImage(pics["style"])], size=None, settings={"label": "gwen"})
    path = save_bank(bank, tmp_path / "universe.style.safetensors")
    s = evaluate([pics["style"]], SETTINGS, Overrides(pics["photo"], StyleSpec(banks=(path,)))).scores[0]
    assert s.style.total <= 1e-6 * s.content_style.total and s.source.styles.banks == ((path, 1.0),)
    label = load_bank(path).settings.get("label")
    assert intended_universe(["gwen", "miles"], [label], [path]) == "gwen"


def test_intended_universe_rules() -> None:
    from styleverse.evaluation.judge import intended_universe

    known = ["gwen", "miles"]
    assert intended_universe(known, bank_paths=["b/miles.style.safetensors"]) == "miles"
    assert intended_universe(known, style_paths=["frames/gwen/a.png", "frames/gwen/b.png"]) == "gwen"
    assert intended_universe(known, fast_universe="miles", style_paths=["frames/gwen/a.png"]) == "miles"
    assert intended_universe(known, style_paths=["frames/gwen/a.png", "frames/miles/b.png"]) is None  # disagree
    assert intended_universe(known, bank_labels=["hq"], style_paths=["x/photo.png"]) is None  # unknown names


# ---------------------------------------------------------------- the universe judge


@pytest.fixture(scope="module")
def toy_classifier(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny two-universe classifier trained in seconds on synthetic frames, and frames it has not seen."""
    from styleverse.classifier.train import TrainConfig, train

    root = tmp_path_factory.mktemp("judge")
    for u in ("gwen", "miles"):
        (root / "data" / u).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(universe_frame(u, 0.37 * i, (40, 32))).save(root / "data" / u / f"{u}_{i}.png")
        Image.fromarray(universe_frame(u, 9.1, (40, 32))).save(root / f"new_{u}.png")
    cfg = TrainConfig(
        str(root / "data"), str(root / "run"), epochs=6, batch_size=8, lr=1e-2, init="scratch", arch="vgg16",
        width=1 / 16, size=32, workers=0, precision="fp32", device="cpu", val_fraction=0.2, dropout=0.0,
    )  # fmt: skip
    train(cfg)
    return {"ckpt": root / "run" / "last.safetensors", "data": root / "data", "root": root}


def test_judge_finds_the_intended_universe_from_the_style_folder(cli, toy_classifier: dict[str, Path]) -> None:
    root = toy_classifier["root"]
    out = root / "rep"
    code, stdout, err = cli(
        "evaluate", root / "new_gwen.png", root / "new_miles.png", "--content", root / "new_gwen.png",
        "--style", toy_classifier["data"] / "gwen", "--classifier", toy_classifier["ckpt"], "-o", out, *FP32[:-1],
    )  # fmt: skip
    assert code == 0, err
    gwen, miles = (r["judge"] for r in report(out)["results"])
    assert gwen["intended"] == miles["intended"] == "gwen"  # the style images lie in data/gwen/
    assert gwen["top"] == "gwen" and gwen["intended_probability"] > 0.5
    assert miles["top"] == "miles" and miles["intended_probability"] < 0.5
    assert math.isclose(sum(gwen["probabilities"].values()), 1.0, rel_tol=1e-5)
    assert "P(intended)" in stdout and "looks like" in stdout
    code, _, err = cli(
        "evaluate", root / "new_gwen.png", "--content", root / "new_gwen.png", "--style", root / "new_gwen.png",
        "--classifier", toy_classifier["ckpt"], "--universe", "hq", "-o", root / "rep2", *FP32,
    )  # fmt: skip
    assert code == 2 and "knows the universes gwen, miles" in one_error_line(err)


# ---------------------------------------------------------------- sweep


def _network_files(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny random fast network and AdaIN decoder: the sweep's plumbing, not their looks, is under test."""
    return fast_model(tmp_path / "f.safetensors"), adain_model(tmp_path / "a.safetensors")


def test_sweep_runs_the_grid_and_every_method(cli, pics: dict[str, Path], tmp_path: Path) -> None:
    fast, adain = _network_files(tmp_path)
    out = tmp_path / "sweep"
    code, stdout, err = cli(
        "evaluate", "--sweep", pics["photo"], "--style", pics["style"], "--methods", "lbfgs", f"fast:{fast}",
        f"adain:{adain}", "--style-weights-grid", "1e2", "1e6", "--steps-grid", "6", "--size", "32", "-o", out,
        *FP32[:-1],
    )  # fmt: skip
    assert code == 0, err
    assert "Contact sheet:" in stdout and "adain:a" in stdout
    rows = report(out)["results"]
    assert [r["label"] for r in rows] == ["lbfgs sw 100 6 st", "lbfgs sw 1e+06 6 st", "fast:f", "adain:a"]
    weak, strong = (r["style"]["relative"] for r in rows[:2])
    assert strong < weak < 1.0  # a heavier style weight moves the style further
    assert all(r["cost"]["seconds"] > 0 for r in rows)
    assert (out / "runs" / "photo" / "lbfgs_sw100_6steps.png.json").is_file()  # the stylize sidecar
    again = json.loads((out / "runs" / "photo" / "fast_f.png.json").read_text())
    assert again["method"] == "fast:f" and again["content"] == str(pics["photo"])
    for name in ("sweep.png", "tradeoff.png", "results.png", "report.md"):
        assert (out / name).stat().st_size > 0
    with Image.open(out / "sweep.png") as im:
        assert im.width == 5 * 160  # the photo and its four runs in one row
    code, _, err = cli("evaluate", "--sweep", pics["photo"], "--style", pics["style"], "-o", out, *FP32)
    assert code == 2 and "already exists" in one_error_line(err)  # nothing replaced without --overwrite


def test_a_stopped_sweep_keeps_the_resume_state_of_the_run_it_cut(pics: dict[str, Path], tmp_path: Path) -> None:
    from styleverse.evaluation.sweep import SweepSettings, run_sweep
    from styleverse.transfer.config import StepEvent

    flag = StopFlag()

    def ctrl_c_at_step_2(ev: object) -> None:
        if isinstance(ev, StepEvent) and ev.step == 2:
            flag.set("interrupted")

    out = tmp_path / "sweep"
    settings = SweepSettings((pics["photo"],), out, StyleSpec((pics["style"],)), style_weight_grid=(1e2,),
                             steps_grid=(6,), size=32, evaluation=SETTINGS)  # fmt: skip
    with pytest.raises(Stopped, match="stopped in lbfgs"):
        run_sweep(settings, ctrl_c_at_step_2, flag)
    assert (out / "runs" / "photo" / "lbfgs_sw100_6steps.png.resume.safetensors").is_file()
    with pytest.raises(Stopped, match="stopped after 0 of 1 results"):  # evaluate asks before each result
        evaluate([pics["photo"]], SETTINGS, Overrides(pics["photo"], StyleSpec((pics["style"],))), stop=flag)


# ---------------------------------------------------------------- refusals


def test_bad_inputs_are_one_line_and_exit_2(cli, pics: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rep"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.png"
    Image.new("RGB", (32, 32)).save(broken)
    broken.with_name("broken.png.json").write_text("{not json")
    cases = [
        ((pics["photo"],), "no sidecar"),
        ((text, "--content", pics["photo"], "--style", pics["style"]), "not a result styleverse can evaluate"),
        ((tmp_path / "missing.png", "--content", pics["photo"]), "no such file"),
        ((broken,), "not readable JSON"),
        ((pics["photo"], "--content", pics["photo"]), "no style to compare with"),
        ((pics["photo"], "--content", pics["photo"], "--style", pics["style"], "--style-weights", "1", "2"), "weights"),
        (("--sweep", pics["photo"], "--methods", "magic", "--style", pics["style"]), "--methods magic"),
        (("--sweep", pics["photo"]), "needs a style"),
    ]
    for args, words in cases:
        code, _, err = cli("evaluate", *args, "-o", out, *FP32)
        assert code == 2, (args, err)
        assert words in one_error_line(err), (args, err)
    assert not out.exists()  # nothing written by a refused run


def test_library_overrides_beat_the_sidecar(pics: dict[str, Path], tmp_path: Path) -> None:
    img = tmp_path / "r.png"
    Image.fromarray(np.asarray(Image.open(pics["photo"]))).save(img)
    (tmp_path / "r.png.json").write_text(json.dumps({"content": str(pics["style"]), "styles": [], "style_banks": []}))
    over = Overrides(pics["photo"], StyleSpec((pics["style"],)))
    s = evaluate([img], SETTINGS, over).scores[0]
    assert s.source.content == pics["photo"] and s.content_loss == 0.0 and s.source.sidecar is not None


def test_the_network_comes_from_the_style_bank_as_stylize_takes_it(pics: dict[str, Path], tmp_path: Path) -> None:
    """Issue 19: with no sidecar and no --backbone, evaluate measures under the network the bank was made with."""
    from styleverse.nn.features import build_model
    from styleverse.styles.bank import build_bank, save_bank
    from styleverse.styles.targets import StyleImage

    model, info = build_model("random", arch="vgg16", seed=3)
    path = save_bank(build_bank(model, info, [StyleImage(pics["style"])], size=None), tmp_path / "b.safetensors")
    settings = EvaluateSettings(precision="fp32", device="cpu")  # no backbone given
    ev = evaluate([pics["style"]], settings, Overrides(pics["photo"], StyleSpec(banks=(path,))))
    assert ev.backbone.identity == info.identity
    assert ev.scores[0].style.total <= 1e-6 * ev.scores[0].content_style.total  # the bank's own network: distance 0
