"""The loss curves of ``gan train``: every term of the generator, the discriminator's loss, and beneath them
the discriminator's accuracy on frames, photos and stylised photos with its running success (the gate)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

TERMS = (
    ("style", "tab:red", "adversarial (generator)"),
    ("content", "tab:blue", "style-aware content"),
    ("transformed", "tab:green", "transformed image"),
    ("discriminator", "0.3", "discriminator"),
)
ACCURACIES = (
    ("acc_real", "tab:purple", "on frames"),
    ("acc_photo", "tab:olive", "on photos"),
    ("acc_fake", "tab:orange", "on stylised photos"),
    ("success", "k", "running success (gate)"),
)


def plot_gan_history(history: Sequence[dict[str, float]], path: str | os.PathLike[str], title: str = "") -> Path:
    """Two panels over steps: weighted losses (log scale; each is plotted on the steps it was computed) and
    discriminator accuracies (0..1)."""
    from styleverse.plots import save_figure, subplots

    fig, (top, bottom) = subplots(2, 1, figsize=(7, 6), sharex=True)
    steps = [h["step"] for h in history]
    for key, colour, label in TERMS:
        vals = [h.get(key, 0.0) for h in history]
        if any(v > 0 for v in vals):
            top.plot(steps, [v if v > 0 else float("nan") for v in vals], label=label, color=colour, lw=1)
    top.set_yscale("log")
    top.set_ylabel("weighted loss")
    top.set_title(title or "gan train")
    top.grid(True, which="both", alpha=0.3)
    top.legend(fontsize=8)
    for key, colour, label in ACCURACIES:
        bottom.plot(steps, [h.get(key, float("nan")) for h in history], label=label, color=colour, lw=1)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_xlabel("step")
    bottom.set_ylabel("discriminator accuracy")
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize=8)
    return save_figure(fig, path)
