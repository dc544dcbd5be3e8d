"""ONNX export of an AdaIN model (encoder + AdaIN + decoder) for runtimes without Python or torch.

Two graphs, both float32 with dynamic batch and spatial axes (H and W must be multiples of 8; pad
beforehand, e.g. by reflection, and crop the result):

* any style (the default): inputs ``content`` (N, 3, H, W) and ``style`` (N, 3, Hs, Ws) in [0, 1] and
  ``alpha`` (1,), output ``stylized`` (N, 3, H, W) in [0, 1]; the style image is encoded in the graph;
* a fixed style (``stats`` given, e.g. a universe from a style bank or a mix of images): inputs ``content``
  and ``alpha``; the style's relu4_1 mean and std are constants of the graph, so a frame costs one encoder
  and one decoder pass.

Exported with the TorchScript-based exporter (``dynamo=False``), which needs only the ``onnx`` package. The
file's metadata (as for ``fast export``) holds ``styleverse_kind = adain_onnx``, ``style`` (``any`` or
``fixed``), ``encoder`` (the encoder's identity; for a distilled model the VGG its small encoder reproduces,
whose shape ``student`` then holds) and ``multiple`` (8).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from styleverse.errors import ConfigError
from styleverse.fast.adain.model import MULTIPLE, AdaINModel, AdaINNet, check_stats
from styleverse.io.onnx import OPSET, write_onnx
from styleverse.styles.targets import ChannelStats

ONNX_KIND = "adain_onnx"


class AnyStyle(nn.Module):
    """(content, style, alpha) -> stylised, clamped to [0, 1]."""

    def __init__(self, net: AdaINNet):
        super().__init__()
        self.net = net

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        mean, std = self.net.style_stats(style)
        return self.net(content, mean, std, alpha).clamp(0, 1)


class FixedStyle(nn.Module):
    """(content, alpha) -> stylised with a style whose statistics are buffers (graph constants)."""

    def __init__(self, net: AdaINNet, stats: ChannelStats):
        super().__init__()
        self.net = net
        self.register_buffer("mean", stats.mean.float().reshape(1, -1).clone())
        self.register_buffer("std", stats.std.float().reshape(1, -1).clone())

    def forward(self, content: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self.net(content, self.mean, self.std, alpha).clamp(0, 1)


def export_onnx(
    model: AdaINModel, path: str | os.PathLike[str], stats: ChannelStats | None = None, size: int = 64
) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically); see the module doc. ``size`` is the side of the
    example images traced (any multiple of 8; the axes stay dynamic)."""
    if size % MULTIPLE:
        raise ConfigError(f"the example size must be a multiple of {MULTIPLE}")
    net = model.net.float().cpu().eval()
    x = torch.rand(1, 3, size, size)
    alpha = torch.ones(1)
    axes = {0: "batch", 2: "height", 3: "width"}
    if stats is None:
        module: nn.Module = AnyStyle(net)
        args: tuple[torch.Tensor, ...] = (x, torch.rand(1, 3, size, size), alpha)
        names = ["content", "style", "alpha"]
        dynamic = {"content": axes, "style": {0: "batch", 2: "style_height", 3: "style_width"}, "stylized": axes}
    else:
        check_stats(stats, model, "style")
        module, args, names = FixedStyle(net, stats), (x, alpha), ["content", "alpha"]
        dynamic = {"content": axes, "stylized": axes}
    meta = {
        "styleverse_kind": ONNX_KIND,
        "style": "any" if stats is None else "fixed",
        "encoder": str(model.encoder.get("identity")),
        "multiple": str(MULTIPLE),
        "decoder": json.dumps(model.spec.to_dict()),
        **({} if model.student is None else {"student": json.dumps(model.student.to_dict())}),
    }
    return write_onnx(module, args, path, names, dynamic, meta, OPSET)
