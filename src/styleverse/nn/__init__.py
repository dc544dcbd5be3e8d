"""Leaf networks and maths: VGG with the paper's layer names and its weight sources, the StyleContentModel
(Gram matrices and content features), the pure losses, colour preservation."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.nn.color import luminance_transfer, match_histogram
    from styleverse.nn.features import FeatureSpec, StyleContentModel, build_model, parse_layer_weights
    from styleverse.nn.losses import content_loss, gram, style_loss, tv_loss
    from styleverse.nn.vgg import BackboneInfo, VGGFeatures, imagenet_weights_path, layer_names, load_backbone
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
