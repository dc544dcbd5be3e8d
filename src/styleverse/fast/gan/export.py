"""ONNX export of a style-aware generator, in the format of ``fast export`` (:mod:`styleverse.fast.export`).

The generator has a transform network's interface (image and universe weights in, image out), so the export
is ``fast``'s: the same graph inputs (``image``; ``weights`` and ``strength`` unless a mix is baked in), the
same metadata (``styleverse_kind = fast_onnx``), and every command and the app open the file as they open a
``fast`` export (:class:`styleverse.fast.open.OnnxKind`). Any frame size works: each upsampling of the
decoder goes to the size of its encoder stage, which the exported graph computes from the input's shape.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from styleverse.fast.gan.model import GanModel
from styleverse.io.onnx import OPSET


def export_gan(
    model: GanModel, path: str | os.PathLike[str], mix: Any = None, strength: float | None = None, opset: int = OPSET
) -> Path:
    """Write ``model``'s generator as ONNX to ``path`` (atomically); with ``mix``/``strength`` they are baked
    in, else they are inputs (see :func:`styleverse.fast.export.export_onnx`)."""
    from styleverse.fast.export import export_onnx

    return export_onnx(model, path, mix, strength, opset)  # type: ignore[arg-type]  # a GanModel reads as a FastModel
