"""ONNX export of a transform network, and opening an exported file with onnxruntime.

The exported graph is :class:`styleverse.fast.model.Blend`: input ``image`` (N,3,H,W) float32 in [0,1] with H
and W multiples of 4 (callers pad, see :func:`styleverse.fast.model.pad_to_multiple`), output ``stylised``.
Either the universe weights and strength are graph inputs (``weights`` (S,), ``strength`` scalar) so one
file serves every universe and mix, or they are baked in as constants (``mix`` given) for runtimes that
should only feed an image. The file's metadata (``styleverse_kind = fast_onnx``, ``universes``, ``baked``,
``spec``) lets :class:`styleverse.fast.apply.OnnxStylizer` feed it correctly. onnx and onnxruntime are the
optional extra ``styleverse[onnx]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from styleverse.errors import ConfigError, InputError
from styleverse.fast.apply import check_strength
from styleverse.fast.model import Blend, FastModel, TransformNet, mix_weights
from styleverse.io.onnx import INSTALL, OPSET, write_onnx

ONNX_KIND = "fast_onnx"


class _Baked(nn.Module):
    """The blend with its weights and strength as constants: ``forward(image)``."""

    def __init__(self, net: TransformNet, weights: torch.Tensor, strength: float):
        super().__init__()
        self.blend = Blend(net)
        self.register_buffer("weights", weights)
        self.register_buffer("strength", torch.tensor(strength))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.blend(image, self.weights, self.strength)


def export_onnx(
    model: FastModel, path: str | os.PathLike[str], mix: Any = None, strength: float | None = None,
    opset: int = OPSET,
) -> Path:  # fmt: skip
    """Write ``model`` as ONNX to ``path`` (atomically); with ``mix``/``strength`` they are baked in, else
    they are inputs. Returns the path. Needs the ``onnx`` package for the metadata."""
    net = model.net.float().eval()
    names = list(model.universes)
    example = torch.rand(1, 3, 32, 32)
    axes = {0: "batch", 2: "height", 3: "width"}
    baked = None
    if mix is not None or strength is not None:
        w, s = mix_weights(names, mix), check_strength(strength)
        module: nn.Module = _Baked(net, w, s)
        args: tuple[torch.Tensor, ...] = (example,)
        inputs = ["image"]
        baked = {"weights": w.tolist(), "strength": s}
    else:
        module, inputs = Blend(net), ["image", "weights", "strength"]
        args = (example, mix_weights(names, None), torch.tensor(1.0))
    meta = {
        "styleverse_kind": ONNX_KIND,
        "universes": json.dumps(names),
        "baked": json.dumps(baked),
        "spec": json.dumps(model.net.spec.to_dict()),
        "backbone": json.dumps(model.backbone.get("identity")),
    }
    return write_onnx(module, args, path, inputs, {"image": axes, "stylised": axes}, meta, opset)


def session_options(threads: int = 0) -> Any:
    """onnxruntime's CPU settings for a transform network: every graph optimisation (constant folding, node
    fusion, layout transforms) and ``threads`` intra-op threads (0: torch's thread count, so both runtimes use
    the same cores). int8 quantisation is not applied: measured on the 2-core bf16 CPU, dynamic int8 was
    slower than float32 and static (QDQ) int8 no faster, with a visible colour shift (``bench_fast.py``)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    return so


def open_onnx(path: str | os.PathLike[str], kind: str, made_by: str, threads: int = 0) -> tuple[Any, dict[str, str]]:
    """An onnxruntime session (:func:`session_options`) for a file styleverse exported as ``kind`` (by the
    command ``made_by``) and its raw styleverse metadata; one-line :class:`InputError` for a missing, corrupt
    or foreign file."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f"applying an .onnx model needs onnxruntime; {INSTALL}") from None
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such ONNX file")
    try:
        session = ort.InferenceSession(str(p), session_options(threads), providers=["CPUExecutionProvider"])
        raw = dict(session.get_modelmeta().custom_metadata_map)
    except Exception as e:
        raise InputError(f"{p}: not a readable ONNX model ({type(e).__name__}: {str(e)[:100]})") from None
    if raw.get("styleverse_kind") != kind:
        raise InputError(f"{p}: not an ONNX file exported by `styleverse {made_by}`")
    return session, raw


def open_session(path: str | os.PathLike[str], threads: int = 0) -> tuple[Any, dict[str, Any]]:
    """A ``fast export`` file's session (:func:`open_onnx`) and its styleverse metadata (``universes``,
    ``baked``); one-line :class:`InputError` for a missing, corrupt or foreign file."""
    session, raw = open_onnx(path, ONNX_KIND, "fast export", threads)
    try:
        meta = {"universes": json.loads(raw["universes"]), "baked": json.loads(raw["baked"])}
    except (KeyError, ValueError):
        raise InputError(f"{Path(path)}: its styleverse metadata is damaged; export it again") from None
    return session, meta
