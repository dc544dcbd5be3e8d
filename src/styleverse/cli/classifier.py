"""``styleverse classifier train|eval|predict``: the universe classifier (the paper's TransferCNN, 3.1).

Results (tables) go to stdout; progress bars, logs and errors to stderr. Under ``torchrun`` only rank 0
shows progress. Ctrl-C during training saves the exact resume state after the current step; a second
Ctrl-C aborts at once.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from styleverse.classifier.model import TRAIN_LAYER_CHOICES

from .common import (
    Parser,
    add_actions,
    add_device_args,
    console,
    fields_from,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    setup_logging,
    stopping,
)
from .flags import add_field, add_run_args, defaults

stdout = Console(soft_wrap=True)


def _device_args(p: argparse.ArgumentParser) -> None:
    add_device_args(p)
    _loader_args(p)


def _loader_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=positive_int, default=16, help="images per batch (per process under torchrun)")
    workers = min(8, os.cpu_count() or 1)
    p.add_argument("--workers", type=non_negative_int, default=workers, help="image-loading threads (0: load inline)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or info messages, only errors and results")


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "classifier",
        help="train, evaluate and use the universe classifier",
        description="The paper's TransferCNN (section 3.1): a VGG conv base with a dense head that learns which "
        "universe a frame comes from; its conv base then serves style transfer (--backbone CHECKPOINT).",
    )
    add_actions(p, _register_train, _register_eval, _register_predict)


def _register_train(actions: Any) -> None:
    t: Parser = actions.add_parser(
        "train",
        help="train a classifier on a dataset of universe frames",
        description="Train on DATASET/<universe>/*.jpg (manifest.csv train/val splits if present, else a seeded "
        "stratified split). Classes are sampled equally often. Writes best.safetensors, last.safetensors, "
        "metrics.json, curves.png, confusion.png, reliability.png and the resume state to --out. After every epoch "
        "it warns when the model learned little: one class for everything, predictions that barely depend on the "
        "input, a class almost never recognised. Multi-GPU: run under torchrun.",
    )
    from styleverse.classifier.config import TrainConfig

    d = defaults(TrainConfig)
    t.add_argument("dataset", metavar="DATASET", help="dataset folder: one subfolder of images per universe")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for checkpoints, metrics and plots")
    add_field(t, d, "epochs", positive_int, "training epochs (paper: 10)")
    t.add_argument(
        "--lr",
        type=positive_float,
        default=d["lr"],
        help=f"Adam learning rate (default: the paper's {TrainConfig.default_lr('imagenet'):g} from --init imagenet "
        f"or a checkpoint; from scratch {TrainConfig.default_lr('scratch'):g} / --width, where the paper's value "
        "learns far too slowly: see benchmarks/bench_classifier_lr.py)",
    )
    t.add_argument(
        "--init",
        default=d["init"],
        help="starting weights: imagenet (torchvision VGG file in the torch hub cache), scratch (seeded random) "
        "or PATH to a VGG state dict or an earlier classifier checkpoint",
    )
    t.add_argument(
        "--train-layers",
        choices=TRAIN_LAYER_CHOICES,
        default=d["train_layers"],
        help="what is trained, the rest frozen: all layers (the paper's final choice), the dense head only, or "
        "conv blocks N..5 plus the head (blockN)",
    )
    t.add_argument("--arch", choices=["vgg19", "vgg16"], default=d["arch"], help="VGG depth of the conv base")
    add_field(t, d, "width", positive_float, "channel multiplier (1 = real VGG; smaller for quick trials)")
    add_field(t, d, "size", positive_int, "training image side in pixels (square crops)")
    add_field(t, d, "dropout", non_negative_float, "dropout between the dense layers")
    add_field(t, d, "val_fraction", positive_float, "validation share per class without splits")
    add_field(t, d, "checkpoint_every", non_negative_int, "also save resume state every N steps (0: epochs)")
    add_run_args(
        t, d, "seed for init, split, sampling and augmentation", "continue the interrupted run in RUN_DIR exactly",
        "replace a previous run's files in RUN_DIR",
    )  # fmt: skip
    _loader_args(t)
    t.set_defaults(func=cmd_train)


def _register_eval(actions: Any) -> None:
    e: Parser = actions.add_parser(
        "eval",
        help="accuracy, per-class recall and confusion matrix of a checkpoint on a dataset",
        description="Evaluate CHECKPOINT on DATASET. --split val reproduces the training run's validation split "
        "(the checkpoint stores the seed and fraction); --split all uses every image (a separate test set).",
    )
    e.add_argument("checkpoint", metavar="CHECKPOINT", help="classifier checkpoint (.safetensors)")
    e.add_argument("dataset", metavar="DATASET", help="dataset folder: one subfolder of images per universe")
    e.add_argument("--split", choices=["val", "train", "all"], default="val", help="which images to evaluate")
    e.add_argument("--out", metavar="PNG", help="also write the confusion matrix to this image file")
    e.add_argument(
        "--reliability",
        metavar="PNG",
        help="also write a reliability diagram (accuracy against confidence; the gap is the calibration error)",
    )
    e.add_argument("--overwrite", action="store_true", help="replace --out and --reliability if they exist")
    _device_args(e)
    e.set_defaults(func=cmd_eval)


def _register_predict(actions: Any) -> None:
    r: Parser = actions.add_parser(
        "predict",
        help="which universe each image looks like, with confidence",
        description="Print the predicted universe and its softmax probability for each IMAGE (or folder).",
    )
    r.add_argument("checkpoint", metavar="CHECKPOINT", help="classifier checkpoint (.safetensors)")
    r.add_argument("images", metavar="IMAGE", nargs="+", help="image files or folders of images")
    r.add_argument("--top", type=positive_int, default=1, help="also list the runner-up universes (top K)")
    _device_args(r)
    r.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    from styleverse.classifier.train import EpochEnd, TrainConfig, TrainStart, TrainStep, train

    rank0 = int(os.environ.get("RANK", "0")) == 0
    quiet = args.quiet or not rank0
    setup_logging(quiet)
    cfg = TrainConfig(**fields_from(args, TrainConfig))
    with progress(quiet) as bar, stopping() as flag:
        task = bar.add_task("train", total=1, status="reading dataset")
        say = (lambda _text: None) if quiet else bar.console.print

        def on_event(ev: Any) -> None:
            if isinstance(ev, TrainStart):
                names = ", ".join(
                    f"{n} {c}/{v}" for n, c, v in zip(ev.class_names, ev.train_counts, ev.val_counts, strict=True)
                )
                say(f"classes (train/val images): {names}; {ev.device}, {ev.precision}, x{ev.world_size}")
                done = ev.start_epoch * ev.steps_per_epoch + ev.start_step
                bar.update(task, total=ev.epochs * ev.steps_per_epoch, completed=done, status="")
            elif isinstance(ev, TrainStep):
                bar.update(task, advance=1, status=f"epoch {ev.epoch}  loss {ev.loss:.4f}")
            elif isinstance(ev, EpochEnd):
                m = ev.metrics
                star = "  [green]best" if ev.is_best else ""
                warn = "  [red]learned little (see warning)" if m.get("warnings") else ""
                say(
                    f"epoch {ev.epoch}/{ev.epochs}: train loss {m['train_loss']:.4f} acc {m['train_accuracy']:.3f} | "
                    f"val loss {m['val_loss']:.4f} acc {m['val_accuracy']:.3f} "
                    f"balanced {m['val_balanced_accuracy']:.3f} ECE {m.get('val_ece', float('nan')):.3f}{star}{warn}"
                )

        result = train(cfg, on_event, stop=flag)
    if result.interrupted:
        if rank0:
            console.print(f"[yellow]interrupted; state saved in {result.state_path}; rerun with --resume")
        return 130
    if rank0 and result.history:
        from styleverse.classifier.config import lr_advice

        best = result.history[(result.best_epoch or 1) - 1]
        probs = best.get("val_probabilities") or {}
        title = f"best epoch {result.best_epoch} of {len(result.history)}"
        stdout.print(_class_table(best["val_recall"], probs.get("confidence", {}), title))
        stdout.print(
            f"accuracy {best['val_accuracy']:.3f}, balanced accuracy {best['val_balanced_accuracy']:.3f}, "
            f"ECE {best.get('val_ece', float('nan')):.3f} (mean confidence {best.get('val_mean_confidence', 0):.3f}); "
            f"{_scaled(best.get('val_temperature'), best.get('val_ece_scaled'))}"
        )
        stdout.print(f"best checkpoint: {result.best_path}\nlast checkpoint: {result.last_path}")
        advice = lr_advice(cfg.init, cfg.adam_lr, cfg.width)
        _warn(best.get("warnings") or [], advice, f"best epoch {result.best_epoch}")
    return 0


def _scaled(temperature: Any, ece: Any) -> str:
    """The temperature 'predict' and the judge divide the logits by, and the ECE it leaves."""
    if not isinstance(temperature, int | float) or not isinstance(ece, int | float):
        return "no temperature recorded (probabilities unscaled)"
    return f"temperature {temperature:.2f} (predict and the judge use it): ECE {ece:.3f}"


def _class_table(recall: dict[str, float | None], confidence: dict[str, Any], title: str) -> Table:
    """Per universe: recall, and the probability the model gives its images' true universe (mean ± std)."""
    table = Table(title=title)
    table.add_column("universe")
    table.add_column("recall", justify="right")
    table.add_column("confidence in the true universe (mean ± std)", justify="right")
    for name, r in recall.items():
        c = confidence.get(name) or {}
        shown = f"{c['mean']:.3f} ± {c['std']:.3f}" if c.get("n") else "-"
        table.add_row(name, "-" if r is None else f"{r:.3f}", shown)
    return table


def _warn(warnings: list[str], advice: str, where: str) -> None:
    """What the model failed to learn (one line each) and, after them, what to try."""
    for w in warnings:
        console.print(f"warning ({where}): {w}", style="red", markup=False, highlight=False, soft_wrap=True)
    if warnings and advice:
        console.print(f"advice: {advice}", markup=False, highlight=False, soft_wrap=True)


def cmd_eval(args: argparse.Namespace) -> int:
    from styleverse.classifier.metrics import plot_confusion, plot_reliability
    from styleverse.classifier.predict import evaluate
    from styleverse.errors import ConfigError
    from styleverse.io.images import check_output, image_format_for
    from styleverse.progress import Progress

    setup_logging(args.quiet)
    if args.out and args.reliability and Path(args.out).resolve() == Path(args.reliability).resolve():
        raise ConfigError("--out and --reliability name the same file; give each its own")
    out = check_output(args.out, [args.checkpoint], args.overwrite) if args.out else None
    diagram = check_output(args.reliability, [args.checkpoint], args.overwrite) if args.reliability else None
    for path in filter(None, (out, diagram)):
        image_format_for(path)  # a name whose format cannot be written: refused before the evaluation runs
    with progress(args.quiet) as bar:
        task = bar.add_task("eval", total=None, status="")

        def on_event(ev: Progress) -> None:
            bar.update(task, total=ev.total, completed=ev.done)

        report = evaluate(
            args.checkpoint, args.dataset, args.split, args.device, args.precision, args.batch_size, args.workers,
            on_event,
        )  # fmt: skip
    s, probs = report.summary, report.probabilities
    stdout.print(
        f"{report.n_images} images (split {report.split}): accuracy {s['accuracy']:.3f}, "
        f"balanced accuracy {s['balanced_accuracy']:.3f}, loss {report.loss:.4f}, "
        f"ECE {probs['ece']:.3f} (mean confidence {probs['mean_confidence']:.3f}); "
        f"{_scaled(probs.get('temperature'), probs.get('ece_scaled'))}"
    )
    table = Table(title="confusion matrix (rows: true universe, columns: predicted)")
    table.add_column("true \\ predicted")
    for n in report.class_names:
        table.add_column(n, justify="right")
    table.add_column("recall", justify="right")
    for i, n in enumerate(report.class_names):
        r = s["recall"][n]
        table.add_row(n, *(str(int(v)) for v in report.confusion[i]), "-" if r is None else f"{r:.3f}")
    stdout.print(table)
    stdout.print(_class_table(s["recall"], probs["confidence"], "confidence per universe"))
    _warn(report.warnings, report.advice, f"split {report.split}")
    name = f"{Path(args.checkpoint).name} on {report.split}"
    if out is not None:
        plot_confusion(report.confusion, report.class_names, out, name)
        stdout.print(f"confusion matrix: {out}")
    if diagram is not None:
        plot_reliability(probs, diagram, name)
        stdout.print(f"reliability diagram: {diagram}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from styleverse.classifier.metrics import trust_warnings
    from styleverse.classifier.model import load_classifier
    from styleverse.classifier.predict import predict_images
    from styleverse.io.images import list_images

    setup_logging(args.quiet)
    paths = list_images(args.images)
    ckpt = load_classifier(args.checkpoint)
    preds = predict_images(ckpt, paths, args.device, args.precision, args.batch_size, args.workers)
    recorded = ckpt.config.get("metrics")
    _warn(trust_warnings(recorded if isinstance(recorded, dict) else None) or [], "", "its own validation")
    rows = _predict_rows(preds, args.top)
    if not stdout.is_terminal:  # piped: one tab-separated line per image, for scripts
        for line in rows:
            print("\t".join(line))
        return 0
    table = Table(title="predicted universe")
    for name in rows[0]:
        table.add_column(name, overflow="fold", justify="right" if name == "confidence" else "left")
    for row in rows[1:]:
        table.add_row(*row)
    stdout.print(table)
    return 0


def _predict_rows(preds: list[Any], top: int) -> list[list[str]]:
    rows = [["image", "universe", "confidence", *(["runners-up"] if top > 1 else [])]]
    for pr in preds:
        row = [str(pr.path), pr.label, f"{pr.confidence:.3f}"]
        if top > 1:
            ranked = sorted(pr.probabilities.items(), key=lambda kv: -kv[1])[1:top]
            row.append(", ".join(f"{n} {p:.3f}" for n, p in ranked))
        rows.append(row)
    return rows
