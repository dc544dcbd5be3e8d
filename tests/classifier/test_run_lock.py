"""A classifier run folder is locked for the whole run: a second run into it is refused, naming the first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.cli import one_error_line
from styleverse.classifier.train import TrainConfig, train
from styleverse.errors import LockedError
from styleverse.io.lock import output_lock

Cli = Callable[..., tuple[int, str, str]]


def test_second_run_into_a_locked_run_folder_is_refused(tmp_path: Path, cli: Cli) -> None:
    run = tmp_path / "runs" / "tcnn"
    cfg = TrainConfig(dataset=str(tmp_path / "ds"), out=str(run), init="scratch", device="cpu", epochs=1)
    with output_lock(run, command="styleverse classifier train ds --out runs/tcnn (first)"):
        with pytest.raises(LockedError, match=r"in use by another styleverse run .*\(first\)"):
            train(cfg)
        code, _, err = cli("classifier", "train", tmp_path / "ds", "--out", run, "--init", "scratch", "--quiet")
        assert code == 2 and "(first)" in one_error_line(err)
    assert not run.exists()  # refused before anything was written
    assert not (run.parent / ".tcnn.lock").exists()


@pytest.mark.parametrize("where", ["ds", "ds/gwen", "."])
def test_run_folder_equal_to_inside_or_holding_the_dataset_is_refused(tmp_path: Path, cli: Cli, where: str) -> None:
    (tmp_path / "ds" / "gwen").mkdir(parents=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    run = tmp_path / where
    code, _, err = cli("classifier", "train", tmp_path / "ds", "--out", run, "--init", "scratch", "--quiet")
    line = one_error_line(err)
    assert code == 2 and f"--out {run}" in line
    assert any(s in line for s in ("is also an input", "lies inside the input folder", "holds the input"))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
