"""The resume fingerprint: a settings dataclass as plain values, without the settings a resume may change."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from styleverse.io.state import fingerprint, not_fingerprinted
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.job import StylizeJob
from styleverse.transfer.job import fingerprint as stylize_fingerprint


@dataclass(frozen=True)
class Inner:
    size: int = 64
    save_every: int = not_fingerprinted(5)


@dataclass(frozen=True)
class Job:
    output: Path = field(metadata={"fingerprint": False})
    styles: tuple[Path, ...] = (Path("a.png"),)
    inner: Inner = field(default_factory=Inner)
    weights: dict[str, float] = field(default_factory=lambda: {"relu1_1": 1.0})
    resume: bool = not_fingerprinted(False)


def test_fields_marked_are_left_out_at_every_depth_and_values_are_plain() -> None:
    job = Job(Path("o.png"), resume=True)
    assert fingerprint(job) == {"styles": ["a.png"], "inner": {"size": 64}, "weights": {"relu1_1": 1.0}}
    assert fingerprint(job, leave_out=("inner", "weights")) == {"styles": ["a.png"]}
    assert fingerprint(Job(Path("elsewhere.png"), inner=Inner(save_every=9))) == fingerprint(job)
    assert fingerprint(Job(Path("o.png"), inner=Inner(size=32))) != fingerprint(job)


def test_a_stylise_resume_may_change_where_and_whether_to_write_but_not_the_look() -> None:
    style = StyleSpec((Path("s.png"),))
    base = StylizeJob(Path("c.png"), Path("o.png"), style)
    same = StylizeJob(Path("c.png"), Path("o.png"), style, plot=Path("p.png"), resume=True)
    assert stylize_fingerprint(same) == stylize_fingerprint(base)
    assert stylize_fingerprint(base)["config"]["sizes"] == list(base.config.sizes)
    assert stylize_fingerprint(
        StylizeJob(Path("c.png"), Path("o.png"), StyleSpec((Path("s.png"),), scale=2.0))
    ) != stylize_fingerprint(base)
