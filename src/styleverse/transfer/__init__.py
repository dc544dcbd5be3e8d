"""Gatys style transfer: the configuration and events, the optimisation loop (L-BFGS or Adam), and the whole
stylise job that the CLI, the app, the video loop and evaluate call."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "config": "TransferConfig TransferResult StepEvent ScaleEvent SnapshotEvent",
        "optimize": "StyleTransfer stylize",
        "job": "StylizeJob StylizeOutcome run_stylize",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
