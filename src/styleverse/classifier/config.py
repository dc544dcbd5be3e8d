"""The classifier's training settings (one place for their defaults, read by the CLI) and the learning-rate
rule that depends on how training starts (the paper's 1e-5 for a trained start, measured values from scratch)."""

from __future__ import annotations

import logging
import math
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any

from styleverse.classifier.model import DEFAULT_HIDDEN, TRAIN_LAYER_CHOICES
from styleverse.devices import PRECISIONS
from styleverse.io.state import fingerprint as plain_fingerprint
from styleverse.io.state import not_fingerprinted
from styleverse.training.settings import Check, RunSettings, refuse_first, resume_or_overwrite

log = logging.getLogger("styleverse")
LR_PAPER = 1e-5  # the paper's Adam learning rate, for a trained start (ImageNet or a checkpoint)
LR_SCRATCH = 1e-4  # from scratch at full width (narrower networks: LR_SCRATCH / width); measured, see default_lr


@dataclass(frozen=True)
class TrainConfig(RunSettings):
    """Settings of one training run. ``batch_size`` is per process (global batch = x world size).
    ``lr=None`` takes :meth:`default_lr` for ``init`` (the resolved value is what the run records).
    ``seed`` seeds the initial weights, the split, the sampling and the augmentation."""

    dataset: str = field(metadata={"fingerprint": False})
    out: str = field(metadata={"fingerprint": False})
    epochs: int = not_fingerprinted(10)
    batch_size: int = 16
    lr: float | None = None
    init: str = "imagenet"  # imagenet | scratch | PATH (VGG state dict or classifier checkpoint)
    train_layers: str = "all"
    arch: str = "vgg19"
    width: float = 1.0
    size: int = 224
    val_fraction: float = 0.2
    dropout: float = 0.5
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    workers: int = not_fingerprinted(2)
    checkpoint_every: int = not_fingerprinted(0)  # also save resume state every N steps (0: at epoch ends only)
    _: KW_ONLY
    precision: str = not_fingerprinted("auto")  # a resume may change it (not so a network trainer's)

    def __post_init__(self) -> None:
        if self.lr is None:
            object.__setattr__(self, "lr", self.default_lr(self.init, self.width))

    @property
    def adam_lr(self) -> float:
        """The learning rate in use: ``lr``, resolved to the default for ``init`` when it was None."""
        return self.lr if self.lr is not None else self.default_lr(self.init, self.width)

    @staticmethod
    def default_lr(init: str, width: float = 1.0) -> float:
        """The Adam learning rate a run starting from ``init`` gets unless ``--lr`` says otherwise.

        A trained start (``imagenet`` or a checkpoint path) gets the paper's 1e-5: fine-tuning wants small
        steps. ``scratch`` gets :data:`LR_SCRATCH` (1e-4) at full width and ``LR_SCRATCH / width`` for
        narrower networks. Measured with ``benchmarks/bench_classifier_lr.py`` (three synthetic universes as
        the tests draw them, VGG16 from scratch, 32 px, batch 8, 6 epochs, val balanced accuracy):

        * full width, seeds 0-1: 1e-5 and 1e-4 reached 1.0; 3e-4 0.67; 1e-3 0.67 at best, 0.50 at the end;
        * width 1/8, seeds 0-2: 1e-5, 3e-5 and 1e-4 stayed at chance (0.33), 3e-4 reached 0.67, 1e-3 0.89
          (0.81 at the end), 3e-3 0.78.

        So the best rate grows as the network narrows (as expected for Adam, whose step per weight does not
        shrink with width), and 1e-4 / width fits both. This synthetic set is too easy to tell 1e-5 from 1e-4
        at full width, and the texture-only set too hard for 6 epochs (both at chance); on real clips issue
        14 measured it: from scratch 1e-5 gave 0.69 val accuracy after 6 epochs, 1e-4 gave 0.85 after 4."""
        return LR_SCRATCH / width if init == "scratch" else LR_PAPER

    def validate(self) -> None:
        lr = self.lr if self.lr is not None else math.nan
        layers = ", ".join(TRAIN_LAYER_CHOICES)
        checks: list[Check] = [
            (self.epochs >= 1, "epochs must be >= 1", "epochs"),
            (self.batch_size >= 1, "batch_size must be >= 1", "batch_size"),
            (lr > 0 and math.isfinite(lr), "lr must be a positive number", "lr"),
            (self.train_layers in TRAIN_LAYER_CHOICES, f"train_layers must be one of {layers}", "train_layers"),
            (self.arch in ("vgg19", "vgg16"), "arch must be vgg19 or vgg16", "arch"),
            (0 < self.width <= 4 and math.isfinite(self.width), "width must be in (0, 4]", "width"),
            (32 <= self.size <= 2048, "size must be between 32 and 2048 pixels", "size"),
            (0 < self.val_fraction < 1, "val_fraction must be between 0 and 1 (exclusive)", "val_fraction"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)", "dropout"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}", "precision"),
            (
                self.workers >= 0 and self.checkpoint_every >= 0,
                "workers and checkpoint_every must be >= 0",
                ("workers", "checkpoint_every"),
            ),
            resume_or_overwrite(self),
            (bool(self.init), "init must be imagenet, scratch or a path", "init"),
            (bool(self.hidden) and min(self.hidden) >= 1, "hidden layer sizes must be >= 1", "hidden"),
        ]
        refuse_first(checks)

    def fingerprint(self) -> dict[str, Any]:
        """Settings that must be equal for ``--resume`` to continue the same run exactly (besides world size)."""
        return plain_fingerprint(self)


def config_default(name: str) -> Any:
    """The default of a :class:`TrainConfig` field, for the CLI (a default lives in one place)."""
    return next(f.default for f in fields(TrainConfig) if f.name == name)


def lr_advice(init: str, lr: float, width: float = 1.0) -> str:
    """What to try when a run learned little, following the learning-rate measurement (see
    :meth:`TrainConfig.default_lr`): from scratch a too-small rate is the usual cause, not a too-large one."""
    default = TrainConfig.default_lr(init, width)
    where = f"--init {init}" + (f" at --width {width:g}" if width != 1 else "")
    if lr < default / 3:
        return f"--lr {lr:g} is well below the default {default:g} for {where}: raise --lr (or train longer)"
    if lr > default * 3:
        return f"--lr {lr:g} is well above the default {default:g} for {where}: lower --lr"
    if init == "scratch":
        return "train longer, check with 'frames stats' that the classes look different, or start from --init imagenet"
    return "train longer, or check with 'frames stats' that the classes look different"
