"""The apply job of ``fast apply`` and ``adain apply``: image files stylised with any real-time model.

The model is opened with :func:`styleverse.fast.open.open_stylizer`, so every kind it knows works here; the
outputs (and, with a mask, every content's shape) are checked before the model is loaded, and each image is
written atomically as soon as it is done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from styleverse.devices import require_memory, resolve_device
from styleverse.errors import ConfigError, InputError, OutputError
from styleverse.fast.model import MIN_SIDE, check_size
from styleverse.fast.open import FrameFn, StylizerSpec, model_kind, open_stylizer
from styleverse.io.images import check_output, header_size, list_images, load_tensor, save_image

# Peak bytes per pixel of one pass, measured in float32 inference at 1024-2048 px (bf16 is 15-25% less): the
# default fast network (width 32) 0.96-0.98 KB, AdaIN's VGG encoder to relu4_1 0.74-0.78 KB; so a size
# that cannot fit is refused before the model loads, not in a MemoryError (or the kernel's kill) mid-run.
BYTES_PER_PIXEL = 1024


@dataclass(frozen=True)
class ApplyJob:
    """Every image of ``inputs`` (files and folders) stylised with ``spec`` into ``output``: an image file for
    a single input image, else a folder where results keep their input names. ``size`` is the longest side
    contents are processed at (None: as they are); ``kinds`` the model kinds taken (None: any)."""

    spec: StylizerSpec
    inputs: tuple[str, ...]
    output: str
    size: int | None = 512
    overwrite: bool = False
    kinds: tuple[str, ...] | None = None

    def validate(self) -> None:
        """The settings alone, before any file is read."""
        if not self.inputs:
            raise ConfigError("give at least one content image or folder")
        if self.size is not None and self.size < MIN_SIDE:
            raise ConfigError(f"size must be at least {MIN_SIDE} pixels", setting="size")
        model_kind(self.spec.model, self.kinds).check(self.spec)

    def plan(self) -> list[tuple[Path, Path]]:
        """The (input, output) pairs, every output and the mask's fit checked."""
        from styleverse.fast.adain.apply import check_mask_fits, load_mask

        self.validate()
        pairs = plan_outputs(self.inputs, self.output, self.overwrite, self.spec.inputs())
        self.check_memory([src for src, _ in pairs])
        if self.spec.mask:
            check_mask_fits(load_mask(self.spec.mask), [src for src, _ in pairs], self.size)
        return pairs

    def check_memory(self, images: Sequence[Path]) -> None:
        """One-line :class:`ConfigError` when the largest image at ``size`` (or a style image at the AdaIN
        ``style_size``) needs more memory than the device has free (:data:`BYTES_PER_PIXEL`)."""
        pixels, what, setting = 0, "", "size"
        for src in images:
            wh = header_size(src)
            if wh is None:
                continue  # not an image: loading it says so, in the file's own words
            w, h = wh
            s = self.size / max(w, h) if self.size else 1.0
            if round(w * s) * round(h * s) > pixels:
                pixels, what = round(w * s) * round(h * s), f"{src.name} at size {self.size or max(w, h)}"
        if self.spec.styles and self.spec.style_size**2 > pixels:
            pixels, what, setting = self.spec.style_size**2, f"style_size {self.spec.style_size}", "style_size"
        if pixels:
            require_memory(
                pixels * BYTES_PER_PIXEL, resolve_device(self.spec.device), what, f"lower {setting}", setting
            )


def run_apply(
    job: ApplyJob, callback: Callable[[Path], Any] | None = None, pairs: list[tuple[Path, Path]] | None = None
) -> list[Path]:
    """Stylise every input of ``job`` (``pairs``: its :meth:`ApplyJob.plan`, made now when None); returns
    the files written, ``callback(output)`` after each."""
    pairs = job.plan() if pairs is None else pairs
    return apply_images(open_stylizer(job.spec, job.kinds), pairs, job.size, callback)


def plan_outputs(
    inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], overwrite: bool = False,
    protect: Sequence[str | os.PathLike[str]] = (),
) -> list[tuple[Path, Path]]:  # fmt: skip
    """(input image, output file) pairs: ``output`` is a file for one input image, a folder (created) for
    a folder or several inputs, where each result keeps its input's file name. Checked before any work."""
    images = list_images(inputs)
    single = len(images) == 1 and len(inputs) == 1 and not Path(inputs[0]).is_dir()
    out = Path(output)
    if single:
        return [(images[0], check_output(out, [*images, *protect], overwrite))]
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: several inputs need an output folder, and this is a file")
    names = [p.name for p in images]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two inputs are named {dup[0]}; the output folder would hold one; rename one")
    return [(p, check_output(out / p.name, [*images, *protect], overwrite)) for p in images]


def apply_images(
    stylizer: FrameFn, pairs: Sequence[tuple[Path, Path]],
    size: int | None = None, callback: Callable[[Path], Any] | None = None,
) -> list[Path]:  # fmt: skip
    """Stylise each input (longest side ``size``, or as it is) and save it atomically; returns the outputs."""
    written = []
    for src, dst in pairs:
        img = load_tensor(src, size)
        check_size(int(img.shape[-2]), int(img.shape[-1]), str(src))
        written.append(save_image(stylizer(img), dst))
        if callback is not None:
            callback(dst)
    return written
