"""StyleTransfer: Gatys et al. optimisation of an image against style and content targets (paper 3.2).

The output starts as the content image (the paper), noise, or a given image, and is optimised with
L-BFGS or Adam against ``content_weight·content + style_weight·style + tv_weight·tv``. Coarse-to-fine
runs the same loop at growing sizes, each initialised from the upsampled previous result. Progress
leaves as events to a callback; nothing here prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from styleverse.devices import autocast, memory_format, resolve_device, resolve_precision
from styleverse.errors import ConfigError
from styleverse.nn.features import StyleContentModel
from styleverse.nn.losses import content_loss, style_loss, tv_loss
from styleverse.nn.vgg import BackboneInfo
from styleverse.transfer.targets import GramDict, StyleSet

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}


@dataclass(frozen=True)
class TransferConfig:
    """Settings of one optimisation run (weights apply to the losses as recorded in the history)."""

    steps: int = 300
    optimizer: str = "lbfgs"
    lr: float | None = None
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    scales: tuple[int, ...] = (512,)
    init: str = "content"
    seed: int = 0
    save_every: int = 0
    precision: str = "auto"
    device: str = "auto"

    def validate(self) -> None:
        if self.steps < 1:
            raise ConfigError("--steps must be at least 1")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("--lr must be a positive number")
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"--{name.replace('_', '-')} must be a number >= 0")
        if not self.scales or any(s < 16 or s > 16384 for s in self.scales):
            raise ConfigError("sizes (--size/--scales) must be between 16 and 16384 pixels")
        if self.save_every < 0:
            raise ConfigError("--save-every must be >= 0")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class StepEvent:
    step: int  # 1-based, counted across scales
    total_steps: int
    scale_index: int
    size: tuple[int, int]
    losses: dict[str, float]


@dataclass(frozen=True)
class ScaleEvent:
    scale_index: int
    n_scales: int
    size: tuple[int, int]


@dataclass(frozen=True)
class SnapshotEvent:
    step: int
    image: torch.Tensor  # (1,3,H,W) float32 CPU


Event = StepEvent | ScaleEvent | SnapshotEvent
Callback = Callable[[Event], None]


@dataclass
class TransferResult:
    image: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    precision: str = "fp32"
    device: str = "cpu"
    diverged_at: int | None = None  # step at which a loss became NaN/inf; image is the last good one
    interrupted: bool = False

    @property
    def final_losses(self) -> dict[str, float]:
        return dict(self.history[-1]) if self.history else {}


def scaled_size(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    h, w = hw
    s = longest / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _resize(img: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(img.shape[-2:]) == hw:
        return img.clone()
    # antialias only when shrinking; upsampling the previous scale is plain bicubic
    shrink = hw[0] < img.shape[-2]
    return F.interpolate(img, size=hw, mode="bicubic", align_corners=False, antialias=shrink).clamp(0, 1)


class StyleTransfer:
    """Optimise images with a :class:`StyleContentModel` and a :class:`TransferConfig`."""

    def __init__(self, model: StyleContentModel, config: TransferConfig | None = None):
        self.config = config or TransferConfig()
        self.config.validate()
        self.device = resolve_device(self.config.device)
        self.precision = resolve_precision(self.config.precision, self.device)
        if self.config.precision == "auto" and self.config.optimizer == "lbfgs":
            # L-BFGS builds its curvature model from gradient differences, which bf16 makes noisy: measured at
            # 256 px, one bf16 step jumped the loss from 0.31 to 1377 and the run then crawled (style +705% vs
            # float32 after 10 steps), while Adam in bf16 matched float32 within 0.2%. So auto means float32
            # for L-BFGS; bf16 with L-BFGS stays available on request.
            self.precision = "fp32"
        self.model = model.to(self.device).to(memory_format=memory_format(self.precision)).eval()
        self.model.requires_grad_(False)

    def _features(self, x: torch.Tensor, **kw: bool):
        with autocast(self.device, self.precision):
            return self.model(x.contiguous(memory_format=memory_format(self.precision)), **kw)

    def _optimizer(self, x: torch.Tensor) -> torch.optim.Optimizer:
        lr = self.config.lr or DEFAULT_LR[self.config.optimizer]
        if self.config.optimizer == "lbfgs":
            return torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=50, tolerance_grad=0.0, tolerance_change=0.0)
        return torch.optim.Adam([x], lr=lr)

    def _closure(
        self,
        holder: list[torch.optim.Optimizer],
        x: torch.Tensor,
        targets: GramDict,
        content_targets: dict[str, torch.Tensor],
        current: dict[str, float],
    ) -> Callable[[], torch.Tensor]:
        """The objective the optimiser in ``holder[0]`` calls; it records unscaled losses in ``current``.

        L-BFGS only updates its curvature memory when yᵀs > 1e-10, an absolute test: with small losses
        (untrained or narrow networks) it would never learn curvature and crawl along the gradient. The
        objective it sees is therefore rescaled once so the first gradient has max-abs 1; this also makes
        its first step size independent of the loss scale.
        """
        cfg, weights, scale = self.config, self.model.style_weights, []

        def closure() -> torch.Tensor:
            holder[0].zero_grad(set_to_none=True)
            rep = self._features(x)
            s = cfg.style_weight * style_loss(rep.grams, targets, weights)
            c = cfg.content_weight * content_loss(rep.content, content_targets)
            t = cfg.tv_weight * tv_loss(x) if cfg.tv_weight else torch.zeros((), device=x.device)
            loss = s + c + t
            loss.backward()
            current.update(total=loss.item(), style=s.item(), content=c.item(), tv=t.item())
            if cfg.optimizer != "lbfgs":
                return loss
            if not scale:
                g = x.grad.abs().max().item() if x.grad is not None else 0.0
                scale.append(1.0 / g if g > 0 and math.isfinite(g) else 1.0)
            if x.grad is not None:
                x.grad.mul_(scale[0])
            return loss.detach() * scale[0]

        return closure

    def optimize(
        self,
        content: torch.Tensor,
        style_targets: GramDict,
        init: torch.Tensor,
        steps: int,
        step_offset: int = 0,
        total_steps: int | None = None,
        scale_index: int = 0,
        callback: Callback | None = None,
    ) -> TransferResult:
        """Run ``steps`` optimiser steps at the size of ``content``; return the best-so-far result."""
        cfg, dev = self.config, self.device
        with torch.inference_mode():
            frozen = self._features(content.to(dev), want_style=False).content
        # clones made outside inference mode are ordinary tensors that autograd may save
        content_targets = {k: v.float().clone() for k, v in frozen.items()}
        targets = {k: v.to(dev).clone() for k, v in style_targets.items()}
        x = init.detach().to(dev).clone().requires_grad_(True)
        current: dict[str, float] = {}
        holder = [self._optimizer(x)]
        closure = self._closure(holder, x, targets, content_targets, current)
        result = TransferResult(init.detach().cpu().clone(), precision=self.precision, device=str(dev))
        hw = (int(content.shape[-2]), int(content.shape[-1]))
        best_loss, best_img = math.inf, x.detach().clone()
        try:
            for i in range(steps):
                step = step_offset + i + 1
                start = x.detach().clone()
                holder[0].step(closure)  # evaluates the loss at `start`, then moves x
                if not all(math.isfinite(v) for v in current.values()) or not torch.isfinite(x).all():
                    result.diverged_at, result.image = step, best_img.clamp(0, 1).cpu()
                    break
                if current["total"] < best_loss:
                    best_loss, best_img = current["total"], start
                if cfg.optimizer != "lbfgs":  # clamping between L-BFGS steps corrupts its curvature pairs
                    with torch.no_grad():
                        x.clamp_(0, 1)
                result.image = x.detach().clamp(0, 1).cpu()
                result.history.append({"step": float(step), "scale": float(scale_index), **current})
                if callback:
                    callback(StepEvent(step, total_steps or steps, scale_index, hw, dict(current)))
                    if cfg.save_every and step % cfg.save_every == 0:
                        callback(SnapshotEvent(step, result.image))
        except KeyboardInterrupt:
            result.interrupted = True  # result holds the last completed step
        return result

    def run(
        self,
        content: torch.Tensor,
        styles: StyleSet,
        init: torch.Tensor | None = None,
        callback: Callback | None = None,
        start_step: int = 0,
    ) -> TransferResult:
        """Coarse-to-fine over ``config.scales`` (longest side of each); content is (1,3,H,W) in [0,1].

        ``start_step`` resumes an interrupted run: steps already done are skipped and ``init`` (the
        saved image) continues the scale it was interrupted in. L-BFGS curvature history restarts.
        """
        cfg = self.config
        torch.manual_seed(cfg.seed)
        start = time.perf_counter()
        total = cfg.steps * len(cfg.scales)
        if not 0 <= start_step <= total:
            raise ConfigError(f"cannot resume at step {start_step}: this run has {total} steps")
        first = min(start_step // cfg.steps, len(cfg.scales) - 1)
        hw_of = [scaled_size((content.shape[-2], content.shape[-1]), s) for s in cfg.scales]
        out = TransferResult(
            self._initial(content, init, hw_of[first]), precision=self.precision, device=str(self.device)
        )
        for si in range(first, len(cfg.scales)):
            done = max(0, start_step - si * cfg.steps)
            if done >= cfg.steps:
                continue
            if callback:
                callback(ScaleEvent(si, len(cfg.scales), hw_of[si]))
            targets = styles.targets(self.model, cfg.scales[si], self.device, self.precision)
            part = self.optimize(
                _resize(content, hw_of[si]),
                targets,
                _resize(out.image, hw_of[si]),
                cfg.steps - done,
                si * cfg.steps + done,
                total,
                si,
                callback,
            )
            out.image, out.diverged_at, out.interrupted = part.image, part.diverged_at, part.interrupted
            out.history.extend(part.history)
            if part.diverged_at is not None or part.interrupted:
                break
        out.seconds = time.perf_counter() - start
        return out

    def _initial(self, content: torch.Tensor, init: torch.Tensor | None, hw: tuple[int, int]) -> torch.Tensor:
        """Starting image: a given one, the content (the paper), or seeded uniform noise."""
        if init is not None:
            return _resize(init, hw)
        if self.config.init == "noise":
            return torch.rand((1, 3, *hw), generator=torch.Generator().manual_seed(self.config.seed))
        if self.config.init == "content":
            return _resize(content, hw)
        raise ConfigError(f"--init must be content, noise or an image path, not '{self.config.init}'")


def stylize(
    content: str | torch.Tensor,
    styles: Sequence[str] | StyleSet,
    style_weights: Sequence[float] | None = None,
    backbone: str = "imagenet",
    style_layers: Sequence[str] | None = None,
    content_layers: Sequence[str] | None = None,
    config: TransferConfig | None = None,
    callback: Callback | None = None,
    **backbone_kw: object,
) -> TransferResult:
    """One call from files (or tensors) to a stylised image: returns image, loss history and timing.

    ``content`` is a path or a (1,3,H,W) tensor; ``styles`` are image paths/folders (weighted by
    ``style_weights``) or a ready :class:`StyleSet`. ``backbone`` is ``imagenet``, ``random`` or a path.
    """
    from styleverse.io.images import load_tensor
    from styleverse.transfer.targets import expand_styles

    cfg = config or TransferConfig()
    cfg.validate()
    model = build_model(backbone, style_layers, content_layers, **backbone_kw)[0]
    img = load_tensor(content) if isinstance(content, str) else content
    style_set = styles if isinstance(styles, StyleSet) else StyleSet(expand_styles(styles, style_weights))
    return StyleTransfer(model, cfg).run(img, style_set, callback=callback)


def build_model(
    backbone: str = "imagenet",
    style_layers: Sequence[str] | None = None,
    content_layers: Sequence[str] | None = None,
    **backbone_kw: object,
) -> tuple[StyleContentModel, BackboneInfo]:
    """Backbone truncated after the deepest style/content layer, wrapped in a StyleContentModel."""
    from styleverse.nn.features import DEFAULT_CONTENT_LAYERS, parse_layer_weights
    from styleverse.nn.vgg import layer_names, load_backbone

    sw = parse_layer_weights(style_layers)
    cl = tuple(content_layers or DEFAULT_CONTENT_LAYERS)
    names = layer_names(str(backbone_kw.get("arch", "vgg19")))
    known = [n for n in (*sw, *cl) if n in names]
    upto = max(known, key=names.index) if len(known) == len(sw) + len(cl) else None
    vgg, info = load_backbone(backbone, upto=upto, **backbone_kw)  # type: ignore[arg-type]
    return StyleContentModel(vgg, sw, cl), info
