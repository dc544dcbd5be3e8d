"""Any style image in real time (Huang & Belongie 2017): a fixed VGG encoder up to relu4_1, adaptive instance
normalisation to the style's channel mean and std (an image, a mix, or a whole universe from a style bank),
a trained decoder; its training on the shared step loop, the frame stylizer, and ONNX export."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "model": "adain AdaINModel load_adain save_adain",
        "apply": "AdaINStylizer load_styles load_mask",
        "train": "AdaINTrainConfig AdaINTrainResult train_adain",
        "export": "export_onnx",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
