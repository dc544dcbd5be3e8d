"""The paper's data half: frames harvested from video per universe, de-duplicated, balanced and split without
leaks, with statistics and contact sheets."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.frames.augment import AugmentConfig
    from styleverse.frames.balance import BalanceConfig
    from styleverse.frames.harvest import HarvestConfig
    from styleverse.frames.manifest import Row, read_manifest, write_manifest
    from styleverse.frames.segments import clip_jobs, read_segments
    from styleverse.frames.stats import write_stats
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
