"""Feed-forward stylisation: the multi-universe transform network (Johnson 2016 + conditional instance norm,
Dumoulin 2017) trained from style banks, its frame stylizers (torch, ONNX) and export; ``open_stylizer`` opens
any real-time model (fast, AdaIN, ONNX) as a frame stylizer."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "model": "FastModel FastSpec TransformNet load_model save_model mix_weights",
        "train": "FastTrainConfig FastTrainResult train_fast",
        "open": "Stylizer StylizerSpec ModelCache OpenedModel model_kind open_model open_stylizer",
        "apply": "FastStylizer OnnxStylizer",
        "job": "ApplyJob run_apply apply_images",
        "export": "export_onnx",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
