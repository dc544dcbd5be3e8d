"""What a classifier run keeps on disk and how it starts: run-folder checks, initial weights, an epoch's files.

The run folder holds ``last.safetensors`` and ``best.safetensors`` (each carries its class names,
architecture, settings and metrics), ``metrics.json``, ``curves.png``, ``confusion.png``,
``reliability.png``, and the exact resume state ``resume.safetensors`` that the training loop writes
(:mod:`styleverse.training.loop`, an :mod:`styleverse.io.state` file: no pickle). Every file is written
atomically, so a crash while saving leaves the previous version loadable.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from styleverse.classifier.config import TrainConfig
from styleverse.classifier.data import Dataset
from styleverse.classifier.metrics import plot_confusion, plot_curves, plot_reliability
from styleverse.classifier.model import (
    ClassifierSpec,
    UniverseClassifier,
    init_weights,
    save_checkpoint,
    set_trainable,
)
from styleverse.errors import ConfigError, OutputError
from styleverse.io.images import _finite_or_null, write_json
from styleverse.nn.vgg import imagenet_weights_path, load_backbone, load_state_into, read_state_dict

log = logging.getLogger("styleverse")
INIT_ALTERNATIVES = "pass --init PATH to a VGG state dict or a classifier checkpoint, or --init scratch"
RESUME = "resume.safetensors"  # the exact resume state, an io.state file written by the training loop
STATE_KIND = "classifier_train"
RUN_FILES = (
    "best.safetensors", "last.safetensors", RESUME, "metrics.json", "curves.png", "confusion.png", "reliability.png"
)  # fmt: skip
SELECTION = "val_balanced_accuracy"


def prepare_run_dir(run: Path, cfg: TrainConfig, is_main: bool) -> bool:
    """Check the run folder before anything is written; True when ``--resume`` continues a saved run.

    A folder holding another run needs ``--resume`` (same settings) or ``--overwrite``."""
    if run.exists() and not run.is_dir():
        raise OutputError(f"{run}: exists and is not a folder; --out needs a run folder")
    present = [f for f in RUN_FILES if (run / f).exists()]
    if cfg.resume and (run / RESUME).exists():
        return True
    if cfg.resume and present:
        raise OutputError(f"{run}: holds run files but no {RESUME}; pass --overwrite to start over")
    if present and not cfg.overwrite:
        raise OutputError(
            f"{run}: already holds a training run ({', '.join(present)}); "
            "pass --resume to continue it or --overwrite to replace it"
        )
    probe = run if run.exists() else next((p for p in run.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{probe}: not writable; choose another --out")
    if cfg.resume and is_main:
        log.info("nothing to resume in %s; starting a new run", run)
    return False


def open_run_dir(run: Path, clear: bool, is_main: bool) -> None:
    """Create the run folder (rank 0); with ``clear`` remove a previous run's files (only ours)."""
    if not is_main:
        return
    try:
        run.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES if clear else ():
            (run / name).unlink(missing_ok=True)
    except OSError as e:
        raise OutputError(f"{run}: cannot prepare run folder ({e.strerror or e})") from None


def _init_from_file(model: UniverseClassifier, cfg: TrainConfig) -> None:
    path = Path(cfg.init)
    if not path.is_file():
        raise ConfigError(
            f"init: '{cfg.init}' is neither imagenet, scratch nor an existing weights file", setting="init"
        )
    state, meta = read_state_dict(path)
    if meta.get("styleverse_kind") == "classifier":
        arch, width = meta.get("arch", cfg.arch), float(meta.get("width", 1.0))
        if (arch, width) != (cfg.arch, cfg.width):
            raise ConfigError(
                f"{path}: checkpoint is {arch} scaled {width}; pass arch {arch} width {width}",
                setting=("arch", "width"),
            )
    load_state_into(model, state, ("features.",), str(path))
    head = {k: v for k, v in state.items() if k.startswith("head.")}
    own = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
    if head.keys() == own.keys() and all(head[k].shape == own[k].shape for k in own):
        load_state_into(model, state, ("head.",), str(path))
        log.info("initialised conv base and head from %s", path)
    else:
        log.info("initialised conv base from %s; the dense head starts fresh", path)


def build_classifier(
    cfg: TrainConfig, class_names: tuple[str, ...], resume: bool = False
) -> tuple[UniverseClassifier, list[nn.Parameter]]:
    """The model with its ``--init`` weights (none when resuming: the saved state brings them) and its
    trainable parameters."""
    spec = ClassifierSpec(tuple(class_names), cfg.arch, cfg.width, tuple(cfg.hidden), cfg.dropout, cfg.size)
    model = UniverseClassifier(spec)
    if not resume:
        init_weights(model, cfg.seed)
        if cfg.init == "imagenet":
            if cfg.width != 1.0:
                raise ConfigError(
                    "init imagenet needs width 1 (the ImageNet weights are full width)", setting=("init", "width")
                )
            imagenet_weights_path(cfg.arch, alternatives=INIT_ALTERNATIVES)  # offline: advice in --init's terms
            vgg, _ = load_backbone("imagenet", arch=cfg.arch)
            load_state_into(model, vgg.state_dict(), ("features.",), f"ImageNet {cfg.arch}")
        elif cfg.init != "scratch":
            _init_from_file(model, cfg)
    return model, set_trainable(model, cfg.train_layers)


def run_header(cfg: TrainConfig, data: Dataset, device: str, precision: str, world_size: int) -> dict[str, Any]:
    """What metrics.json records beside the epochs (each checkpoint keeps settings, dataset and selection)."""
    counts = {"train_counts": data.counts("train"), "val_counts": data.counts("val")}
    return {
        "class_names": list(data.class_names), "dataset": {"root": str(data.root), "source": data.source, **counts},
        "settings": cfg.to_dict(), "device": device, "precision": precision, "world_size": world_size,
        "selection": SELECTION,
    }  # fmt: skip


def save_epoch(
    run: Path, model: UniverseClassifier, history: list[dict[str, Any]], best: tuple[int | None, float],
    header: dict[str, Any],
) -> None:  # fmt: skip
    """Rank 0, after an epoch (``history[-1]``): last (and when it is the best, best) checkpoint,
    metrics.json, the curves, and the confusion and reliability plots of the best epoch (the one
    ``best.safetensors`` holds and the summary prints, not an overfit last epoch)."""
    row = history[-1]
    keep = {k: header[k] for k in ("settings", "dataset", "selection")}
    extra = {"epoch": row["epoch"], "metrics": _finite_or_null(row), **keep}
    metrics = {**header, "best_epoch": best[0], "best_score": best[1], "history": history}
    target = run
    try:
        for target in (run / "last.safetensors", *([run / "best.safetensors"] if best[0] == row["epoch"] else [])):
            save_checkpoint(model, target, extra)
        target = run / "metrics.json"
        write_json(target, metrics)
        target = run / "curves.png"
        plot_curves(history, target)
        shown = next((h for h in history if h["epoch"] == best[0]), row)  # the epoch best.safetensors holds
        title = f"Validation, epoch {shown['epoch']}" + (" (best.safetensors)" if shown["epoch"] == best[0] else "")
        target = run / "confusion.png"
        plot_confusion(shown["val_confusion"], header["class_names"], target, title)
        target = run / "reliability.png"
        plot_reliability(shown["val_probabilities"], target, title)
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror or e})") from None
