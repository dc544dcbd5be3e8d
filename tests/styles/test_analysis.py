"""Style-set analysis and the `styles` CLI: distances, spread identity, outliers, subset (tiny random VGG)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.cli import styles_cli
from styleverse.cancel import StopFlag, Stopped
from styleverse.cli.main import main
from styleverse.io.images import load_tensor
from styleverse.styles.analysis import (
    AnalysisSettings,
    Layout,
    analyze,
    coordinates,
    greedy_subset,
    pca_2d,
    robust_threshold,
    weighted_spread,
)
from styleverse.styles.bank import build_bank, load_bank
from styleverse.styles.targets import StyleImage, expand_styles, image_grams

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def style_set(tmp_path_factory) -> tuple[list[Path], Path]:
    """Five near-identical noise images and one very different one (red stripes)."""
    d = tmp_path_factory.mktemp("set")
    rng = np.random.default_rng(0)
    base = rng.random((40, 48, 3))
    paths = []
    for i in range(5):
        arr = np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1)
        paths.append(d / f"a{i}.png")
        Image.fromarray((arr * 255).astype(np.uint8)).save(paths[-1])
    odd = np.zeros((40, 48, 3), dtype=np.uint8)
    odd[np.indices((40, 48)).sum(0) % 8 < 4] = (255, 0, 0)
    Image.fromarray(odd).save(d / "odd.png")
    return [*paths, d / "odd.png"], d


def test_outlier_is_flagged_and_left_out(tiny_vgg, style_set):
    model, info = tiny_vgg
    paths, _ = style_set
    for cfg in (AnalysisSettings(size=48), AnalysisSettings(size=48, exact_budget_mb=0, sketch_dim=16)):
        a = analyze(model, info, expand_styles(paths), cfg)
        assert [r.outlier for r in a.images] == [False] * 5 + [True]
        assert a.images[-1].rank == 6 and not a.images[-1].in_subset
        assert a.subset == [str(p) for p in paths[:5]]
        assert a.subset_spread < 0.05 * a.spread
        assert a.coordinates == ("exact" if cfg.exact_budget_mb else "count-sketch, 16 per layer")
    xs = [r.xy[0] for r in a.images[:5]]
    assert max(xs) - min(xs) < 0.1 * abs(a.images[-1].xy[0] - np.mean(xs))  # PC1 separates it


def _grass(rng: np.random.Generator) -> np.ndarray:
    """Green blades: one family of the bimodal set."""
    yy, xx = np.mgrid[0:40, 0:48]
    blades = np.sin(xx * rng.uniform(0.8, 1.2) + rng.uniform(0, 6) + 0.3 * np.sin(yy * 0.3))
    arr = np.array([60, 150, 50]) + rng.normal(0, 10, 3) + blades[..., None] * np.array([20, 45, 15])
    return np.clip(arr + rng.normal(0, 8, (40, 48, 3)), 0, 255).astype(np.uint8)


def _sky(rng: np.random.Generator) -> np.ndarray:
    """A pink-to-peach sky with soft clouds: the other family."""
    yy, xx = np.mgrid[0:40, 0:48]
    t = (yy / 40)[..., None]
    top, bottom = np.array([250, 170, 200]) + rng.normal(0, 8, 3), np.array([255, 210, 160]) + rng.normal(0, 8, 3)
    clouds = np.sin(xx * 0.15 + rng.uniform(0, 6)) * np.sin(yy * 0.2 + rng.uniform(0, 6))
    arr = top * (1 - t) + bottom * t + clouds[..., None] * 12
    return np.clip(arr + rng.normal(0, 3, (40, 48, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def bimodal_set(tmp_path_factory) -> list[Path]:
    """Nine grass and nine sky frames, then two intruders: half grass / half sky (it sits near the mean,
    between the two groups, as the real photos of issue 14 did) and a photo."""
    import skimage.data

    d = tmp_path_factory.mktemp("bimodal")
    rng = np.random.default_rng(0)
    paths = []
    for name, make in (("grass", _grass), ("sky", _sky)):
        for i in range(9):
            paths.append(d / f"{name}{i}.png")
            Image.fromarray(make(rng)).save(paths[-1])
    between = _grass(rng)
    between[:, 24:] = _sky(rng)[:, 24:]
    Image.fromarray(between).save(d / "between.png")
    Image.fromarray(skimage.data.astronaut()).resize((48, 40)).save(d / "photo.png")
    return [*paths, d / "between.png", d / "photo.png"]


def test_density_outliers_catch_intruders_in_a_bimodal_set(tiny_vgg, bimodal_set):
    model, info = tiny_vgg
    for cfg in (AnalysisSettings(size=48), AnalysisSettings(size=48, exact_budget_mb=0, sketch_dim=16)):
        a = analyze(model, info, expand_styles(bimodal_set), cfg)
        assert [r.outlier for r in a.images] == [False] * 18 + [True, True], [r.knn_distance for r in a.images]
        between = a.images[18]
        assert not between.far_from_mean  # the distance to the mean calls it typical ...
        assert between.rank >= 19  # ... the density ranks it with the least typical
        groups = [r.group for r in a.images]
        assert groups[18:] == [-1, -1] and len(set(groups[:9])) == len(set(groups[9:18])) == 1
        assert groups[0] != groups[9]
        assert len(a.groups) == 2 and a.silhouette > 0.5 and sorted(len(g.images) for g in a.groups) == [9, 9]
        assert all(g.spread < 0.1 * a.spread for g in a.groups)  # each group is tight, the whole set is not
        assert a.knn_threshold is not None and between.knn_distance > a.knn_threshold
    one = analyze(model, info, expand_styles(bimodal_set[:9]), AnalysisSettings(size=48))
    assert len(one.groups) == 1 and not any(r.outlier for r in one.images)  # one look: one group


def test_knn_scores_and_groups_on_points():
    from styleverse.styles.spread import find_groups, knn_scores

    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 0.1, (10, 3)), rng.normal(0, 0.5, (10, 3)) + np.array([6, 0, 0])  # tight, loose
    z = np.vstack([a, b, [[3, 4, 0]]]).astype(np.float32)
    knn = knn_scores(z, 3)
    brute = np.sort(np.linalg.norm(z[:, None].astype(np.float64) - z[None], axis=-1), axis=1)[:, 1:4].mean(1)
    np.testing.assert_allclose(knn, brute, rtol=1e-4, atol=1e-6)
    _, _, thr = robust_threshold(knn, 3.0)
    assert thr is not None and np.flatnonzero(knn > thr).tolist() == [20]
    labels, sil = find_groups(z, np.arange(21) < 20)
    assert labels[20] == -1 and len(set(labels[:10])) == 1 and len(set(labels[10:20])) == 1
    assert labels[0] != labels[10] and sil > 0.5
    capped, _ = find_groups(z, np.arange(21) < 20, cap=8)  # sampled, the rest joins the nearest sample
    assert [len(set(capped[:10])), len(set(capped[10:20]))] == [1, 1] and capped[0] != capped[10]


def test_distances_spread_and_identity_match_brute_force(tiny_vgg, style_set):
    model, info = tiny_vgg
    paths, _ = style_set
    weights = [1.0, 2.0, 0.5, 1.0, 3.0, 1.5]
    images = [StyleImage(p, w) for p, w in zip(paths, weights, strict=True)]
    a = analyze(model, info, images, AnalysisSettings(size=40, keep=4))
    grams = [{k: g.double() for k, g in image_grams(model, load_tensor(p, 40), CPU).items()} for p in paths]
    w = np.array(weights)
    lw = model.style_weights
    mean = {k: sum(wi * g[k] for wi, g in zip(w, grams, strict=True)) / w.sum() for k in lw}
    norm = {k: float(mean[k].pow(2).sum()) for k in lw}
    for r, g in zip(a.images, grams, strict=True):
        want = {k: float((g[k] - mean[k]).pow(2).sum()) / norm[k] for k in lw}
        assert r.layer_distances == pytest.approx(want, rel=1e-4)
        assert r.distance == pytest.approx(sum(lw[k] * want[k] for k in lw), rel=1e-4)
        assert r.trace == pytest.approx({k: float(torch.trace(g[k])) for k in lw}, rel=1e-5)
    assert a.spread == pytest.approx(float(w @ [r.distance for r in a.images]) / w.sum(), rel=1e-9)
    # Σwᵢ‖G−Gᵢ‖²/W = ‖G−Ḡ‖² + spread, per layer in the relative metric, for a random G
    gen = torch.Generator().manual_seed(1)
    for k in lw:
        target = mean[k] + torch.randn(mean[k].shape, generator=gen, dtype=torch.float64) * mean[k].abs().mean()
        lhs = sum(wi * float((target - g[k]).pow(2).sum()) for wi, g in zip(w, grams, strict=True)) / w.sum()
        rhs = float((target - mean[k]).pow(2).sum()) + a.layer_spread[k] * norm[k]
        assert lhs == pytest.approx(rhs, rel=1e-5)
    assert len(a.subset) == 4 and a.settings["keep_used"] == 4
    raw = {k: [float((g[k] - mean[k]).pow(2).sum()) for g in grams] for k in lw}
    want_loss = sum(lw[k] * float(w @ raw[k]) / w.sum() / mean[k].numel() for k in lw)
    assert a.spread_loss == pytest.approx(want_loss, rel=1e-4)
    sub = [i for i, r in enumerate(a.images) if r.in_subset]
    ws = w[sub]
    sub_mean = {k: sum(wi * grams[i][k] for wi, i in zip(ws, sub, strict=True)) / ws.sum() for k in lw}
    sub_sq = {
        k: sum(wi * float((grams[i][k] - sub_mean[k]).pow(2).sum()) for wi, i in zip(ws, sub, strict=True)) / ws.sum()
        for k in lw
    }
    assert a.subset_spread == pytest.approx(sum(lw[k] * sub_sq[k] / norm[k] for k in lw), rel=1e-4)
    own = sum(lw[k] * sub_sq[k] / float(sub_mean[k].pow(2).sum()) for k in lw)
    assert a.subset_spread_self == pytest.approx(own, rel=1e-4)
    bank = build_bank(model, info, expand_styles(paths), size=40)
    assert sum(lw[k] * bank.spread()[k] for k in lw) == pytest.approx(
        analyze(model, info, expand_styles(paths), AnalysisSettings(size=40)).spread, rel=1e-4
    )


def test_subset_bank_equals_bank_of_subset(tiny_vgg, style_set):
    model, info = tiny_vgg
    paths, _ = style_set
    images = [StyleImage(p, 1.0 + i) for i, p in enumerate(paths)]
    a = analyze(model, info, images, AnalysisSettings(size=40, keep=3))
    direct = build_bank(model, info, [s for s in images if str(s.path) in a.subset], size=40)
    sub = a.subset_bank
    assert sub is not None and sub.count == 3 and sub.weight_sum == pytest.approx(direct.weight_sum)
    for k in direct.layers:
        torch.testing.assert_close(sub.mean[k], direct.mean[k], rtol=1e-5, atol=1e-8)
    assert sum(model.style_weights[k] * v for k, v in sub.spread().items()) == pytest.approx(
        a.subset_spread_self, rel=1e-3
    )
    assert sub.stats is not None and direct.stats is not None  # the same contents as a `styles bank` build
    for k in direct.layers:
        torch.testing.assert_close(sub.stats[k].mean, direct.stats[k].mean, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(sub.stats[k].std, direct.stats[k].std, rtol=1e-5, atol=1e-7)


def test_two_groups_and_two_photos_rank_subset_and_a_bank_per_group(bimodal_set, tmp_path):
    """Issue 19: nine grass and nine sky frames plus two photos. The photos rank least typical, the subset is
    tighter than the set, and --write-bank writes one bank per group (with AdaIN statistics) beside it."""
    import skimage.data

    frames = bimodal_set[:18]
    coffee = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).resize((48, 40)).save(coffee)
    inputs = [*frames, bimodal_set[19], coffee]
    out, bank = tmp_path / "rep", tmp_path / "set.safetensors"
    code = main(["styles", "analyze", *map(str, inputs), "-o", str(out), "--backbone", "random", "--size", "48",
                 "--write-bank", str(bank), "--quiet"])  # fmt: skip
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    ranks = {Path(r["path"]).name: r["rank"] for r in rep["images"]}
    assert {ranks["photo.png"], ranks["coffee.png"]} == {19, 20}  # the photos are the least typical
    assert rep["subset_spread"] < rep["spread"] and len(rep["groups"]) == 2
    groups = [load_bank(tmp_path / f"set.group{g}.safetensors") for g in (1, 2)]
    assert sorted(b.count for b in groups) == [9, 9] and all(b.stats is not None for b in groups)
    families = [{Path(p).name.rstrip("0123456789.png") for p, _ in b.sources} for b in groups]
    assert sorted(map(sorted, families)) == [["grass"], ["sky"]]  # each bank holds one look
    subset = load_bank(bank)
    assert subset.stats is not None and subset.settings.get("inputs") == [str(p) for p in inputs]


def test_greedy_subset_and_helpers():
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 0.1, (8, 5)), [[5, 0, 0, 0, 0], [0, -4, 0, 0, 0]]]).astype(np.float32)
    w = np.ones(10)
    alive = greedy_subset(z, w, 8)
    assert alive[:8].all() and not alive[8:].any()
    assert weighted_spread(z[alive], w[alive]) < 0.1 * weighted_spread(z, w)
    # each greedy step is the best single removal (brute force on a tiny set)
    small = z[:6].astype(np.float64)
    best = min(range(6), key=lambda i: weighted_spread(np.delete(small, i, 0), np.ones(5)))
    assert np.flatnonzero(~greedy_subset(small, np.ones(6), 5)).tolist() == [best]
    med, mad, thr = robust_threshold(np.array([1.0, 1.0, 1.0, 1.0, 10.0]), 3.0)
    assert (med, mad) == (1.0, 0.0) and thr == pytest.approx(1.03)
    assert robust_threshold(np.array([1.0, 5.0]), 3.0)[2] is None
    line = np.outer(np.arange(7.0), [1.0, 2.0, 0.0])
    xy, explained = pca_2d(line)
    assert explained[0] == pytest.approx(1.0) and np.allclose(xy[:, 1], 0, atol=1e-9)
    wide = rng.normal(0, 1, (9, 500_000)).astype(np.float32)  # big enough for the iterative (svds) branch
    wide[:, :2] += np.outer(np.arange(9), [300.0, -200.0])
    xy_big, ex_big = pca_2d(wide)
    centred = wide.astype(np.float64) - wide.mean(0)
    u, sv, _ = np.linalg.svd(centred, full_matrices=False)
    assert ex_big == pytest.approx(list(sv[:2] ** 2 / (sv**2).sum()), rel=1e-2)
    assert np.abs(xy_big[:, 0]) == pytest.approx(np.abs(u[:, 0] * sv[0]), rel=1e-3)  # PC2 is noise: loose


def test_coordinates_exact_and_sketched():
    """Rows z: exact ones reproduce weighted Frobenius distances; count-sketched ones approximate them."""
    rng = np.random.default_rng(0)
    lay = Layout({"a": 3, "b": 40})
    grams = []
    for _ in range(12):
        fa, fb = rng.random((3, 50)), rng.random((40, 50)) * rng.random()
        grams.append({"a": torch.from_numpy(fa @ fa.T).float(), "b": torch.from_numpy(fb @ fb.T).float()})
    mm = np.stack([lay.pack(g) for g in grams]).astype(np.float32)
    scale = {"a": 0.5, "b": 2.0}
    exact = coordinates(mm, lay, scale, exact=True, dim=64, seed=0)
    sketch = coordinates(mm, lay, scale, exact=False, dim=256, seed=0)
    assert exact.shape == (12, 6 + 820) and sketch.shape == (12, 6 + 256)
    for i, j in ((0, 1), (2, 7), (5, 11)):
        want = sum(scale[k] ** 2 * float((grams[i][k].double() - grams[j][k].double()).pow(2).sum()) for k in "ab")
        assert float(((exact[i] - exact[j]).astype(np.float64) ** 2).sum()) == pytest.approx(want, rel=1e-5)
    d_exact = ((exact[:, None] - exact[None]) ** 2).sum(-1)
    d_sketch = ((sketch[:, None] - sketch[None]) ** 2).sum(-1)
    off = ~np.eye(12, dtype=bool)
    assert np.median(np.abs(d_sketch[off] / d_exact[off] - 1)) < 0.2


def test_cli_bank_and_analyze_end_to_end(style_set, tmp_path):
    _, folder = style_set
    bank = tmp_path / "gwen.style.safetensors"
    assert styles_cli("bank", str(folder), "-o", str(bank), "--size", "32") == 0
    b = load_bank(bank)
    assert b.count == 6 and b.size == 32 and b.backbone["identity"].startswith("vgg19/max/random")
    rep, sub = tmp_path / "report", tmp_path / "subset.safetensors"
    assert styles_cli("analyze", str(folder), "-o", str(rep), "--size", "32", "--write-bank", str(sub)) == 0
    for name in ("report.json", "report.md", "distances.png", "map.png", "typical.png"):
        assert (rep / name).stat().st_size > 0
    data = json.loads((rep / "report.json").read_text())
    assert {"images", "spread", "subset", "subset_spread", "backbone", "settings", "notes"} <= data.keys()
    assert {"path", "distance", "outlier", "layer_distances", "trace", "rank"} <= data["images"][0].keys()
    assert {"knn_distance", "far_from_mean", "group"} <= data["images"][0].keys()
    assert {"groups", "density_rule", "outlier_rule"} <= data.keys()
    assert data["outliers"] == [str(folder / "odd.png")] and str(folder / "odd.png") not in data["subset"]
    assert load_bank(sub).count == len(data["subset"]) == 5
    assert "spread" in (rep / "report.md").read_text()


def test_cli_bad_inputs_exit_2_with_one_line(style_set, tmp_path, capsys):
    _, folder = style_set
    out = tmp_path / "b.safetensors"
    assert styles_cli("bank", str(tmp_path / "nope"), "-o", str(out)) == 2
    assert not out.exists()
    out.write_bytes(b"keep me")
    assert styles_cli("bank", str(folder), "-o", str(out), "--size", "32") == 2
    assert out.read_bytes() == b"keep me"
    assert styles_cli("analyze", str(folder / "missing.png"), "-o", str(tmp_path / "rep")) == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"not a png at all")
    assert styles_cli("analyze", str(broken), "-o", str(tmp_path / "rep"), "--size", "32") == 2
    assert not (tmp_path / "rep").exists()  # nothing partial, not even the folder
    assert main(["styles", "info", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("styleverse: error:") for line in err)
    assert "nope" in err[0] and "--overwrite" in err[1] and "missing.png" in err[2] and "bad.png" in err[3]
    assert "style bank" in err[4]


def test_cli_checks_outputs_before_building_the_network(style_set, tmp_path, monkeypatch):
    import styleverse.nn.vgg

    def boom(*a, **k):
        raise AssertionError("network built before the output check")

    monkeypatch.setattr(styleverse.nn.vgg, "load_backbone", boom)  # looked up when a network is built
    _, folder = style_set
    (tmp_path / "b.safetensors").write_bytes(b"old")
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "report.json").write_text("{}")
    assert styles_cli("bank", str(folder), "-o", str(tmp_path / "b.safetensors")) == 2
    assert styles_cli("analyze", str(folder), "-o", str(tmp_path / "rep")) == 2
    bank = str(tmp_path / "b.safetensors")
    assert styles_cli("analyze", str(folder), "-o", str(tmp_path / "r2"), "--write-bank", bank) == 2


def test_a_stopped_analysis_raises_stopped_and_leaves_no_report_folder(style_set, tmp_path):
    from styleverse.nn.features import FeatureSpec
    from styleverse.styles.job import AnalyzeJob, StyleInputs, run_analyze

    _, folder = style_set
    source = StyleInputs((str(folder),), size=32, features=FeatureSpec("random"), precision="fp32", device="cpu")
    flag = StopFlag()
    with pytest.raises(Stopped, match="stopped after 2 of 6 images"):
        run_analyze(AnalyzeJob(source, tmp_path / "report"), lambda ev: ev.done == 2 and flag.set(), flag)
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("n", [1, 3])
def test_a_set_too_small_for_some_numbers_still_writes_strict_json(tmp_path: Path, n: int) -> None:
    """One image has no spread, three no meaningful map: those numbers are null, never NaN (invalid JSON)."""
    from fixtures.images import image_folder

    folder = image_folder(tmp_path / "set", n, (32, 32))
    assert styles_cli("analyze", str(folder), "-o", str(tmp_path / "rep"), "--size", "32") == 0

    def refuse(name: str) -> None:
        raise ValueError(f"report.json holds {name}, which is not JSON")

    json.loads((tmp_path / "rep" / "report.json").read_text(), parse_constant=refuse)


def test_bank_and_info_print_one_spread_for_one_file(style_set, tmp_path, capfd):
    """Issue 19: `styles bank` printed 2.917 (a sum over layers) and `styles info` 0.5834 (a mean) for one file."""
    import re

    _, folder = style_set
    bank = tmp_path / "b.safetensors"
    assert main(["styles", "bank", str(folder), "-o", str(bank), "--size", "32", "--backbone", "random"]) == 0
    built = capfd.readouterr()
    assert main(["styles", "info", str(bank)]) == 0
    shown = capfd.readouterr()
    found = [re.search(r"spread\s+([0-9.e+-]+)", " ".join(c.out.split() + c.err.split())) for c in (built, shown)]
    assert found[0] and found[1], (built, shown)
    assert float(found[0].group(1)) == float(found[1].group(1)) > 0


def test_a_bank_says_when_it_enlarged_its_images(style_set, tmp_path, capfd):
    """Issue 19: 224-px frames were enlarged to 512 px without a word and recorded as "seen at 512 px"."""
    _, folder = style_set  # 48 x 40 px images
    big, small = tmp_path / "big.safetensors", tmp_path / "small.safetensors"
    assert main(["styles", "bank", str(folder), "-o", str(big), "--size", "64", "--backbone", "random"]) == 0
    assert main(["styles", "bank", str(folder), "-o", str(small), "--size", "32", "--backbone", "random"]) == 0
    assert load_bank(big).settings["upscaled"] == {"count": 6, "smallest": 48}
    assert "upscaled" not in load_bank(small).settings
    capfd.readouterr()
    assert main(["styles", "info", str(big)]) == 0
    assert "6 enlarged from as small as 48 px" in " ".join(capfd.readouterr().out.split())
