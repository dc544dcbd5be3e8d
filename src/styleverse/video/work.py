"""The work folder of a video job: finished frames and the state to continue after Ctrl-C or a kill.

``OUT.work/`` beside the output holds ``frames/000000.png ...`` (each stylised frame, 8-bit, written
atomically) and ``state.safetensors`` (:mod:`styleverse.io.state`: the per-frame records, the stylizer's
own state, and the fingerprint of every setting the frames depend on). The state is saved after each
frame's PNG, so a kill at any moment loses at most the frame in progress; a frame whose PNG is missing is
simply redone. Each frame and each state is written only when the disk has room for it (one line naming the
file otherwise). The folder is removed once the outputs are written.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from styleverse.errors import ConfigError, InputError
from styleverse.io.images import save_image
from styleverse.io.state import load_state, save_state, unfit
from styleverse.io.tensorfile import ensure_free_space

STATE_KIND = "video"
STATE_FILE = "state.safetensors"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _checked(i: int, rec: dict[str, Any]) -> dict[str, Any]:
    """Frame record ``i`` as the frame loop writes it, or a ValueError naming what an edit changed."""
    pts, losses = rec["pts"], rec.get("losses") or {}
    ok = rec["index"] == i and _number(rec["time"]) and rec["time"] >= 0 and (pts is None or isinstance(pts, int))
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
        self.frames_dir = self.path / "frames"

    def exists(self) -> bool:
        return self.state_file.is_file()

    def load(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Records of the finished frames (those whose PNG is still there, in order) and the stylizer state;
        :class:`ConfigError` when the folder was made with other settings."""
        try:
            state = load_state(self.state_file, STATE_KIND, self.fingerprint, flag=str(self.path))
        except ConfigError as e:
            raise ConfigError(
                f"{e}; or pass overwrite to discard the {self.path.name} work folder", "overwrite"
            ) from None
        try:
            records = [_checked(i, dict(r)) for i, r in enumerate(state.get("frames", []))]
        except (TypeError, ValueError, KeyError) as e:
            raise unfit(f"{e}; or pass overwrite to discard the {self.path.name} work folder", self.state_file,
                        flag=str(self.path)) from None  # fmt: skip
        for i, rec in enumerate(records):
            if int(rec["index"]) != i or not self.frame_path(i).is_file():
                return records[:i], dict(state.get("stylizer") or {})
        return records, dict(state.get("stylizer") or {})

    def save(self, records: list[dict[str, Any]], stylizer: Mapping[str, Any]) -> None:
        """Write the state after a frame (atomic)."""
        save_state(self.state_file, STATE_KIND, self.fingerprint, {"frames": records, "stylizer": dict(stylizer)})

    def frame_path(self, index: int) -> Path:
        return self.frames_dir / f"{index:06d}.png"

    def save_frame(self, index: int, image: Any) -> None:
        """Write frame ``index`` (a (1,3,H,W) tensor or a PIL image) as PNG, if the disk has room for it."""
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        h, w = image.shape[-2:] if hasattr(image, "shape") else image.size[::-1]
        ensure_free_space(self.frame_path(index), 3 * int(h) * int(w))  # a PNG is at most about its raw size
        save_image(image, self.frame_path(index))

    def read_frame(self, index: int) -> np.ndarray:
        """RGB uint8 (H, W, 3) of finished frame ``index``."""
        p = self.frame_path(index)
        try:
            with Image.open(p) as im:
                return np.asarray(im.convert("RGB")).copy()
        except OSError as e:
            raise InputError(f"{p}: finished frame unreadable ({e}); pass --overwrite to start afresh") from None

    def remove(self) -> None:
        """Delete what this module wrote (frames, state, temporary files a kill left) and then the folders
        if they are empty; anything else someone put there stays."""
        for folder in (self.frames_dir, self.path):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                ours = p.suffix == ".png" if folder == self.frames_dir else p.name == STATE_FILE
                if p.is_file() and (ours or p.name.startswith(".")):
                    p.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
