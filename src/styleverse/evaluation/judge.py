"""The universe judge: the paper's classifier (section 3.1) asked whether a result looks like its universe.

The paper trains a "which universe is this frame from?" network only to fine-tune the features style
transfer uses. Turned around, the same network is a judge: a result meant to look like Gwen's universe
should be classified as Gwen's. :class:`UniverseJudge` gives, for each image, the softmax probability of
every universe, the probability of the intended one and the universe it looks most like. Images are seen as
the classifier saw its validation frames (:func:`styleverse.classifier.data.eval_view`).

Which universe was intended comes from ``--universe``, else from what the result records: the label of the
style bank it was made with (``styles bank --label``), a bank file named after a universe
(``gwen.style.safetensors``), a fast network's universe, or style images that all lie in a folder named
after one (``frames/gwen/``) — always one of the classifier's class names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from styleverse.classifier.data import eval_view
from styleverse.classifier.metrics import trust_warnings
from styleverse.classifier.model import Checkpoint
from styleverse.classifier.predict import forward_batch, open_checkpoint
from styleverse.errors import ConfigError, InputError


@dataclass(frozen=True)
class Verdict:
    """The judge's view of one result: every universe's probability, the intended universe (None when
    unknown) with its probability, and the most likely universe. For a video, the mean over its frames."""

    probabilities: dict[str, float]
    intended: str | None
    intended_probability: float | None
    top: str
    top_probability: float
    trusted: bool = True  # False: the classifier's own validation fails the trust rule, so no verdict
    problems: tuple[str, ...] = ()  # why it is not trusted
    validation: dict[str, float | None] | None = None  # its recorded accuracy, balanced accuracy, ECE, T


class UniverseJudge:
    """A loaded classifier checkpoint that scores images (PIL RGB) by universe."""

    def __init__(self, checkpoint: str | os.PathLike[str] | Checkpoint, device: str = "auto", precision: str = "fp32"):
        self.checkpoint, self.device, self.precision, self.size = open_checkpoint(checkpoint, device, precision)
        self.model = self.checkpoint.model
        recorded = self.checkpoint.config.get("metrics")
        self.problems = trust_warnings(recorded if isinstance(recorded, dict) else None)
        keys = ("accuracy", "balanced_accuracy", "ece", "temperature", "ece_scaled")
        self.validation = {k: _num(recorded.get(f"val_{k}")) for k in keys} if isinstance(recorded, dict) else None
        self.temperature = self.checkpoint.temperature

    @property
    def universes(self) -> list[str]:
        return self.checkpoint.class_names

    def check_universe(self, name: str | None, where: str = "--universe") -> str | None:
        """``name`` if the classifier knows it (None passes); else a one-line :class:`ConfigError`."""
        if name is not None and name not in self.universes:
            raise ConfigError(
                f"{where} {name}: the classifier knows the universes {', '.join(self.universes)}; choose one of them"
            )
        return name

    @torch.inference_mode()
    def probabilities(self, images: Sequence[Image.Image], batch_size: int = 16) -> torch.Tensor:
        """Softmax probabilities (N, universes), float32 on CPU, of the logits divided by the checkpoint's
        temperature (:attr:`~styleverse.classifier.model.Checkpoint.temperature`)."""
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.stack([eval_view(im, self.size) for im in images[i : i + batch_size]])
            logits = forward_batch(self.model, x, self.device, self.precision) / self.temperature
            out.append(logits.softmax(dim=1).cpu())
        return torch.cat(out) if out else torch.zeros(0, len(self.universes))

    def verdict(self, images: Sequence[Image.Image], intended: str | None) -> Verdict:
        """The mean probabilities over ``images`` (one picture, or a video's sampled frames) as a verdict."""
        if not images:
            raise InputError("nothing to judge: no images")
        p = self.probabilities(images).double().mean(0)
        names = self.universes
        probs = {n: float(v) for n, v in zip(names, p, strict=True)}
        k = int(p.argmax())
        problems = tuple(self.problems or ())
        return Verdict(
            probs, intended, probs[intended] if intended else None, names[k], float(p[k]), not problems, problems,
            self.validation,
        )  # fmt: skip


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def intended_universe(
    known: Sequence[str],
    bank_labels: Iterable[str | None] = (),
    bank_paths: Iterable[str | os.PathLike[str]] = (),
    style_paths: Iterable[str | os.PathLike[str]] = (),
    fast_universe: str | None = None,
) -> str | None:
    """The universe a result was meant to have, from what it records (see the module doc), among the
    classifier's ``known`` universes; None when the records name none or disagree."""
    candidates: list[set[str]] = [
        {x for x in bank_labels if x},
        {Path(p).name.split(".")[0] for p in bank_paths},  # gwen.style.safetensors -> gwen
        {fast_universe} if fast_universe else set(),
        {Path(p).parent.name for p in style_paths},
    ]
    for found in candidates:
        hits = found & set(known)
        if len(hits) == 1 and len(found) == 1:
            return hits.pop()
    return None
