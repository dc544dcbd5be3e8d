"""Writing ONNX files: a traced module with styleverse's metadata, written atomically. Shared by the fast
network's and the AdaIN decoder's ``export`` commands; onnx and onnxruntime are the optional extra
``styleverse[onnx]``."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from styleverse.errors import ConfigError
from styleverse.io.images import write_bytes_atomic

OPSET = 17
INSTALL = "install the optional extra: pip install 'styleverse[onnx]' (onnx and onnxruntime)"


def write_onnx(
    module: nn.Module, args: tuple[torch.Tensor, ...], path: str | os.PathLike[str], inputs: list[str],
    axes: dict[str, dict[int, str]], meta: dict[str, str], opset: int = OPSET,
) -> Path:  # fmt: skip
    """``module`` traced with ``args`` by the TorchScript-based exporter (``dynamo=False``, which needs only
    the ``onnx`` package), its one output named after the last key of ``axes``, written atomically to
    ``path`` with ``meta`` as its metadata (the ``styleverse_kind`` and what a runtime needs to feed it)."""
    try:
        import onnx
    except ImportError:
        raise ConfigError(f"ONNX export needs the onnx package; {INSTALL}") from None
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's constant-folding notes are not the user's concern
        torch.onnx.export(
            module.eval(), args, buf, dynamo=False,  # type: ignore[arg-type]  # a file object works; the stubs say path
            opset_version=opset, input_names=inputs, output_names=[list(axes)[-1]], dynamic_axes=axes,
        )  # fmt: skip
    proto = onnx.load_from_string(buf.getvalue())
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    write_bytes_atomic(Path(path), proto.SerializeToString())
    return Path(path)
