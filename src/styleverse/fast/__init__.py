"""Feed-forward stylisation: the multi-universe transform network (Johnson 2016 + conditional instance norm,
Dumoulin 2017) trained from style banks, its frame stylizers (torch, ONNX) and export."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "model": "FastModel FastSpec TransformNet load_model save_model mix_weights",
        "train": "FastTrainConfig FastTrainResult train_fast",
        "apply": "FastStylizer OnnxStylizer StylizerConfig open_stylizer apply_images",
        "export": "export_onnx",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
