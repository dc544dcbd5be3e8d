"""Gatys style transfer: the configuration and events, the optimisation loop (L-BFGS or Adam), and the whole
stylise job that the CLI, the app, the video loop and evaluate call."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.transfer.config import ScaleEvent, SnapshotEvent, StepEvent, TransferConfig, TransferResult
    from styleverse.transfer.job import StylizeJob, StylizeOutcome, run_stylize
    from styleverse.transfer.optimize import StyleTransfer, stylize
    from styleverse.transfer.sidecar import StylizeSidecar
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
