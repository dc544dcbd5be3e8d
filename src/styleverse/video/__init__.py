"""Video with temporal coherence (Ruder et al. 2016): DIS optical flow on the input frames, the previous
output warped into each frame with a reliable-flow mask, a frame loop taking any frame stylizer (the Gatys
optimisation with a temporal loss, or a feed-forward network with flow-guided blending), the temporal
warping error of Lai et al. 2018, and the resumable ``styleverse video`` job."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "config": "VideoJob VideoConfig",
        "job": "run_video",
        "loop": "FrameLoop FrameStylizer",
        "metrics": "warping_error",
        "flow": "DISFlow",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
