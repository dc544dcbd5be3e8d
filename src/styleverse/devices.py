"""Device and numeric-precision choices shared by style transfer, banks and training.

bf16 autocast + ``channels_last`` runs convolutions in bfloat16 while Gram matrices and losses stay in
float32 (see :func:`styleverse.nn.losses.gram`). ``auto`` picks bf16 only where the hardware runs it
natively: CUDA GPUs with bf16 support, and CPUs with AMX or AVX-512 BF16 instructions.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

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
        raise ConfigError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    return dev


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo lists AMX-BF16 or AVX512_BF16 (Linux; False elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return bool(flags & {"amx_bf16", "avx512_bf16"})


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


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """bf16 autocast when ``precision == 'bf16'``, a no-op otherwise."""
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
