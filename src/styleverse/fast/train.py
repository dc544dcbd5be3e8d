"""Training the multi-universe transform network on the generic loop (:mod:`styleverse.training.loop`).

Johnson et al. 2016 train a feed-forward network with the perceptual losses of Gatys' optimisation; Dumoulin
et al. 2017 train one network for many styles through conditional instance normalisation. Here a style is a
whole universe: the target Grams of a universe are a style bank's mean Gram over many frames
(:mod:`styleverse.styles.bank`), or the weighted mean over the images of an extra ``--style`` file or
folder. Losses are those of ``stylize`` (:mod:`styleverse.nn.losses`), through the feature network the banks
record: ``style_weight · style + content_weight · content + tv_weight · tv``, with every sample of a batch
trained towards its own universe (every universe equally often, see :mod:`styleverse.training.photos`).

Outputs beside ``MODEL.safetensors``: the model itself at every checkpoint and at the end, the loss curves
``MODEL.losses.png``, sample grids ``MODEL.samples/step_NNNNNN.png`` (fixed photos x universes) every
``sample_every`` steps, and the resume state ``MODEL.safetensors.resume.safetensors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from styleverse.devices import autocast, memory_format, place, resolve_precision
from styleverse.distributed import DistContext, process_group
from styleverse.errors import ConfigError
from styleverse.fast.model import FastModel, FastSpec, TransformNet, save_model
from styleverse.io.outputs import network_files
from styleverse.io.state import fingerprint, not_fingerprinted, state_path
from styleverse.nn.features import FeatureSpec, StyleContentModel
from styleverse.nn.losses import content_loss, style_loss, tv_loss
from styleverse.nn.vgg import BackboneInfo
from styleverse.training.loop import Callback, LoopConfig, LoopResult, TrainTask, run_loop
from styleverse.training.outputs import check_training_outputs, locked_training_outputs, sample_file, write_model
from styleverse.training.photos import Batches, content_photos, photos_digest
from styleverse.training.result import TrainResult, settings_dict
from styleverse.training.settings import Check, refuse_first, trainer_checks

if TYPE_CHECKING:
    from styleverse.styles.bank import Bank

log = logging.getLogger("styleverse")
STATE_KIND = "fast_train"
SAMPLE_PHOTOS = 4
FastTrainResult = TrainResult[FastModel]


@dataclass(frozen=True)
class FastTrainConfig:
    """Settings of one ``fast train`` run. ``batch_size`` is per process under torchrun.

    ``banks`` and ``styles`` are the universes, in that order: a bank is named after its file (up to the first
    dot) and a ``--style`` file or folder after its name, unless written ``NAME=PATH``. ``features`` is the
    loss network and its layers (no backbone: the network the first bank records, else ``imagenet``);
    ``style_weight`` and ``content_weight`` are those of ``stylize``.
    """

    content: tuple[str, ...]
    output: str = field(metadata={"fingerprint": False})
    banks: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    size: int = 256
    batch_size: int = 4
    steps: int = not_fingerprinted(2000)
    lr: float = 1e-3
    style_weight: float = 1e6
    content_weight: float = 1.0
    tv_weight: float = 0.0
    width: int = 32
    blocks: int = 5
    separable: bool = False
    features: FeatureSpec = field(default_factory=FeatureSpec)
    seed: int = 0
    checkpoint_every: int = not_fingerprinted(200)
    sample_every: int = not_fingerprinted(0)
    precision: str = "auto"
    device: str = not_fingerprinted("auto")
    resume: bool = not_fingerprinted(False)
    overwrite: bool = not_fingerprinted(False)

    def validate(self) -> None:
        checks: list[Check] = [
            (bool(self.banks or self.styles), "give at least one universe: a style bank or style images", ()),
            (16 <= self.size <= 4096, "size must be between 16 and 4096 pixels", "size"),
            (self.size % 4 == 0, "size must be a multiple of 4 (the network downsamples twice)", "size"),
        ]
        refuse_first(checks + trainer_checks(self, ("style_weight", "content_weight", "tv_weight")))

    def to_dict(self) -> dict[str, Any]:
        return settings_dict(self)


@dataclass(frozen=True)
class Universe:
    """One universe the network learns: its name, where its style comes from, and its target Grams."""

    name: str
    source: str
    grams: dict[str, torch.Tensor]


def split_name(item: str, is_bank: bool) -> tuple[str, str]:
    """``NAME=PATH`` or ``PATH`` -> (name, path); a path's name is its file name up to the first dot."""
    name, eq, path = item.partition("=")
    if eq and name and "/" not in name and "\\" not in name and not Path(item).exists():
        return name, path
    p = Path(item)
    stem = p.name.split(".")[0] if is_bank or p.is_file() else p.name
    return stem or p.name, item


def load_banks(cfg: FastTrainConfig) -> list[tuple[str, Bank]]:
    """Every bank universe's name and bank, each file read once."""
    from styleverse.styles.bank import load_bank

    return [(name, load_bank(path)) for name, path in (split_name(b, True) for b in cfg.banks)]


def build_features(cfg: FastTrainConfig, banks: list[tuple[str, Bank]]) -> tuple[StyleContentModel, BackboneInfo]:
    """The loss network (VGG truncated after the deepest layer used) and its identity: ``cfg.features``, or
    the network the first bank records (:meth:`FeatureSpec.resolve`)."""
    from styleverse.nn.features import build_model

    recorded = BackboneInfo.from_dict(banks[0][1].backbone) if banks else None
    return build_model(**cfg.features.resolve(recorded).model_args())


def load_universes(
    cfg: FastTrainConfig, banks: list[tuple[str, Bank]], features: StyleContentModel, info: BackboneInfo,
    device: torch.device, precision: str,
) -> list[Universe]:  # fmt: skip
    """Target Grams of every universe: banks (checked against ``info`` and ``precision``: a bank made with
    another network is refused with the bank's own message) and extra style files/folders (seen at
    ``cfg.size``, in float32)."""
    from styleverse.styles.bank import bank_targets
    from styleverse.styles.targets import StyleSet, expand_styles

    layers = list(features.style_weights)
    out = [
        Universe(name, path, bank_targets(bank, info, layers, cfg.size, precision=precision, where=path))
        for (name, bank), (_, path) in zip(banks, (split_name(b, True) for b in cfg.banks), strict=True)
    ]
    for item in cfg.styles:
        name, path = split_name(item, False)
        grams = StyleSet(expand_styles([path])).targets(features, cfg.size, device, "fp32")
        out.append(Universe(name, path, {k: g.reshape(g.shape[-2:]).cpu() for k, g in grams.items()}))
    names = [u.name for u in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"two universes are named {', '.join(dup)}; rename a file or write NAME=PATH")
    return out


class FastTask(TrainTask):
    """The transform network as a :class:`TrainTask`: batches of photos, each towards its own universe."""

    def __init__(
        self, cfg: FastTrainConfig, net: TransformNet, features: StyleContentModel, universes: list[Universe],
        batches: Batches, device: torch.device, precision: str, meta: dict[str, Any], samples: list[Path],
    ) -> None:  # fmt: skip
        self.cfg, self.model, self.features, self.batches = cfg, net, features, batches
        self.net = net  # self.model as the loop sees it (any nn.Module); self.net with its type
        self.device, self.precision, self.meta, self.sample_photos = device, precision, meta, samples
        self.targets = {k: torch.stack([u.grams[k] for u in universes]).to(device) for k in features.style_weights}
        self.fmt = memory_format(precision)

    def batch(self, step: int, ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batches(step)

    def losses(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg, feats = self.cfg, self.features
        x = batch[0].to(self.device).contiguous(memory_format=self.fmt)
        u = batch[1].to(self.device)
        w = torch.nn.functional.one_hot(u, len(self.net.spec.universes)).float()
        with torch.no_grad(), autocast(self.device, self.precision):
            target = {k: v.float() for k, v in feats(x, want_style=False).content.items()}
        with autocast(self.device, self.precision):
            y = self.model(x, w).contiguous(memory_format=self.fmt)
            rep = feats(y)
        s = cfg.style_weight * style_loss(rep.grams, {k: t[u] for k, t in self.targets.items()}, feats.style_weights)
        c = cfg.content_weight * content_loss(rep.content, target)
        t = cfg.tv_weight * tv_loss(y.float()) if cfg.tv_weight else torch.zeros((), device=self.device)
        return {"total": s + c + t, "style": s, "content": c, "tv": t}

    def fast_model(self, step: int) -> FastModel:
        m = self.meta
        return FastModel(self.net, m["backbone"], m["style_layers"], m["content_layers"], m["settings"], step)

    def save(self, step: int, history: list[dict[str, float]]) -> None:
        title = f"fast train: {', '.join(self.net.spec.universes)}"
        write_model(Path(self.cfg.output), lambda out: save_model(self.fast_model(step), out), history, title)

    def sample(self, step: int) -> None:
        from styleverse.fast.samples import sample_grid

        path = sample_file(Path(self.cfg.output), step)
        sample_grid(self.net, self.sample_photos, self.cfg.size, path, self.device)
        self.model.train()


def check_outputs(cfg: FastTrainConfig) -> Path:
    """The model path, after checking every output against every input (content, banks and style files as
    ``NAME=PATH`` names them, the feature network's file) and each other before any work."""
    banks = [split_name(b, True)[1] for b in cfg.banks]
    styles = [split_name(s, False)[1] for s in cfg.styles]
    inputs: list[str | Path] = [*cfg.content, *banks, *styles, *network_files(cfg.features.backbone)]
    return check_training_outputs(
        cfg.output, resume=cfg.resume, overwrite=cfg.overwrite, sample_every=cfg.sample_every, inputs=inputs,
        photo_sources=cfg.content,
    )  # fmt: skip


def train_fast(
    cfg: FastTrainConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None
) -> FastTrainResult:
    """Train (or with ``cfg.resume`` continue) a multi-universe transform network; see the module doc.

    Under torchrun every process trains on its own share of each batch and only rank 0 writes files or
    reports events. ``stop`` is polled after each step (the CLI wires Ctrl-C to it).
    """
    cfg.validate()
    with (
        process_group(cfg.device) as (ctx, device),
        locked_training_outputs(lambda: check_outputs(cfg), cfg.output, ctx.is_main) as out,
    ):
        return _train(cfg, out, ctx, device, callback if ctx.is_main else None, stop)


def _train(
    cfg: FastTrainConfig, out: Path, ctx: DistContext, device: torch.device, callback: Callback | None,
    stop: Callable[[], bool] | None,
) -> FastTrainResult:  # fmt: skip
    photos = content_photos(cfg.content, cfg.size)
    precision = resolve_precision(cfg.precision, device)
    banks = load_banks(cfg)
    features, info = build_features(cfg, banks)
    features = place(features, device, precision).eval().requires_grad_(False)
    universes = load_universes(cfg, banks, features, info, device, precision)
    spec = FastSpec(tuple(u.name for u in universes), cfg.width, cfg.blocks, cfg.separable)
    torch.manual_seed(cfg.seed)
    net = place(TransformNet(spec), device, precision)
    meta = {
        "backbone": info.to_dict(),
        "style_layers": dict(features.style_weights),
        "content_layers": list(features.content_layers),
        "settings": {**cfg.to_dict(), "universe_sources": {u.name: u.source for u in universes}},
    }
    picks = photos[:: max(1, len(photos) // SAMPLE_PHOTOS)][:SAMPLE_PHOTOS]
    batches = Batches(photos, len(universes), cfg.size, cfg.batch_size, cfg.seed, ctx.rank, ctx.world_size)
    task = FastTask(cfg, net, features, universes, batches, device, precision, meta, picks)
    fp = {
        **fingerprint(cfg),
        "universes": list(spec.universes),
        "backbone": info.identity,
        "photos": photos_digest(photos),
    }
    loop = LoopConfig(
        cfg.steps, state_path(out), STATE_KIND, fp, cfg.checkpoint_every, cfg.sample_every, cfg.resume,
        describe={"photos": lambda _a, _b: "the content photos changed (added, removed or edited) since the run began"},
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    try:
        result: LoopResult = run_loop(task, opt, loop, ctx, device, callback, stop)
    finally:
        batches.close()
    net.eval()
    return FastTrainResult.of(task.fast_model(result.step), out, result)
