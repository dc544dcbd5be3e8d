"""Versions of styleverse and the libraries that shape its results, recorded in every sidecar and bank."""

from __future__ import annotations

import platform

__version__ = "0.1.0"  # the package's version (pyproject.toml states it too); re-exported by ``styleverse``


def versions() -> dict[str, str]:
    """styleverse, python, torch, numpy and pillow versions as strings."""
    import numpy
    import PIL
    import torch

    return {
        "styleverse": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
