"""Style-set jobs: build a bank, analyse a set. What the CLI and the web app call.

Each job is a frozen dataclass; ``run_*`` does every check first (size and memory, inputs, all outputs
against the inputs and each other, resume state), then the work holding the outputs' locks, so a second
job on the same files is refused instead of racing it, and a refused job leaves nothing behind.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from styleverse.cancel import Stop, never
from styleverse.devices import MAX_IMAGE_SIDE, place, require_memory, resolve_device, resolve_precision, vgg_pass_bytes
from styleverse.distributed import on_main, process_group
from styleverse.errors import ConfigError, OutputError
from styleverse.io.images import check_output, probe_folder, remove_temp_files
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs, network_files
from styleverse.nn.features import FeatureSpec, build_model
from styleverse.styles.analysis import RANDOM_NOTE, Analysis, AnalysisSettings, analyze
from styleverse.styles.bank import Bank, build_bank, save_bank
from styleverse.styles.inputs import expand_inputs
from styleverse.styles.resume import BankCheckpoint, resume_path
from styleverse.styles.stream import Callback
from styleverse.styles.targets import StyleImage
from styleverse.versions import versions

BANK_SUFFIXES = (".safetensors",)


@dataclass(frozen=True)
class StyleInputs:
    """Style images, folders or frame manifests (``label`` picks manifest rows), weighted per entry, and the
    feature network that sees them at ``size`` px (``features``: no backbone means ImageNet VGG; its content
    layers are not used). ``seed`` drives the analysis' sampling. ``precision='auto'`` means float32 here: a
    bank is reference data every later run compares against; a float32 bank serves every run, a bf16 one
    only bf16 runs (see :func:`styleverse.styles.bank.check_compatible`)."""

    inputs: tuple[str, ...]
    weights: tuple[float, ...] | None = None
    label: str | None = None
    size: int = 512
    features: FeatureSpec = field(default_factory=FeatureSpec)
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0

    def images(self) -> tuple[list[StyleImage], list[Path]]:
        """The weighted images, and every input file and folder, the feature network's file included (outputs
        must not replace or join them)."""
        images = expand_inputs(list(self.inputs), list(self.weights) if self.weights else None, self.label)
        files = [s.path for s in images] + [Path(p) for p in self.inputs]
        return images, files + network_files(self.features.backbone)

    def check_size(self) -> None:
        """Refuse, before any work, a size beyond the bound or whose feature maps cannot fit in memory."""
        if self.size > MAX_IMAGE_SIDE:
            raise ConfigError(f"size must be at most {MAX_IMAGE_SIDE} pixels, got {self.size}", setting="size")
        need = vgg_pass_bytes(self.size, self.size, arch=self.features.arch, backward=False)
        require_memory(need, resolve_device(self.device), f"size {self.size}")

    def model(self) -> tuple[Any, Any, Any, str]:
        """Feature network on its device, its BackboneInfo, the device and the precision actually used."""
        device = resolve_device(self.device)
        precision = "fp32" if self.precision == "auto" else resolve_precision(self.precision, device)
        model, info = build_model(**self.features.resolve().model_args(), random_note=RANDOM_NOTE)
        return place(model, device, precision).eval(), info, device, precision

    def settings(self, device: Any) -> dict[str, Any]:
        weights = list(self.weights) if self.weights else None
        return {"inputs": list(self.inputs), "label": self.label, "weights": weights, "device": str(device)}


@dataclass(frozen=True)
class BankJob:
    """Average a style set into a bank file; resumable every ``checkpoint_every`` images and when stopped."""

    source: StyleInputs
    output: Path
    checkpoint_every: int = 200
    resume: bool = False
    overwrite: bool = False


def _checkpoint(job: BankJob, protected: list[Path], world_size: int = 1) -> list[BankCheckpoint]:
    """The build's resume state files (one per process), checked before any work: one present for
    ``resume``, else none holding an interrupted build unless ``overwrite``, never an input."""
    ckpts = [BankCheckpoint(resume_path(job.output, r, world_size), job.checkpoint_every, job.resume)
             for r in range(world_size)]  # fmt: skip
    if job.resume and not any(c.path.is_file() for c in ckpts):
        raise ConfigError(
            f"resume: no saved state at {ckpts[0].path}; run without resume to start afresh", setting="resume"
        )
    for ckpt in ckpts:
        if not job.resume and ckpt.path.exists() and not job.overwrite:
            raise OutputError(
                f"{ckpt.path}: holds an interrupted build; pass --resume to continue it or --overwrite to start over"
            )
        check_output(ckpt.path, protected, overwrite=True)
    return ckpts


def _check_bank(job: BankJob, protected: list[Path], world_size: int = 1) -> list[BankCheckpoint]:
    """The bank file and its resume states, checked against every input and an earlier build."""
    check_outputs({"-o": Output(job.output, suffixes=BANK_SUFFIXES)}, protected, job.overwrite)
    return _checkpoint(job, protected, world_size)


def run_bank(job: BankJob, callback: Callback | None = None, stop: Stop = never) -> tuple[Bank, Path]:
    """Build and save the bank; returns it and its path. ``stop()`` is asked before each image: True (or
    Ctrl-C) raises :class:`~styleverse.styles.resume.BankInterrupted` after saving the running sums.

    Under ``torchrun`` the images are shared by the processes (:func:`~styleverse.styles.bank.build_bank`);
    rank 0 alone checks and locks the output, reports progress (of its share) and writes the bank."""
    job.source.check_size()
    images, protected = job.source.images()
    with process_group(job.source.device) as (ctx, _), contextlib.ExitStack() as held:

        def claim() -> None:
            _check_bank(job, protected, ctx.world_size)
            held.enter_context(output_lock(job.output))
            ckpts = _check_bank(job, protected, ctx.world_size)  # again: another run may have written it since
            remove_temp_files(Path(job.output).parent, [Path(job.output).name, *(c.path.name for c in ckpts)])

        on_main(claim, ctx)
        ckpt = BankCheckpoint(resume_path(job.output, ctx.rank, ctx.world_size), job.checkpoint_every, job.resume)
        model, info, device, precision = job.source.model()
        settings = job.source.settings(device)
        callback = callback if ctx.is_main else None
        bank = build_bank(model, info, images, job.source.size, device, precision, callback, settings, ckpt, stop, ctx)
        out = on_main(lambda: save_bank(bank, job.output, job.overwrite, protected), ctx)
        ckpt.clear()
    return bank, out


def group_bank_path(path: Path, label: int) -> Path:
    """Where ``--write-bank PATH`` puts the bank of group ``label`` (0-based): ``PATH`` with ``.groupN``
    before its suffix (``gwen.safetensors`` -> ``gwen.group1.safetensors``)."""
    return path.with_name(f"{path.name.removesuffix(path.suffix)}.group{label + 1}{path.suffix}")


def _save_banks(result: Analysis, job: AnalyzeJob, settings: dict[str, Any], protected: list[Path]) -> None:
    """The subset's bank at ``--write-bank`` and, when the set splits into groups, one bank per group beside
    it; every path is checked before the first is written, and each bank records what a ``styles bank``
    build records."""
    assert job.write_bank is not None and result.subset_bank is not None
    banks = [(result.subset_bank, Path(job.write_bank))]
    banks += [(b, group_bank_path(Path(job.write_bank), g)) for g, b in enumerate(result.group_banks)]
    for _, path in banks[1:]:
        check_output(path, protected, job.overwrite)
    for bank, path in banks:
        bank.settings.update(settings)
        save_bank(bank, path, job.overwrite, protected)


@dataclass(frozen=True)
class AnalyzeJob:
    """Analyse a style set into a report folder (and optionally a bank of the suggested subset)."""

    source: StyleInputs
    output: Path
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    write_bank: Path | None = None
    overwrite: bool = False


def run_analyze(job: AnalyzeJob, callback: Callback | None = None, stop: Stop = never) -> Analysis:
    """Check everything, then analyse holding the report folder's (and the bank's) lock. A report folder
    this job created is removed again if the job fails or is stopped (``stop()``, asked before each image,
    raises :class:`~styleverse.cancel.Stopped`) before writing into it."""
    from styleverse.styles.report import report_paths, write_report

    out_dir = Path(job.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; -o takes the report folder")
    job.analysis.validate()
    job.source.check_size()
    images, protected = job.source.images()
    outputs: dict[str, Output | Path | None] = {"-o": Output(out_dir, "folder")}
    outputs |= {f"-o ({p.name})": p for p in report_paths(out_dir).values()}
    outputs["--write-bank"] = Output(job.write_bank, suffixes=BANK_SUFFIXES) if job.write_bank else None
    created = not out_dir.exists()
    try:
        check_outputs(outputs, protected, job.overwrite)  # may create the folder to prove it can be written
        probe_folder(out_dir)
        with contextlib.ExitStack() as held:
            held.enter_context(output_lock(out_dir, folder=True))
            remove_temp_files(out_dir)
            if job.write_bank:
                held.enter_context(output_lock(job.write_bank))
                remove_temp_files(Path(job.write_bank).parent, [Path(job.write_bank).name])
            check_outputs(outputs, protected, job.overwrite)  # again: another run may have written them since
            model, info, device, precision = job.source.model()
            cfg = replace(job.analysis, size=job.source.size, seed=job.source.seed, precision=precision)
            result = analyze(model, info, images, cfg, device, callback, stop)
            settings = job.source.settings(device)
            write_report(result, out_dir, {**settings, "versions": versions()})
            if job.write_bank:
                _save_banks(result, job, settings, protected)  # a bank records the versions itself
        return result
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # leave nothing behind on failure
        raise
