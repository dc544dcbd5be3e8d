"""The resumable store of described shots: what ``frames discover`` has learnt about each film so far.

One folder per film and description settings, ``OUT/.discover/<stem>-<key>/``, holding chunks of up to
:data:`CHUNK` records (``chunk-00000.safetensors``, ...) in the one resumable-state format
(:mod:`styleverse.io.state`: atomic, checksummed, refused when saved with other settings). A chunk holds its
records' times and kinds, their description vectors and thumbnails, and where sampling continues after its
last shot. Only the last chunk is ever rewritten, so saving after a shot costs a chunk, not the whole film;
a film of thousands of shots is read back a chunk at a time.

The key is a hash of the film (resolved path, size, modification time) and of every setting that changes a
description (sampling, sizes, thresholds, the network's identity and layers, precision): the same command
continues where it stopped; another network or sampling describes the film afresh in a folder of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from styleverse.errors import InputError
from styleverse.frames.describe import Described, Resume, Shot
from styleverse.io.state import load_state, save_state

CHUNK = 64
KIND = "discover-shots"
WORK = ".discover"


def film_identity(path: Path) -> dict[str, Any]:
    """What makes a film file this film: its resolved path, size and modification time."""
    try:
        st = path.stat()
    except OSError as e:
        raise InputError(f"{path}: cannot read the film ({e.strerror or e})") from None
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def store_key(path: Path, settings: dict[str, Any]) -> str:
    """The folder name of a film's store: ``<stem>-<12 hex digits>``."""
    text = json.dumps({"film": film_identity(path), "settings": settings}, sort_keys=True, default=str)
    return f"{path.stem[:40]}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@dataclass
class Progress:
    """Where a film's description stands: records so far, where to continue (None: at the beginning), done."""

    records: int = 0
    resume: Resume | None = None
    done: bool = False


class ShotStore:
    """One film's chunks; :meth:`append` buffers records of finished shots, :meth:`save` writes the last
    chunk, :meth:`records` reads them all back in order."""

    def __init__(self, folder: Path, film: int, fingerprint: dict[str, Any], thumb: int) -> None:
        self.folder, self.film, self.fingerprint, self.thumb = folder, film, fingerprint, thumb
        self.pending: list[Described] = []  # records of the last chunk (saved or not)
        self.state = Progress()
        chunks = self._chunks()
        if chunks:
            last = self._load(chunks[-1])
            self.pending = self._described(last)
            time, cut, luma, done = last["progress"]
            self.state = Progress((len(chunks) - 1) * CHUNK + len(self.pending), Resume(time, cut, luma), done)

    def _chunks(self) -> list[Path]:
        return sorted(self.folder.glob("chunk-*.safetensors")) if self.folder.is_dir() else []

    def _load(self, path: Path) -> dict[str, Any]:
        return load_state(path, KIND, self.fingerprint, flag=f"the work folder {self.folder}")

    def append(self, records: Sequence[Described], resume: Resume | None) -> None:
        """Records of one finished shot; description continues at ``resume`` (None: the film is done)."""
        self.pending.extend(records)
        self.state = Progress(self.state.records + len(records), resume or self.state.resume, resume is None)

    def save(self) -> None:
        """Write the last chunk (and start a new one when it is full)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            first = (self.state.records - len(self.pending)) // CHUNK
            head = self.pending[:CHUNK]
            r = self.state.resume or Resume(0.0, 0, None)
            state = self._tensors(head) | {"progress": [r.time, r.cut, r.luma, self.state.done]}
            save_state(self.folder / f"chunk-{first:05d}.safetensors", KIND, self.fingerprint, state)
            if len(self.pending) <= CHUNK:
                return
            self.pending = self.pending[CHUNK:]

    def _tensors(self, records: Sequence[Described]) -> dict[str, Any]:
        n, size = len(records), self.thumb
        thumbs = torch.zeros((n, size, size, 3), dtype=torch.uint8)
        dims = [list(r.thumb.shape[:2]) for r in records]
        for i, r in enumerate(records):
            thumbs[i, : r.thumb.shape[0], : r.thumb.shape[1]] = torch.from_numpy(np.array(r.thumb))
        width = next((len(r.vector) for r in records if r.vector is not None), 0)
        vectors = torch.zeros((n, width))
        for i, r in enumerate(records):
            if r.vector is not None:
                vectors[i] = torch.from_numpy(r.vector)
        shots = [list(astuple(r.shot))[1:] for r in records]
        return {"shots": shots, "described": [r.vector is not None for r in records], "vectors": vectors,
                "thumbs": thumbs, "dims": dims}  # fmt: skip

    def _described(self, state: dict[str, Any]) -> list[Described]:
        out = []
        for i, (row, has, (h, w)) in enumerate(zip(state["shots"], state["described"], state["dims"], strict=True)):
            vector = state["vectors"][i].numpy() if has else None
            thumb = state["thumbs"][i, :h, :w].numpy()
            out.append(Described(Shot(self.film, *row), vector, thumb))
        return out

    def records(self, thumbs: bool = False) -> Iterator[Described]:
        """Every record saved, in film order (thumbnails only when asked: they are most of the bytes)."""
        for path in self._chunks():
            for r in self._described(self._load(path)):
                yield r if thumbs else Described(r.shot, r.vector, np.zeros((0, 0, 3), np.uint8))


def store_folder(out: str | os.PathLike[str], key: str) -> Path:
    """Where the store of ``key`` lives inside the output folder."""
    return Path(out) / WORK / key
