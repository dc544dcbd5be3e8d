"""Progress output: plain timed lines when stderr is not a terminal, a bar that keeps its times whole at 80
columns when it is, and `styles info` that never cuts a name."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from styleverse.cli.progress import LogProgress, progress


def test_plain_lines_when_not_a_terminal(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", tmp_path / "o.png",
                       "--size", "32", "--steps", "3", "--backbone", "random", "--precision", "fp32")  # fmt: skip
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith("stylize: ")]
    assert lines and "3/3 (100%)" in lines[-1] and "ETA" in lines[-1] and "style" in lines[-1]
    assert "3 of at most 3 steps (max_steps)" in " ".join(
        err.split()
    )  # where the run stopped, beside the cap the bar counts to


def test_eta_after_resume_counts_only_the_steps_run_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: a run resumed at step 300 of 400 showed an ETA as if this process had run all 300."""
    buf = io.StringIO()
    clock = iter([0.0, 0.0, 100.0, 100.0])
    monkeypatch.setattr("styleverse.cli.progress.time.monotonic", lambda: next(clock))
    with LogProgress(Console(file=buf, width=200), interval=10.0) as bar:
        t = bar.add_task("job", total=400, status="")
        bar.update(t, completed=300)  # 0.0: the resumed run reports where it starts
        bar.update(t, completed=310)  # 100.0: 10 steps in 100 s, 90 to go
    assert "ETA 0:15:00" in buf.getvalue().splitlines()[-1]


def test_log_progress_is_timed_and_reports_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    clock = iter([0.0, 0.0, 1.0, 11.0, 12.0])
    monkeypatch.setattr("styleverse.cli.progress.time.monotonic", lambda: next(clock))
    with LogProgress(Console(file=buf, width=200), interval=10.0) as bar:
        t = bar.add_task("job", total=4, status="")  # start = 0.0
        bar.update(t, advance=1, status="a")  # 0.0: first line (never printed before)
        bar.update(t, advance=1, status="b")  # 1.0: within the interval, silent
        bar.update(t, advance=1, status="c")  # 11.0: interval passed
        bar.update(t, advance=1, status="d")  # 12.0: finished, always reported
    lines = buf.getvalue().splitlines()
    assert [ln.split()[1] for ln in lines] == ["1/4", "3/4", "4/4"]
    assert lines[-1].endswith("d") and "(100%)" in lines[-1]


def test_bar_keeps_counts_and_eta_whole_at_80_columns() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    bar = progress(console)
    with bar:
        t = bar.add_task("stylize", total=300, status="style 1.23e-02 content 4.56e-03 0.42 it/s and a long tail")
        bar.update(t, completed=123)
        bar.refresh()  # type: ignore[union-attr]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    last = [ln for ln in text.replace("\r", "\n").splitlines() if "123/300" in ln][-1]
    assert len(last.rstrip()) <= 80
    assert "…" in last  # the status is cut, not the times
    times = [w for w in last.split() if w.count(":") == 2]
    assert len(times) == 2 and all(len(w) == 7 for w in times), last


def test_styles_info_never_cuts_a_name(cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / ("a_long_universe_name_" * 3 + ".style.safetensors")
    code, _, err = cli("styles", "bank", images["style_a"], "-o", bank, "--backbone", "random", "--size", "32",
                       "--quiet")  # fmt: skip
    assert code == 0, err
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli("styles", "info", bank)
    assert code == 0, err
    joined = "".join(ln.strip() for ln in out.splitlines())
    assert bank.name in joined.replace(" ", "") and "vgg19/max/random:seed=0:width=1.0" in joined
    assert max(len(ln) for ln in out.splitlines()) <= 80
