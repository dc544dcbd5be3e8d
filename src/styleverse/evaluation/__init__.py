"""How good a result is, in numbers: style distance to the target (Gram, per layer and overall, also relative
to the content photo's), content fidelity (content loss, SSIM), the universe classifier as a judge, the
temporal warping error and flicker of videos, and cost; reports and pictures (``styleverse evaluate``), and
sweeps that run a small grid of methods and settings first (``evaluate --sweep``)."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.evaluation.evaluate import EvaluateSettings
    from styleverse.evaluation.sweep import SweepSettings, run_sweep
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
