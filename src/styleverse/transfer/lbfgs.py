"""L-BFGS with one objective evaluation per step, whose whole state is a plain dict of tensors.

Gatys et al. optimise with L-BFGS; like ``torch.optim.LBFGS(max_iter=1)`` (what styleverse used before) each step
evaluates the objective once and moves ``t·d`` along the quasi-Newton direction, without a line search: a line
search costs evaluations, and the style objective is smooth enough that a full step is almost always accepted. When
it is not (a large style weight makes the first steps overshoot), the evaluation that found the loss higher than at
the last accepted point rejects the move: the next point is back along it where the parabola through the two losses
and the slope at the accepted point is lowest, between a tenth and half of the move (Nocedal & Wright 3.5), and no
curvature pair is learnt from it (backtracking, one evaluation per try). Halving alone took 8 tries to come back
from a frame's step that raised the loss 200-fold (0.081 -> 17, ``benchmarks/bench_video.py``'s 128x72 clip). Owning
the loop gives two things torch's class does not: the state (:meth:`LBFGS.state_dict`) is plain tensors and numbers,
so an interrupted run continues bit for bit, and the curvature pairs are built from the move actually made, which
keeps them right when a caller bounds the variable.
"""

from __future__ import annotations

from typing import Any

import torch

CURVATURE_EPS = 1e-10  # pairs with yᵀs below this (relative to yᵀy) carry no usable curvature


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """aᵀb accumulated in float64. Not ``torch.dot``: BLAS dot products depend on the memory alignment of
    their operands, so a state read back from a file would continue with different rounding."""
    return float((a * b).sum(dtype=torch.float64))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


class LBFGS:
    """Minimise f(x) over a flat float32 tensor; call :meth:`step` with x, f(x), ∇f(x); it returns the next x.

    ``history`` pairs (s, y) are kept; the first step is ``min(1, 1/‖g‖₁)·lr`` long (as torch's), later
    ones ``lr`` along the two-loop direction scaled by yᵀs / yᵀy.
    """

    def __init__(self, history: int = 50, lr: float = 1.0):
        self.history, self.lr = history, lr
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.rho: list[float] = []  # 1 / yᵀs per pair
        self.gamma = 1.0  # yᵀs / yᵀy of the newest pair: the initial inverse-Hessian scale
        self.x_prev: torch.Tensor | None = None
        self.g_prev: torch.Tensor | None = None
        self.f_prev: float | None = None  # the objective at x_prev (None: not given)
        self.n = 0
        self.rejected = 0  # moves rejected so far (each costs one evaluation)

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H·g by the two-loop recursion (Nocedal & Wright, algorithm 7.4)."""
        q = g.neg()
        alpha = []
        for s, y, r in zip(reversed(self.s), reversed(self.y), reversed(self.rho), strict=True):
            a = r * _dot(s, q)
            q.add_(y, alpha=-a)
            alpha.append(a)
        if self.s:
            q.mul_(self.gamma)
        for s, y, r, a in zip(self.s, self.y, self.rho, reversed(alpha), strict=True):
            b = r * _dot(y, q)
            q.add_(s, alpha=a - b)
        return q

    def step(self, x: torch.Tensor, g: torch.Tensor, f: float | None = None) -> torch.Tensor:
        """The next point from ``x`` with gradient ``g`` (both flat) and objective ``f``. Both tensors are kept,
        not copied (a copy per step costs as much as an image): the caller must not modify them in place
        afterwards. Given ``f``, a move that raised the objective above the last accepted point's is rejected
        and shortened instead (see the module doc)."""
        if self.x_prev is not None and self.f_prev is not None and f is not None and not f <= self.f_prev:
            self.rejected += 1
            return self.x_prev + self._backoff(x, f) * (x - self.x_prev)
        if self.x_prev is not None and self.g_prev is not None:
            s, y = x - self.x_prev, g - self.g_prev
            ys, yy = _dot(y, s), _dot(y, y)
            if ys > CURVATURE_EPS * max(yy, 1e-30):
                if len(self.s) == self.history:
                    del self.s[0], self.y[0], self.rho[0]
                self.s.append(s)
                self.y.append(y)
                self.rho.append(1.0 / ys)
                self.gamma = ys / yy
        d = self._direction(g)
        t = min(1.0, 1.0 / max(float(g.abs().sum()), 1e-30)) * self.lr if self.n == 0 else self.lr
        self.x_prev, self.g_prev, self.f_prev, self.n = x, g, f, self.n + 1
        return x + t * d

    def _backoff(self, x: torch.Tensor, f: float) -> float:
        """The share of the rejected move ``x − x_prev`` to try next: the minimum of the parabola with the
        accepted point's objective and slope ``g_prevᵀ(x − x_prev)`` that passes through ``f`` at ``x``, kept in
        [0.1, 0.5]; 0.5 where that parabola has no minimum ahead (not a descent move, or NaN)."""
        assert self.x_prev is not None and self.f_prev is not None
        if self.g_prev is None:
            return 0.5
        slope = _dot(self.g_prev, x - self.x_prev)
        curvature = f - self.f_prev - slope
        if not (slope < 0 and curvature > 0):
            return 0.5
        return min(0.5, max(0.1, -slope / (2.0 * curvature)))

    def state_dict(self) -> dict[str, Any]:
        """Plain nested state (tensors are shared, not copied: they are never modified in place)."""
        return {
            "s": list(self.s),
            "y": list(self.y),
            "rho": list(self.rho),
            "gamma": self.gamma,
            "x_prev": self.x_prev,
            "g_prev": self.g_prev,
            "f_prev": self.f_prev,
            "n": self.n,
            "rejected": self.rejected,
        }

    def check_state(self, state: dict[str, Any]) -> None:
        """ValueError unless ``state`` (from :meth:`state_dict`, maybe read back from a file someone edited) is
        what this class saves: as many pairs as ``rho`` values, each ``rho`` 1 / yᵀs of its pair, ``gamma``
        the newest pair's yᵀs / yᵀy, counts that fit together. Shapes are the caller's to check."""
        pairs = (state["s"], state["y"], state["rho"])
        if not len(pairs[0]) == len(pairs[1]) == len(pairs[2]) <= self.history:
            raise ValueError("optimizer curvature pairs are uneven or too many")
        for i, (s, y, r) in enumerate(zip(*pairs, strict=True)):
            if not _close(float(r), 1.0 / _dot(y, s)):
                raise ValueError(f"optimizer/rho/{i} is not 1 / yᵀs of its pair")
        newest = (pairs[0][-1], pairs[1][-1]) if pairs[0] else None
        if newest and not _close(float(state["gamma"]), _dot(newest[1], newest[0]) / _dot(newest[1], newest[1])):
            raise ValueError("optimizer/gamma does not match the newest pair")
        n, rejected = state["n"], state.get("rejected", 0)
        if not (isinstance(n, int) and isinstance(rejected, int) and n >= len(pairs[0]) and 0 <= rejected <= n):
            raise ValueError("optimizer step counts do not fit together")
        if (state["x_prev"] is None) != (n == 0) or (state["g_prev"] is None) != (n == 0):
            raise ValueError("optimizer previous point does not fit its step count")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (e.g. read back by ``io.state.load_state``)."""
        self.s, self.y, self.rho = list(state["s"]), list(state["y"]), [float(r) for r in state["rho"]]
        self.gamma = float(state["gamma"])
        self.x_prev, self.g_prev, self.n = state["x_prev"], state["g_prev"], int(state["n"])
        f_prev = state.get("f_prev")  # absent in states saved before moves could be rejected
        self.f_prev = None if f_prev is None else float(f_prev)
        self.rejected = int(state.get("rejected", 0))
