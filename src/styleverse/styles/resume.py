"""Resumable bank builds: the running sums of an unfinished ``build_bank`` saved beside its output.

Long jobs must survive an interrupt and leave no partial output (DESIGN.md). With a :class:`BankCheckpoint`,
``build_bank`` writes ``OUT.resume.safetensors`` atomically every ``every`` images and on Ctrl-C (then raises
:class:`BankInterrupted`); ``resume=True`` continues from it. The file holds the exact float64 running sums
and the images after them are added in the same order by the same code, so a resumed bank equals an
uninterrupted one bit for bit. The bank itself is only ever written whole, by ``save_bank``.

File format (``.safetensors``): ``sum.<layer>`` float64 (C, C) Σ wᵢ Gᵢ; ``sq_norm_sum.<layer>`` float64
Σ wᵢ ‖Gᵢ‖²_F; ``weight_sum`` / ``weight_sq_sum`` float64; ``count`` int64 (images added, which is also the
index of the next one). Metadata: ``styleverse_kind`` = ``bank_resume``, ``format``, ``layers`` (JSON list,
in order) and ``fingerprint`` (JSON: the settings that change the bank and ``bank_inputs.inputs_digest`` of
the ordered inputs); a resume with any of them different is refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from styleverse.errors import ConfigError
from styleverse.io.images import write_bytes_atomic
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.inputs import inputs_digest
from styleverse.transfer.targets import GramDict, RunningSums, StyleImage

log = logging.getLogger("styleverse")

STATE_KIND = "bank_resume"
STATE_FORMAT = 1


@dataclass(frozen=True)
class BankCheckpoint:
    """Where ``build_bank`` keeps its resume state, how often it saves it (every ``every`` images; 0: only
    on Ctrl-C) and whether to continue from it. The caller calls :meth:`clear` once the bank is saved."""

    path: Path
    every: int = 200
    resume: bool = False

    def clear(self) -> None:
        """Remove the state file: the bank it was building is safely on disk."""
        Path(self.path).unlink(missing_ok=True)


class BankInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``build_bank``; the state of the first ``done`` of ``total`` images is in ``path``."""

    def __init__(self, path: Path, done: int, total: int):
        super().__init__(f"interrupted after {done} of {total} images; state saved to {path}")
        self.path, self.done, self.total = Path(path), done, total


def resume_path(output: str | os.PathLike[str]) -> Path:
    """The resume state file that belongs to bank file ``output``: ``OUT.resume.safetensors``."""
    out = Path(output)
    return out.with_name(out.name + ".resume.safetensors")


def fingerprint(
    info: BackboneInfo,
    layers: Iterable[str],
    images: Sequence[StyleImage],
    size: int | None,
    precision: str,
    settings: Mapping[str, object],
) -> dict[str, object]:
    """What must be equal for a saved build to continue: network, layers, size, precision, the caller's
    settings and the ordered inputs (paths, weights, sizes, modification times), as plain JSON values."""
    raw = {
        "backbone": info.to_dict(),
        "layers": list(layers),
        "size": size,
        "precision": precision,
        "settings": dict(settings),
        "images": len(images),
        "inputs": inputs_digest(images),
    }
    return json.loads(json.dumps(raw, sort_keys=True, default=str))


def save_state(path: Path, sums: RunningSums, fp: Mapping[str, object]) -> None:
    """Write the running sums atomically (readers see the previous state or this one, never a part)."""
    from safetensors.torch import save

    f64 = torch.float64
    tensors = {
        "weight_sum": torch.tensor(sums.weight, dtype=f64),
        "weight_sq_sum": torch.tensor(sums.weight_sq, dtype=f64),
        "count": torch.tensor(sums.count, dtype=torch.int64),
    }
    for k, t in sums.total.items():
        tensors[f"sum.{k}"] = t.contiguous()
        tensors[f"sq_norm_sum.{k}"] = torch.tensor(sums.sq_norm[k], dtype=f64)
    meta = {"styleverse_kind": STATE_KIND, "format": str(STATE_FORMAT), "layers": json.dumps(list(sums.total))}
    write_bytes_atomic(path, save(tensors, metadata={**meta, "fingerprint": json.dumps(fp, sort_keys=True)}))
    log.debug("%s: saved bank state after %d images", path, sums.count)


def _differences(old: Mapping[str, object], new: Mapping[str, object]) -> str:
    """The fingerprint entries that differ, e.g. ``size: 512 then, 256 now``."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if k == "inputs":
            out.append("the input images changed (paths, weights, file sizes or modification times)")
        elif k == "settings" and isinstance(a, dict) and isinstance(b, dict):
            out.extend(
                f"{s}: {a.get(s)!r} then, {b.get(s)!r} now"[:120]
                for s in sorted(set(a) | set(b))
                if a.get(s) != b.get(s)
            )
        elif k == "backbone" and isinstance(a, dict) and isinstance(b, dict):
            out.append(f"backbone {a.get('identity')} then, {b.get('identity')} now")
        else:
            out.append(f"{k}: {a!r} then, {b!r} now"[:120])
    return "; ".join(out)


def _read_sums(f) -> RunningSums:
    """The sums in an open state file, checked: square finite float64 Grams, finite weights."""
    total: GramDict = {}
    sq: dict[str, float] = {}
    for k in json.loads(f.metadata()["layers"]):
        t, s = f.get_tensor(f"sum.{k}"), float(f.get_tensor(f"sq_norm_sum.{k}"))
        if t.dtype != torch.float64 or t.dim() != 2 or t.shape[0] != t.shape[1] or not torch.isfinite(t).all():
            raise ValueError(f"layer {k} is not a finite square float64 sum")
        total[k], sq[k] = t, s
    w, w2, n = (f.get_tensor(k).item() for k in ("weight_sum", "weight_sq_sum", "count"))
    if not (math.isfinite(w) and math.isfinite(w2) and n >= 0 and all(map(math.isfinite, sq.values()))):
        raise ValueError("weight sums are not finite")
    return RunningSums(total, sq, float(w), float(w2), int(n))


def load_state(path: Path, fp: Mapping[str, object]) -> RunningSums:
    """The saved sums, after checking they come from the same build; one-line :class:`ConfigError` when
    the file is missing, unreadable or was saved with other settings or inputs."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise ConfigError(f"--resume: no saved state at {path}; run without --resume to start afresh")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            if meta.get("styleverse_kind") != STATE_KIND or int(meta.get("format", 0)) != STATE_FORMAT:
                raise ValueError("not a styleverse bank resume file of this version")
            old = json.loads(meta["fingerprint"])
            sums = _read_sums(f)
    except Exception as e:
        why = f"{type(e).__name__}: {str(e)[:120]}"
        raise ConfigError(f"--resume: cannot read {path} ({why}); delete it and start afresh") from None
    diff = _differences(old, fp)
    if diff:
        raise ConfigError(
            f"--resume: {path} was saved by a different build ({diff}); rerun the same command, "
            "or start over with --overwrite"
        )
    return sums


def add_with_checkpoints(
    sums: RunningSums,
    items: Iterable[tuple[GramDict, float]],
    ckpt: BankCheckpoint,
    fp: Mapping[str, object],
    total: int,
) -> RunningSums:
    """``sums`` plus ``items`` (the rest of a ``total``-image stream), saving the state every ``ckpt.every``
    images and on Ctrl-C, which then becomes :class:`BankInterrupted`."""
    try:
        for grams, w in items:
            sums = sums.add(grams, w)
            if ckpt.every and sums.count % ckpt.every == 0 and sums.count < total:
                save_state(ckpt.path, sums, fp)
    except KeyboardInterrupt:
        save_state(ckpt.path, sums, fp)
        raise BankInterrupted(ckpt.path, sums.count, total) from None
    return sums
