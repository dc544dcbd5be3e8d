"""The two optimisers of a Gatys run behind one small interface: L-BFGS on bounded pixels, and projected Adam.

Each owns the variables it moves (:attr:`PixelOptimizer.param`, flat), says which image they stand for
(:meth:`~PixelOptimizer.image`, differentiable), takes one step from a gradient, and gives its exact state as
plain tensors and numbers (:meth:`~PixelOptimizer.state_dict`), so that an interrupted run continues bit for
bit. :class:`~styleverse.transfer.optimize.StyleTransfer` picks one per run from :data:`OPTIMIZER_TYPES`.

What is saved is clamped to [0,1] and quantised to 8 bits, so that is what is optimised:

- **L-BFGS** works on free variables ``z`` with ``x = softclip(z)`` (identity-like inside, bending smoothly
  to 0 and 1), which keeps every iterate in (0,1) while leaving the objective smooth, so the curvature model
  stays valid (clamping between steps would not). Measured (128 px, random VGG19, 150 fp32 steps, loss of the
  saved 8-bit image; lower is better): softclip β=12 0.00137, β=8 0.00139, β=20 0.00141, β=4 0.00140, sigmoid
  0.00143, projected L-BFGS (clamp + blocked gradient) 0.00145 (and 0.203 vs 0.006 at step 10), unbounded
  (before) 0.0303 although its iterate logged 0.00115 (``benchmarks/bench_transfer.py --legacy``).
- **Adam** steps on ``x`` and is clamped after each step (a projected gradient step).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from styleverse.transfer.lbfgs import LBFGS

HISTORY_BYTES = 2 << 30  # L-BFGS pairs may hold this much (4096 px: 5 pairs instead of 50)
BETA = 12.0  # softclip sharpness: the bends at 0 and 1 are about 1/β wide
FREE_LIMIT = 1e3  # |z| a run never reaches: softclip's gradient is exactly 0 in float32 long before
# Free variables past the bends are pulled back by a spring: MARGIN/β beyond 0 or 1 (x within 0.4% of the bound,
# 8 bits: 1 or 254), STIFFNESS per unit past it, in the rescaled objective (whose first gradient has max-abs 1).
MARGIN, STIFFNESS = 3.0, 1.0
EPS = 0.5 / 255  # inputs are clamped to [eps, 1-eps] before inverting: finite, and < half an 8-bit level


class PixelOptimizer(ABC):
    """Moves flat variables :attr:`param` that stand for an image; a subclass per method."""

    param: torch.Tensor

    @abstractmethod
    def __init__(self, x: torch.Tensor, lr: float):
        """Variables standing for image ``x`` ((1,3,h,w) in [0,1]), moved with learning rate ``lr``."""

    def image(self, p: torch.Tensor) -> torch.Tensor:
        """The image in [0,1] that variables ``p`` (shaped like the image) stand for; gradients flow through it."""
        return p.clamp(0, 1)

    def gradient(self, grad: torch.Tensor) -> torch.Tensor:
        """The gradient the method steps on, from the objective's gradient at :attr:`param`."""
        return grad

    @abstractmethod
    def step(self, grad: torch.Tensor, loss: float) -> None:
        """Move :attr:`param` one step given the gradient from :meth:`gradient` and the objective ``loss``
        at the current :attr:`param`."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """``param``, ``optimizer`` and ``loss_scale``: plain tensors and numbers (never modified later)."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict` output (e.g. read back by ``io.state.load_state``)."""

    @abstractmethod
    def check_state(self, state: Mapping[str, Any]) -> None:
        """ValueError naming the first value of ``state`` (:meth:`state_dict` output read back from a file that
        may have been edited) that this optimiser never saves; shapes and dtypes are checked by the caller."""


class BoundedLBFGS(PixelOptimizer):
    """L-BFGS (:class:`~styleverse.transfer.lbfgs.LBFGS`) on free variables whose image is ``softclip(z)``.

    L-BFGS only trusts curvature pairs with yᵀs clearly positive; with small losses (untrained or narrow
    networks) it would crawl, so the objective is rescaled once, so the first gradient has max-abs 1; this
    also makes the first step size independent of the loss scale.

    Past the bends the softclip's slope vanishes (e^{-β(z-1)}): a variable that an early, long L-BFGS step threw
    there never came back, and its channel stayed at 0 or 255 whatever the objective wanted. A pale style left
    23% pure-white pixels that it does not have (and single channels stuck at 0 or 1 look like magenta and cyan
    speckle); a spring beyond ``MARGIN/β`` (:meth:`_excess`, added to the objective L-BFGS sees) keeps every
    variable where its gradient still moves it. Measured (64 px, random VGG19 at 1/4 width, 100 fp32 steps):
    pale style, white pixels 23% -> 0 and the saved image's loss 1.48 -> 0.0098; halftone sample, channels at
    0 or 255 13.8% -> 0 for +2% loss; margins 1, 2, 5 gave 0.0087 / 0.061 (halftone) / 0.054 (pale).
    """

    def __init__(self, x: torch.Tensor, lr: float):
        self.param = self.free(x).reshape(-1).clone()
        self.lbfgs = LBFGS(history=max(5, min(50, HISTORY_BYTES // (8 * x.numel()))), lr=lr)
        self.loss_scale: float | None = None

    def free(self, x: torch.Tensor) -> torch.Tensor:
        """Free variables whose image is ``x`` (the inverse of :meth:`image`, in closed form)."""
        x = x.clamp(EPS, 1 - EPS)
        # x = (log(1 + e^{βz}) - log(1 + e^{β(z-1)})) / β  <=>  e^{βz} = (e^{βx} - 1) / (1 - e^{β(x-1)})
        return (torch.log(torch.expm1(BETA * x)) - torch.log(-torch.expm1(BETA * (x - 1)))) / BETA

    def image(self, p: torch.Tensor) -> torch.Tensor:
        """(softplus(βz) - softplus(β(z-1))) / β, in (0, 1)."""
        return (F.softplus(BETA * p) - F.softplus(BETA * (p - 1))) / BETA

    def gradient(self, grad: torch.Tensor) -> torch.Tensor:
        if self.loss_scale is None:
            g = grad.abs().max().item()
            self.loss_scale = 1.0 / g if g > 0 and math.isfinite(g) else 1.0
        return grad * self.loss_scale + STIFFNESS * self._excess(self.param)

    def step(self, grad: torch.Tensor, loss: float) -> None:
        spring = 0.5 * STIFFNESS * float(self._excess(self.param).square().sum(dtype=torch.float64))
        self.param = self.lbfgs.step(self.param, grad, loss * (self.loss_scale or 1.0) + spring)

    @staticmethod
    def _excess(z: torch.Tensor) -> torch.Tensor:
        """How far each variable lies past ``1 + MARGIN/β`` (positive) or below ``-MARGIN/β`` (negative)."""
        m = MARGIN / BETA
        return (z - 1 - m).clamp_min(0) - (-m - z).clamp_min(0)

    def state_dict(self) -> dict[str, Any]:
        return {"param": self.param, "optimizer": self.lbfgs.state_dict(), "loss_scale": self.loss_scale}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        dev = self.param.device
        self.param = state["param"].to(dev)
        self.lbfgs.load_state_dict(_map_tensors(lambda t: t.to(dev), state["optimizer"]))
        self.loss_scale = state["loss_scale"]

    def check_state(self, state: Mapping[str, Any]) -> None:
        for name in ("param", "best_param"):
            p = state.get(name)
            if p is not None and float(p.abs().max()) > FREE_LIMIT:
                raise ValueError(f"{name} holds variables far beyond the pixels they stand for")
        scale = state["loss_scale"]
        if scale is not None and not (isinstance(scale, float) and 0 < scale < math.inf):
            raise ValueError(f"loss_scale is {scale!r}, not a positive number")
        self.lbfgs.check_state(dict(state["optimizer"]))


class ProjectedAdam(PixelOptimizer):
    """``torch.optim.Adam`` on the pixels, clamped to [0,1] after every step."""

    def __init__(self, x: torch.Tensor, lr: float):
        self.param = x.reshape(-1).clone().requires_grad_(True)
        self.adam = torch.optim.Adam([self.param], lr=lr)

    def step(self, grad: torch.Tensor, loss: float) -> None:
        self.param.grad = grad
        self.adam.step()
        with torch.no_grad():
            self.param.clamp_(0, 1)

    def state_dict(self) -> dict[str, Any]:
        opt = _map_tensors(lambda t: t.detach().clone(), self.adam.state_dict())
        return {"param": self.param.detach().clone(), "optimizer": opt, "loss_scale": None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            self.param.copy_(state["param"])
        self.adam.load_state_dict(state["optimizer"])

    def check_state(self, state: Mapping[str, Any]) -> None:
        for name in ("param", "best_param"):
            p = state.get(name)
            if p is not None and not bool(((p >= 0) & (p <= 1)).all()):
                raise ValueError(f"{name} holds pixels outside [0, 1]")
        saved, fresh = state["optimizer"], self.adam.state_dict()["param_groups"]
        groups = saved.get("param_groups")
        same = isinstance(groups, list) and len(groups) == len(fresh)  # keys another torch may add are let be
        if not same or any(a[k] != b[k] for a, b in zip(groups, fresh, strict=True) for k in set(a) & set(b)):
            raise ValueError("optimizer settings differ from this run's")
        if set(saved.get("state", {})) - {0}:
            raise ValueError("optimizer holds moments of variables this run does not have")
        moments = dict(saved["state"].get(0, {}))
        step, sq = moments.get("step", torch.zeros(())), moments.get("exp_avg_sq", torch.zeros(()))
        if set(moments) - {"step", "exp_avg", "exp_avg_sq"} or not (float(step) >= 0 and bool((sq >= 0).all())):
            raise ValueError("optimizer moments are not Adam's")


OPTIMIZER_TYPES: dict[str, type[PixelOptimizer]] = {"lbfgs": BoundedLBFGS, "adam": ProjectedAdam}


def _map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], obj: Any) -> Any:
    """``obj`` (nested dicts, lists and tuples) with ``fn`` applied to every tensor in it."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, Mapping):
        return {k: _map_tensors(fn, v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_map_tensors(fn, v) for v in obj)
    return obj
