"""The parts of frames discover on their own: grouping points with known groups, the description space, the
bounded frame reservoir, fades and blanks within a shot, resume times, and proposal segments and edits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from styleverse.errors import ConfigError
from styleverse.frames.cluster import UNSURE, ClusterSettings, cluster_shots, embed
from styleverse.frames.describe import RESERVOIR, Shot, _kinds, _Record, _Sample, resume_time
from styleverse.frames.proposal import Proposal, edit_labels, format_time, segments
from styleverse.frames.segments import parse_time


def blobs(sizes: tuple[int, ...], dim: int = 12, seed: int = 0, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(sizes), dim))
    x = np.concatenate([c + rng.normal(0, spread, (n, dim)) for c, n in zip(centres, sizes, strict=True)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def test_groups_of_unequal_size_are_found_and_a_lone_point_is_unsure() -> None:
    x, truth = blobs((30, 12, 5))
    far = np.full((1, x.shape[1]), 25.0)
    c = cluster_shots(np.concatenate([x, far]), np.ones(len(x) + 1), ClusterSettings())
    assert c.k == 3 and c.labels[-1] == UNSURE and "far" in c.why[-1]
    assert adjusted_rand_score(truth, c.labels[:-1]) == 1.0
    assert list(np.bincount(c.labels[:-1])) == [30, 12, 5]  # numbered by screen time


def test_screen_time_orders_the_groups() -> None:
    x, truth = blobs((10, 10))
    seconds = np.where(truth == 1, 5.0, 1.0)
    c = cluster_shots(x, seconds, ClusterSettings())
    assert adjusted_rand_score(truth, c.labels) == 1.0 and c.labels[truth == 1][0] == 0


def test_one_blob_is_one_universe_unless_forced() -> None:
    x, _ = blobs((40,), spread=1.0)
    c = cluster_shots(x, np.ones(len(x)), ClusterSettings())
    assert c.k == 1 and np.isnan(c.silhouette)
    forced = cluster_shots(x, np.ones(len(x)), ClusterSettings(universes=3))
    assert forced.k == 3 and forced.tried == {}
    with pytest.raises(ConfigError, match="only 40 shots"):
        cluster_shots(x, np.ones(len(x)), ClusterSettings(universes=41))


def test_a_tiny_group_is_unsure() -> None:
    x, _ = blobs((20, 20, 2), spread=0.1)
    c = cluster_shots(x, np.ones(len(x)), ClusterSettings(min_shots=3))
    assert c.k == 2 and list(c.labels[-2:]) == [UNSURE, UNSURE] and c.why[-1] == "a group of only 2 shot(s)"


def test_each_block_weighs_its_share_whatever_its_length_and_scale() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 100, (50, 200)), rng.normal(0, 0.01, (50, 30)), rng.normal(0, 1, (50, 20))], 1)
    z = embed(x, [("relu1_1", 200), ("colour", 30), ("edges", 20)], pixel_weight=0.6)
    share = [(z[:, a:b] ** 2).sum(1).mean() for a, b in ((0, 200), (200, 230), (230, 250))]
    assert share == pytest.approx([0.4, 0.3, 0.3])
    two = embed(x, [("relu1_1", 100), ("relu2_1", 100), ("colour", 30), ("edges", 20)], 0.5, {"relu1_1": 3.0})
    assert [(two[:, a:b] ** 2).sum(1).mean() for a, b in ((0, 100), (100, 200))] == pytest.approx([0.375, 0.125])


def test_the_reservoir_stays_bounded_and_spread_over_a_long_shot() -> None:
    r = _Record("steady", 0.0, 0.0)
    image = Image.new("RGB", (4, 4))
    for i in range(10_000):
        r.add(_Sample(i * 0.25, "0", np.zeros(1), 100.0, False, image))
    idx = [i for i, _ in r.kept]
    assert RESERVOIR // 2 <= len(idx) <= RESERVOIR and r.count == 10_000
    steps = set(np.diff(idx).tolist())
    assert len(steps) == 1 and idx[0] == 0 and idx[-1] >= 10_000 - 2 * steps.pop()
    assert len(r.spread(3)) == 3


def test_fades_and_blanks_within_a_shot() -> None:
    lumas = [120, 121, 119, 120, 100, 80, 60, 40, 20, 5]
    shot = [_Sample(i, "0", np.zeros(1), v, v < 10, Image.new("RGB", (2, 2))) for i, v in enumerate(lumas)]
    assert _kinds(shot, None, None) == ["steady"] * 3 + ["fade"] * 6 + ["blank"]


def test_a_fade_cut_into_one_sample_shots_is_still_a_fade_but_a_plain_cut_is_not() -> None:
    one = [_Sample(0, "0", np.zeros(1), 60.0, False, Image.new("RGB", (2, 2)))]
    assert _kinds(one, 90.0, 40.0) == ["fade"]  # darker and darker across both cuts
    assert _kinds(one, 30.0, 90.0) == ["fade"]
    assert _kinds(one, 90.0, 90.0) == ["steady"]  # a dark shot between two bright ones
    assert _kinds(one, 60.0, 30.0) == ["steady"]  # a cut to a darker shot
    assert _kinds(one + one, 90.0, 30.0) == ["steady", "steady"]  # within the shot the level holds


def test_resume_time_is_the_sampling_grid_point_at_or_before() -> None:
    assert resume_time(10.3, 0.25) == 10.25 and resume_time(10.0, 0.25) == 10.0 and resume_time(0.0, 1) == 0.0
    assert resume_time(2.9995, 1.0) == 3.0  # frame times are rounded: 1 ms early counts as at


def test_format_time_is_read_back_by_the_segments_parser() -> None:
    for t in (0.0, 1.25, 59.999, 3600 + 62.5, 7 * 3600 + 0.001):
        assert parse_time(format_time(t)) == pytest.approx(t, abs=5e-4)


def test_segments_join_consecutive_records_of_a_label_and_leave_dropped_out() -> None:
    shots = [Shot(0, a, b, "steady", 1, i) for i, (a, b) in enumerate([(0, 1), (1.1, 2), (2.1, 3), (3.1, 4)])]
    shots.append(Shot(1, 0, 5, "steady", 1, 0))
    p = Proposal(["a.mp4", "b.mp4"], ["ka", "kb"], shots, ["u1", "u1", "", "u1", "u1"], [""] * 5)
    assert segments(p) == [(0, 0, 2, "u1"), (0, 3.1, 4, "u1"), (1, 0, 5, "u1")]


def test_edit_labels_applies_merge_then_drop_then_rename() -> None:
    labels = ["u1", "u2", "u3", "unsure", "u4", ""]
    got = edit_labels(labels, rename=[("u1", "miles"), ("u2", "gwen")], merge=[("u2", "u4")], drop=["u3"])
    assert got == ["miles", "gwen", "", "unsure", "gwen", ""]
    assert edit_labels(["u1", "u2"], rename=[("u1", "u2"), ("u2", "u1")]) == ["u2", "u1"]  # a swap is fine
    with pytest.raises(ConfigError, match="cannot rename"):
        edit_labels(labels, rename=[("unsure", "x")])
