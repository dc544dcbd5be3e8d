"""Distillation: a small transform network trained to reproduce a larger one's outputs, on the generic loop.

A user who trained one good network (``fast train``, hours against style banks through VGG) gets a network
fast enough for real time on a CPU cheaply: the student (``width``, ``blocks``, optionally depthwise-separable
blocks, :mod:`styleverse.fast.model`) sees the same photos as its teacher and is trained towards the
teacher's output for the same universe, with no loss network at all — the mean squared pixel difference in
float32 (Hinton et al. 2015 distil a network's outputs; here the output is an image). Every universe of the
teacher is learnt equally often (:class:`styleverse.training.photos.Batches`). The student keeps the
teacher's universes and its record of how it was trained (backbone, layers), so it opens, mixes, exports and
warm-starts Gatys exactly as the teacher does.

Outputs as ``fast train`` writes them: ``STUDENT.safetensors`` at every checkpoint and at the end, the loss
curve, sample grids, and the resume state (interrupt with Ctrl-C and rerun with ``resume``).
:func:`compare` measures a student against its teacher on held-out photos (``benchmarks/bench_fast.py
--distill``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from styleverse.devices import autocast, place, resolve_precision
from styleverse.distributed import DistContext
from styleverse.fast.model import FastModel, FastSpec, TransformNet, load_model
from styleverse.fast.train import FastTask, size_checks
from styleverse.io.state import fingerprint, not_fingerprinted
from styleverse.training.loop import Callback, run_loop
from styleverse.training.outputs import training_run
from styleverse.training.photos import Batches, content_photos, files_digest, sample_photos
from styleverse.training.result import Gap, TrainResult
from styleverse.training.settings import TrainerConfig, refuse_first, trainer_checks, trainer_loop

STATE_KIND = "fast_distill"  # not fast train's: a distillation state is never continued as a training run


@dataclass(frozen=True)
class DistillConfig(TrainerConfig):
    """Settings of one ``fast distill`` run: the teacher model file, the photos, the student's shape (default
    the real-time variant: width 16, 3 depthwise-separable blocks) and the loop's settings."""

    teacher: str
    content: tuple[str, ...]
    output: str = field(metadata={"fingerprint": False})
    width: int = 16
    blocks: int = 3
    separable: bool = True
    size: int = 256
    batch_size: int = 4
    steps: int = not_fingerprinted(2000)
    lr: float = 2e-3

    def validate(self) -> None:
        refuse_first(size_checks(self.size) + trainer_checks(self))


class DistillTask(FastTask):
    """The student as a :class:`TrainTask`: each photo towards the teacher's output for its universe. Saving
    and sample grids are those of ``fast train``."""

    def __init__(
        self, cfg: DistillConfig, student: TransformNet, teacher: TransformNet, batches: Batches,
        device: torch.device, precision: str, meta: dict[str, Any], samples: list[Path],
    ) -> None:  # fmt: skip
        self.cfg = cfg  # type: ignore[assignment]  # save and sample read only its output and size
        self.model, self.net, self.teacher, self.batches = student, student, teacher, batches
        self.device, self.precision, self.meta, self.sample_photos = device, precision, meta, samples
        self.fmt = torch.contiguous_format

    def losses(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x, u = batch[0].to(self.device), batch[1].to(self.device)
        w = torch.nn.functional.one_hot(u, len(self.net.spec.universes)).float()
        with torch.no_grad(), autocast(self.device, self.precision):
            target = self.teacher(x, w).float()
        with autocast(self.device, self.precision):
            y = self.model(x, w).float()
        pixel = torch.nn.functional.mse_loss(y, target)
        return {"total": pixel, "pixel": pixel}


def distill_fast(
    cfg: DistillConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None
) -> TrainResult[FastModel]:
    """Train (or with ``cfg.resume`` continue) a student of ``cfg.teacher``; see the module doc. ``stop`` is
    polled after each step (the CLI wires Ctrl-C to it); under torchrun only rank 0 writes."""
    cfg.validate()
    teacher = load_model(cfg.teacher)  # before any output is touched: a bad teacher loses nothing
    with training_run(cfg, cfg.output, [cfg.teacher, *cfg.content], cfg.content) as (ctx, device, out):
        return _distill(cfg, teacher, out, ctx, device, callback, stop)


def _distill(
    cfg: DistillConfig, teacher: FastModel, out: Path, ctx: DistContext, device: torch.device,
    callback: Callback | None, stop: Callable[[], bool] | None,
) -> TrainResult[FastModel]:  # fmt: skip
    photos = content_photos(cfg.content, cfg.size)
    precision = resolve_precision(cfg.precision, device)
    spec = FastSpec(teacher.universes, cfg.width, cfg.blocks, cfg.separable)
    torch.manual_seed(cfg.seed)
    student = place(TransformNet(spec), device, "fp32")
    tnet = place(copy.deepcopy(teacher.net), device, "fp32").eval().requires_grad_(False)
    settings = {**cfg.to_dict(), "teacher_spec": teacher.net.spec.to_dict(), "teacher_settings": teacher.settings}
    meta = {"backbone": teacher.backbone, "style_layers": teacher.style_layers,
            "content_layers": list(teacher.content_layers), "settings": settings}  # fmt: skip
    picks = sample_photos(photos)
    batches = Batches(photos, len(spec.universes), cfg.size, cfg.batch_size, cfg.seed, ctx.rank, ctx.world_size)
    task = DistillTask(cfg, student, tnet, batches, device, precision, meta, picks)
    fp = {**fingerprint(cfg), "teacher": files_digest([Path(cfg.teacher)])}
    teacher_changed = {"teacher": lambda _a, _b: "the teacher model file changed since the run began"}
    loop = trainer_loop(cfg, out, STATE_KIND, fp, photos, teacher_changed)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    result = run_loop(task, opt, loop, ctx, device, callback, stop)
    student.eval()
    return TrainResult.of(task.fast_model(result.step), out, result)


@torch.no_grad()
def compare(teacher: FastModel, student: FastModel, photos: Sequence[torch.Tensor], measure: Any) -> list[Gap]:
    """Per universe, the :class:`Gap` of ``student`` to ``teacher`` over ``photos`` ((1,3,H,W) in [0,1], H and W
    multiples of 4), averaged; ``measure(image, photo, universe_index)`` gives the objective's terms."""
    out = []
    for i, name in enumerate(teacher.universes):
        w = torch.eye(len(teacher.universes))[i]
        rows = []
        for x in photos:
            a, b = teacher.net.float()(x, w), student.net.float()(x, w)
            ma, mb = measure(a, x, i), measure(b, x, i)
            rows.append((ma["style"], mb["style"], ma["content"], mb["content"], float((a - b).abs().mean())))
        m = [sum(col) / len(rows) for col in zip(*rows, strict=True)]
        out.append(Gap(name, (m[0], m[1]), (m[2], m[3]), m[4]))
    return out
