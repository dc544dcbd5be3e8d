"""FeatureSpec (which network and layers a job sees style and content with), StyleContentModel, the
paper's extractor of style (Gram) and content representations (section 3.2), and :func:`build_model`, which
makes one from a weight source and layer names."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from styleverse.errors import ConfigError
from styleverse.nn.losses import gram
from styleverse.nn.vgg import BackboneInfo, VGGFeatures, layer_names, load_backbone

log = logging.getLogger("styleverse")
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
CHECKPOINT_PIXELS = 1536 * 1536  # larger images recompute blocks 1-2 in backward instead of holding them


@dataclass(frozen=True)
class FeatureSpec:
    """The feature network a job measures style and content with, and its layers.

    ``backbone`` is a weight source (``imagenet``, ``random`` or a file, see
    :func:`~styleverse.nn.vgg.load_backbone`) or None: the network the job's inputs record (a style bank, a
    result's sidecar), else ImageNet VGG. ``seed`` and ``width`` only shape a ``random`` network.
    ``style_layers`` are ``NAME`` or ``NAME:WEIGHT`` (see :func:`parse_layer_weights`).
    """

    backbone: str | None = None
    arch: str = "vgg19"
    pooling: str = "max"
    seed: int = 0
    width: float = 1.0
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS

    def resolve(
        self, recorded: BackboneInfo | None = None, what: str = "the first style bank", binding: bool = True
    ) -> FeatureSpec:
        """The spec with its network settled, by the one rule every job follows: no backbone takes the network
        ``recorded`` (``what`` records it) with its arch, pooling, seed and width, else ImageNet VGG; a backbone
        given is used as given. A ``binding`` record (a bank: it only works with the network it was made with)
        refuses a given ``imagenet`` or ``random`` network that is not that one, before any weights load, with
        :meth:`BackboneInfo.mismatch`'s message (a weights file is checked the same way once it is read)."""
        if self.backbone is not None:
            planned = self._planned()
            wrong = planned.mismatch(recorded, what) if binding and recorded and planned else None
            if wrong:
                raise ConfigError(wrong)
            return self
        if recorded is None:
            return replace(self, backbone="imagenet")
        log.info("using the feature network %s records: %s", what, recorded.identity)
        return replace(
            self, backbone=recorded.weights, arch=recorded.arch, pooling=recorded.pooling,
            seed=recorded.seed or 0, width=recorded.width,
        )  # fmt: skip

    def _planned(self) -> BackboneInfo | None:
        """The identity this spec's network will have, where it is known before loading (not for a file)."""
        if self.backbone == "random":
            return BackboneInfo(self.arch, "random", self.pooling, seed=self.seed, width=self.width)
        return BackboneInfo(self.arch, "imagenet", self.pooling) if self.backbone == "imagenet" else None

    def backbone_args(self) -> dict[str, Any]:
        """Keywords of :func:`~styleverse.nn.vgg.load_backbone` besides the source (call after :meth:`resolve`)."""
        return {"arch": self.arch, "pooling": self.pooling, "seed": self.seed, "width": self.width}

    def model_args(self) -> dict[str, Any]:
        """Keywords of ``build_model`` for this resolved spec: the source, the layers and :meth:`backbone_args`."""
        if self.backbone is None:
            raise ValueError("FeatureSpec.resolve() first: the backbone is not settled")
        layers = {"style_layers": list(self.style_layers), "content_layers": list(self.content_layers)}
        return {"backbone": self.backbone, **layers, **self.backbone_args()}

    def settings(self) -> dict[str, Any]:
        """The spec as plain JSON values (sidecars and resume fingerprints)."""
        return {**asdict(self), "style_layers": list(self.style_layers), "content_layers": list(self.content_layers)}


@dataclass
class Representation:
    """What the model returns: float32 Gram matrices per style layer, raw features per content layer."""

    grams: dict[str, torch.Tensor]
    content: dict[str, torch.Tensor]


def parse_layer_weights(spec: Sequence[str] | Mapping[str, float] | None) -> dict[str, float]:
    """``['relu1_1', 'relu2_1:0.5']`` or ``{'relu1_1': 1.0}`` -> ``{'relu1_1': 1.0, 'relu2_1': 0.5}``.

    Weights are used as given, not normalised: the style loss is the weighted *sum* of the layer losses
    (as in Gatys et al. and the PyTorch tutorial whose calibration ``losses`` cites), so adding a layer adds
    its term and leaves the others' strength alone. A layer without a weight counts 1.
    """
    if spec is None:
        spec = DEFAULT_STYLE_LAYERS
    if isinstance(spec, Mapping):
        raw = {str(k): float(v) for k, v in spec.items()}
    else:
        raw = {}
        for item in spec:
            name, _, w = str(item).partition(":")
            try:
                raw[name] = float(w) if w else 1.0
            except ValueError:
                raise ConfigError(f"bad layer weight '{item}'; use NAME or NAME:WEIGHT, e.g. relu3_1:0.5") from None
    if not raw:
        raise ConfigError("at least one style layer is needed")
    if any(not (w >= 0 and math.isfinite(w)) for w in raw.values()) or sum(raw.values()) <= 0:
        raise ConfigError("style layer weights must be finite, >= 0 and not all zero")
    return raw


class StyleContentModel(nn.Module):
    """Runs the backbone up to the deepest requested layer; returns Grams and content features.

    ``style_layers`` maps layer -> weight (used as given; see :func:`parse_layer_weights`);
    ``content_layers`` lists the content layers (the paper uses one, towards the end of the network).
    """

    def __init__(
        self,
        backbone: VGGFeatures,
        style_layers: Sequence[str] | Mapping[str, float] | None = None,
        content_layers: Sequence[str] | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.style_weights = parse_layer_weights(style_layers)
        self.content_layers = tuple(content_layers or DEFAULT_CONTENT_LAYERS)
        unknown = (set(self.style_weights) | set(self.content_layers)) - set(backbone.names)
        if unknown:
            raise ConfigError(
                f"unknown layer(s) {', '.join(sorted(unknown))} for {backbone.arch}; "
                f"use names like relu1_1, relu4_2 (known: {backbone.names[0]} .. {backbone.names[-1]})"
            )
        self.layers = tuple(dict.fromkeys([*self.style_weights, *self.content_layers]))
        self.checkpoint_pixels = CHECKPOINT_PIXELS

    def forward(self, image: torch.Tensor, want_content: bool = True, want_style: bool = True) -> Representation:
        """Grams of the style layers and features of the content layers of ``image`` (N, 3, H, W) in [0, 1].

        Each Gram is taken as soon as its layer is computed, so the activation is not held past it; above
        :attr:`checkpoint_pixels` pixels the first two conv blocks are checkpointed (recomputed in backward),
        which keeps a 4096 px optimisation step within about 10 GiB.
        """
        style = list(self.style_weights) if want_style else []
        content = list(self.content_layers) if want_content else []
        reduce = {k: gram for k in style if k not in content}
        big = image.shape[-2] * image.shape[-1] > self.checkpoint_pixels
        feats = self.backbone(image, [*style, *content], reduce=reduce, checkpoint_blocks=2 if big else 0)
        grams = {k: feats[k] if k in reduce else gram(feats[k]) for k in style}
        return Representation(grams, {k: feats[k] for k in content})


def build_model(
    backbone: str = "imagenet",
    style_layers: Sequence[str] | None = None,
    content_layers: Sequence[str] | None = None,
    **backbone_kw: object,
) -> tuple[StyleContentModel, BackboneInfo]:
    """Backbone truncated after the deepest style/content layer, wrapped in a StyleContentModel."""
    sw = parse_layer_weights(style_layers)
    cl = tuple(content_layers or DEFAULT_CONTENT_LAYERS)
    names = layer_names(str(backbone_kw.get("arch", "vgg19")))
    known = [n for n in (*sw, *cl) if n in names]
    upto = max(known, key=names.index) if len(known) == len(sw) + len(cl) else None
    vgg, info = load_backbone(backbone, upto=upto, **backbone_kw)  # type: ignore[arg-type]
    return StyleContentModel(vgg, sw, cl), info
