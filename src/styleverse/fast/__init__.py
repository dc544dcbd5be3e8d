"""Feed-forward stylisation: the multi-universe transform network (Johnson 2016 + conditional instance norm,
Dumoulin 2017) trained from style banks, its frame stylizers (torch, ONNX) and export; ``open_stylizer`` opens
any real-time model (fast, AdaIN, ONNX) as a frame stylizer."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.fast.apply import FastStylizer, OnnxStylizer
    from styleverse.fast.export import export_onnx
    from styleverse.fast.job import ApplyJob, apply_images, run_apply
    from styleverse.fast.model import FastModel, FastSpec, TransformNet, load_model, mix_weights, save_model
    from styleverse.fast.open import (
        ModelCache,
        OpenedModel,
        Stylizer,
        StylizerSpec,
        model_kind,
        open_model,
        open_stylizer,
    )
    from styleverse.fast.train import FastTrainConfig, FastTrainResult, train_fast
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
