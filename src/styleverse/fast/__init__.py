"""Feed-forward stylisation: the multi-universe transform network (Johnson 2016 + conditional instance norm,
Dumoulin 2017) trained from style banks, its frame stylizers (torch, ONNX) and export."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.fast.apply import FastStylizer, OnnxStylizer, StylizerConfig, apply_images, open_stylizer
    from styleverse.fast.export import export_onnx
    from styleverse.fast.model import FastModel, FastSpec, TransformNet, load_model, mix_weights, save_model
    from styleverse.fast.train import FastTrainConfig, FastTrainResult, train_fast
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
