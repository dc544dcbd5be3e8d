"""Style-aware training (Sanakoyeu et al. 2018) on the shared step loop (:mod:`styleverse.training.loop`).

The generator ``G = decoder ∘ encoder`` stylises a photo ``x`` towards its universe; the multi-scale
discriminator learns to call the universe's frames real and both the stylised photos and the photos
themselves fake (the photos as negatives teach it what "not the universe" looks like). The generator
minimises

    adversarial_weight · L_adv + content_weight · L_c + transformed_weight · L_T

(:mod:`styleverse.fast.gan.losses`: the adversarial loss, the style-aware content loss in the encoder's
latent, the transformed image loss after average pooling) and the discriminator minimises
``adversarial_weight · (L(frames, 1) + L(photos, 0) + L(G(x), 0))``. No pretrained network is involved.
The two take turns by the discriminator's running success (:mod:`styleverse.fast.gan.gate`).

Defaults are the paper's and its released code's: loss weights 1 / 100 / 100, Adam at 2e-4, one image per
step, images scaled to 800 px on the short side and cropped to 768 x 768, a discriminator success rate of
0.8, 300,000 steps, generator width 32 with 9 residual blocks, discriminator width 64.

Outputs beside ``MODEL.safetensors``: the generator (:func:`styleverse.fast.gan.model.save_gan`) at every
checkpoint and at the end with its training health (:mod:`styleverse.fast.gan.health`), the curves
``MODEL.losses.png`` (:mod:`styleverse.fast.gan.curves`), sample grids ``MODEL.samples/step_NNNNNN.png``
(fixed photos x universes) every ``sample_every`` steps, and the resume state
``MODEL.safetensors.resume.safetensors`` (both networks, both Adam groups, the gate, the RNGs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from styleverse.devices import autocast, memory_format, place, resolve_precision
from styleverse.distributed import DistContext, all_sum
from styleverse.fast.gan.data import Batch, GanBatches, load_universes
from styleverse.fast.gan.gate import GENERATOR, AlternatingAdam, Gate
from styleverse.fast.gan.health import Health
from styleverse.fast.gan.losses import accuracy, adversarial_loss, content_loss, transformed_loss
from styleverse.fast.gan.model import Discriminator, GanModel, GanSpec, Generator, save_gan
from styleverse.io.state import fingerprint, not_fingerprinted
from styleverse.training.loop import Callback, TrainTask, run_loop
from styleverse.training.outputs import loss_plot_path, sample_file, training_run, write_model
from styleverse.training.photos import content_photos, files_digest, sample_photos
from styleverse.training.result import TrainResult
from styleverse.training.settings import Check, TrainerConfig, refuse_first, trainer_checks, trainer_loop

STATE_KIND = "gan_train"
WEIGHTS = ("adversarial_weight", "content_weight", "transformed_weight")


@dataclass(frozen=True)
class GanTrainConfig(TrainerConfig):
    """Settings of one ``gan train`` run (defaults: the paper and its code, see the module doc).

    ``content``: photos (files, folders, manifests). ``style``: the universes' frames (see
    :mod:`styleverse.fast.gan.data`; with ``labels`` each label of the manifests is a universe). ``size``:
    the training crop, taken from images scaled down to ``load_size`` on the short side (never enlarged past
    ``size``). ``batch_size`` is per
    process under torchrun. ``pool``: side of the average pooling of the transformed image loss.
    ``health_window``: steps a collapse must last to be warned about.
    """

    content: tuple[str, ...]
    style: tuple[str, ...]
    output: str = field(metadata={"fingerprint": False})
    labels: tuple[str, ...] = ()
    size: int = 768
    load_size: int = 800
    batch_size: int = 1
    steps: int = not_fingerprinted(300_000)
    lr: float = 2e-4
    adversarial_weight: float = 1.0
    content_weight: float = 100.0
    transformed_weight: float = 100.0
    win_rate: float = 0.8
    pool: int = 10
    width: int = 32
    blocks: int = 9
    disc_width: int = 64
    health_window: int = not_fingerprinted(500)
    _: KW_ONLY
    checkpoint_every: int = not_fingerprinted(1000)

    def validate(self) -> None:
        checks: list[Check] = [
            (bool(self.content), "content: give photos (files, folders or a frames manifest)", "content"),
            (bool(self.style), "style: give the universe's frames (folders, images or a manifest)", "style"),
            (32 <= self.size <= 4096, "size must be between 32 and 4096 pixels", "size"),
            (self.load_size >= self.size, "load_size must be at least size", ("load_size", "size")),
            (0 < self.win_rate < 1, "win_rate must lie between 0 and 1", "win_rate"),
            (  # the generator trains only while the discriminator succeeds, and a discriminator without loss never does
                self.adversarial_weight > 0,
                "adversarial_weight must be above 0: the generator trains only while the discriminator wins",
                "adversarial_weight",
            ),
            (1 <= self.pool <= self.size, "pool must be from 1 to size pixels", "pool"),
            (1 <= self.disc_width <= 256, "disc_width must be between 1 and 256 channels", "disc_width"),
            (self.health_window >= 1, "health_window must be at least 1 step", "health_window"),
        ]
        refuse_first(checks + trainer_checks(self, WEIGHTS))
        GanSpec(("universe",), self.width, self.blocks).validate()


GanTrainResult = TrainResult[GanModel]


class GanPair(nn.Module):
    """Both networks as one module: what the loop checkpoints, broadcasts and averages gradients of."""

    def __init__(self, generator: Generator, discriminator: Discriminator) -> None:
        super().__init__()
        self.generator, self.discriminator = generator, discriminator


@contextlib.contextmanager
def frozen(module: nn.Module, on: bool = True) -> Iterator[None]:
    """Record a pass through ``module`` without gradients for its parameters (those through its input stay)."""
    if on:
        module.requires_grad_(False)
    try:
        yield
    finally:
        if on:
            module.requires_grad_(True)


class GanTask(TrainTask):
    """Generator and discriminator as one :class:`TrainTask`: each step trains the one whose turn it is."""

    def __init__(
        self, cfg: GanTrainConfig, pair: GanPair, opt: AlternatingAdam, batches: GanBatches,
        device: torch.device, precision: str, meta: dict[str, Any], samples: list[Path],
        frames: list[Path] | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.model, self.pair, self.opt, self.batches = cfg, pair, pair, opt, batches
        self.device, self.precision, self.meta, self.sample_photos = device, precision, meta, samples
        self.sample_frames = frames or []  # one frame per universe, heading its column of the sample grid
        self.gate, self.health, self.fmt = Gate(cfg.win_rate), Health(cfg.health_window), memory_format(precision)
        self.ctx = DistContext()

    def batch(self, step: int, ctx: DistContext) -> Batch:
        self.ctx = ctx
        return self.batches(step)

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg, G, D, dev = self.cfg, self.pair.generator, self.pair.discriminator, self.device
        x, frames = (t.to(dev).contiguous(memory_format=self.fmt) for t in (batch[0], batch[2]))
        u = batch[1].to(dev)
        w = torch.nn.functional.one_hot(u, len(G.spec.universes)).float()
        turn = self.opt.active = self.gate.turn(step)
        g_turn = turn == GENERATOR
        with torch.set_grad_enabled(g_turn), autocast(dev, self.precision):
            y, zx = G.stylise(x, w)
            zy = G.encoder(y, w)[0]
        with frozen(D, g_turn), autocast(dev, self.precision):
            fake = D(y, u)
        with torch.set_grad_enabled(not g_turn), autocast(dev, self.precision):
            real, photo = D(frames, u), D(x, u)
        adv = cfg.adversarial_weight * adversarial_loss(fake, True)
        content = cfg.content_weight * content_loss(zx, zy)
        transformed = cfg.transformed_weight * transformed_loss(x, y, cfg.pool)
        disc = cfg.adversarial_weight * (
            adversarial_loss(real, True) + adversarial_loss(photo, False) + adversarial_loss(fake, False)
        )
        acc = self.accuracies(real, photo, fake)
        success = self.gate.observe(step, turn, (acc[0] + acc[1] + acc[2]) / 3, 1.0 - acc[2])
        if self.ctx.is_main:
            self.health.update(step + 1, {"real": acc[0], "fake": acc[2]}, x, y)
        rows = {"style": adv, "content": content, "transformed": transformed, "discriminator": disc}
        total = adv + content + transformed if g_turn else disc
        stats = {"acc_real": acc[0], "acc_photo": acc[1], "acc_fake": acc[2], "success": success, "g_turn": g_turn}
        return {"total": total, **rows, **{k: torch.tensor(float(v)) for k, v in stats.items()}}

    def accuracies(self, real: list[torch.Tensor], photo: list[torch.Tensor], fake: list[torch.Tensor]) -> list[float]:
        """Discriminator accuracy on frames, photos, stylised photos, averaged over processes (the gate must
        decide alike everywhere)."""
        local = [float(accuracy(real, True)), float(accuracy(photo, False)), float(accuracy(fake, False))]
        return [v / self.ctx.world_size for v in all_sum(local, self.ctx, self.device)]

    def gan_model(self, step: int) -> GanModel:
        return GanModel(self.pair.generator, self.meta["settings"], step, self.health.report())

    def save(self, step: int, history: list[dict[str, float]]) -> None:
        from styleverse.fast.gan.curves import plot_gan_history

        self.gate.settle(step)
        title = f"gan train: {', '.join(self.pair.generator.spec.universes)}"

        def write(out: Path) -> None:
            save_gan(self.gan_model(step), out)
            if history:
                plot_gan_history(history, loss_plot_path(out), title)

        write_model(Path(self.cfg.output), write, [], title)

    def sample(self, step: int) -> None:
        from styleverse.fast.gan.samples import sample_grid

        path = sample_file(Path(self.cfg.output), step)
        sample_grid(self.pair.generator, self.sample_photos, self.sample_frames, self.cfg.size, path, self.device)
        self.pair.generator.train()

    def extra_state(self) -> dict[str, Any]:
        return {"gate": self.gate.state(), "health": self.health.state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.gate.load(state["gate"])
        self.health.load(state["health"])


def train_gan(
    cfg: GanTrainConfig, callback: Callback | None = None, stop: Callable[[], bool] | None = None
) -> GanTrainResult:
    """Train (or with ``cfg.resume`` continue) a style-aware generator; see the module doc. Under torchrun
    every process trains on its share of each batch and only rank 0 writes files or reports events."""
    cfg.validate()
    sources = [*cfg.content, *cfg.style]
    with training_run(cfg, cfg.output, sources, sources) as (ctx, device, out):
        return _train(cfg, out, ctx, device, callback, stop)


def _train(
    cfg: GanTrainConfig, out: Path, ctx: DistContext, device: torch.device, callback: Callback | None,
    stop: Callable[[], bool] | None,
) -> GanTrainResult:  # fmt: skip
    photos = content_photos(cfg.content, cfg.size)
    universes = load_universes(cfg.style, cfg.labels, cfg.size)
    precision = resolve_precision(cfg.precision, device)
    spec = GanSpec(tuple(u.name for u in universes), cfg.width, cfg.blocks)
    torch.manual_seed(cfg.seed)
    generator, discriminator = Generator(spec), Discriminator(len(universes), cfg.disc_width)
    pair = place(GanPair(generator, discriminator), device, precision)
    opt = AlternatingAdam(generator.parameters(), discriminator.parameters(), cfg.lr)
    meta = {"settings": {**cfg.to_dict(), "universe_sources": {u.name: u.source for u in universes}}}
    picks = sample_photos(photos)
    batches = GanBatches(photos, universes, cfg.size, cfg.load_size, cfg.batch_size, cfg.seed, ctx.rank,
                         ctx.world_size)  # fmt: skip
    heads = [u.frames[0] for u in universes]
    task = GanTask(cfg, pair, opt, batches, device, precision, meta, picks, heads)
    frames = files_digest([f for u in universes for f in u.frames])
    fp = {**fingerprint(cfg), "universes": [u.name for u in universes], "frames": frames}
    changed = {"frames": lambda _a, _b: "the style frames changed since the run began"}
    loop = trainer_loop(cfg, out, STATE_KIND, fp, photos, changed)
    result = run_loop(task, opt, loop, ctx, device, callback, stop)
    pair.eval()
    return GanTrainResult.of(task.gan_model(result.step), out, result)
