"""Any style image in real time (Huang & Belongie 2017): a fixed VGG encoder up to relu4_1, adaptive instance
normalisation to the style's channel mean and std (an image, a mix, or a whole universe from a style bank),
a trained decoder; its training on the shared step loop, the frame stylizer, and ONNX export."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.fast.adain.apply import AdaINStylizer, load_mask, load_styles
    from styleverse.fast.adain.export import export_onnx
    from styleverse.fast.adain.model import AdaINModel, adain, load_adain, save_adain
    from styleverse.fast.adain.train import AdaINTrainConfig, AdaINTrainResult, train_adain
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
