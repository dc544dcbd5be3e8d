"""The universe classifier (the paper's "TransferCNN", section 3.1) and its checkpoint file.

The paper fine-tuned VGG's convolutional layers on a "which universe is this frame from?" task so that
the layers later used for style transfer become "more accustomed to images from the movie". The model
is the VGG conv base followed by global average pooling (so any input size works) and the paper's head
of three dense layers with dropout between them.

State-dict keys are ``features.N.weight/bias`` (torchvision's VGG indices) for the conv base and
``head.*`` for the dense head, so :func:`styleverse.nn.vgg.load_backbone` reads the conv base of a
checkpoint directly. A checkpoint is one ``.safetensors`` file whose metadata carries
``styleverse_kind="classifier"``, ``arch``, ``width`` and ``config`` (JSON: class names, architecture,
layer names, image size, metrics, training settings): the file alone is enough to predict and stylise.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from styleverse.classifier.metrics import recorded_temperature
from styleverse.errors import ConfigError, WeightsError
from styleverse.io.tensorfile import write_tensors
from styleverse.nn.vgg import VGGFeatures, layer_names, load_state_into, read_state_dict

CHECKPOINT_FORMAT = 1
DEFAULT_HIDDEN = (256, 128)
TRAIN_LAYER_CHOICES = ("all", "head", "block1", "block2", "block3", "block4", "block5")


@dataclass(frozen=True)
class ClassifierSpec:
    """Everything needed to rebuild the network (not its weights)."""

    class_names: tuple[str, ...]
    arch: str = "vgg19"
    width: float = 1.0
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    dropout: float = 0.5
    image_size: int = 224

    def validate(self) -> None:
        if len(self.class_names) < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {len(self.class_names)}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError("class names must be unique")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}")
        if not self.width > 0:
            raise ConfigError(f"width must be > 0, not {self.width}")
        layer_names(self.arch)  # raises WeightsError for an unknown arch


class UniverseClassifier(nn.Module):
    """VGG conv base -> adaptive average pool -> three dense layers with dropout between them (paper 3.1).

    ``forward(x)`` takes RGB in [0, 1], shape (N, 3, H, W) of any size, and returns logits (N, classes);
    ImageNet normalisation happens inside, exactly as in :class:`~styleverse.nn.vgg.VGGFeatures`."""

    def __init__(self, spec: ClassifierSpec):
        super().__init__()
        spec.validate()
        self.spec = spec
        base = VGGFeatures(spec.arch, "max", spec.width)
        self.names = base.names
        self.features = base.features
        self.normalize = base.normalize
        self.pool = nn.AdaptiveAvgPool2d(1)
        dims = [base.channels(self.names[-1]), *spec.hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            if i:
                layers.append(nn.Dropout(spec.dropout))
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers += [nn.Dropout(spec.dropout), nn.Linear(dims[-1], len(spec.class_names))]
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.normalize(x))
        return self.head(self.pool(h).float())


def _block_number(name: str) -> int:
    """``conv3_2`` -> 3, ``pool5`` -> 5."""
    return int(re.search(r"\d+", name).group())  # type: ignore[union-attr]


def set_trainable(model: UniverseClassifier, train_layers: str) -> list[nn.Parameter]:
    """Freeze what ``train_layers`` leaves out and return the trainable parameters.

    ``all`` trains everything (what the paper settled on), ``head`` only the dense head, ``blockN`` the
    conv blocks N..5 plus the head (the paper first tried training "only the last ones")."""
    if train_layers not in TRAIN_LAYER_CHOICES:
        raise ConfigError(
            f"train_layers must be one of {', '.join(TRAIN_LAYER_CHOICES)}, not '{train_layers}'",
            setting="train_layers",
        )
    first = {"all": 1, "head": 6}.get(train_layers) or int(train_layers[-1])
    for name, mod in zip(model.names, model.features, strict=True):
        mod.requires_grad_(_block_number(name) >= first)
    model.head.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def init_weights(model: UniverseClassifier, seed: int) -> None:
    """Seeded initialisation with zero biases: He (fan-out) for convolutions as torchvision's VGG, He
    (fan-in) for the hidden dense layers and N(0, 0.01) for the output layer, so that a deep network
    trained from scratch starts with activations of unit scale."""
    g = torch.Generator().manual_seed(seed)
    mods = [*model.features, *model.head]
    last = model.head[-1]
    with torch.no_grad():
        for m in mods:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
            elif isinstance(m, nn.Linear) and m is last:
                nn.init.normal_(m.weight, 0.0, 0.01, generator=g)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)


@dataclass
class Checkpoint:
    """A loaded classifier: the model (eval mode, on CPU) and the ``config`` stored with it."""

    model: UniverseClassifier
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def class_names(self) -> list[str]:
        return list(self.model.spec.class_names)

    @property
    def temperature(self) -> float:
        """What divides the logits before softmax: the temperature its validation fitted (1 when none)."""
        metrics = self.config.get("metrics")
        return recorded_temperature(metrics if isinstance(metrics, dict) else None)


def checkpoint_config(spec: ClassifierSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``config`` JSON of a checkpoint: the spec, layer names and whatever ``extra`` adds
    (metrics, settings, epoch)."""
    from styleverse.versions import __version__

    return {
        "format": CHECKPOINT_FORMAT,
        "kind": "classifier",
        "class_names": list(spec.class_names),
        "arch": spec.arch,
        "width": spec.width,
        "pooling": "max",
        "hidden": list(spec.hidden),
        "dropout": spec.dropout,
        "image_size": spec.image_size,
        "layer_names": layer_names(spec.arch),
        "preprocess": "RGB in [0,1]; shorter side resized to image_size, centre crop; ImageNet normalisation inside",
        "styleverse_version": __version__,
        "torch_version": torch.__version__,
        **(extra or {}),
    }


def save_checkpoint(
    model: UniverseClassifier, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` and its config with a checksum, atomically, if the disk has room: a failure part-way
    leaves any previous file intact."""
    spec = model.spec
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        "styleverse_kind": "classifier",
        "arch": spec.arch,
        "width": repr(float(spec.width)),
        "config": json.dumps(checkpoint_config(spec, extra), default=str),
    }
    write_tensors(path, tensors, meta)
    return Path(path)


def spec_from_config(config: dict[str, Any], where: str) -> ClassifierSpec:
    """Rebuild a :class:`ClassifierSpec` from a checkpoint's config, as a :class:`WeightsError` if it is bad."""
    try:
        spec = ClassifierSpec(
            class_names=tuple(str(c) for c in config["class_names"]),
            arch=str(config["arch"]),
            width=float(config["width"]),
            hidden=tuple(int(h) for h in config["hidden"]),
            dropout=float(config.get("dropout", 0.5)),
            image_size=int(config.get("image_size", 224)),
        )
        spec.validate()
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise WeightsError(f"{where}: classifier config is incomplete or invalid ({e})") from None
    return spec


def read_checkpoint_config(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and parsed config of a classifier checkpoint; :class:`WeightsError` for anything else."""
    p = Path(path)
    state, meta = read_state_dict(p)
    if meta.get("styleverse_kind") != "classifier":
        raise WeightsError(f"{p}: not a styleverse classifier checkpoint (no styleverse_kind=classifier metadata)")
    try:
        config = json.loads(meta["config"])
    except (KeyError, json.JSONDecodeError) as e:
        raise WeightsError(f"{p}: classifier checkpoint has no readable config ({e})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{p}: classifier config is not a JSON object")
    return state, config


def load_classifier(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a classifier checkpoint into a ready :class:`UniverseClassifier` (eval mode, CPU, float32)."""
    p = Path(path)
    state, config = read_checkpoint_config(p)
    model = UniverseClassifier(spec_from_config(config, str(p)))
    load_state_into(model, state, ("features.", "head."), str(p))
    return Checkpoint(model.eval(), config, p)
