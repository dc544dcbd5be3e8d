"""What a trainer writes beside its model file, and the check of all of it before any work.

A model ``OUT.safetensors`` comes with its run state (``OUT.resume.safetensors``, see
:mod:`styleverse.io.state`), its loss curves (``OUT.losses.png``) and, when sampling, a folder of sample grids
(``OUT.samples/``). :func:`check_training_outputs` refuses, before the first step, an output that is an
input, a loss plot that would land among the photos it trains on, and an earlier run's files unless the user
said ``--resume`` or ``--overwrite``. :func:`training_run` holds the model's exclusive lock for the whole run
and checks again inside it, so two runs on one model never replace each other's files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from styleverse.distributed import DistContext, process_group
from styleverse.errors import ConfigError, OutputError
from styleverse.io.state import state_path

if TYPE_CHECKING:
    import torch

    from styleverse.training.settings import TrainerRun


def loss_plot_path(output: Path) -> Path:
    """``OUT.losses.png`` beside the model ``OUT.safetensors``."""
    return output.with_name(output.name.split(".")[0] + ".losses.png")


def samples_path(output: Path) -> Path:
    """``OUT.samples/`` beside the model ``OUT.safetensors``."""
    return output.with_name(output.name.split(".")[0] + ".samples")


def check_training_outputs(
    output: str | Path,
    *,
    resume: bool,
    overwrite: bool,
    sample_every: int,
    inputs: Iterable[str | Path],
    photo_sources: Sequence[str | Path] = (),
) -> Path:
    """The model path, after checking every output (model, run state, loss plot, samples folder) against the
    inputs and each other: a loss plot written into a photo folder would join the photos of the next run. A
    model, state or plot already there needs ``resume`` or ``overwrite``; ``resume`` needs a saved state."""
    from styleverse.io.outputs import Output, check_outputs

    out = Path(output)
    if not out.name.endswith(".safetensors"):
        raise ConfigError(f"{out}: the model file name must end in .safetensors")
    if resume and not state_path(out).is_file():
        raise ConfigError(
            f"resume: no saved state at {state_path(out)}; run without resume to start afresh", setting="resume"
        )
    outputs = {
        "-o": Output(out, "file", (".safetensors",)),
        "-o (run state)": Output(state_path(out), "file", (".safetensors",)),
        "-o (loss curves)": Output(loss_plot_path(out), "image"),
        "-o (samples)": Output(samples_path(out), "folder") if sample_every else None,
    }
    check_outputs(outputs, list(inputs), overwrite=True)  # what exists is judged below, with the --resume hint
    held = [p for p in (out, state_path(out), loss_plot_path(out)) if p.exists()]
    if held and not (resume or overwrite):
        raise OutputError(f"{held[0]}: already exists (an earlier run?); pass --resume to continue it or --overwrite")
    plot_dir = loss_plot_path(out).parent.resolve()
    for src in photo_sources:
        if Path(src).is_dir() and Path(src).resolve() == plot_dir:
            raise OutputError(f"-o {out}: its loss plot would join the photos in {src}; write the model elsewhere")
    return out


@contextlib.contextmanager
def training_run(
    cfg: TrainerRun, output: str | Path, inputs: Iterable[str | Path], photo_sources: Sequence[str | Path] = ()
) -> Iterator[tuple[DistContext, torch.device, Path]]:
    """The run of a trainer writing model ``output`` from ``inputs``: the process group of ``cfg.device``
    (:func:`~styleverse.distributed.process_group`) and, on its main process, which alone writes, every output
    checked (:func:`check_training_outputs` with ``cfg``'s resume, overwrite and sample interval) and the
    model's exclusive lock (:func:`~styleverse.io.lock.output_lock`) held for the block, checked again once
    held: a second run on the same model is refused naming the first, and a run that wrote its files between
    this run's check and its lock is not replaced. Yields ``(ctx, device, model path)``."""
    from styleverse.io.images import remove_temp_files
    from styleverse.io.lock import output_lock

    sources = list(inputs)

    def check() -> Path:
        return check_training_outputs(
            output, resume=cfg.resume, overwrite=cfg.overwrite, sample_every=cfg.sample_every, inputs=sources,
            photo_sources=photo_sources,
        )  # fmt: skip

    with process_group(cfg.device) as (ctx, device):
        if not ctx.is_main:
            yield ctx, device, Path(output)
            return
        out = check()
        with output_lock(out):
            check()
            remove_temp_files(out.parent, [out.name, state_path(out).name, loss_plot_path(out).name])
            yield ctx, device, out


def write_model(out: Path, write: Callable[[Path], Any], history: list[dict[str, float]], title: str) -> None:
    """Write the model with ``write(out)`` and, when there is a history, its loss curves; an unwritable place
    becomes a one-line :class:`OutputError`."""
    from styleverse.plots import plot_losses

    try:
        write(out)
        if history:
            plot_losses(history, loss_plot_path(out), title)
    except OSError as e:
        raise OutputError(f"{out}: cannot write ({e.strerror or e})") from None


def sample_file(out: Path, step: int) -> Path:
    """Where the sample grid of ``step`` goes (its folder made)."""
    folder = samples_path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"step_{step:06d}.png"
