"""styleverse: turn photos and video into the look of an animated universe.

Public API (see README): :func:`stylize`, :class:`StyleContentModel`, :class:`StyleTransfer`,
:func:`load_backbone`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["StyleContentModel", "StyleTransfer", "TransferConfig", "__version__", "load_backbone", "stylize"]

if TYPE_CHECKING:  # pragma: no cover
    from .backbone import load_backbone
    from .features import StyleContentModel
    from .transfer import StyleTransfer, TransferConfig, stylize

_LAZY = {
    "StyleContentModel": "features",
    "StyleTransfer": "transfer",
    "TransferConfig": "transfer",
    "stylize": "transfer",
    "load_backbone": "backbone",
}


def __getattr__(name: str) -> Any:
    """Import heavy modules (torch) only when the public API is first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
