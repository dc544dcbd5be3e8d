"""The one way styleverse writes and reads ``.safetensors`` files: sealed with a checksum, announced with their
size, written only when the disk has room.

Every file styleverse writes (resume states, style banks, fast models, AdaIN decoders, classifier checkpoints,
video work folders) carries ``styleverse_checksum`` in its metadata: a SHA-256 over the other metadata and
each tensor's name, dtype, shape and raw bytes in key order. safetensors checks that the header and the data
fit together, but a changed byte inside a tensor (a flipped bit in an RNG state, a weight) reads back as a
valid value and would silently change a resumed run or a model; :func:`read_tensors` refuses it in one line
(:class:`~styleverse.errors.DamagedFileError`) and never touches the file. Files written before the checksum
existed have none and are read as before, so nobody's work is lost.

:func:`write_tensors` checks the free space first (:func:`ensure_free_space`) and logs the size written; a
resume state stores byte-equal tensors once (:func:`seal`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch

from styleverse.errors import DamagedFileError, WriteError
from styleverse.io.images import write_bytes_atomic

CHECKSUM_KEY = "styleverse_checksum"
ALIASES_KEY = "styleverse_aliases"
_ALGORITHM = "sha256"
MAX_MAGNITUDE = 1e30  # no file styleverse writes holds numbers this large: one that does was edited
SPACE_MARGIN = 16 << 20  # bytes left free beyond the file itself (the file system needs some room too)

log = logging.getLogger(__name__)


def human_size(n: int) -> str:
    """``330 MB``, ``12 kB``, ``512 B``: a size for messages (decimal units, as disks are sold)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:.0f} {unit}"
    return f"{n} B"


def tensor_bytes(t: torch.Tensor) -> memoryview:
    """The raw bytes of contiguous CPU tensor ``t`` (any dtype, bfloat16 and bool included), without a copy."""
    return memoryview(t.reshape(-1).view(torch.uint8).numpy().data)


def _digest(t: torch.Tensor) -> str:
    return hashlib.new(_ALGORITHM, tensor_bytes(t)).hexdigest()


def checksum(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], digests: Mapping[str, str] | None = None
) -> str:
    """``sha256:<hex>`` over ``metadata`` (minus any checksum) and every tensor's name, dtype, shape and bytes
    (``digests``: the tensors' own digests where already known), in key order."""
    h = hashlib.new(_ALGORITHM)
    h.update(json.dumps({k: v for k, v in metadata.items() if k != CHECKSUM_KEY}, sort_keys=True).encode())
    for k in sorted(tensors):
        t = tensors[k]
        h.update(json.dumps([k, str(t.dtype), list(t.shape), digests[k] if digests else _digest(t)]).encode())
    return f"{_ALGORITHM}:{h.hexdigest()}"


def _aliases(tensors: Mapping[str, torch.Tensor], digests: Mapping[str, str]) -> dict[str, str]:
    """``{key: earlier key}`` for tensors equal to an earlier one in dtype, shape and every byte (an
    optimiser's best point is often its previous point): stored once, read back as separate copies."""
    first: dict[tuple[str, tuple[int, ...], str], str] = {}
    out = {}
    for k in sorted(tensors):
        t = tensors[k]
        key = (str(t.dtype), tuple(t.shape), digests[k])
        if key in first and torch.equal(tensors[first[key]], t):
            out[k] = first[key]
        else:
            first.setdefault(key, k)
    return out


def seal(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], dedupe: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """What a writer saves: contiguous CPU copies of ``tensors`` and ``metadata`` with the checksum added.
    ``dedupe`` stores each distinct tensor once and the others as aliases (for resume states only: a file
    that others may read with an older styleverse keeps every tensor)."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: str(v) for k, v in metadata.items() if k not in (CHECKSUM_KEY, ALIASES_KEY)}
    digests = {k: _digest(t) for k, t in flat.items()}
    aliases = _aliases(flat, digests) if dedupe else {}
    if aliases:
        meta[ALIASES_KEY] = json.dumps(aliases, sort_keys=True)
        flat = {k: v for k, v in flat.items() if k not in aliases}
    meta[CHECKSUM_KEY] = checksum(flat, meta, digests)
    return flat, meta


def ensure_free_space(path: str | os.PathLike[str], size: int) -> None:
    """A one-line :class:`WriteError` when the folder of ``path`` has less than ``size`` bytes (plus a margin)
    free: checked before a large write, so a full disk costs no half-written temporary file."""
    target = Path(path)
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return  # the write itself will report what is wrong with the folder
    if free < size + SPACE_MARGIN:
        cause = f"needs {human_size(size)}, only {human_size(free)} free there"
        msg = f"{target}: cannot write ({cause}); free some space or write elsewhere"
        raise WriteError(msg, str(target), cause, errno.ENOSPC)


def write_tensors(
    path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], dedupe: bool = False
) -> int:
    """Write ``tensors`` with ``metadata`` sealed by a checksum (:func:`seal`), atomically, after checking the
    free space; returns the file's size in bytes (logged at debug level: video states are written per frame)."""
    from safetensors.torch import save

    flat, meta = seal(tensors, metadata, dedupe)
    ensure_free_space(path, sum(t.numel() * t.element_size() for t in flat.values()))
    data = save(flat, metadata=meta)
    write_bytes_atomic(Path(path), data)
    log.debug("wrote %s (%s)", path, human_size(len(data)))
    return len(data)


def verify(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], where: str | os.PathLike[str]) -> None:
    """A one-line :class:`DamagedFileError` when ``metadata`` has a checksum that ``tensors`` do not match
    (a file without a checksum was written before there was one, and passes)."""
    saved = metadata.get(CHECKSUM_KEY)
    if saved is None:
        return
    if checksum(tensors, metadata) != saved:
        raise DamagedFileError(
            f"{where}: damaged: its contents do not match the checksum saved with them (a changed byte on disk "
            "or in a copy); the file was left as it is: restore it from a copy or make it again"
        )


def read_tensors(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the metadata of a ``.safetensors`` file, checked against its checksum. safetensors'
    own errors (not safetensors, cut short) pass through for the caller to name; the file is only read."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    verify(tensors, meta, path)
    for k, same in json.loads(meta.pop(ALIASES_KEY, "{}")).items():
        tensors[k] = tensors[same].clone()
    return tensors, meta
