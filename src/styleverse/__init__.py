"""styleverse: turn photos and video into the look of an animated universe.

Public API (see README): :func:`stylize`, :class:`StyleContentModel`, :class:`StyleTransfer`,
:func:`load_backbone`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from styleverse.versions import __version__

__all__ = ["StyleContentModel", "StyleTransfer", "TransferConfig", "__version__", "load_backbone", "stylize"]

if TYPE_CHECKING:  # pragma: no cover
    from styleverse.nn.features import StyleContentModel
    from styleverse.nn.vgg import load_backbone
    from styleverse.transfer.optimize import StyleTransfer, TransferConfig, stylize

_LAZY = {
    "StyleContentModel": "nn.features",
    "StyleTransfer": "transfer.optimize",
    "TransferConfig": "transfer.optimize",
    "stylize": "transfer.optimize",
    "load_backbone": "nn.vgg",
}


def __getattr__(name: str) -> Any:
    """Import heavy modules (torch) only when the public API is first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
