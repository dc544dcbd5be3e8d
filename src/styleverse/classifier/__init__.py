"""The paper's universe classifier (TransferCNN): model and checkpoints, data, training, metrics, prediction."""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.classifier.config import TrainConfig
    from styleverse.classifier.data import read_dataset
    from styleverse.classifier.model import ClassifierSpec, UniverseClassifier, load_classifier
    from styleverse.classifier.predict import evaluate, predict_images
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
