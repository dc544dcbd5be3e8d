"""The one file format of styleverse's artefacts (style banks, fast models, AdaIN decoders): a ``.safetensors``
file whose metadata says what it is (``styleverse_kind``) and holds a JSON document under one key.

:func:`write_artifact` writes atomically; :func:`read_artifact` gives the tensors and the JSON document, or a
one-line :class:`~styleverse.errors.InputError` naming the file for every way a user's file can be wrong:
missing, not safetensors, cut short, a changed byte (:mod:`styleverse.io.tensorfile` checksum), another kind
of file, damaged metadata, a format newer than this version reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from styleverse.errors import DamagedFileError, InputError
from styleverse.io.tensorfile import MAX_MAGNITUDE, read_tensors, write_tensors

KIND_KEY = "styleverse_kind"
N = TypeVar("N", bound=nn.Module)


@dataclass(frozen=True)
class ArtifactKind:
    """What one kind of artefact is called and where its JSON document lives.

    ``kind``: the ``styleverse_kind`` value; ``key``: the metadata key of the JSON document; ``noun``: what
    error messages call the file ("style bank"); ``title``: what a file of another kind is not ("a style
    bank"); ``hint``: how to get a good one; ``format``: the newest ``format`` number this version reads.
    """

    kind: str
    key: str
    noun: str
    title: str
    hint: str
    format: int = 1


def write_artifact(
    path: str | os.PathLike[str], what: ArtifactKind, tensors: dict[str, torch.Tensor], doc: dict[str, Any]
) -> Path:
    """Write ``tensors`` with ``doc`` as JSON and a checksum, atomically, if the disk has room; replaces ``path``."""
    write_tensors(path, tensors, {KIND_KEY: what.kind, what.key: json.dumps(doc, default=str)})
    return Path(path)


def read_artifact(path: str | os.PathLike[str], what: ArtifactKind) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and JSON document of an artefact of kind ``what``, or a one-line :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {what.noun}")
    try:
        tensors, raw = read_tensors(p)
    except DamagedFileError:
        raise
    except Exception as e:
        raise InputError(f"{p}: not a readable {what.noun} ({type(e).__name__}: {str(e)[:100]}); {what.hint}") from None
    if raw.get(KIND_KEY) != what.kind:
        other = raw.get(KIND_KEY, "not a styleverse file")
        raise InputError(f"{p}: not {what.title} (it is {other}); {what.hint}")
    damaged = InputError(f"{p}: {what.noun} metadata is damaged; {what.hint}")
    try:
        doc = json.loads(raw[what.key])
    except (KeyError, ValueError):
        raise damaged from None
    if not isinstance(doc, dict):
        raise damaged
    try:
        fmt = int(doc.get("format", 0))
    except (TypeError, ValueError):
        raise damaged from None
    if fmt > what.format:
        raise InputError(f"{p}: {what.noun} format {fmt} is newer than this styleverse reads; upgrade styleverse")
    _check_numbers(p, what, tensors)
    return tensors, doc


def write_network(path: str | os.PathLike[str], what: ArtifactKind, net: nn.Module, doc: dict[str, Any]) -> Path:
    """:func:`write_artifact` of a network's weights (in float32) with ``doc``."""
    tensors = {k: v.detach().float().contiguous() for k, v in net.state_dict().items()}
    return write_artifact(path, what, tensors, doc)


def read_network(
    path: str | os.PathLike[str], what: ArtifactKind, build: Callable[[dict[str, Any]], N]
) -> tuple[N, dict[str, Any]]:
    """The network an artefact of kind ``what`` holds, made by ``build(doc)`` from its JSON document, with its
    weights, in eval mode and without gradients; and the document. Weights that do not fit the network a
    document describes are a one-line :class:`InputError` (the file is damaged)."""
    p = Path(path)
    tensors, doc = read_artifact(p, what)  # every tensor checked to be finite
    try:
        net = build(doc)
        net.load_state_dict(tensors)
    except Exception as e:
        why = " ".join(str(e).split())[:100]  # one line: load_state_dict lists its mismatches on lines of their own
        raise InputError(f"{p}: {what.noun} is damaged ({type(e).__name__}: {why}); {what.hint}") from None
    net.eval().requires_grad_(False)
    return net, doc


def _check_numbers(p: Path, what: ArtifactKind, tensors: dict[str, torch.Tensor]) -> None:
    """Every tensor of an artefact is floating point (weights, statistics, sums), finite and below
    ``MAX_MAGNITUDE``: a tensor stored as integers or holding NaN/inf or absurd values (an edited file whose
    checksum was redone) would be used as numbers."""
    for name, t in tensors.items():
        if not t.is_floating_point():
            raise InputError(
                f"{p}: {what.noun} tensor {name} holds {t.dtype}, not the numbers styleverse writes; {what.hint}"
            )
        if not bool(torch.isfinite(t).all()):
            raise InputError(f"{p}: {what.noun} tensor {name} holds NaN or infinite values; {what.hint}")
        if t.numel() and float(t.abs().max()) > MAX_MAGNITUDE:
            raise InputError(f"{p}: {what.noun} tensor {name} holds values beyond {MAX_MAGNITUDE:g}; {what.hint}")
