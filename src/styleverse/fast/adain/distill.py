"""``adain distill``: an AdaIN model whose encoder is a small network instead of VGG, for real time on a CPU.

A trained AdaIN decoder (``adain train``, the teacher) comes with VGG up to relu4_1 as its encoder, about half
of a frame's cost. Distillation (Hinton et al. 2015, here of features rather than outputs) trains a
:class:`styleverse.fast.adain.student.StudentEncoder` to reproduce the teacher VGG's relu1_1..relu4_1
features on the photos *and* the style images of the run (the style's statistics come from the same
encoder), with the loss, per layer and normalised by the mean square of the VGG features there::

    L_f = Σ_l (‖φ̂_l − φ_l‖² + ‖μ(φ̂_l) − μ(φ_l)‖² + ‖σ(φ̂_l) − σ(φ_l)‖²) / mean(φ_l²)

For the first ``encoder_steps`` steps only the encoder learns. Then the decoder learns too: the teacher's
decoder (or, with ``decoder_width``, a new, narrower one: the decoder is the other half of a frame's cost)
decodes ``t̂ = AdaIN(f̂(c), f̂(s))`` of the student's features (detached: the encoder keeps learning VGG's
features only, so a style bank's VGG statistics still fit it), and is trained with ``adain train``'s losses
measured by the teacher's VGG: content ``‖f(g(t̂)) − AdaIN(f(c), f(s))‖²`` (the teacher's target) and style
(eq. 13 at relu1_1..relu4_1 against the style's VGG statistics). One loop (:mod:`styleverse.training.loop`)
with one Adam over both networks (the encoder at ``lr``, the decoder at ``decoder_lr``, both decayed as
``adain train`` decays), so Ctrl-C and ``resume`` continue bit for bit.

The result is an AdaIN model file (format 2: :mod:`styleverse.fast.adain.model`) that opens through
:func:`styleverse.fast.open.open_stylizer` as any decoder does and takes style images and the banks of the
teacher's VGG. :func:`compare` measures it against its teacher on held-out pairs (``bench_adain.py --distill``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from styleverse.devices import autocast, place, resolve_precision
from styleverse.distributed import DistContext
from styleverse.errors import InputError
from styleverse.fast.adain.model import (
    ENCODER_LAYER,
    STYLE_LAYERS,
    AdaINModel,
    AdaINNet,
    Decoder,
    DecoderSpec,
    adain,
    load_adain,
)
from styleverse.fast.adain.student import StudentEncoder, StudentSpec
from styleverse.fast.adain.train import (
    EPS,
    AdaINTask,
    PairBatches,
    decayed,
    pair_checks,
    pair_run,
    sample_pairs,
    style_loss,
)
from styleverse.io.outputs import network_files
from styleverse.io.state import fingerprint, not_fingerprinted
from styleverse.styles.targets import channel_stats
from styleverse.training.loop import Callback, run_loop
from styleverse.training.photos import files_digest
from styleverse.training.result import Gap, TrainResult
from styleverse.training.settings import Check, TrainerConfig, refuse_first, trainer_checks, trainer_loop

STATE_KIND = "adain_distill"  # never continued as an `adain train` run, nor the other way round


@dataclass(frozen=True)
class AdaINDistillConfig(TrainerConfig):
    """Settings of one ``adain distill`` run (see the module doc): the teacher decoder file, photos and style
    images as ``adain train`` takes them, the student's shape (``width``, ``blocks``), the decoder's
    (``decoder_width``: None keeps and fine-tunes the teacher's), the two phases and the loss weights
    (``style_weight``/``content_weight`` None: the teacher's)."""

    teacher: str
    content: tuple[str, ...]
    style: tuple[str, ...]
    output: str = field(metadata={"fingerprint": False})
    label: str | None = None
    width: int = StudentSpec.width
    blocks: int = StudentSpec.blocks
    decoder_width: float | None = None
    size: int = 256
    load_size: int = 512
    batch_size: int = 8
    steps: int = not_fingerprinted(20_000)
    encoder_steps: int = 4_000
    lr: float = 1e-3
    decoder_lr: float = 1e-4
    lr_decay: float = 5e-5
    feature_weight: float = 1.0
    style_weight: float | None = None
    content_weight: float | None = None
    _: KW_ONLY
    checkpoint_every: int = not_fingerprinted(1000)

    def validate(self) -> None:
        weights = [w for w in ("style_weight", "content_weight") if getattr(self, w) is not None]
        checks: list[Check] = [
            (self.encoder_steps >= 0, "encoder_steps must be >= 0", "encoder_steps"),
            (self.decoder_lr > 0, "decoder_lr must be a positive number", "decoder_lr"),
        ]
        refuse_first(pair_checks(self) + checks + trainer_checks(self, ["feature_weight", *weights]))
        StudentSpec(self.width, self.blocks).validate()
        if self.decoder_width is not None:
            DecoderSpec(width=self.decoder_width).validate()


def feature_loss(got: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    """``L_f`` of the module doc: features, channel means and stds, per layer over the features' mean square."""
    total = torch.zeros((), device=target[ENCODER_LAYER].device)
    for k in STYLE_LAYERS:
        a, b = got[k].float(), target[k].float()
        (ma, sa), (mb, sb) = channel_stats(a, EPS), channel_stats(b, EPS)
        scale = b.pow(2).mean().clamp_min(1e-8)
        total = total + (F.mse_loss(a, b) + F.mse_loss(ma, mb) + F.mse_loss(sa, sb)) / scale
    return total


class DistillTask(AdaINTask):
    """Student encoder and decoder as one :class:`TrainTask` (``model``: both, so the resume state holds
    both); batches, saving and sample grids are ``adain train``'s."""

    command = "adain distill"

    def __init__(
        self, cfg: AdaINDistillConfig, net: AdaINNet, vgg: nn.Module, weights: tuple[float, float],
        batches: PairBatches, device: torch.device, precision: str, meta: dict[str, Any],
        samples: tuple[torch.Tensor, torch.Tensor],
    ) -> None:  # fmt: skip
        super().__init__(cfg, net, batches, device, precision, meta, samples)  # type: ignore[arg-type]
        self.model = nn.ModuleDict({"encoder": net.encoder, "decoder": net.decoder})
        self.vgg, (self.content_weight, self.style_weight) = vgg, weights
        self.phase_steps, self.feature_weight = cfg.encoder_steps, cfg.feature_weight

    def losses(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        dev, n = self.device, batch[0].shape[0]
        both = torch.cat(batch).to(dev).contiguous(memory_format=self.fmt)
        with torch.no_grad(), autocast(dev, self.precision):
            vgg = {k: v.float() for k, v in self.vgg(both, STYLE_LAYERS).items()}
        with autocast(dev, self.precision):
            got = self.net.encoder(both, STYLE_LAYERS)
        feature = self.feature_weight * feature_loss(got, vgg)
        zero = torch.zeros((), device=dev)
        if step < self.phase_steps:
            return {"total": feature, "feature": feature, "content": zero, "style": zero}
        f = got[ENCODER_LAYER].detach().float()
        t = adain(f[:n], *channel_stats(f[n:]))
        target = adain(vgg[ENCODER_LAYER][:n], *channel_stats(vgg[ENCODER_LAYER][n:]))
        with autocast(dev, self.precision):
            fy = self.vgg(self.net.decoder(t.to(f.dtype).contiguous(memory_format=self.fmt)), STYLE_LAYERS)
        content = self.content_weight * F.mse_loss(fy[ENCODER_LAYER].float(), target)
        style = self.style_weight * style_loss(fy, {k: v[n:] for k, v in vgg.items()})
        return {"total": feature + content + style, "feature": feature, "content": content, "style": style}


def load_teacher(path: str) -> AdaINModel:
    """The teacher: an AdaIN model with its VGG encoder (one-line InputError for a distilled one)."""
    teacher = load_adain(path)
    if teacher.student is not None:
        raise InputError(f"{path}: is itself distilled (a small encoder); distil from the decoder it was made from")
    return teacher


def distill_adain(
    cfg: AdaINDistillConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None
) -> TrainResult[AdaINModel]:
    """Train (or with ``cfg.resume`` continue) a distilled AdaIN model from ``cfg.teacher``; see the module
    doc. Under torchrun only rank 0 writes."""
    cfg.validate()
    teacher = load_teacher(cfg.teacher)  # before any output is touched: a bad teacher loses nothing
    reads = [Path(cfg.teacher), *network_files(teacher.encoder.get("path"))]
    with pair_run(cfg, reads) as (ctx, device, out, photos, styles):
        return _distill(cfg, teacher, out, (photos, styles), ctx, device, callback, stop)


def _distill(
    cfg: AdaINDistillConfig, teacher: AdaINModel, out: Path, data: tuple[list[Path], list[Path]], ctx: DistContext,
    device: torch.device, callback: Callback | None, stop: Callable[[], bool] | None,
) -> TrainResult[AdaINModel]:  # fmt: skip
    precision = resolve_precision(cfg.precision, device)
    vgg = place(teacher.net.encoder, device, precision).eval().requires_grad_(False)
    torch.manual_seed(cfg.seed)
    spec = StudentSpec(cfg.width, cfg.blocks, tuple(vgg.channels(k) for k in STYLE_LAYERS))  # type: ignore[arg-type]
    student = StudentEncoder(spec)
    tspec, width = teacher.spec, cfg.decoder_width
    fresh = width is not None and width != tspec.width  # a narrower decoder starts anew, the teacher's is tuned
    decoder = Decoder(replace(tspec, width=width or tspec.width)) if fresh else copy.deepcopy(teacher.net.decoder)
    net = place(AdaINNet(student, decoder.requires_grad_(True)), device, precision)
    ts = teacher.settings
    weights = (
        cfg.content_weight if cfg.content_weight is not None else float(ts.get("content_weight", 1.0)),
        cfg.style_weight if cfg.style_weight is not None else float(ts.get("style_weight", 10.0)),
    )
    settings = {**cfg.to_dict(), "teacher_settings": ts, "teacher_decoder": tspec.to_dict(), "weights": weights}
    meta = {"encoder": teacher.encoder, "settings": settings}
    batches = PairBatches(cfg, *data, ctx)
    task = DistillTask(cfg, net, vgg, weights, batches, device, precision, meta, sample_pairs(*data, cfg.size))
    fp = {**fingerprint(cfg), "teacher": files_digest([Path(cfg.teacher)]), "styles": files_digest(data[1])}
    describe = {
        "styles": lambda _a, _b: "the style images changed (added, removed or edited) since the run began",
        "teacher": lambda _a, _b: "the teacher model file changed since the run began",
    }
    loop = trainer_loop(cfg, out, STATE_KIND, fp, data[0], describe)
    groups = [{"params": student.parameters(), "lr": cfg.lr}, {"params": decoder.parameters(), "lr": cfg.decoder_lr}]
    opt = torch.optim.Adam(groups)
    result = run_loop(task, opt, loop, ctx, device, callback, stop, scheduler=decayed(opt, cfg.lr_decay))
    net.eval()
    return TrainResult.of(task.adain_model(result.step), out, result)


@torch.no_grad()
def compare(
    teacher: AdaINModel, student: AdaINModel, photos: Sequence[torch.Tensor], styles: Sequence[torch.Tensor]
) -> list[Gap]:
    """Per style ((1,3,h,w) in [0,1]), the :class:`~styleverse.training.result.Gap` of ``student`` to ``teacher``
    over ``photos`` ((1,3,H,W), H and W multiples of 8), averaged, in float32: ``adain train``'s content loss
    (against the teacher's AdaIN target) and style loss (eq. 13), both unweighted and measured by the
    teacher's VGG, and the mean absolute pixel difference (0..1) of their clamped outputs."""
    vgg = teacher.net.encoder.float()
    out = []
    for j, s in enumerate(styles):
        fs = vgg(s, STYLE_LAYERS)
        rows = []
        for x in photos:
            target = adain(vgg(x, [ENCODER_LAYER])[ENCODER_LAYER], *channel_stats(fs[ENCODER_LAYER]))
            ys = [m.net.float()(x, *m.net.style_stats(s)).clamp(0, 1) for m in (teacher, student)]
            fy = [vgg(y, STYLE_LAYERS) for y in ys]
            style = [float(style_loss(f, fs)) for f in fy]
            content = [float(F.mse_loss(f[ENCODER_LAYER], target)) for f in fy]
            rows.append((*style, *content, float((ys[0] - ys[1]).abs().mean())))
        m = [sum(col) / len(rows) for col in zip(*rows, strict=True)]
        out.append(Gap(f"style {j + 1}", (m[0], m[1]), (m[2], m[3]), m[4]))
    return out
