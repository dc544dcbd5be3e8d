"""The paper's universe classifier (TransferCNN): model and checkpoints, data, training, metrics, prediction."""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module(
    {
        "model": "UniverseClassifier ClassifierSpec load_classifier",
        "config": "TrainConfig",
        "train": "train",
        "predict": "predict_images evaluate",
        "data": "read_dataset",
    }
)
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
