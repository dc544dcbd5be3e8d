"""The losses (known values), the discriminator-success gate and its optimizer, and the training-health
warnings."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from styleverse.fast.gan.gate import DISCRIMINATOR, GENERATOR, AlternatingAdam, Gate
from styleverse.fast.gan.health import Health
from styleverse.fast.gan.losses import accuracy, adversarial_loss, content_loss, smooth, transformed_loss


def test_content_loss_is_the_latent_l1_distance_over_its_size() -> None:
    a = torch.zeros(1, 4, 2, 2)
    b = a.clone()
    b[0, 0, 0, 0] = 8.0
    assert float(content_loss(a, b)) == pytest.approx(8.0 / 16)
    assert float(content_loss(a, a)) == 0.0


def test_transformed_loss_ignores_fine_texture_but_sees_colour() -> None:
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    checker = ((xx + yy) % 2).float().expand(1, 3, 40, 40)  # a 1-px checkerboard averages to grey
    grey = torch.full((1, 3, 40, 40), 0.5)
    assert float(transformed_loss(grey, checker, pool=10)) < 2e-3
    assert float(transformed_loss(grey, grey + 0.25)) == pytest.approx(0.25, rel=1e-5)  # (2 * 0.25)² on [-1, 1]
    assert smooth(torch.rand(2, 3, 17, 23), 10).shape == (2, 3, 17, 23)


def test_adversarial_loss_sums_scales_and_accuracy_counts_patches() -> None:
    zero = [torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)]
    assert float(adversarial_loss(zero, True)) == pytest.approx(2 * math.log(2))
    sure = [torch.full((1, 1, 4, 4), 20.0)]
    assert float(adversarial_loss(sure, True)) < 1e-6 and float(adversarial_loss(sure, False)) > 19
    half = torch.tensor([[[[5.0, -5.0], [5.0, 5.0]]]])
    assert float(accuracy([half], True)) == 0.75 and float(accuracy([half], False)) == 0.25


def test_gate_alternates_by_running_success_and_forgets_an_unfinished_step() -> None:
    gate = Gate(0.8)
    assert gate.turn(0) == GENERATOR  # it starts at the win rate
    gate.observe(0, GENERATOR, discriminator_acc=0.9, generator_acc=0.5)  # the generator fooled half
    assert gate.turn(1) == DISCRIMINATOR and gate.success == pytest.approx(0.8 * 0.95 + 0.05 * 0.5)
    gate.observe(1, DISCRIMINATOR, discriminator_acc=1.0, generator_acc=0.0)
    saved = gate.state()  # step 1 is not done yet: the state is that after step 0
    assert saved == {"success": pytest.approx(0.785), "done": 1}
    gate.settle(2)
    assert gate.state()["success"] == pytest.approx(0.785 * 0.95 + 0.05) and gate.state()["done"] == 2
    again = Gate(0.8)
    again.load(saved)
    assert again.turn(1) == DISCRIMINATOR and again.success == pytest.approx(0.785)


def test_alternating_adam_steps_only_the_active_group_even_given_zero_gradients() -> None:
    g, d = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    opt = AlternatingAdam(g.parameters(), d.parameters(), lr=0.1)
    before = [p.detach().clone() for p in (*g.parameters(), *d.parameters())]
    (g(torch.ones(1, 2)).sum() + d(torch.ones(1, 2)).sum()).backward()
    opt.active = GENERATOR
    opt.step()
    after = list((*g.parameters(), *d.parameters()))
    assert not torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])
    assert all(p.grad is None for p in d.parameters())
    for p in g.parameters():  # zeros, as torchrun's averaging gives a group that had no gradient
        p.grad = torch.zeros_like(p)
    for p in d.parameters():
        p.grad = torch.ones_like(p)
    moved = [p.detach().clone() for p in g.parameters()]
    opt.active = DISCRIMINATOR
    opt.step()
    assert all(torch.equal(p, m) for p, m in zip(g.parameters(), moved, strict=True)), "no momentum step"
    assert not torch.equal(next(iter(d.parameters())), before[2])


def test_health_warns_once_per_stretch_of_each_collapse(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("styleverse")  # a CLI test may have stopped it propagating to the root logger
    log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="styleverse")
    try:
        _check_health()
    finally:
        log.removeHandler(caplog.handler)
    assert "discriminator has been right" in caplog.text


def _check_health() -> None:
    health = Health(window=5)
    photos = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    varied = [health.update(s, {"real": 1.0, "fake": 1.0}, photos, photos.flip(0)) for s in range(1, 8)]
    assert [len(w) for w in varied] == [0, 0, 0, 0, 1, 0, 0] and "right on more than 99%" in varied[4][0]
    health.update(8, {"real": 0.6, "fake": 0.9}, photos, photos)  # stretch broken: a new one may warn again
    constant = torch.full((2, 3, 16, 16), 0.3)
    found = [health.update(s, {"real": 0.5, "fake": 0.52}, photos, constant) for s in range(9, 12)]
    assert any("barely changed" in m for w in found for m in w)
    assert health.report()["warnings"][0]["step"] == 5
    guess = [health.update(s, {"real": 0.5, "fake": 0.5}, photos, photos) for s in range(12, 16)]
    assert any("guessing" in m for w in guess for m in w)
    restored = Health(5)
    restored.load(health.state())
    assert restored.report()["warnings"] == health.report()["warnings"]
