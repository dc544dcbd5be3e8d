"""Training an AdaIN decoder on the generic step loop (:mod:`styleverse.training.loop`).

Huang & Belongie 2017, section 6: content photos and style images are paired at random; the fixed encoder
``f`` (VGG up to relu4_1) encodes both, AdaIN gives the target ``t = AdaIN(f(c), f(s))`` and the decoder
``g`` is trained so that ``g(t)`` has

* content loss ``L_c = ‖f(g(t)) − t‖²`` (eq. 12; the AdaIN output as the content target, not f(c), which
  the paper found to converge a little faster), and
* style loss ``L_s = Σ_i ‖μ(φ_i(g(t))) − μ(φ_i(s))‖² + ‖σ(φ_i(g(t))) − σ(φ_i(s))‖²`` over relu1_1, relu2_1,
  relu3_1 and relu4_1 (eq. 13),

``L = content_weight · L_c + style_weight · L_s``. Norms are means of squares (MSE), as in the authors'
code; its defaults are ours: λ = 10, Adam at 1e-4 decayed as lr / (1 + 5e-5 · step), batches of 8 pairs,
images scaled to 512 px on the short side and cropped to 256 x 256 (section 6.1; an image smaller than
512 px keeps its size here instead of being enlarged).

Data (:mod:`styleverse.training.photos`): photos and style images from files, folders and frame manifests; the
batch of a step is a pure function of ``(seed, step, process)``, so a resumed run sees exactly the pairs the
uninterrupted one would have, and N torchrun processes with B pairs each train like one with N·B.

Outputs beside ``DECODER.safetensors``: the decoder itself at every checkpoint and at the end
(:func:`styleverse.fast.adain.model.save_adain`), the loss curves ``DECODER.losses.png``, sample grids
``DECODER.samples/step_NNNNNN.png`` (fixed photos x fixed styles) every ``sample_every`` steps, and the
resume state ``DECODER.safetensors.resume.safetensors``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from styleverse.devices import autocast, memory_format, place, resolve_precision
from styleverse.distributed import DistContext
from styleverse.fast.adain.model import (
    ENCODER_LAYER,
    STYLE_LAYERS,
    AdaINModel,
    AdaINNet,
    Decoder,
    DecoderSpec,
    adain,
    save_adain,
)
from styleverse.io.outputs import network_files
from styleverse.io.state import fingerprint, not_fingerprinted
from styleverse.nn.features import FeatureSpec
from styleverse.nn.vgg import load_backbone
from styleverse.styles.targets import channel_stats
from styleverse.training.loop import Callback, TrainTask, run_loop
from styleverse.training.outputs import sample_file, training_run, write_model
from styleverse.training.photos import Batches, content_photos, crop_photo
from styleverse.training.result import TrainResult
from styleverse.training.settings import Check, TrainerConfig, TrainerRun, refuse_first, trainer_checks, trainer_loop

STATE_KIND = "adain_train"
SAMPLES = 4  # photos and styles in a sample grid
EPS = 1e-5  # in σ of the style loss, as in the authors' code
AdaINTrainResult = TrainResult[AdaINModel]

log = logging.getLogger("styleverse")


@dataclass(frozen=True)
class AdaINTrainConfig(TrainerConfig):
    """Settings of one ``adain train`` run (defaults: the paper and the authors' code, see the module doc).

    ``content`` and ``style`` are images, folders or frame manifests. Images are scaled down to ``load_size``
    on the short side when larger (kept at their own size otherwise), then a random ``size`` x ``size`` crop is
    taken. ``batch_size`` is per process under
    torchrun. ``width`` scales the decoder's channels. ``features`` is the encoder's network (no backbone:
    ImageNet VGG; its ``width`` shapes only a ``random`` encoder, for tests); its layers are not used, AdaIN's
    are fixed (``STYLE_LAYERS``, the encoder ending at ``ENCODER_LAYER``).
    """

    content: tuple[str, ...]
    style: tuple[str, ...]
    output: str = field(metadata={"fingerprint": False})
    label: str | None = None  # the rows of a style frames manifest to train on (as ``styles bank --label``)
    size: int = 256
    load_size: int = 512
    batch_size: int = 8
    steps: int = not_fingerprinted(160_000)
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    width: float = 1.0
    features: FeatureSpec = field(default_factory=FeatureSpec)
    _: KW_ONLY
    checkpoint_every: int = not_fingerprinted(1000)

    def validate(self) -> None:
        refuse_first(pair_checks(self) + trainer_checks(self, ("style_weight", "content_weight")))
        DecoderSpec(self.features.arch, 512, self.width).validate()


class PairSettings(Protocol):
    """What :class:`PairBatches` reads from a run's settings (``adain train`` and ``adain distill``)."""

    @property
    def size(self) -> int: ...
    @property
    def load_size(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def seed(self) -> int: ...


class PairRun(PairSettings, Protocol):
    """What :func:`pair_checks` reads: a run on photo/style pairs that writes one decoder file."""

    @property
    def content(self) -> tuple[str, ...]: ...
    @property
    def style(self) -> tuple[str, ...]: ...
    @property
    def output(self) -> str: ...
    @property
    def lr_decay(self) -> float: ...


def pair_checks(cfg: PairRun) -> list[Check]:
    """The checks of a run on photo/style pairs (``adain train``, ``adain distill``): inputs given, output
    name, crop and load sizes, lr decay."""
    named = Path(cfg.output).suffix == ".safetensors"
    return [
        (bool(cfg.content), "content: give photos (files, folders or a frames manifest)", "content"),
        (bool(cfg.style), "style: give the images of styles (files, folders or a frames manifest)", "style"),
        (named, f"{cfg.output}: the decoder file name must end in .safetensors", ()),
        (16 <= cfg.size <= 4096 and cfg.size % 8 == 0, "size must be a multiple of 8 from 16 to 4096", "size"),
        (cfg.load_size >= cfg.size, "load_size must be at least size", ("load_size", "size")),
        (cfg.lr_decay >= 0 and math.isfinite(cfg.lr_decay), "lr_decay must be a number >= 0", "lr_decay"),
    ]


class PairBatches:
    """The (photos, styles) batch of every step: two independent :class:`styleverse.training.photos.Batches`
    (their own seeded orders), each image scaled down to ``load_size`` on its short side when larger, kept at
    its own size otherwise (never enlarged: its strokes stay their size), then a seeded ``size`` crop."""

    def __init__(self, cfg: PairSettings, photos: list[Path], styles: list[Path], ctx: DistContext) -> None:
        b = (cfg.size, cfg.batch_size)
        where = {"rank": ctx.rank, "world_size": ctx.world_size, "load_size": cfg.load_size}
        self.photos = Batches(photos, 1, *b, seed=cfg.seed, **where)
        self.styles = Batches(styles, 1, *b, seed=cfg.seed + 1, **where)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.photos(step)[0], self.styles(step)[0]

    def close(self) -> None:
        self.photos.close()
        self.styles.close()


def style_loss(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> torch.Tensor:
    """Eq. 13: Σ over layers of the MSE between channel means plus the MSE between channel stds."""
    total = torch.zeros((), device=next(iter(out.values())).device)
    for k in STYLE_LAYERS:
        (mo, so), (mt, st) = channel_stats(out[k], EPS), channel_stats(target[k], EPS)
        total = total + F.mse_loss(mo, mt) + F.mse_loss(so, st)
    return total


class AdaINTask(TrainTask):
    """The decoder as a :class:`TrainTask`: a batch of (photo, style) pairs, eq. 11–13's losses."""

    command = "adain train"  # names the run in its loss plot

    def __init__(
        self, cfg: AdaINTrainConfig, net: AdaINNet, batches: PairBatches, device: torch.device, precision: str,
        meta: dict[str, Any], samples: tuple[torch.Tensor, torch.Tensor],
    ) -> None:  # fmt: skip
        self.cfg, self.net, self.model, self.batches = cfg, net, net.decoder, batches
        self.device, self.precision, self.meta, self.samples = device, precision, meta, samples
        self.fmt = memory_format(precision)

    def batch(self, step: int, ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batches(step)

    def losses(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        enc, dev = self.net.encoder, self.device
        c, s = (x.to(dev).contiguous(memory_format=self.fmt) for x in batch)
        with torch.no_grad(), autocast(dev, self.precision):
            fc = enc(c, [ENCODER_LAYER])[ENCODER_LAYER]
            fs = {k: v.float() for k, v in enc(s, STYLE_LAYERS).items()}
        t = adain(fc, *channel_stats(fs[ENCODER_LAYER]))
        with autocast(dev, self.precision):
            y = self.model(t.to(fc.dtype).contiguous(memory_format=self.fmt))
            fy = enc(y, STYLE_LAYERS)
        content = F.mse_loss(fy[ENCODER_LAYER].float(), t)
        style = style_loss(fy, fs)
        cw, sw = self.cfg.content_weight, self.cfg.style_weight
        return {"total": cw * content + sw * style, "content": cw * content, "style": sw * style}

    def adain_model(self, step: int) -> AdaINModel:
        return AdaINModel(self.net, self.meta["encoder"], self.meta["settings"], step)

    def save(self, step: int, history: list[dict[str, float]]) -> None:
        out = Path(self.cfg.output)
        write_model(out, lambda o: save_adain(self.adain_model(step), o), history, f"{self.command}: step {step}")

    def sample(self, step: int) -> None:
        sample_grid(self.net, *self.samples, sample_file(Path(self.cfg.output), step), self.device)
        self.model.train()


@torch.no_grad()
def sample_grid(net: AdaINNet, photos: torch.Tensor, styles: torch.Tensor, path: Path, device: torch.device) -> Path:
    """A grid in float32: the styles across the top, the photos down the left, each stylisation in between.

    (The multi-universe network's :func:`styleverse.fast.samples.sample_grid` has one column per universe
    and no style images, so it does not fit here.)"""
    from PIL import Image

    from styleverse.io.images import tensor_to_pil
    from styleverse.plots import contact_sheet

    net.eval()
    size = photos.shape[-1]
    mean, std = net.style_stats(styles.to(device))
    blank = Image.new("RGB", (size, size), "white")
    images, labels = [blank, *map(tensor_to_pil, styles)], ["", *(f"style {i + 1}" for i in range(len(styles)))]
    for r, p in enumerate(photos):
        x = p[None].to(device)
        outs = [net(x, mean[j], std[j]).float().clamp(0, 1).cpu() for j in range(len(styles))]
        images += [tensor_to_pil(p), *map(tensor_to_pil, outs)]
        labels += [f"photo {r + 1}", *(f"{r + 1} x {j + 1}" for j in range(len(styles)))]
    return contact_sheet(images, labels, path, cols=len(styles) + 1, thumb=min(size, 256))


class PairInputs(PairRun, TrainerRun, Protocol):
    """A run on pairs that :func:`pair_run` starts: its inputs, and the run settings ``training_run`` reads."""

    @property
    def label(self) -> str | None: ...


@contextlib.contextmanager
def pair_run(
    cfg: PairInputs, reads: Sequence[str | Path]
) -> Iterator[tuple[DistContext, torch.device, Path, list[Path], list[Path]]]:
    """A run on photo/style pairs (``adain train``, ``adain distill``): its content photos and style images
    (each at least ``cfg.size`` px) and :func:`~styleverse.training.outputs.training_run` with every output
    checked against them, the folders and manifests naming them and the network files the run reads
    (``reads``). Yields ``(ctx, device, model path, photos, styles)``; rank 0 logs how many it found."""
    photos = content_photos(cfg.content, cfg.size)
    styles = content_photos(cfg.style, cfg.size, cfg.label, "--style")
    sources = [*cfg.content, *cfg.style]
    with training_run(cfg, cfg.output, [*photos, *styles, *sources, *reads], sources) as (ctx, device, out):
        if ctx.is_main:
            log.info("found %d content photos and %d style images", len(photos), len(styles))
        yield ctx, device, out, photos, styles


def sample_pairs(photos: list[Path], styles: list[Path], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed photos and styles of the sample grids (the first :data:`SAMPLES` of each, centre crops)."""
    a, b = (torch.stack([crop_photo(p, size, None) for p in ps[:SAMPLES]]) for ps in (photos, styles))
    return a, b


def decayed(opt: torch.optim.Optimizer, lr_decay: float) -> torch.optim.lr_scheduler.LambdaLR:
    """The authors' schedule: lr / (1 + lr_decay · step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + lr_decay * step))


def train_adain(
    cfg: AdaINTrainConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None
) -> AdaINTrainResult:
    """Train (or with ``cfg.resume`` continue) an AdaIN decoder; see the module doc. Under torchrun every
    process trains on its share of each batch and only rank 0 writes files or reports events."""
    cfg.validate()
    with pair_run(cfg, network_files(cfg.features.backbone)) as (ctx, device, out, photos, styles):
        return _train(cfg, out, photos, styles, ctx, device, callback, stop)


def _train(
    cfg: AdaINTrainConfig, out: Path, photos: list[Path], styles: list[Path], ctx: DistContext,
    device: torch.device, callback: Callback | None, stop: Callable[[], bool] | None,
) -> AdaINTrainResult:  # fmt: skip
    precision = resolve_precision(cfg.precision, device)
    spec = cfg.features.resolve()
    enc, info = load_backbone(spec.backbone or "imagenet", upto=ENCODER_LAYER, **spec.backbone_args())
    torch.manual_seed(cfg.seed)
    decoder = Decoder(DecoderSpec(spec.arch, enc.channels(ENCODER_LAYER), cfg.width))
    net = place(AdaINNet(enc, decoder), device, precision)
    net.encoder.eval().requires_grad_(False)
    meta = {"encoder": info.to_dict(), "settings": cfg.to_dict()}
    batches = PairBatches(cfg, photos, styles, ctx)
    task = AdaINTask(cfg, net, batches, device, precision, meta, sample_pairs(photos, styles, cfg.size))
    fp = {**fingerprint(cfg), "encoder": info.identity}
    loop = trainer_loop(cfg, out, STATE_KIND, fp)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    sched = decayed(opt, cfg.lr_decay)
    result = run_loop(task, opt, loop, ctx, device, callback, stop, scheduler=sched)
    net.eval()
    return AdaINTrainResult.of(task.adain_model(result.step), out, result)
