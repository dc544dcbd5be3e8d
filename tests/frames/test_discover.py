"""frames discover on synthetic films: universes recovered, fades and the title card kept apart, resume after
a stop gives the same proposal, edits, and harvest taking the proposal as it is."""

from __future__ import annotations

import csv
import itertools
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from fixtures.films import TRANSITIONS, Truth, cut_film
from styleverse.cancel import Stopped
from styleverse.errors import ConfigError, InputError
from styleverse.frames.cluster import ClusterSettings
from styleverse.frames.discover import DiscoverConfig, DiscoverResult, discover, edit
from styleverse.frames.harvest import HarvestConfig, harvest, read_manifest
from styleverse.frames.proposal import load
from styleverse.frames.segments import parse_time, read_segments
from styleverse.nn.features import FeatureSpec

TINY = FeatureSpec(backbone="random", width=1 / 16)
Film = tuple[Path, Truth]
FAST = DiscoverConfig(size=64, device="cpu", precision="fp32", save_every=0)


def proposal_rows(out: Path) -> list[tuple[str, float, float, str]]:
    with (out / "proposal.csv").open() as f:
        return [(r["video"], parse_time(r["start"]), parse_time(r["end"]), r["label"]) for r in csv.DictReader(f)]


def label_at(rows: list[tuple[str, float, float, str]], video: str, t: float) -> str:
    """The proposal's label at ``t`` (``gap`` between segments: the sampled cut lies there)."""
    return next((label for v, a, b, label in rows if v == video and a <= t < b), "gap")


def score(out: Path, films: dict[str, Truth]) -> tuple[float, Counter[tuple[str, str]], set[str]]:
    """ARI over the universes' frames (10 per second, away from cuts), what the transitions got, and the labels
    the universes' frames got."""
    rows = proposal_rows(out)
    truth, got, transitions = [], [], Counter()
    for video, t in films.items():
        for time in np.arange(0, t.seconds, 0.1):
            want, have = t.label_at(float(time)), label_at(rows, video, float(time))
            if want in TRANSITIONS:
                transitions[(want, have)] += 1
            elif want is not None:
                truth.append(want)
                got.append(have)
    return adjusted_rand_score(truth, got), transitions, set(got)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    return cut_film(tmp_path_factory.mktemp("film") / "film.mp4", seed=0)


@pytest.fixture(scope="module")
def found(film: tuple[Path, Truth], tmp_path_factory: pytest.TempPathFactory) -> DiscoverResult:
    return discover([film[0]], tmp_path_factory.mktemp("found") / "out", FAST, TINY)


def test_the_test_film_has_what_the_issue_asks_for(film: tuple[Path, Truth]) -> None:
    parts = film[1].parts
    shots = [p for p in parts if p.kind not in TRANSITIONS]
    lengths = {p.last - p.first for p in shots}
    assert len(shots) >= 40 and len(lengths) >= 6
    assert {p.kind for p in parts} == {"miles", "gwen", "pavitr", "title", "fade", "black"}


def test_recovers_the_universes_and_keeps_title_and_fades_apart(found: DiscoverResult, film: Film) -> None:
    out = found.out
    ari, transitions, universe_labels = score(out, {_video(out): film[1]})
    assert found.proposal.universes() == ["u1", "u2", "u3"]
    assert ari >= 0.9, ari
    assert sum(transitions.values()) > 20
    for (_, label), n in transitions.items():
        assert label in ("unsure", "gap") or label not in universe_labels, (label, n)
    assert (out / "timeline.png").is_file() and (out / "report.md").is_file() and (out / "report.json").is_file()
    assert sorted(p.name for p in (out / "sheets").iterdir()) == ["u1.png", "u2.png", "u3.png", "unsure.png"]
    assert "| u1 |" in (out / "report.md").read_text()


def _video(out: Path) -> str:
    return proposal_rows(out)[0][0]


def test_pixel_statistics_alone_and_two_films_at_once(film: tuple[Path, Truth], tmp_path: Path) -> None:
    other, truth = cut_film(tmp_path / "other.mp4", seed=1, shots=40)
    pixels = DiscoverConfig(size=64, device="cpu", cluster=ClusterSettings(pixel_weight=1.0))
    result = discover([film[0], other], tmp_path / "out", pixels)
    rows = proposal_rows(result.out)
    videos = sorted({r[0] for r in rows})
    assert len(videos) == 2 and result.proposal.settings["network"] == "pixel statistics only"
    by_name = {v: (film[1] if v.endswith("film.mp4") else truth) for v in videos}
    ari, _, _ = score(result.out, by_name)
    assert ari >= 0.9 and len(result.proposal.universes()) == 3


def test_forced_universes(film: tuple[Path, Truth], found: DiscoverResult, tmp_path: Path) -> None:
    cfg = DiscoverConfig(size=64, device="cpu", precision="fp32", cluster=ClusterSettings(universes=2))
    result = discover([film[0]], tmp_path / "two", cfg, TINY)
    assert result.proposal.universes() == ["u1", "u2"] and result.proposal.settings["chosen"] == "2 (forced)"


def test_a_stopped_run_continues_to_the_same_proposal(film: Film, found: DiscoverResult, tmp_path: Path) -> None:
    seen = []

    def stop() -> bool:
        return len(seen) > 40

    with pytest.raises(Stopped, match="run the same command again"):
        discover([film[0]], tmp_path / "out", FAST, TINY, on_event=lambda e: seen.append(e), stop=stop)
    assert not (tmp_path / "out" / "proposal.csv").exists()
    kept = sorted((tmp_path / "out" / ".discover").glob("*/chunk-*.safetensors"))
    assert kept
    events = []
    again = discover([film[0]], tmp_path / "out", FAST, TINY, on_event=events.append)
    assert min(e.done for e in events if e.stage == "describe") > 5  # it did not start from the beginning
    assert (again.out / "proposal.csv").read_text() == (found.out / "proposal.csv").read_text()


def test_edits_rename_merge_and_drop(found: DiscoverResult, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(found.out, out)
    before = load(out)
    result = edit(out, rename=[("u1", "miles")], merge=[("u2", "u3")], drop=["unsure"])
    assert {r[3] for r in proposal_rows(out)} == {"miles", "u2"}
    after = result.proposal
    for old, new in (("u1", "miles"), ("u2", "u2"), ("u3", "u2"), ("unsure", "")):
        assert all(b == new for a, b in zip(before.labels, after.labels, strict=True) if a == old)
    assert sorted(p.name for p in (out / "sheets").iterdir()) == ["miles.png", "u2.png"]
    assert result.proposal.edits == ["merge u2=u3; drop unsure; rename u1=miles"]
    assert "rename u1=miles" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"rename": [("u9", "x")]}, "no universe 'u9'"),
        ({"rename": [("u1", "u2")]}, "already a universe"),
        ({"rename": [("u1", "a/b")]}, "cannot be a folder name"),
        ({"rename": [("u1", "x"), ("u2", "x")]}, "two universes would get one name"),
        ({"merge": [("u1", "u1")]}, "cannot merge"),
        ({"drop": ["nobody"]}, "no universe 'nobody'"),
        ({}, "nothing to edit"),
    ],
)
def test_a_refused_edit_changes_nothing(found: DiscoverResult, kw: dict, message: str) -> None:
    before = (found.out / "proposal.csv").read_bytes()
    with pytest.raises(ConfigError, match=message):
        edit(found.out, **kw)
    assert (found.out / "proposal.csv").read_bytes() == before
    assert load(found.out).edits == []


def test_harvest_takes_the_proposal_as_it_is(found: DiscoverResult, tmp_path: Path) -> None:
    jobs = read_segments(found.out / "proposal.csv")
    assert {j.label for j in jobs} == {"u1", "u2", "u3"}  # unsure rows skipped
    harvest(tmp_path / "ds", jobs, HarvestConfig(every=1.0))
    rows = read_manifest(tmp_path / "ds")
    assert {r.label for r in rows} == {"u1", "u2", "u3"} and len(rows) > 30


def test_unreadable_film_and_bad_settings_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match=r"bad\.mp4"):
        discover([bad], tmp_path / "out", FAST, TINY)
    with pytest.raises(InputError, match="no such video"):
        discover([tmp_path / "missing.mp4"], tmp_path / "out", FAST, TINY)
    with pytest.raises(ConfigError, match="every"):
        discover([bad], tmp_path / "out", DiscoverConfig(every=0), TINY)
    with pytest.raises(ConfigError, match="pixel_weight"):
        discover([bad], tmp_path / "out", DiscoverConfig(cluster=ClusterSettings(pixel_weight=2)), TINY)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="holds no proposal"):
        edit(tmp_path / "nothing", rename=[("u1", "x")])


def test_records_cover_the_film_in_order(found: DiscoverResult, film: tuple[Path, Truth]) -> None:
    shots = found.proposal.shots
    assert all(a.end <= b.start for a, b in itertools.pairwise(shots))
    assert shots[0].start == 0 and math.isclose(shots[-1].end, film[1].seconds, abs_tol=0.5)
    assert {s.kind for s in shots} == {"steady", "fade", "blank"}
