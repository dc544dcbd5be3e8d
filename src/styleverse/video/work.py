"""The work folder of a video job: finished frames and the state to continue after Ctrl-C or a kill.

``OUT.work/`` beside the output holds ``frames/000000.png ...`` (each stylised frame, 8-bit, written
atomically), ``lead/000000.png ...`` (the lead-in frames of chunks, :mod:`styleverse.video.segments`),
``state.safetensors`` (:mod:`styleverse.io.state`: the job's plan — frame times, shots and chunks — and the
fingerprint of every setting the frames depend on) and ``segments/000000.safetensors ...``, one state per
segment (its per-frame records and the stylizer's own state), written only by the process stylising that
segment, so processes on one shared folder never write the same file. A segment's state is saved after
each frame's PNG, so a kill at any moment loses at most the frame in progress; a frame whose PNG is missing
is simply redone. With several passes (:mod:`styleverse.video.ranks`) a frame's record names the last pass
that finished it, and a later pass's PNG waits as ``000000.pass2.png`` until the state naming it is saved,
so the frame of the pass before stays there for a resumed run to start again from. Each frame and each
state is written only when the disk has room for it (one line naming the file otherwise). The folder is
removed once the outputs are written.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from styleverse.errors import ConfigError, InputError
from styleverse.io.images import save_image
from styleverse.io.state import load_state, save_state, unfit
from styleverse.io.tensorfile import ensure_free_space
from styleverse.video.segments import blend

STATE_KIND = "video"
STATE_FILE = "state.safetensors"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _checked(i: int, rec: dict[str, Any]) -> dict[str, Any]:
    """Frame record ``i`` as the frame loop writes it, or a ValueError naming what an edit changed."""
    pts, losses, done = rec["pts"], rec.get("losses") or {}, rec.get("pass", 0)
    ok = rec["index"] == i and _number(rec["time"]) and rec["time"] >= 0 and (pts is None or isinstance(pts, int))
    ok = ok and isinstance(done, int) and not isinstance(done, bool) and done >= 0
    if not (ok and _number(rec["seconds"]) and isinstance(rec["steps"], int) and all(map(_number, losses.values()))):
        raise ValueError(f"frame record {i} is not one the frame loop writes")
    return rec


def work_folder(output: Path) -> Path:
    """``OUT.work`` beside the output (file or folder)."""
    out = Path(str(output).rstrip("/\\") or ".")
    return out.with_name(out.name + ".work")


class WorkFolder:
    """Finished frames and resume state of one job, identified by ``fingerprint``."""

    def __init__(self, path: Path, fingerprint: Mapping[str, Any]) -> None:
        self.path, self.fingerprint = Path(path), dict(fingerprint)
        self.state_file = self.path / STATE_FILE
        self.frames_dir, self.lead_dir = self.path / "frames", self.path / "lead"
        self.segments_dir = self.path / "segments"
        self.blend: dict[int, float] = {}  # frame index -> weight of its lead-in frame in the output

    def state_path(self, segment: int | None = None) -> Path:
        """The job's state file, or segment ``segment``'s."""
        return self.state_file if segment is None else self.segments_dir / f"{segment:06d}.safetensors"

    def exists(self) -> bool:
        return self.state_file.is_file()

    def load(self, segment: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Records of the finished frames (those whose PNG is still there, in order) and the stylizer state
        (of ``segment``; none saved yet: nothing); :class:`ConfigError` when the folder was made with other
        settings."""
        path = self.state_path(segment)
        if segment is not None and not path.is_file():
            return [], {}
        state = self._state(path)
        raw = [dict(r) for r in state.get("frames", [])]
        try:
            first = int(raw[0]["index"]) if raw else 0
            records = [_checked(first + i, r) for i, r in enumerate(raw)]
        except (TypeError, ValueError, KeyError) as e:
            raise unfit(f"{e}; or pass overwrite to discard the {self.path.name} work folder", path,
                        flag=str(self.path)) from None  # fmt: skip
        for i, rec in enumerate(records):
            lead = bool(rec.get("lead"))
            if rec.get("pass", 0):  # a later pass's frame: its file may wait for the state that names it
                self.commit(first + i, lead, int(rec["pass"]))
            if int(rec["index"]) != first + i or not self.frame_path(first + i, lead).is_file():
                return records[:i], dict(state.get("stylizer") or {})
        return records, dict(state.get("stylizer") or {})

    def save(self, records: list[dict[str, Any]], stylizer: Mapping[str, Any], segment: int | None = None) -> None:
        """Write the state (of ``segment``) after a frame (atomic)."""
        path = self.state_path(segment)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_state(path, STATE_KIND, self.fingerprint, {"frames": records, "stylizer": dict(stylizer)})

    def load_plan(self) -> dict[str, Any]:
        """The job's plan as :meth:`save_plan` wrote it."""
        return dict(self._state(self.state_file).get("plan") or {})

    def _state(self, path: Path) -> dict[str, Any]:
        try:
            return dict(load_state(path, STATE_KIND, self.fingerprint, flag=str(self.path)))
        except ConfigError as e:
            raise ConfigError(
                f"{e}; or pass overwrite to discard the {self.path.name} work folder", "overwrite"
            ) from None

    def save_plan(self, plan: Mapping[str, Any]) -> None:
        """Write the job's plan (frame times, segments; JSON values) into its state file (atomic)."""
        self.path.mkdir(parents=True, exist_ok=True)
        save_state(self.state_file, STATE_KIND, self.fingerprint, {"frames": [], "stylizer": {}, "plan": dict(plan)})

    def frame_path(self, index: int, lead: bool = False) -> Path:
        """Where finished frame ``index`` is kept (``lead``: the lead-in version of a chunk's first frames)."""
        return (self.lead_dir if lead else self.frames_dir) / f"{index:06d}.png"

    def pending_path(self, index: int, lead: bool, pass_index: int) -> Path:
        """Where pass ``pass_index`` (> 0) of frame ``index`` waits until the state records it (:meth:`commit`)."""
        return self.frame_path(index, lead).with_suffix(f".pass{pass_index}.png")

    def commit(self, index: int, lead: bool, pass_index: int) -> None:
        """Make the waiting pass ``pass_index`` of frame ``index`` its finished frame (nothing waiting: it
        already is). A later pass replaces the frame the pass before made, which a resumed run needs until
        the state says the new one is done; so the new file waits beside it until then."""
        with contextlib.suppress(FileNotFoundError):  # another process may have committed it just now
            os.replace(self.pending_path(index, lead, pass_index), self.frame_path(index, lead))

    def save_frame(self, index: int, image: Any, lead: bool = False, pass_index: int = 0) -> None:
        """Write frame ``index`` (a (1,3,H,W) tensor or a PIL image) as PNG, if the disk has room for it; a
        later pass (``pass_index`` > 0) writes it to wait for :meth:`commit`."""
        path = self.pending_path(index, lead, pass_index) if pass_index else self.frame_path(index, lead)
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = image.shape[-2:] if hasattr(image, "shape") else image.size[::-1]
        ensure_free_space(path, 3 * int(h) * int(w))  # a PNG is at most about its raw size
        save_image(image, path)

    def output_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as the output shows it: blended with its lead-in version where a chunk led in."""
        own = self.read_frame(index)
        weight = self.blend.get(index)
        return own if weight is None else blend(own, self.read_frame(index, lead=True), weight)

    def read_frame(self, index: int, lead: bool = False) -> np.ndarray:
        """RGB uint8 (H, W, 3) of finished frame ``index`` (``lead``: its lead-in version)."""
        p = self.frame_path(index, lead)
        try:
            with Image.open(p) as im:
                return np.asarray(im.convert("RGB")).copy()
        except OSError as e:
            raise InputError(f"{p}: finished frame unreadable ({e}); pass --overwrite to start afresh") from None

    def remove(self) -> None:
        """Delete what this module wrote (frames, state, temporary files a kill left) and then the folders
        if they are empty; anything else someone put there stays."""
        for folder in (self.frames_dir, self.lead_dir, self.segments_dir, self.path):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                suffix = {self.frames_dir: ".png", self.lead_dir: ".png", self.segments_dir: ".safetensors"}.get(folder)
                ours = p.suffix == suffix if suffix else p.name == STATE_FILE
                if p.is_file() and (ours or p.name.startswith(".")):
                    p.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
