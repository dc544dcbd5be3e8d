"""The L-BFGS used for style transfer: it minimises a known quadratic and its state round-trips exactly."""

from __future__ import annotations

import torch

from styleverse.transfer.lbfgs import LBFGS


def _quadratic(n: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, n, generator=g, dtype=torch.float64)
    return q @ q.T / n + torch.eye(n, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


def _grad(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return a @ x - b  # f(x) = ½ xᵀAx − bᵀx, minimum at A⁻¹b


def test_minimises_a_quadratic_to_its_known_minimum() -> None:
    a, b = _quadratic()
    opt, x = LBFGS(history=10), torch.zeros(20, dtype=torch.float64)
    for _ in range(60):
        x = opt.step(x, _grad(a, b, x))
    assert torch.allclose(x, torch.linalg.solve(a, b), atol=1e-6)
    assert len(opt.s) == 10  # history is capped


def test_state_round_trip_continues_bit_for_bit() -> None:
    a, b = _quadratic(seed=1)
    opt, x = LBFGS(history=4), torch.zeros(20, dtype=torch.float64)
    for _ in range(6):
        x = opt.step(x, _grad(a, b, x))
    copy = LBFGS(history=4)
    copy.load_state_dict(opt.state_dict())
    y = x.clone()
    for _ in range(5):
        x, y = opt.step(x, _grad(a, b, x)), copy.step(y, _grad(a, b, y))
    assert torch.equal(x, y)


def test_pairs_without_curvature_are_skipped() -> None:
    opt = LBFGS(history=5)
    x = torch.ones(3)
    x2 = opt.step(x, torch.ones(3))
    opt.step(x2, torch.ones(3))  # same gradient: yᵀs = 0, nothing learnt
    assert opt.s == [] and opt.n == 2


def _f(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> float:
    return float(0.5 * x @ a @ x - b @ x)


def test_a_move_that_raises_the_objective_is_rejected_and_shortened() -> None:
    """Steps far too long for the curvature (lr 8): without the objective the iterates blow up; with it every
    move that raised f is taken back (to between a tenth and half of it), the accepted values never rise, and
    it still converges."""
    a, b = _quadratic(seed=2)
    blind, x = LBFGS(history=10, lr=8.0), torch.zeros(20, dtype=torch.float64)
    for _ in range(30):
        x = blind.step(x, _grad(a, b, x))
    assert not _f(a, b, x) < 0  # diverged: worse than the start (f = 0 at x = 0)
    opt, x, accepted = LBFGS(history=10, lr=8.0), torch.zeros(20, dtype=torch.float64), []
    for _ in range(200):
        fx = _f(a, b, x)
        x = opt.step(x, _grad(a, b, x), fx)
        if opt.f_prev == fx:
            accepted.append(fx)
    assert opt.rejected > 0 and accepted == sorted(accepted, reverse=True)
    assert torch.allclose(opt.x_prev, torch.linalg.solve(a, b), atol=1e-4)


def test_a_far_overshoot_is_taken_back_in_few_tries() -> None:
    """A move that raised f 200-fold: the parabola through f, the slope and the new f puts the next try near
    the start (a tenth of the move), where halving needed 8 tries to get below f again."""
    a = torch.eye(4, dtype=torch.float64)
    b = torch.ones(4, dtype=torch.float64)
    opt = LBFGS(history=5, lr=1.0)
    x0 = torch.zeros(4, dtype=torch.float64)
    opt.step(x0, _grad(a, b, x0), _f(a, b, x0))
    tries, x = 0, x0 + 400.0 * b  # far past the minimum at b along the descent direction
    while True:
        fx = _f(a, b, x)
        if fx <= _f(a, b, x0):
            break
        x, tries = opt.step(x, _grad(a, b, x), fx), tries + 1
    assert 0 < tries <= 3 and opt.rejected == tries
