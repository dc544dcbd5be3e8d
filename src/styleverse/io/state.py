"""One resumable-state mechanism for every long job (stylise, bank builds, training, video).

A job saves its state as one ``.safetensors`` file, written atomically (readers see the previous state
or the new one, never a part). The file holds any nested structure of dicts, lists, tensors and JSON
scalars (optimizer state dicts, RNG states, running sums): tensors go into the safetensors body under
their path (``optimizer/state/0/exp_avg``), everything else into a JSON skeleton in the metadata. Beside
it the metadata keeps the job's ``kind``, a format number and a **fingerprint**: the settings that must
be equal for a saved state to continue, and a checksum (:mod:`styleverse.io.tensorfile`). :func:`load_state`
refuses another kind, an unreadable or damaged file (a byte that no longer matches the checksum, non-finite
floating tensors) and a different fingerprint, naming the settings that differ
(``size: 512 then, 256 now``) so the user knows what to change. No pickle is involved anywhere.

A job's fingerprint is its settings dataclass as plain values (:func:`fingerprint`) without the fields
marked :func:`not_fingerprinted`: those a resume may differ in because they do not change the result
(where outputs go, whether to overwrite, how often to save, the step count a training run may grow to).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import torch

from styleverse.errors import ConfigError, DamagedFileError
from styleverse.io.tensorfile import MAX_MAGNITUDE, read_tensors, write_tensors

STATE_FORMAT = 1
_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


def not_fingerprinted(default: Any = MISSING, *, default_factory: Any = MISSING) -> Any:
    """A dataclass field with a default that :func:`fingerprint` leaves out: a setting a resume may differ
    in. (A field without a default says it as ``field(metadata={"fingerprint": False})``, which type
    checkers read as required.)"""
    return field(default=default, default_factory=default_factory, metadata={"fingerprint": False})


def fingerprint(obj: Any, leave_out: Collection[str] = ()) -> Any:
    """``obj`` as plain JSON values (nested dataclasses, mappings and sequences walked, paths as text)
    without the dataclass fields marked :func:`not_fingerprinted` nor, at the top, those in ``leave_out``:
    what a saved state must share with the job that continues it."""
    return _values(obj, True, leave_out)


def plain_settings(obj: Any) -> Any:
    """``obj`` as plain JSON values as :func:`fingerprint` walks it, every field kept: the settings a run
    records beside what it made."""
    return _values(obj, False)


def _values(obj: Any, fingerprinted: bool, leave_out: Collection[str] = ()) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        wanted = (f for f in fields(obj) if not fingerprinted or f.metadata.get("fingerprint", True))
        keep = (f.name for f in wanted if f.name not in leave_out)
        return {name: _values(getattr(obj, name), fingerprinted) for name in keep}
    if isinstance(obj, Mapping):
        return {k: _values(v, fingerprinted) for k, v in obj.items() if k not in leave_out}
    if isinstance(obj, list | tuple):
        return [_values(v, fingerprinted) for v in obj]
    return str(obj) if isinstance(obj, os.PathLike) else obj


def state_path(output: str | os.PathLike[str]) -> Path:
    """The resume file that belongs to output ``output``: ``OUT.resume.safetensors`` beside it."""
    out = Path(output)
    return out.with_name(out.name + ".resume.safetensors")


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """A JSON skeleton of ``obj`` whose tensors are moved into ``tensors`` under their path."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "_"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: key}
    if isinstance(obj, Mapping):
        for k in obj:
            if not isinstance(k, str | int) or isinstance(k, bool):
                raise TypeError(f"state keys must be str or int, not {type(k).__name__}")
        return {"__map__": [[k, flatten(v, tensors, f"{prefix}/{k}" if prefix else str(k))] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    raise TypeError(f"cannot store {type(obj).__name__} in a state file")


def unflatten(skel: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(skel, list):
        return [unflatten(v, tensors) for v in skel]
    if isinstance(skel, dict):
        if _TENSOR in skel:
            return tensors[skel[_TENSOR]]
        if _TUPLE in skel:
            return tuple(unflatten(v, tensors) for v in skel[_TUPLE])
        if "__float__" in skel:
            return float(skel["__float__"])
        return {k: unflatten(v, tensors) for k, v in skel["__map__"]}
    return skel


def _plain(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(fingerprint), sort_keys=True, default=str))


def save_state(
    path: str | os.PathLike[str], kind: str, fingerprint: Mapping[str, Any], state: Mapping[str, Any]
) -> int:
    """Write ``state`` (nested dicts/lists/tuples of tensors and JSON scalars) atomically to ``path`` with a
    checksum, after checking the disk has room (:mod:`styleverse.io.tensorfile`); returns its size in bytes."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(dict(state), tensors)
    meta = {
        "styleverse_kind": kind,
        "format": str(STATE_FORMAT),
        "fingerprint": json.dumps(_plain(fingerprint), sort_keys=True),
        "state": json.dumps(skeleton),
    }
    return write_tensors(path, tensors, meta, dedupe=True)


Describe = Callable[[Any, Any], str]


def differences(old: Mapping[str, Any], new: Mapping[str, Any], describe: Mapping[str, Describe] | None = None) -> str:
    """The fingerprint entries that differ, e.g. ``size: 512 then, 256 now``; entries of nested dicts are
    named by their own key. ``describe`` gives a sentence for entries whose raw values say little (digests)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if describe and k in describe:
            out.append(describe[k](a, b))
        elif isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(s for s in set(a) | set(b) if a.get(s) != b.get(s))
            out.extend(f"{s}: {a.get(s)!r} then, {b.get(s)!r} now"[:120] for s in keys)
        else:
            out.append(f"{k}: {a!r} then, {b!r} now"[:120])
    return "; ".join(out)


def _check_finite(tensors: Mapping[str, torch.Tensor]) -> None:
    for k, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"'{k}' holds NaN or inf values")
        if t.is_floating_point() and t.numel() and float(t.abs().max()) > MAX_MAGNITUDE:
            raise ValueError(f"'{k}' holds values beyond {MAX_MAGNITUDE:g}, which no run saves")


def unfit(why: str, path: str | os.PathLike[str] | None = None, flag: str = "resume") -> ConfigError:
    """The one-line error for a saved state that reads back but does not fit the job that would continue it
    (an edited file, or one written for other settings): ``why`` names the first field that does not fit."""
    what = path if path is not None else "the saved state"
    return ConfigError(f"{flag}: {what} does not fit this run ({why}); delete it to start afresh", setting=flag)


def _what(v: Any) -> str:
    return f"{v.dtype} {tuple(v.shape)}" if isinstance(v, torch.Tensor) else type(v).__name__


def check_like(saved: Any, like: Any, where: str = "state") -> None:
    """ValueError naming the first place where ``saved`` (part of a loaded state) is not shaped like ``like``
    (the same part as this job would save it now): a tensor of the same dtype and shape, a mapping with the
    same keys, a sequence of the same length, a number, text or flag of the same kind."""
    if isinstance(like, torch.Tensor):
        ok = isinstance(saved, torch.Tensor) and saved.dtype == like.dtype and saved.shape == like.shape
    elif isinstance(like, Mapping):
        ok = isinstance(saved, Mapping) and set(saved) == set(like)
    elif isinstance(like, list | tuple):
        ok = isinstance(saved, list | tuple) and len(saved) == len(like)
    elif isinstance(like, bool) or like is None or isinstance(like, str):
        ok = isinstance(saved, type(like))
    else:  # a number: int and float are both numbers, a flag is not
        ok = isinstance(saved, int | float) and not isinstance(saved, bool)
    if not ok:
        raise ValueError(f"{where} is {_what(saved)}, expected {_what(like)}")
    if isinstance(like, Mapping):
        for k in like:
            check_like(saved[k], like[k], f"{where}/{k}")
    elif isinstance(like, list | tuple):
        for i, (a, b) in enumerate(zip(saved, like, strict=True)):
            check_like(a, b, f"{where}/{i}")


def check_tensors_like(saved: Any, like: torch.Tensor, where: str = "state") -> None:
    """ValueError unless every tensor with more than one value anywhere in ``saved`` (nested mappings and
    sequences) has the dtype and shape of ``like``: what the variables of a run and its optimiser's
    per-variable state (moments, curvature pairs) must share with the variables they belong to."""
    stack: list[tuple[str, Any]] = [(where, saved)]
    while stack:
        at, v = stack.pop()
        if isinstance(v, Mapping):
            stack += [(f"{at}/{k}", x) for k, x in v.items()]
        elif isinstance(v, list | tuple):
            stack += [(f"{at}/{i}", x) for i, x in enumerate(v)]
        elif isinstance(v, torch.Tensor) and v.numel() > 1 and (v.shape != like.shape or v.dtype != like.dtype):
            raise ValueError(f"{at} is {_what(v)}, expected {_what(like)}")


def load_state(
    path: str | os.PathLike[str], kind: str, fingerprint: Mapping[str, Any], flag: str = "resume",
    describe: Mapping[str, Describe] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The state saved at ``path`` by a job of ``kind`` with the same ``fingerprint``; a one-line
    :class:`ConfigError` when it is missing, unreadable, damaged or was saved with other settings, naming
    ``flag`` (the setting that asked to resume, or the work folder that holds the state)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{flag}: no saved state at {p}; run without {flag} to start afresh", setting=flag)
    try:
        tensors, meta = read_tensors(p)
        if meta.get("styleverse_kind") != kind or meta.get("format") != str(STATE_FORMAT):
            raise ValueError(f"not a styleverse {kind} state file of this version")
        _check_finite(tensors)
        old = json.loads(meta["fingerprint"])
        state = unflatten(json.loads(meta["state"]), tensors)
    except DamagedFileError as e:
        raise DamagedFileError(f"{flag}: {e}") from None
    except Exception as e:
        why = f"{type(e).__name__}: {str(e)[:120]}"
        raise ConfigError(f"{flag}: cannot read {p} ({why}); delete it to start afresh", setting=flag) from None
    diff = differences(old, _plain(fingerprint), describe)
    if diff:
        raise ConfigError(
            f"{flag}: {p} was saved with different settings ({diff}); rerun the same command or start over",
            setting=flag,
        )
    return state
