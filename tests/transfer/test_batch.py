"""``stylize FOLDER -o OUT/``: one result and sidecar per photo, as a plain batch and shared by two processes
under torchrun (gloo on CPU) with the same images; a rerun skips what is finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.distributed import torchrun
from fixtures.images import image_folder, make_image
from styleverse.cancel import StopFlag
from styleverse.cli.main import main
from styleverse.errors import ConfigError
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.batch import batch_jobs, run_batch
from styleverse.transfer.config import StepEvent, TransferConfig
from styleverse.transfer.job import StylizeJob

TINY = ["--backbone", "random", "--precision", "fp32", "--device", "cpu", "--style-layers", "relu1_1",
        "--content-layers", "relu1_1", "--steps", "3", "--size", "32", "--quiet"]  # fmt: skip
WORKER = "import sys\nfrom styleverse.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def test_a_folder_becomes_one_job_per_image_and_takes_no_plot(tmp_path: Path) -> None:
    photos = image_folder(tmp_path / "in", 3, name="p{i}.jpg")
    jobs = batch_jobs(StylizeJob(photos, tmp_path / "out"))
    assert [j.output.name for j in jobs] == ["p0.png", "p1.png", "p2.png"]
    assert [j.content.name for j in jobs] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    with pytest.raises(ConfigError, match="plot"):
        batch_jobs(StylizeJob(photos, tmp_path / "out", plot=tmp_path / "p.png"))


def test_plain_batch_writes_each_result_with_its_sidecar_and_skips_them_again(tmp_path: Path) -> None:
    photos, style = image_folder(tmp_path / "in", 3), make_image(tmp_path / "s.png", (40, 40), 9)
    out = tmp_path / "out"
    assert main(["stylize", str(photos), "-o", f"{out}/", "--style", str(style), *TINY]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["0.png", "0.png.json", "1.png", "1.png.json", "2.png", "2.png.json"]
    side = json.loads((out / "1.png.json").read_text())
    assert side["content"].endswith("1.png") and side["steps_run"] == 3
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["stylize", str(photos), "-o", f"{out}/", "--style", str(style), *TINY]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # finished: nothing redone


def test_a_stop_from_a_front_end_starts_no_next_image(tmp_path: Path) -> None:
    photos, style = image_folder(tmp_path / "in", 3), make_image(tmp_path / "s.png", (40, 40), 9)
    config = TransferConfig(steps=50, size=32)
    job = StylizeJob(photos, tmp_path / "out", StyleSpec((style,)), config, FeatureSpec("random"))
    flag = StopFlag()

    def events(ev: object) -> None:
        if isinstance(ev, StepEvent) and ev.step == 2:
            flag.set("stopped")  # the app's Cancel: the image reached is kept, the batch ends there

    outcome = run_batch(job, events, flag)
    assert outcome.interrupted and outcome.written == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".png") == ["0.png"]


@pytest.mark.slow
def test_two_processes_write_what_one_process_writes(tmp_path: Path) -> None:
    photos, style = image_folder(tmp_path / "in", 5), make_image(tmp_path / "s.png", (40, 40), 9)
    for name, n in (("one", 1), ("two", 2)):
        args = ["stylize", str(photos), "-o", f"{tmp_path / name}/", "--style", str(style), *TINY]
        proc = torchrun(WORKER, tmp_path, *args, nproc=n)
        assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = (sorted((tmp_path / d).glob("*.png")) for d in ("one", "two"))
    assert len(one) == 5 and [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    for p in two:
        side = json.loads(p.with_name(p.name + ".json").read_text())
        assert side["output"] == str(p) and side["steps_run"] == 3
