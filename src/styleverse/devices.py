"""Device and numeric-precision choices shared by style transfer, banks and training.

bf16 autocast + ``channels_last`` runs convolutions in bfloat16 while Gram matrices and losses stay in
float32 (see :func:`styleverse.nn.losses.gram`). ``auto`` picks bf16 only where the hardware runs it
natively: CUDA GPUs with bf16 support, and CPUs with AMX or AVX-512 BF16 instructions.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from styleverse.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU. Asking for CUDA without one is a :class:`ConfigError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but no CUDA GPU is available; use device cpu", setting="device")
    return dev


NATIVE_BF16_ENV = "STYLEVERSE_NATIVE_BF16"  # "1"/"0" overrides the CPU check (tests run both code paths)


def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists AMX-BF16 or AVX512_BF16 (Linux; False elsewhere), unless the environment
    variable ``STYLEVERSE_NATIVE_BF16`` says ``1`` or ``0``: the suite sets it to run the bf16 paths on every
    CPU, and to keep them out on one that has bf16."""
    forced = os.environ.get(NATIVE_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return _cpuinfo_has_bf16()


@functools.cache
def _cpuinfo_has_bf16() -> bool:
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())  # the flags are the only such words
    except OSError:
        return False
    return bool(words & {"amx_bf16", "avx512_bf16"})


def resolve_precision(precision: str, device: torch.device) -> str:
    """Map ``auto|fp32|bf16`` to the precision actually used on ``device``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def memory_format(precision: str) -> torch.memory_format:
    """channels_last pays off together with bf16 on oneDNN/cuDNN; float32 keeps the default layout."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def place(module: ModuleT, device: torch.device | str | None, precision: str) -> ModuleT:
    """Move ``module`` to ``device`` (None: where it is) in the memory layout ``precision`` runs best with."""
    if device is not None:
        module.to(device)
    module.to(memory_format=memory_format(precision))  # type: ignore[call-overload]  # torch's stubs omit it
    return module


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast when ``precision == 'bf16'``, a no-op otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


MAX_IMAGE_SIDE = 16384  # px: the largest --size any command accepts (memory is checked separately)
_VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # convs per block (nn.vgg.CONFIGS)
_VGG_WIDTHS = (64, 128, 256, 512, 512)
GIB = 1024**3


def vgg_pass_bytes(
    height: int,
    width: int,
    batch: int = 1,
    arch: str = "vgg19",
    deepest_block: int = 5,
    precision: str = "fp32",
    backward: bool = True,
    checkpoint_blocks: int = 0,
) -> int:
    """Estimated peak bytes of one VGG pass over ``batch`` images of ``height`` x ``width`` pixels, up to
    conv block ``deepest_block`` (1-5), so a size that cannot fit is refused before any work.

    Counts activations only (weights are ~80 MB and the Grams C² floats): every conv output and ReLU output
    (the network's ReLUs are not in place) and pool output, at 4 bytes (2 under bf16 autocast). With
    ``backward`` (style transfer optimises the image; training) all of them stay alive for the gradient
    and the gradient of the largest one is added twice; without it (banks, analysis, evaluation) the largest
    input/output pair plus the returned features, about 3.5 times the largest activation, are alive at once.
    ``checkpoint_blocks`` (the first N blocks recomputed in backward, see ``VGGFeatures.forward``): their
    activations and the later blocks' are never alive together, so the larger of the two groups counts.
    Measured on CPU (peak resident memory of a whole process, VGG19): fp32 at 384 and 768 px within 25%;
    bf16 with blocks 1-2 checkpointed, 4096 px: estimate 16.8 GiB, measured 18.5 GiB (0.5 of it the process
    itself); 2048 px: 4.2 GiB, measured 5.0 GiB.
    """
    elem = 2 if precision == "bf16" else 4
    h, w = height, width
    groups: list[list[int]] = []
    for block, convs in enumerate(_VGG_BLOCKS.get(arch, _VGG_BLOCKS["vgg19"])[:deepest_block]):
        acts = [_VGG_WIDTHS[block] * h * w] * (2 * convs)  # conv + relu outputs
        h, w = max(1, h // 2), max(1, w // 2)
        groups.append([*acts, _VGG_WIDTHS[block] * h * w])  # and the pool output
    largest = max(max(g) for g in groups)
    if not backward:
        return 7 * largest // 2 * batch * elem
    early, late = groups[:checkpoint_blocks], groups[checkpoint_blocks:]
    kept = max(sum(map(sum, early)), sum(map(sum, late))) if early else sum(map(sum, late))
    per_image = 3 * height * width + kept + 2 * largest
    return per_image * batch * elem


def available_memory(device: torch.device) -> int | None:
    """Bytes free for tensors on ``device``: free CUDA memory, or the kernel's MemAvailable on a CPU (None
    when neither can be read)."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    avail = _proc_bytes("/proc/meminfo", "MemAvailable")
    if avail is not None:
        return avail
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(
    need: int, device: torch.device, what: str, hint: str = "lower size", setting: str | tuple[str, ...] = "size"
) -> None:
    """:class:`ConfigError` up front when ``need`` bytes (an estimate such as :func:`vgg_pass_bytes`) exceed
    what ``device`` has free, instead of a multi-GiB allocation failing (or the kernel killing us) mid-run;
    ``what`` and ``hint`` may name the ``setting`` (or settings) to change."""
    have = available_memory(device)
    if have is not None and need > have:
        raise ConfigError(
            f"{what} needs about {need / GIB:.1f} GiB, but {device} has {have / GIB:.1f} GiB free; {hint}", setting
        )


def _proc_bytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` line of a Linux /proc file, in bytes; None where it cannot be read."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class PeakMemory:
    """Filled in when its :func:`peak_memory` block ends: peak ``bytes`` and ``kind``, what was measured."""

    bytes: int | None = None
    kind: str | None = None


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[PeakMemory]:
    """Yields a :class:`PeakMemory` whose ``bytes`` is, after the block, its peak memory.

    CUDA: the allocator's peak during the block (kind ``cuda allocated``). CPU: the process's peak resident
    memory (``process resident``), reset at the start of the block where Linux allows it
    (``/proc/self/clear_refs``); where it does not, the process's lifetime peak (``process resident,
    lifetime``). Another job running in the same process (the web app) counts in a CPU peak. ``bytes`` stays
    None where nothing can be read.
    """
    peak = PeakMemory()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        kind = "cuda allocated"
    else:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
            kind = "process resident"
        except OSError:
            kind = "process resident, lifetime"
    try:
        yield peak
    finally:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            peak.bytes = int(torch.cuda.max_memory_allocated(device))
        else:
            peak.bytes = _proc_bytes("/proc/self/status", "VmHWM")  # the peak resident size
        peak.kind = kind if peak.bytes is not None else None
