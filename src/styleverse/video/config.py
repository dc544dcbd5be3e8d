"""What a video job is: its settings (:class:`VideoConfig`, :class:`VideoJob`) and the events it reports.

They live apart from :mod:`styleverse.video.job` (which runs a job) because the outputs and the report of a
job (:mod:`styleverse.video.output`, :mod:`styleverse.video.report`) read the job too, and the job module
uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from styleverse.errors import ConfigError
from styleverse.io.state import not_fingerprinted
from styleverse.io.video_writer import CHROMA, DEFAULT_CRF
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.config import Event as TransferEvent
from styleverse.transfer.config import TransferConfig, WarmStart, parse_warm
from styleverse.video.flow import DEFAULT_PRESET, PRESETS

MAX_PIXELS = 3840 * 2160  # frames larger than 4K UHD are refused unless --size shrinks them
MAX_PASSES = 100  # far above what anyone measured here; a bound against a typo


@dataclass(frozen=True)
class VideoConfig:
    """How a clip is stylised and encoded (the style itself is the job's :class:`StyleSpec`).

    ``temporal_weight`` 0.02 was chosen on a random VGG19 (no ImageNet weights here), 96x54 pan clip with
    an occluder, 30 steps per frame either way: 0.002 / 0.01 / 0.03 cut the warping error 3.2x / 5.7x / 11x
    against independent frames with the style loss 14% lower / 9% lower / 1% higher. The unit (frame 1's
    loss, see :mod:`styleverse.video.gatys`) is meant to carry that over to other networks.

    ``passes`` 4 was chosen with ``benchmarks/bench_video.py`` (random VGG19, 128x72, 8 frames, 20 steps for
    frame 1 and 6 per frame and pass): per-frame style loss over independent frames' +192% in one pass,
    +54% in 2, +7.2% in 4 (the target is within 25%), the encoded file's warping error 2.3x / 2.5x / 2.5x
    lower than theirs (the target: at least 2x). One pass with the same 24 steps per frame: +25%, 3.2x.
    Since warm frames keep what the flow cannot carry (:func:`styleverse.video.warp.fresh_start`): +47% /
    +10% / -9%, warping error 1.11x / 1.26x / 1.31x lower over the flow's mask and 2.15x / 2.56x / 2.86x
    away from the flat disc the flow gets wrong (the earlier numbers held a ghost of it: away from the disc
    they were 0.75x / 1.02x / 1.41x).
    """

    temporal_weight: float = 0.02  # in units of frame 1's loss per 8-bit level² (see video.gatys); 0: independent
    steps_first: int = 300  # optimiser steps for frame 1 (and every frame when temporal_weight is 0)
    steps: int = 100  # steps for each later frame, which starts from the warped previous output
    passes: int = 4  # passes over each shot, forward and backward in turn (Ruder's multi-pass; see video.gatys)
    start: float = 0.0  # seconds into the input
    end: float | None = None  # seconds into the input (exclusive); None: to the end
    max_frames: int | None = None
    size: int | None = None  # longest side of the frames stylised and written; None: the input's own
    crf: int = DEFAULT_CRF  # H.264 quality (0 lossless .. 51 worst)
    chroma: str = "420"  # H.264 chroma subsampling: 420 (plays everywhere) or 444 (keeps per-pixel colour)
    compare: bool = False  # also write input | output side by side
    flow: str = DEFAULT_PRESET  # DIS preset
    blend: float = 0.5  # flow-guided blending of a feed-forward stylizer's frames (see loop.FlowBlended)
    max_pixels: int = MAX_PIXELS
    chunk_frames: int | None = None  # split shots longer than this into chunks (processes share them); None: never
    overlap: int = 4  # frames each chunk after a shot's first starts early, blended with the chunk before

    def passes_run(self, optimised: bool = True) -> int:
        """The passes a job makes: ``passes`` for the Gatys optimisation with a temporal loss; one for
        independent frames (``temporal_weight`` 0, where more passes would only add steps) and for a
        feed-forward stylizer (``optimised`` False), which has nothing to re-optimise."""
        return self.passes if optimised and self.temporal_weight > 0 else 1

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the setting that is out of range."""
        if not (self.temporal_weight >= 0 and math.isfinite(self.temporal_weight)):
            raise ConfigError("temporal_weight must be a finite number >= 0", setting="temporal_weight")
        if self.steps_first < 1 or self.steps < 1:
            raise ConfigError("steps_first and steps must be at least 1", setting=("steps_first", "steps"))
        if not 1 <= self.passes <= MAX_PASSES:
            raise ConfigError(f"passes must be between 1 and {MAX_PASSES}", setting="passes")
        if not (self.start >= 0 and math.isfinite(self.start)):
            raise ConfigError("start must be a time >= 0", setting="start")
        if self.end is not None and not self.end > self.start:
            msg = f"end ({self.end:g} s) must come after start ({self.start:g} s)"
            raise ConfigError(msg, setting=("end", "start"))
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError("max_frames must be at least 1", setting="max_frames")
        if self.size is not None and not 16 <= self.size <= 16384:
            raise ConfigError("size must be between 16 and 16384 pixels", setting="size")
        if not 0 <= self.crf <= 51:
            raise ConfigError("crf must be between 0 (lossless) and 51", setting="crf")
        if self.chroma not in CHROMA:
            raise ConfigError(f"chroma must be one of {', '.join(CHROMA)}", setting="chroma")
        if self.flow not in PRESETS:
            raise ConfigError(f"flow preset must be one of {', '.join(PRESETS)}")
        if self.chunk_frames is not None and not 0 <= self.overlap < self.chunk_frames:
            raise ConfigError(
                "overlap must be at least 0 and less than chunk_frames", setting=("overlap", "chunk_frames")
            )
        if self.overlap < 0:
            raise ConfigError("overlap must be at least 0", setting="overlap")
        if not 0 <= self.blend < 1:
            raise ConfigError("blend must be at least 0 and less than 1", setting="blend")


_D = TransferConfig()


@dataclass(frozen=True)
class GatysSettings:
    """How each frame is optimised (Gatys et al.): optimiser, learning rate (None: the optimiser's default),
    loss weights, seed, precision and device. Steps per frame and the frame size are the video's own."""

    optimizer: str = _D.optimizer
    lr: float | None = _D.lr
    content_weight: float = _D.content_weight
    style_weight: float = _D.style_weight
    tv_weight: float = _D.tv_weight
    seed: int = _D.seed
    precision: str = _D.precision
    device: str = _D.device

    def config(self) -> TransferConfig:
        """These settings as the optimiser takes them (its steps and sizes are set per frame)."""
        return TransferConfig(**asdict(self))


@dataclass(frozen=True)
class VideoJob:
    """One video job. ``style`` says what look to give (style images or banks, weights, scale, colour
    preservation), ``features`` under which network (None: the first bank's, else ImageNet VGG), ``gatys``
    how each frame is optimised, ``video`` which frames, how many steps each, and how they are encoded.
    ``png_sequence`` (or an ``output`` that is an existing folder) writes PNG frames into the folder
    ``output`` instead of a video file. ``init`` names a network whose stylisation of each frame is where the
    optimisation starts (frame 1, and the pixels the flow cannot carry; ``warm`` is that network opened, see
    :mod:`styleverse.video.gatys`). A feed-forward stylizer passed to :func:`run_video` uses none of
    ``style``, ``features``, ``gatys`` and ``init``."""

    input: Path
    output: Path
    style: StyleSpec = field(default_factory=StyleSpec)
    video: VideoConfig = field(default_factory=VideoConfig)
    features: FeatureSpec = field(default_factory=FeatureSpec)
    gatys: GatysSettings = field(default_factory=GatysSettings)
    plot: Path | None = not_fingerprinted(None)
    overwrite: bool = not_fingerprinted(False)
    resume: bool = not_fingerprinted(False)
    png_sequence: bool = False
    init: str = "content"  # content | fast:MODEL[:UNIVERSE] | adain:DECODER: where each frame's fresh pixels start
    warm: WarmStart | None = field(default=None, compare=False, metadata={"fingerprint": False})  # what init names

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a setting out of range (:meth:`VideoConfig.validate`) or an ``init``
        that is neither ``content`` nor a network opened into ``warm``."""
        self.video.validate()
        warm = parse_warm(self.init)
        if warm is None and self.init != "content":
            msg = f"init {self.init}: a video starts from content, fast:MODEL[:UNIVERSE] or adain:DECODER"
            raise ConfigError(msg, setting="init")
        if warm is not None and self.warm is None:
            msg = f"init {self.init}: open the model with styleverse.fast.warm.warm_stylizer"
            raise ConfigError(msg, setting="init")

    def init_files(self) -> list[Path]:
        """The network file ``init`` names (an input no output may replace), if any."""
        warm = parse_warm(self.init)
        return [Path(warm[1])] if warm else []

    def settings(self) -> dict[str, Any]:
        """The job as plain JSON values (sidecar, fingerprints)."""
        return {
            "input": str(self.input),
            "output": str(self.output),
            "style": {**self.style.settings(), **self.features.settings()},
            "gatys": asdict(self.gatys),
            "video": asdict(self.video),
            "plot": str(self.plot) if self.plot else None,
            "png_sequence": self.png_sequence or self.output.is_dir(),
            "init": self.init,
        }


# --- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoStarted:
    """The input is open: ``total`` frame passes expected (frames times passes; None: unknown), ``done``
    already finished earlier."""

    total: int | None
    done: int
    size: tuple[int, int]


@dataclass(frozen=True)
class FrameDone:
    """Frame ``index`` is finished in pass ``pass_index`` (0-based) of ``passes``; ``done`` and ``total``
    count frame passes (frames times passes), ``seconds_per_frame`` is this session's mean per frame pass,
    ``eta`` the seconds left."""

    index: int
    done: int
    total: int | None
    seconds: float
    seconds_per_frame: float
    eta: float | None
    losses: dict[str, float]
    warp_error: float | None
    pass_index: int = 0
    passes: int = 1


@dataclass(frozen=True)
class StageStarted:
    """A stage after the frames: ``encode``, ``compare``, ``plot``, ``measure``."""

    name: str


Event = VideoStarted | FrameDone | StageStarted | TransferEvent
Callback = Callable[[Event], None]
