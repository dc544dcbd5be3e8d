"""Leaf networks and maths: VGG with the paper's layer names and its weight sources, the StyleContentModel
(Gram matrices and content features), the pure losses, colour preservation."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "vgg": "VGGFeatures BackboneInfo load_backbone layer_names imagenet_weights_path",
        "features": "FeatureSpec StyleContentModel parse_layer_weights build_model",
        "losses": "gram content_loss style_loss tv_loss",
        "color": "luminance_transfer match_histogram",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
