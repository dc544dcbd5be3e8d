"""Settings, progress events and the result of a style-transfer run (the loop lives in ``optimize``).

The defaults were chosen from measurements (``benchmarks/bench_transfer.py``) with a seeded *random* VGG19 —
ImageNet weights could not be had where they were chosen — on a 2-core CPU with native bf16 (AVX512-BF16):

- ``scales`` auto: coarse-to-fine from 256 px (512 -> 256, 512). Coarse steps are cheap (a quarter of the
  pixels) but upsampling undoes much of them, so coarse scales stop early (see ``optimize``).
- ``tol=8e-3`` over ``tol_window=10`` steps, ``steps=200`` as the cap per scale: the bar is the saved-image
  loss of 300 single-scale float32 L-BFGS steps at 512 px (878 s). On an idle machine the defaults stopped
  after 51 + 75 steps in 119-121 s (two runs) at +4.3% over the bar; ``tol=5e-3`` took 64 + 98 steps, 153 s, +2.7%;
  ``1e-2`` took 104 s, +5.1%. Run on, bf16 flattens out just above the bar (+1.3% after 292 steps); a
  float32 pass at the end reaches it, at 502 s (``bench_transfer.py --variants``). Coarse scales stopping at
  8x tol instead of 4x ran 39 instead of 51 coarse steps but ended at +4.7% in the same time.
- ``tv_weight=1e-2``: removes most per-pixel colour grain (total variation of the result 2.86x the photo's
  without TV, 2.29x with it, 256 px) for +7% style and +10% content loss; 3e-3 left the grain visible, 3e-2
  flattened the texture. TV is weighed against the style and content terms, whose scale depends on the
  network: with ImageNet weights these terms are larger, so the same weight smooths less.
- ``style_weight=1e6`` with style layers *summed* (weights used as given, see
  :func:`styleverse.nn.features.parse_layer_weights`): the calibration of the tutorial that
  :mod:`styleverse.nn.losses` cites; before, the five layer weights were normalised to sum 1, which made
  1e6 five times weaker and made adding a layer rescale the others.
- ``precision="auto"``: bf16 autocast + channels_last where the hardware runs bf16 natively, for L-BFGS too
  (its Grams, losses and first convolution stay float32); float32 elsewhere, where bf16 is emulated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from styleverse.errors import ConfigError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
WARM_INITS = ("fast", "adain")  # --init fast:MODEL[:UNIVERSE] | adain:DECODER (styleverse.fast.warm)
WarmStart = Callable[[torch.Tensor], torch.Tensor]  # content (1,3,H,W) in [0,1] -> the starting image
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
COARSEST = 256  # auto scales halve the size down to this (longest side, px)


def warm_image(warm: WarmStart, content: torch.Tensor) -> torch.Tensor:
    """Where a warm start begins: the ``warm`` network's result on ``content`` (1,3,H,W) in [0,1], float32 on
    the CPU, clamped to [0, 1], without a graph (frame 1 of a video, a photo, a frame's unreliable pixels)."""
    with torch.no_grad():
        return warm(content).detach().float().cpu().clamp(0, 1)


def parse_warm(init: str) -> tuple[str, str, str | None] | None:
    """A warm-start ``init``: ``fast:MODEL[:UNIVERSE]`` -> ("fast", MODEL, UNIVERSE or None),
    ``adain:DECODER`` -> ("adain", DECODER, None); anything else (content, noise, an image path) None. A
    MODEL whose own name holds a colon is taken whole when that file exists."""
    kind, colon, rest = init.partition(":")
    if not colon or kind not in WARM_INITS:
        return None
    if not rest:
        raise ConfigError(f"init {kind}: names no model; write {kind}:MODEL", setting="init")
    if kind == "adain" or Path(rest).exists():
        return kind, rest, None
    model, colon, universe = rest.rpartition(":")
    return (kind, model, universe) if colon and model and universe else (kind, rest, None)


def auto_scales(size: int, coarsest: int = COARSEST) -> tuple[int, ...]:
    """Coarse-to-fine sizes ending at ``size``: halves while they stay >= ``coarsest``.

    512 -> (256, 512), 1024 -> (256, 512, 1024), 300 -> (300,). Each scale starts from the upsampled
    result of the previous one, where L-BFGS steps cost a quarter as much.
    """
    sizes = [size]
    while sizes[0] // 2 >= coarsest:
        sizes.insert(0, sizes[0] // 2)
    return tuple(sizes)


@dataclass(frozen=True)
class TransferConfig:
    """Settings of one optimisation run.

    The objective is ``content_weight·content + style_weight·style + tv_weight·tv`` (plus any extra terms
    passed to :meth:`StyleTransfer.run`); the history records each weighted term. ``scales`` empty means
    :func:`auto_scales` of ``size``; given, it overrides ``size``. ``steps`` caps the steps *per scale*;
    a scale stops earlier when its best loss improved by less than ``tol`` (relative) over the last
    ``tol_window`` steps (``tol=0`` runs every step). ``polish``: one more pass at the full size in float32
    after the last scale (bf16 flattens out just above the loss float32 reaches, see the module doc).
    :data:`QUALITY` names three settings of these fields.
    """

    steps: int = 200
    optimizer: str = "lbfgs"
    lr: float | None = None
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 1e-2
    size: int = 512
    scales: tuple[int, ...] = ()
    init: str = "content"
    seed: int = 0
    save_every: int = 0
    precision: str = "auto"
    device: str = "auto"
    tol: float = 8e-3
    tol_window: int = 10
    polish: bool = False

    @property
    def sizes(self) -> tuple[int, ...]:
        """The sizes actually run (longest side of each scale, coarse to fine; ``polish`` repeats the last)."""
        sizes = tuple(self.scales) if self.scales else auto_scales(self.size)
        return sizes + sizes[-1:] if self.polish else sizes

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the setting that is out of range."""
        if self.steps < 1:
            raise ConfigError("steps must be at least 1", setting="steps")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}", setting="optimizer")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("lr must be a positive number", setting="lr")
        for name in ("content_weight", "style_weight", "tv_weight", "tol"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a number >= 0", setting=name)
        if any(s < 16 or s > 16384 for s in (*self.sizes, self.size)):
            raise ConfigError("sizes (size, scales) must be between 16 and 16384 pixels", setting=("size", "scales"))
        if self.save_every < 0:
            raise ConfigError("save_every must be >= 0", setting="save_every")
        if self.tol_window < 1:
            raise ConfigError("tol_window must be at least 1", setting="tol_window")

    def to_dict(self) -> dict[str, object]:
        """Every field plus the resolved ``sizes`` (for sidecars)."""
        return {**asdict(self), "sizes": list(self.sizes)}


# --quality: the fields each level sets (balanced = the defaults). Seconds at 512 px on the 2-core AVX512-BF16
# CPU, random VGG19, idle machine (bench_transfer.py --tables quality --variants fp32-polish): balanced 119-121 s
# (+4.3% over the bar of 300 float32 steps), best (the float32 polish) 502 s, reaching the bar; draft caps
# both scales at 50 steps: at most ~80 s from the per-step times (0.35 s at 256 px, 1.3 s at 512 px).
QUALITY: dict[str, dict[str, Any]] = {
    "draft": {"steps": 50, "tol": 2e-2},
    "balanced": {},
    "best": {"tol": 5e-3, "polish": True},
}
QUALITY_SECONDS = {"draft": "at most ~80 s", "balanced": "~2 min", "best": "up to ~8 min"}  # 512 px, see above


def with_quality(config: TransferConfig, quality: str, keep: Collection[str] = ()) -> TransferConfig:
    """``config`` with the fields :data:`QUALITY` sets for ``quality``, except those named in ``keep`` (set
    by the user on purpose). One-line :class:`ConfigError` for an unknown level."""
    if quality not in QUALITY:
        raise ConfigError(f"quality must be one of {', '.join(QUALITY)}, not '{quality}'", setting="quality")
    return replace(config, **{k: v for k, v in QUALITY[quality].items() if k not in keep})


@dataclass(frozen=True)
class StepEvent:
    """One optimiser step done; ``losses`` are the weighted terms at the point the step started from."""

    step: int  # 1-based, counted across scales
    total_steps: int  # the cap: steps × number of scales (a run that converges ends earlier)
    scale_index: int
    size: tuple[int, int]
    losses: dict[str, float]


@dataclass(frozen=True)
class ScaleEvent:
    """A scale (size) starts."""

    scale_index: int
    n_scales: int
    size: tuple[int, int]


@dataclass(frozen=True)
class SnapshotEvent:
    """Every ``save_every`` steps, the image a stop now would save: the best so far, 8-bit."""

    step: int
    image: torch.Tensor  # (1,3,H,W) float32 CPU, values k/255


Event = StepEvent | ScaleEvent | SnapshotEvent
Callback = Callable[[Event], None]


@dataclass
class TransferResult:
    """What a run produced.

    ``image`` is what will be saved: clamped to [0,1] and quantised to 8 bits (values k/255).
    ``final_losses`` are measured on that image in float32 — the losses of the saved file, not of the
    optimiser's iterate; ``history`` holds the iterate's losses step by step (``iterate_losses`` is its
    last row). ``state`` continues the run exactly when passed back to :meth:`StyleTransfer.run`.
    """

    image: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    precision: str = "fp32"
    device: str = "cpu"
    diverged_at: int | None = None  # step at which a loss became NaN/inf; image is the last good one
    interrupted: bool = False
    final_losses: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None  # converged | max_steps | diverged | interrupted | stopped: why the run ended
    stopped_at: int | None = None  # the global step count when the run ended
    scales: list[dict[str, Any]] = field(default_factory=list)  # per scale: size, steps, stop reason, precision
    state: dict[str, Any] | None = None

    @property
    def iterate_losses(self) -> dict[str, float]:
        """Losses of the last optimiser iterate (unquantised), as logged in the history."""
        return dict(self.history[-1]) if self.history else {}
