"""A whole stylise job: style sources and banks, colour preservation, resume, outputs and sidecar.

This is what the CLI, the web app, the video loop and ``evaluate`` call: a frozen :class:`StylizeJob`
says what to do, :func:`run_stylize` does it and returns a :class:`StylizeOutcome`. Every output path is
checked against every input and against the others before any work starts; outputs are written
atomically; an interrupt (Ctrl-C) or a result that cannot be written keeps the state in
``OUT.resume.safetensors`` so nothing computed is lost, and ``resume=True`` continues from it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from styleverse.cancel import Stop, never
from styleverse.devices import (
    PeakMemory,
    peak_memory,
    require_memory,
    resolve_device,
    resolve_precision,
    vgg_pass_bytes,
)
from styleverse.errors import ConfigError, OutputError
from styleverse.io.images import (
    header_size,
    load_image,
    pil_to_tensor,
    remove_temp_files,
    resize_longest,
    save_image,
    write_json,
)
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, network_files
from styleverse.io.outputs import check_outputs as check_all
from styleverse.io.state import fingerprint as plain_fingerprint
from styleverse.io.state import load_state, not_fingerprinted, save_state, state_path, unfit
from styleverse.nn.color import luminance_transfer, match_histogram
from styleverse.nn.features import CHECKPOINT_PIXELS, FeatureSpec, StyleContentModel, build_model
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.bank import Bank
from styleverse.styles.spec import StyleSpec
from styleverse.styles.targets import StyleSet
from styleverse.transfer.config import (
    INITS,
    Callback,
    SnapshotEvent,
    TransferConfig,
    TransferResult,
    WarmStart,
    parse_warm,
    warm_image,
)
from styleverse.transfer.optimize import StyleTransfer, scaled_size
from styleverse.transfer.sidecar import StylizeSidecar
from styleverse.versions import versions

log = logging.getLogger("styleverse")
STATE_KIND = "stylize"
PLOT_EXTENSIONS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


@dataclass(frozen=True)
class StylizeJob:
    """Everything one stylise run needs: which style, under which feature network (``features`` with no
    backbone uses the one the first style bank records, else ImageNet VGG; see :meth:`FeatureSpec.resolve`),
    and how to optimise."""

    content: Path
    output: Path
    style: StyleSpec = field(default_factory=StyleSpec)
    config: TransferConfig = field(default_factory=TransferConfig)
    features: FeatureSpec = field(default_factory=FeatureSpec)
    init: str = "content"  # content | noise | path of an image | fast:MODEL[:UNIVERSE] | adain:DECODER
    warm: WarmStart | None = field(default=None, compare=False, metadata={"fingerprint": False})  # what init names
    plot: Path | None = not_fingerprinted(None)
    snapshot_dir: Path | None = not_fingerprinted(None)  # default: OUT's stem + "_snapshots" (if config.save_every)
    overwrite: bool = not_fingerprinted(False)
    resume: bool = not_fingerprinted(False)

    def settings(self) -> dict[str, Any]:
        """The job as plain JSON values (for the sidecar and the resume fingerprint): the style's and the
        network's settings at the top level, as sidecars have always had them."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("style", "features", "warm")}
        d |= {"config": self.config.to_dict(), **self.style.settings(), **self.features.settings()}
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


@dataclass
class StylizeOutcome:
    """What a job produced: the optimiser's result, the files written and the sidecar's content."""

    result: TransferResult
    paths: dict[str, Path]
    sidecar: dict[str, Any]
    interrupted: bool = False


def output_paths(job: StylizeJob) -> dict[str, Path]:
    """Every file or folder the job may write, keyed by role."""
    out = Path(job.output)
    paths = {"image": out, "sidecar": out.with_name(out.name + ".json"), "resume": state_path(out)}
    if job.plot:
        paths["plot"] = Path(job.plot)
    if job.config.save_every:
        paths["snapshots"] = Path(job.snapshot_dir) if job.snapshot_dir else out.with_name(out.stem + "_snapshots")
    return paths


def _inputs(job: StylizeJob, styles: StyleSet) -> list[Path]:
    warm = parse_warm(job.init)
    init = [Path(warm[1])] if warm else [] if job.init in INITS else [Path(job.init)]
    return [Path(job.content), *job.style.inputs(styles), *init, *network_files(job.features.backbone)]


def check_outputs(job: StylizeJob, styles: StyleSet) -> dict[str, Path]:
    """Refuse, before any work, outputs that would replace an input, each other, or an existing file
    (:func:`styleverse.io.outputs.check_outputs`), and a snapshot folder that already holds snapshots."""
    paths = output_paths(job)
    plot, snap = paths.get("plot"), paths.get("snapshots")
    outputs: dict[str, Output | None] = {
        "-o": Output(paths["image"], "image"),
        "-o (sidecar)": Output(paths["sidecar"]),
        "--plot": Output(plot, suffixes=PLOT_EXTENSIONS) if plot else None,
        "--snapshot-dir": Output(snap, "folder") if snap else None,
    }
    check_all(outputs, _inputs(job, styles), job.overwrite)
    if snap is not None and snap.is_dir() and any(snap.iterdir()) and not (job.overwrite or job.resume):
        raise ConfigError(
            f"{snap}: snapshot folder is not empty; pass overwrite or choose another snapshot_dir",
            setting=("overwrite", "snapshot_dir"),
        )
    return paths


def feature_network(features: FeatureSpec, banks: Sequence[Bank]) -> tuple[StyleContentModel, BackboneInfo]:
    """The feature network (as ``features`` asks, or the one the first bank records: :meth:`FeatureSpec.resolve`),
    cut after its deepest layer. The video job shares this with :func:`run_stylize`."""
    recorded = BackboneInfo.from_dict(banks[0].backbone) if banks else None
    return build_model(**features.resolve(recorded).model_args())


def fingerprint(job: StylizeJob) -> dict[str, Any]:
    """The settings that must be equal for a saved state to continue (the resolved ``sizes`` too)."""
    fp = plain_fingerprint(job)
    fp["config"]["sizes"] = list(job.config.sizes)
    return dict(fp)


_RESULT_FIELDS = ("history", "seconds", "precision", "device", "diverged_at", "final_losses", "stop_reason",
                  "stopped_at", "scales")  # fmt: skip


def _load_resume(path: Path, job: StylizeJob, content: torch.Tensor) -> dict[str, Any]:
    """The saved state: ``transfer`` (the optimiser's exact state) for an interrupted run, or ``finished``
    with the result itself when only writing it failed; its image checked against ``content``'s final size
    (the optimiser checks its own state when it continues)."""
    state = load_state(path, STATE_KIND, fingerprint(job))
    image, finished = state.get("image"), state.get("finished")
    final = scaled_size((int(content.shape[-2]), int(content.shape[-1])), max(job.config.sizes))
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (1, 3):
        raise unfit("it holds no (1,3,H,W) image", path)
    if image.dtype != torch.float32 or not bool(((image >= 0) & (image <= 1)).all()):
        raise unfit(f"its image is {image.dtype} or outside [0, 1]", path)
    if finished is True and (tuple(image.shape[2:]) != final or set(state.get("result", {})) != set(_RESULT_FIELDS)):
        raise unfit(f"its finished image is not {final[1]}x{final[0]} or its result record is incomplete", path)
    if finished is not True and (finished is not False or not isinstance(state.get("transfer"), dict)):
        raise unfit("it holds no optimiser state", path)
    return state


def _save_resume(path: Path, job: StylizeJob, result: TransferResult) -> None:
    """Keep what was computed: the exact optimiser state of an interrupted run, or a finished result."""
    state: dict[str, Any] = {"image": result.image, "finished": not result.interrupted}
    state["result"] = {k: getattr(result, k) for k in _RESULT_FIELDS}
    if result.state is not None:
        state["transfer"] = result.state
    save_state(path, STATE_KIND, fingerprint(job), state)


def sidecar(job: StylizeJob, styles: StyleSet, bank_weights: list[float], info: BackboneInfo,
            result: TransferResult, start: int, peak: PeakMemory | None = None) -> StylizeSidecar:  # fmt: skip
    """Everything needed to understand and repeat the run."""
    return StylizeSidecar(
        output=str(job.output),
        content=str(job.content),
        style=job.style,
        styles=tuple((str(s.path), s.weight) for s in styles.images),
        style_banks=tuple((str(b), w) for b, w in zip(job.style.banks, bank_weights, strict=True)),
        settings=job.settings(),
        config=job.config.to_dict(),
        backbone=info,
        device_used=result.device,
        steps_run=len(result.history),
        final_losses=result.final_losses,
        iterate_losses=result.iterate_losses,
        stop_reason=result.stop_reason,
        stopped_at_step=result.stopped_at,
        scales_run=tuple(result.scales),
        precision_used=result.precision,
        seconds=result.seconds,
        peak_memory_bytes=peak.bytes if peak else None,
        peak_memory_kind=peak.kind if peak else None,
        diverged_at_step=result.diverged_at,
        resumed_from_step=start or None,
        versions=versions(),
    )


class _Snapshots:
    """Forwards events to the caller and writes snapshot images as they come."""

    def __init__(self, folder: Path | None, callback: Callback | None):
        self.folder, self.callback = folder, callback
        self.taken: list[tuple[int, torch.Tensor]] = []

    def __call__(self, ev: Any) -> None:
        if isinstance(ev, SnapshotEvent) and self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            save_image(ev.image, self.folder / f"step_{ev.step:05d}.png")
            self.taken.append((ev.step, ev.image))
        if self.callback:
            self.callback(ev)


def _write(job: StylizeJob, paths: Mapping[str, Path], image: torch.Tensor, side: dict[str, Any],
           result: TransferResult, snaps: _Snapshots) -> None:  # fmt: skip
    """Image, sidecar, plot and snapshot strip; when one cannot be written those written before it are
    removed again, so the ``--resume`` the error advises finds no output in its way."""
    from styleverse.plots import plot_losses, snapshot_strip

    done: list[Path] = []
    try:
        save_image(image, paths["image"])
        done.append(paths["image"])
        write_json(paths["sidecar"], side)
        done.append(paths["sidecar"])
        if "plot" in paths and result.history:
            plot_losses(result.history, paths["plot"], title=f"{Path(job.content).name}: style and content loss")
            done.append(paths["plot"])
        if snaps.taken and "snapshots" in paths:
            snapshot_strip(snaps.taken, paths["snapshots"] / "strip.png")
    except OutputError:
        for p in done:
            p.unlink(missing_ok=True)
        raise


def _content_size(path: Path, size: int) -> tuple[int, int]:
    """(height, width) of the content at longest side ``size``, from the file's header; a file that cannot be
    read gives (size, size) and fails, in its own words, when it is loaded."""
    wh = header_size(path)
    return (size, size) if wh is None else scaled_size((wh[1], wh[0]), size)


def run_stylize(job: StylizeJob, callback: Callback | None = None, stop: Stop = never) -> StylizeOutcome:
    """Run ``job``: check outputs, build targets, optimise, write image, sidecar, plot and snapshots.

    ``stop()`` is asked before every optimiser step. A :class:`~styleverse.cancel.StopFlag` set by a signal
    (Ctrl-C, SIGTERM, SIGHUP) ends the run ``interrupted``: the exact state is kept in the resume file and
    nothing else is written. Any other stop (the web app's Cancel) writes the image reached so far like a
    finished one, its sidecar saying ``stop_reason: stopped``.
    """
    cfg = job.config
    cfg.validate()
    styles, bank_weights = job.style.sources()
    paths = check_outputs(job, styles)
    h, w = _content_size(job.content, max(cfg.sizes))  # from the header: a size that cannot fit allocates nothing
    device = resolve_device(cfg.device)
    blocks = 2 if h * w > CHECKPOINT_PIXELS else 0  # as StyleContentModel runs it
    need = vgg_pass_bytes(
        h, w, arch=job.features.arch, precision=resolve_precision(cfg.precision, device), checkpoint_blocks=blocks
    )
    require_memory(need, device, f"size {max(h, w)}")
    content = pil_to_tensor(resize_longest(load_image(job.content), max(cfg.sizes)))
    out = Path(job.output)
    with output_lock(out):  # a second run writing the same image is refused, naming this one
        check_outputs(job, styles)  # again: another run may have written them since the first check
        remove_temp_files(out.parent, [out.name, paths["sidecar"].name, paths["resume"].name])
        if "plot" in paths:  # what a killed run's plot write left
            remove_temp_files(paths["plot"].parent, [paths["plot"].name])
        return _run_locked(job, paths, content, styles, bank_weights, callback, stop)


def _initial_image(job: StylizeJob, content: torch.Tensor) -> torch.Tensor | None:
    """The image the optimisation starts from, where ``init`` names one: a network's result on the content
    (``job.warm``, :func:`styleverse.fast.warm.warm_stylizer`) or an image file; None for content and noise."""
    if job.warm is not None:
        return warm_image(job.warm, content)
    if parse_warm(job.init) is not None:
        raise ConfigError(f"init {job.init}: open the model with styleverse.fast.warm.warm_stylizer", setting="init")
    return None if job.init in INITS else pil_to_tensor(load_image(job.init))


def _run_locked(job: StylizeJob, paths: dict[str, Path], content: torch.Tensor, styles: StyleSet,
                bank_weights: list[float], callback: Callback | None,
                stop: Stop = never) -> StylizeOutcome:  # fmt: skip
    cfg = job.config
    init = _initial_image(job, content)
    if job.style.preserve_color == "histogram":
        styles.transform = lambda t: match_histogram(t, content)
    prior = _load_resume(paths["resume"], job, content) if job.resume else None
    start = int(prior["transfer"]["step"]) if prior and "transfer" in prior else 0
    banks = job.style.load_banks()  # each bank file read once: its network, then its targets
    model, info = feature_network(job.features, banks)
    transfer = StyleTransfer(model, cfg)
    layers = model.style_weights
    job.style.add_bank_targets(styles, banks, bank_weights, info, layers, max(cfg.sizes), transfer.precision)
    snaps = _Snapshots(paths.get("snapshots"), callback)
    peak = PeakMemory()  # of this session's optimisation (none when a finished result is only written)
    if prior is not None and prior["finished"]:
        result = TransferResult(prior["image"], **dict(prior["result"]))  # finished, but could not be written
    else:
        saved = prior["transfer"] if prior is not None else None
        with peak_memory(transfer.device) as peak:
            result = transfer.run(content, styles, init=init, callback=snaps, state=saved, stop=stop)
    if prior is not None and result.diverged_at == start + 1:  # the saved numbers, not the settings, are at fault
        raise unfit("its numbers give NaN or inf at the first step continued", paths["resume"])
    if result.interrupted:
        _save_resume(paths["resume"], job, result)
        return StylizeOutcome(result, {"resume": paths["resume"]}, {}, interrupted=True)
    image = luminance_transfer(result.image, content) if job.style.preserve_color == "luminance" else result.image
    side = sidecar(job, styles, bank_weights, info, result, start, peak).to_json()
    try:
        _write(job, paths, image, side, result, snaps)
    except OutputError as e:
        _save_resume(paths["resume"], job, result)
        msg = f"{e}; the finished result is kept in {paths['resume']}: fix that and rerun with --resume"
        raise OutputError(msg) from None
    paths["resume"].unlink(missing_ok=True)
    if result.diverged_at is not None:
        raise ConfigError(
            f"loss became NaN/inf at step {result.diverged_at}; kept the last good image in {paths['image']}; "
            "lower lr or the loss weights",
            setting="lr",
        )
    if result.scales and not any(s.get("improved", True) for s in result.scales):
        log.warning(
            "%s: the image did not move from where it started (no step lowered the loss); lower the style "
            "weight or try the adam optimiser", paths["image"].name,
        )  # fmt: skip
    written = {k: v for k, v in paths.items() if k != "resume" and v.exists()}
    return StylizeOutcome(result, written, side)
