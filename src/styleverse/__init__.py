"""styleverse: turn photos and video into the look of an animated universe.

Public API (see README): :func:`stylize`, :class:`StyleContentModel`, :class:`StyleTransfer`,
:func:`load_backbone`.
"""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports
from styleverse.versions import __version__

if TYPE_CHECKING:
    from styleverse.nn.features import StyleContentModel
    from styleverse.nn.vgg import load_backbone
    from styleverse.transfer.config import TransferConfig
    from styleverse.transfer.optimize import StyleTransfer, stylize
else:
    _names, __getattr__, __dir__ = lazy_exports(__name__, __file__)
    __all__ = [*_names, "__version__"]
