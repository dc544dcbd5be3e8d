"""The paper's data half: frames harvested from video per universe, de-duplicated, balanced and split without
leaks, with statistics and contact sheets."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "harvest": "HarvestConfig harvest",
        "balance": "BalanceConfig balance",
        "manifest": "Row read_manifest write_manifest",
        "segments": "read_segments clip_jobs",
        "stats": "write_stats",
        "augment": "AugmentConfig augment",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
