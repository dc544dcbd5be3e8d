"""Whose turn it is: the discriminator-success gate of the authors' code, and the optimizer that obeys it.

Sanakoyeu et al. train the generator and the discriminator in turns decided by the discriminator's success:
a running average ``success`` (start: ``win_rate``, update weight 0.05) of its accuracy on the steps it trains
and of one minus the generator's success on the steps the generator trains. While ``success >= win_rate``
(0.8) the generator trains, otherwise the discriminator does; so the discriminator wins about 80% of the time,
neither far ahead nor helpless.

The shared step loop (:mod:`styleverse.training.loop`) steps one optimizer over one module; the two networks
are one module here and :class:`AlternatingAdam` holds their parameters as two named groups and steps only
the group whose turn it is (Adam moments of the other group stay as they are, as with two optimizers).

The gate's state is part of the resume state. Its update from a step is held back until that step is known
to be done (:meth:`Gate.settle`), so a step cut short by Ctrl-C leaves no trace and a resumed run continues
bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

GENERATOR, DISCRIMINATOR = "generator", "discriminator"
ALPHA = 0.05  # weight of the newest observation in the running success


class AlternatingAdam(torch.optim.Adam):
    """Adam over two named parameter groups (``generator``, ``discriminator``) that steps only ``active``."""

    def __init__(self, generator: Iterable[nn.Parameter], discriminator: Iterable[nn.Parameter], lr: float,
                 betas: tuple[float, float] = (0.9, 0.999)) -> None:  # fmt: skip
        groups = [
            {"params": list(generator), "name": GENERATOR},
            {"params": list(discriminator), "name": DISCRIMINATOR},
        ]
        super().__init__(groups, lr=lr, betas=betas)
        self.active = GENERATOR

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        """One Adam step of the active group; the other group's gradients are dropped first (under torchrun
        the loop's gradient averaging gives them zeros, which Adam would otherwise follow with momentum)."""
        for group in self.param_groups:
            if group["name"] != self.active:
                for p in group["params"]:
                    p.grad = None
        return super().step(closure)


class Gate:
    """The running discriminator success and the turn it decides (see the module doc)."""

    def __init__(self, win_rate: float) -> None:
        self.win_rate = win_rate
        self.success = win_rate  # after ``done`` steps
        self.done = 0
        self.pending: tuple[int, float] | None = None  # (step, success after it), not yet known to be done

    def settle(self, done: int) -> None:
        """``done`` steps are finished: the update of a step below it becomes part of the state."""
        if self.pending is not None and self.pending[0] < done:
            self.done, self.success = self.pending[0] + 1, self.pending[1]
        self.pending = None if self.pending is None or self.pending[0] < done else self.pending

    def turn(self, step: int) -> str:
        """Who trains at 0-based ``step`` (the steps before it are done)."""
        self.settle(step)
        return GENERATOR if self.success >= self.win_rate else DISCRIMINATOR

    def observe(self, step: int, turn: str, discriminator_acc: float, generator_acc: float) -> float:
        """Record this step's accuracies (averaged over processes); the running success after it."""
        seen = discriminator_acc if turn == DISCRIMINATOR else 1.0 - generator_acc
        after = self.success * (1 - ALPHA) + ALPHA * seen
        self.pending = (step, after)
        return after

    def state(self) -> dict[str, Any]:
        return {"success": self.success, "done": self.done}

    def load(self, state: dict[str, Any]) -> None:
        self.success, self.done, self.pending = float(state["success"]), int(state["done"]), None
