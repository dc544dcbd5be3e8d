"""StyleTransfer: Gatys et al. optimisation of an image against style and content targets (paper 3.2).

The output starts as the content image (the paper), noise, or a given image, and is optimised with
L-BFGS or Adam against ``content_weight·content + style_weight·style + tv_weight·tv`` (+ extra terms).
Coarse-to-fine runs the same loop at growing sizes, each initialised from the previous result.

Departures from the paper's plain loop, each measured (``benchmarks/bench_transfer.py``):

- **Bounded pixels.** What is saved is clamped to [0,1] and quantised to 8 bits, so that is what is
  optimised (:mod:`styleverse.transfer.optimizers`: L-BFGS on softclipped variables, Adam projected).
- **Convergence stop.** A scale ends when its best loss improved by less than ``tol`` over the last
  ``tol_window`` steps; ``steps`` is only the cap. Coarse scales only seed the next one and stop at
  ``COARSE_TOL_FACTOR`` times the tolerance.
- **Exact resume.** The loop state (variables, L-BFGS pairs, best point, RNG, history) leaves in
  :attr:`TransferResult.state` as plain tensors and numbers and continues bit for bit.

Progress leaves as events to a callback; nothing here prints.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from styleverse import cancel
from styleverse.devices import autocast, memory_format, place, resolve_device, resolve_precision
from styleverse.errors import ConfigError
from styleverse.io.state import check_like, check_tensors_like, unfit
from styleverse.nn.features import Representation, StyleContentModel, build_model
from styleverse.nn.losses import content_loss, style_loss, tv_loss
from styleverse.styles.targets import GramDict, StyleSet
from styleverse.transfer.config import (
    DEFAULT_LR,
    Callback,
    ScaleEvent,
    SnapshotEvent,
    StepEvent,
    TransferConfig,
    TransferResult,
)
from styleverse.transfer.optimizers import OPTIMIZER_TYPES, PixelOptimizer

ExtraLoss = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
STATE_VERSION = 1
RESERVED = ("step", "scale", "style", "content", "tv", "total", "best")
# A coarse scale's result only seeds the next one, and upsampling undoes most of its late gains (at 512 px the
# loss jumps from 0.0019 to 0.076 at the scale change): 40 or 100 coarse steps gave the same 512 px loss for the
# same time. So coarse scales stop at this multiple of ``tol``.
COARSE_TOL_FACTOR = 4.0
# Starting from noise, the photo comes back only as far as the content loss rebuilds it: at the default weights
# the result keeps little of it (measured in ``benchmarks/bench_transfer.py --tables inits``). What noise is for:
# a seed-dependent variation, or a texture of the style with only a trace of the photo.
NOISE_WARNING = (
    "init noise: the photo is rebuilt only through the content loss, so the result keeps little of it; "
    "start from the content (the default) to keep the photo, or raise --content-weight"
)
log = logging.getLogger("styleverse")


def scaled_size(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    """(H, W) scaled so the longer side is ``longest`` pixels."""
    h, w = hw
    s = longest / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def quantize(image: torch.Tensor) -> torch.Tensor:
    """The image as it will be saved: clamped to [0,1] and rounded to 8 bits like ``io.images.save_image``."""
    return torch.floor(image.detach().float().clamp(0, 1) * 255.0 + 0.5) / 255.0


def _resize(img: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(img.shape[-2:]) == hw:
        return img.clone()
    # antialias only when shrinking; upsampling the previous scale is plain bicubic
    shrink = hw[0] < img.shape[-2]
    return F.interpolate(img, size=hw, mode="bicubic", align_corners=False, antialias=shrink).clamp(0, 1)


@dataclass
class _Scale:
    """Everything one scale of a run works with; ``opt`` holds the optimised variables."""

    index: int
    hw: tuple[int, int]
    precision: str
    targets: GramDict
    content_targets: dict[str, torch.Tensor]
    opt: PixelOptimizer
    cap: int
    done: int = 0
    best_loss: float = math.inf
    best_param: torch.Tensor | None = None
    curve: list[float] = field(default_factory=list)  # best-so-far total after each step

    def image(self) -> torch.Tensor:
        """The best evaluated point as an image in [0,1] (the start while nothing has been evaluated)."""
        p = self.best_param if self.best_param is not None else self.opt.param
        return self.opt.image(p.detach())


class StyleTransfer:
    """Optimise images with a :class:`StyleContentModel` and a :class:`TransferConfig`."""

    def __init__(self, model: StyleContentModel, config: TransferConfig | None = None):
        self.config = config or TransferConfig()
        self.config.validate()
        self.device = resolve_device(self.config.device)
        # auto: bf16 autocast where the hardware runs it natively, for Adam and L-BFGS alike. L-BFGS used to
        # diverge in bf16 (one step took the loss from 0.31 to 1377 at 256 px) because autocast ran the Gram
        # product in bf16; with Grams and losses in float32 (nn.losses.gram) and bounded pixels, 150 bf16
        # L-BFGS steps at 128 px saved an image 1.0% above float32's for 0.53x the CPU time.
        self.precision = resolve_precision(self.config.precision, self.device)
        self.model = model.to(self.device).eval()
        self.model.requires_grad_(False)
        self._format: torch.memory_format | None = None
        self.optimizer_type = OPTIMIZER_TYPES[self.config.optimizer]

    # ---- features and objective -------------------------------------------------------------------------

    def _features(self, x: torch.Tensor, precision: str, **kw: bool) -> Representation:
        fmt = memory_format(precision)
        if fmt != self._format:
            with torch.inference_mode(False):  # converted weights must stay usable by autograd
                place(self.model, None, precision)
            self._format = fmt
        with autocast(self.device, precision):
            return self.model(x.contiguous(memory_format=fmt), **kw)

    def _terms(
        self,
        x: torch.Tensor,
        targets: GramDict,
        content_targets: Mapping[str, torch.Tensor],
        extra_loss: ExtraLoss | None,
        precision: str,
    ) -> dict[str, torch.Tensor]:
        """Weighted loss terms of image ``x`` (float32 scalars); ``total`` is their sum."""
        cfg = self.config
        rep = self._features(x, precision)
        terms = {
            "style": cfg.style_weight * style_loss(rep.grams, targets, self.model.style_weights),
            "content": cfg.content_weight * content_loss(rep.content, content_targets),
            "tv": cfg.tv_weight * tv_loss(x) if cfg.tv_weight else torch.zeros((), device=x.device),
        }
        for name, value in (extra_loss(x) if extra_loss else {}).items():
            if name in RESERVED:
                raise ConfigError(f"extra loss term '{name}' clashes with a built-in name ({', '.join(RESERVED)})")
            terms[name] = value.float()
        terms["total"] = torch.stack([v.reshape(()) for v in terms.values()]).sum()
        return terms

    def _evaluate(self, sc: _Scale, extra_loss: ExtraLoss | None) -> tuple[dict[str, float], torch.Tensor]:
        """Losses at the optimiser's variables and the gradient it steps on."""
        p = sc.opt.param.detach().view(1, 3, *sc.hw).requires_grad_(True)
        terms = self._terms(sc.opt.image(p), sc.targets, sc.content_targets, extra_loss, sc.precision)
        terms["total"].backward()
        grad = p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(sc.opt.param)
        return {k: v.item() for k, v in terms.items()}, sc.opt.gradient(grad)

    # ---- scales ----------------------------------------------------------------------------------------

    def _scale(
        self,
        index: int,
        hw: tuple[int, int],
        precision: str,
        content: torch.Tensor,
        styles: StyleSet,
        image: torch.Tensor,
        cap: int,
    ) -> _Scale:
        """Targets at this size and the variables initialised from ``image`` (any size, [0,1])."""
        dev = self.device
        with torch.inference_mode():
            frozen = self._features(_resize(content, hw).to(dev), precision, want_style=False).content
        # clones made outside inference mode are ordinary tensors that autograd may save
        content_targets = {k: v.float().clone() for k, v in frozen.items()}
        size = self.config.sizes[index]
        targets = {k: v.to(dev).clone() for k, v in styles.targets(self.model, size, dev, precision).items()}
        x = _resize(image.detach().float().cpu(), hw).to(dev)
        opt = self.optimizer_type(x, self.config.lr or DEFAULT_LR[self.config.optimizer])
        return _Scale(index, hw, precision, targets, content_targets, opt, cap)

    def _stop_reason(
        self, sc: _Scale, stop: Callable[[], bool] | None, history: Sequence[Mapping[str, float]] = ()
    ) -> str | None:
        """Why this scale should not take another step, or None. ``history`` is the run's step log: a scale
        whose best loss stalled is not done while the loss it is at still falls (:func:`_recovering`)."""
        cfg, w = self.config, self.config.tol_window
        if sc.done >= sc.cap:
            return "max_steps"
        tol = cfg.tol * (COARSE_TOL_FACTOR if sc.index < len(cfg.sizes) - 1 else 1.0)
        if tol > 0 and len(sc.curve) > w and sc.curve[-1] < sc.curve[0]:  # a scale that never moved is not done
            old, new = sc.curve[-w - 1], sc.curve[-1]
            if old - new <= tol * abs(old) and not _recovering(history, sc.index, new, tol):
                return "converged"
        if stop is not None and stop():
            return cancel.reason(stop)
        return None

    # ---- state -----------------------------------------------------------------------------------------

    def _capture(self, sc: _Scale, run: dict[str, Any]) -> dict[str, Any]:
        """The run's state after the last completed step, as plain tensors/numbers."""
        return {
            "version": STATE_VERSION,
            "scale_index": sc.index,
            "scale_step": sc.done,
            "scale_cap": sc.cap,
            "step": run["step"],
            **sc.opt.state_dict(),  # param, optimizer, loss_scale
            "best_loss": sc.best_loss,
            "best_param": sc.best_param,
            "curve": list(sc.curve),
            "history": list(run["history"]),
            "scales": [dict(s) for s in run["scales"]],
            "seconds": run["seconds"] + time.perf_counter() - run["t0"],
            "rng": torch.get_rng_state(),
        }

    def _restore(self, sc: _Scale, state: Mapping[str, Any]) -> None:
        try:
            parts = {k: state.get(k) for k in ("param", "best_param", "optimizer")}
            check_tensors_like(parts, sc.opt.param, "")
            sc.opt.check_state(state)
            if len(state["curve"]) != int(state["scale_step"]) or state["scale_cap"] != sc.cap:
                raise ValueError("this scale's loss curve or step cap does not fit its step count")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            raise unfit(str(e).lstrip("/")) from None
        sc.done, sc.cap = int(state["scale_step"]), int(state["scale_cap"])
        sc.best_loss, sc.curve = float(state["best_loss"]), [float(v) for v in state["curve"]]
        bp = state["best_param"]
        sc.best_param = None if bp is None else bp.to(self.device)
        sc.opt.load_state_dict(state)

    # ---- the loop --------------------------------------------------------------------------------------

    def _steps(
        self,
        sc: _Scale,
        run: dict[str, Any],
        callback: Callback | None,
        extra_loss: ExtraLoss | None,
        stop: Callable[[], bool] | None,
    ) -> str:
        """Step scale ``sc`` until a stop reason and return it; ``run['state']`` follows every completed step."""
        cfg, total_cap = self.config, self.config.steps * len(self.config.sizes)
        run["state"] = self._capture(sc, run)
        while (reason := self._stop_reason(sc, stop, run["history"])) is None:
            losses, grad = self._evaluate(sc, extra_loss)
            step = run["step"] + 1
            if not all(math.isfinite(v) for v in losses.values()) or not torch.isfinite(grad).all():
                run["diverged_at"] = step
                return "diverged"
            run["step"], sc.done = step, sc.done + 1
            run["history"].append({"step": float(step), "scale": float(sc.index), **losses})
            if losses["total"] < sc.best_loss:
                sc.best_loss, sc.best_param = losses["total"], sc.opt.param.detach().clone()
            sc.curve.append(sc.best_loss)
            run["history"][-1]["best"] = sc.best_loss  # the point a stop now would save (this scale's best)
            sc.opt.step(grad, losses["total"])
            run["state"] = self._capture(sc, run)
            if callback:
                callback(StepEvent(step, total_cap, sc.index, sc.hw, dict(losses)))
                if cfg.save_every and step % cfg.save_every == 0:
                    callback(SnapshotEvent(step, quantize(sc.image().view(1, 3, *sc.hw)).cpu()))
        return reason

    def run(
        self,
        content: torch.Tensor,
        styles: StyleSet,
        init: torch.Tensor | None = None,
        callback: Callback | None = None,
        state: Mapping[str, Any] | None = None,
        extra_loss: ExtraLoss | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> TransferResult:
        """Coarse-to-fine over ``config.sizes`` (longest side of each); content is (1,3,H,W) in [0,1].

        ``state`` (a previous result's :attr:`~TransferResult.state`, possibly saved and loaded with
        ``io.state``) continues that run exactly: the result equals an uninterrupted run's, history
        included. ``extra_loss(x)`` returns further weighted terms for image ``x`` (the (1,3,h,w) image at
        the current scale, in [0,1]); they join the objective and the history under their names. ``stop()``
        is asked before every step; True ends the run cleanly (``stop_reason == 'stopped'``, with a state),
        or ``interrupted`` as Ctrl-C does when ``stop`` is a :class:`~styleverse.cancel.StopFlag` a signal
        set.
        """
        cfg, sizes = self.config, self.config.sizes
        torch.manual_seed(cfg.seed)
        hw_of = [scaled_size((int(content.shape[-2]), int(content.shape[-1])), s) for s in sizes]
        run: dict[str, Any] = {"step": 0, "history": [], "scales": [], "seconds": 0.0, "t0": time.perf_counter()}
        first = self._start(run, state, len(sizes))
        if state is None:
            image = self._initial(content, init, hw_of[first])
        else:
            torch.set_rng_state(state["rng"])
            image = torch.zeros(1, 3, *hw_of[first])  # replaced by the saved variables
        reason, sc = "max_steps", None
        try:
            for si in range(first, len(sizes)):
                if callback:
                    callback(ScaleEvent(si, len(sizes), hw_of[si]))
                precision = "fp32" if cfg.polish and si == len(sizes) - 1 else self.precision
                sc = self._scale(si, hw_of[si], precision, content, styles, image, cfg.steps)
                if si == first and state is not None:
                    self._restore(sc, state)
                reason = self._steps(sc, run, callback, extra_loss, stop)
                image = sc.image().view(1, 3, *sc.hw).cpu()
                if reason not in ("stopped", "interrupted"):
                    run["scales"].append(_scale_info(sc, reason))
                if reason in ("diverged", "stopped", "interrupted"):
                    break
        except KeyboardInterrupt:
            reason = "interrupted"
            image = sc.image().view(1, 3, *sc.hw).cpu() if sc is not None else image
        out = TransferResult(quantize(image), run["history"], precision=self.precision, device=str(self.device))
        out.scales, out.stop_reason, out.stopped_at = list(run["scales"]), reason, run["step"]
        if reason in ("interrupted", "stopped"):
            out.state = run.get("state")
            if sc is not None:
                out.scales.append(_scale_info(sc, reason))
        out.interrupted, out.diverged_at = reason == "interrupted", run.get("diverged_at")
        if reason != "interrupted":
            reuse = sc.targets if sc is not None and sc.precision == "fp32" and sc.index == len(sizes) - 1 else None
            out.final_losses = self.measure(out.image, content, styles, extra_loss, reuse)
        out.seconds = run["seconds"] + time.perf_counter() - run["t0"]
        return out

    def _start(self, run: dict[str, Any], state: Mapping[str, Any] | None, n_scales: int) -> int:
        """The scale to start in; fills ``run`` from a saved state."""
        if state is None:
            return 0
        if state.get("version") != STATE_VERSION:
            raise ConfigError(
                "cannot resume: the saved state comes from another version of styleverse; run without --resume"
            )
        first = int(state["scale_index"])
        if not 0 <= first < n_scales:
            raise ConfigError(f"cannot resume in scale {first}: this run has {n_scales} scales")
        try:
            _check_counts(state, self.config.steps)
        except (KeyError, TypeError, ValueError) as e:
            raise unfit(str(e)) from None
        run.update(step=int(state["step"]), history=list(state["history"]), seconds=float(state["seconds"]))
        run["scales"] = [dict(s) for s in state["scales"]]
        return first

    @torch.inference_mode()
    def measure(
        self,
        image: torch.Tensor,
        content: torch.Tensor,
        styles: StyleSet,
        extra_loss: ExtraLoss | None = None,
        targets: GramDict | None = None,
    ) -> dict[str, float]:
        """Weighted loss terms of ``image`` in float32 at its own size, against float32 targets (style
        targets are computed at the image's size unless given)."""
        hw = (int(image.shape[-2]), int(image.shape[-1]))
        frozen = self._features(_resize(content, hw).to(self.device), "fp32", want_style=False).content
        if targets is None:
            targets = styles.targets(self.model, max(hw), self.device, "fp32")
        targets = {k: v.to(self.device) for k, v in targets.items()}
        terms = self._terms(image.to(self.device), targets, frozen, extra_loss, "fp32")
        return {k: v.item() for k, v in terms.items()}

    def _initial(self, content: torch.Tensor, init: torch.Tensor | None, hw: tuple[int, int]) -> torch.Tensor:
        """Starting image: a given one, the content (the paper), or seeded uniform noise."""
        if init is not None:
            return _resize(init, hw)
        if self.config.init == "noise":
            log.warning(NOISE_WARNING)
            return torch.rand((1, 3, *hw), generator=torch.Generator().manual_seed(self.config.seed))
        if self.config.init == "content":
            return _resize(content, hw)
        raise ConfigError(f"init must be content, noise or an image path, not '{self.config.init}'", setting="init")


def _check_counts(state: Mapping[str, Any], cap: int) -> None:
    """ValueError unless the saved run's counters, RNG and numbers are what a run of at most ``cap`` steps per
    scale saves: an edited state must be refused, not continued into an internal error or a damaged image."""
    check_like(state["rng"], torch.get_rng_state(), "rng")
    done, step, history = state["scale_step"], state["step"], state["history"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (done, step, state["scale_cap"])):
        raise ValueError("step counts are not whole numbers")
    if not (0 <= done <= state["scale_cap"] <= cap and done <= step == len(history)):
        raise ValueError(f"step counts (step {step}, {done} in this scale, {len(history)} logged) do not fit")
    numbers = [state["best_loss"], state["seconds"], *state["curve"], *(v for h in history for v in h.values())]
    if not all(isinstance(v, int | float) and (math.isfinite(v) or v == math.inf) for v in numbers):
        raise ValueError("losses or times are not numbers")


def _recovering(history: Sequence[Mapping[str, float]], scale: int, best: float, tol: float) -> bool:
    """Whether scale ``scale``'s loss at the last step (not its best so far) lies more than ``tol`` (relative)
    above ``best`` and fell at that step: the optimiser is on its way back from an overshoot (L-BFGS backing
    off a step that raised the loss), so a best that stalled meanwhile is no convergence. Without this, a frame
    of ``benchmarks/bench_video.py``'s 128x72 clip overshot at step 3 (loss 0.081 -> 17), backed off for 8
    steps while the best stayed at step 2's, stopped "converged" at step 11 and was saved as the unchanged
    photo."""
    totals = [h["total"] for h in history[-2:] if h.get("scale") == scale]
    return len(totals) == 2 and totals[1] < totals[0] and totals[1] > best + tol * abs(best)


def _scale_info(sc: _Scale, reason: str) -> dict[str, Any]:
    info = {"size": list(sc.hw), "steps": sc.done, "stop_reason": reason, "precision": sc.precision}
    return info | {"improved": bool(sc.curve) and sc.curve[-1] < sc.curve[0]}  # below the loss it started from


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
    from styleverse.styles.targets import expand_styles

    cfg = config or TransferConfig()
    cfg.validate()
    model = build_model(backbone, style_layers, content_layers, **backbone_kw)[0]
    img = load_tensor(content) if isinstance(content, str) else content
    style_set = styles if isinstance(styles, StyleSet) else StyleSet(expand_styles(styles, style_weights))
    return StyleTransfer(model, cfg).run(img, style_set, callback=callback)
