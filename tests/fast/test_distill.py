"""``fast distill``: a small student learns its teacher's outputs on the one loop (resume, refusals), and
:func:`compare` measures the gap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fixtures.cli import one_error_line
from fixtures.fast import make_photos
from fixtures.networks import tiny_fast
from styleverse.fast.distill import DistillConfig, compare, distill_fast
from styleverse.fast.model import FastModel, load_model, save_model

Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.usefixtures("one_thread")
UNIVERSES = ("gwen", "miles")


def setup(root: Path) -> Path:
    make_photos(root / "photos", 4)
    return save_model(tiny_fast(UNIVERSES, seed=3, width=8), root / "teacher.safetensors")


def gap_to(teacher: FastModel, student: FastModel) -> list[float]:
    photos = [torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    return [g.pixel for g in compare(teacher, student, photos, lambda y, x, i: {"style": 0.0, "content": 0.0})]


def test_student_learns_the_teacher_and_keeps_its_record(tmp_path: Path) -> None:
    teacher_path = setup(tmp_path)
    cfg = DistillConfig(
        str(teacher_path), (str(tmp_path / "photos"),), str(tmp_path / "s.safetensors"), width=4, blocks=1,
        size=32, batch_size=2, steps=40, lr=1e-2, precision="fp32", device="cpu", checkpoint_every=0,
    )  # fmt: skip
    result = distill_fast(cfg)
    pixel = [h["pixel"] for h in result.history]
    assert sum(pixel[-5:]) < 0.75 * sum(pixel[:5])
    teacher, student = load_model(teacher_path), load_model(tmp_path / "s.safetensors")
    assert student.universes == UNIVERSES and student.net.spec.separable and student.net.spec.width == 4
    assert student.backbone == teacher.backbone and student.style_layers == teacher.style_layers
    untrained = FastModel(type(student.net)(student.net.spec).eval())
    assert all(a < b for a, b in zip(gap_to(teacher, student), gap_to(teacher, untrained), strict=True))
    assert gap_to(teacher, teacher) == [0.0, 0.0]


def test_cli_resumes_and_refuses_with_one_line(tmp_path: Path, cli: Cli) -> None:
    teacher = setup(tmp_path)
    args = ["fast", "distill", teacher, "--content", tmp_path / "photos", "-o", tmp_path / "s.safetensors",
            "--width", "4", "--blocks", "1", "--size", "32", "--batch-size", "2", "--steps", "3",
            "--precision", "fp32", "--device", "cpu", "--quiet"]  # fmt: skip
    code, out, err = cli(*args)
    assert code == 0 and "width 4, 1 separable blocks" in out, err
    code, _, err = cli(*args)
    assert code == 2 and "--resume" in one_error_line(err)
    code, _, err = cli(*args, "--resume", "--steps", "5")
    assert code == 0, err
    assert load_model(tmp_path / "s.safetensors").step == 5
    code, _, err = cli(*args[:2], tmp_path / "photos" / "photo0.png", *args[3:], "--overwrite")
    assert code == 2 and "not a readable model file" in one_error_line(err)
    assert load_model(tmp_path / "s.safetensors").step == 5  # a bad teacher loses nothing
    code, _, err = cli(*args, "--size", "30", "--overwrite")
    assert code == 2 and "multiple of 4" in one_error_line(err)
