"""How good a result is, in numbers: style distance to the target (Gram, per layer and overall, also relative
to the content photo's), content fidelity (content loss, SSIM), the universe classifier as a judge, the
temporal warping error and flicker of videos, and cost; reports and pictures (``styleverse evaluate``), and
sweeps that run a small grid of methods and settings first (``evaluate --sweep``)."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "evaluate": "EvaluateSettings evaluate",
        "sweep": "SweepSettings run_sweep",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
