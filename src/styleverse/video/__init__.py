"""Video with temporal coherence (Ruder et al. 2016): DIS optical flow on the input frames, the previous
output warped into each frame with a reliable-flow mask, a frame loop taking any frame stylizer (the Gatys
optimisation with a temporal loss, or a feed-forward network with flow-guided blending), the temporal
warping error of Lai et al. 2018, and the resumable ``styleverse video`` job."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.video.config import VideoConfig, VideoJob
    from styleverse.video.flow import DISFlow
    from styleverse.video.job import run_video
    from styleverse.video.loop import FrameLoop, FrameStylizer
    from styleverse.video.metrics import warping_error
    from styleverse.video.sidecar import VideoSidecar
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
