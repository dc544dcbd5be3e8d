"""The app's disk: uploads limited by kind while they arrive, and the outputs folder kept to an age and a size.

Gradio refuses any upload over one size (the largest the server takes, a video's); :class:`UploadGuard`
counts each file's bytes as the request streams in and stops an image, bank or model at its own, smaller
limit before the rest is written (Gradio's parser then removes what it had written and answers 413).

:func:`sweep` removes job folders and uploads older than ``keep_hours``, then the oldest ones until the whole
outputs folder is under ``max_disk_gb``; a folder a page still shows (:class:`Holds`: held by its session
until the page closes) is never removed. The server sweeps after every upload and before every new job.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from styleverse.app.config import MB, Limits
from styleverse.app.files import Workspace

log = logging.getLogger("styleverse")
GB = 1024 * MB
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv", ".ts", ".wmv", ".flv")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def limit_mb(filename: str, limits: Limits) -> float:
    """The size limit of one uploaded file, by its kind (a video's name, or anything else)."""
    return limits.max_video_mb if filename.lower().endswith(VIDEO_SUFFIXES) else limits.max_upload_mb


class Holds:
    """Job folders that open pages still show, per session (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, set[Path]] = {}

    def hold(self, session: str, folder: Path) -> None:
        """Keep ``folder`` while the page of ``session`` is open."""
        with self._lock:
            self._held.setdefault(session, set()).add(folder)

    def release(self, session: str) -> None:
        """The page of ``session`` closed: its folders may expire."""
        with self._lock:
            self._held.pop(session, None)

    def held(self) -> set[Path]:
        with self._lock:
            return set().union(*self._held.values()) if self._held else set()


def _entries(ws: Workspace) -> list[tuple[float, int, Path]]:
    """(last change, bytes, path) of every job folder and upload folder, oldest first."""
    found = []
    for parent in (ws.root, ws.uploads):
        for p in parent.iterdir():
            if p == ws.uploads or (parent == ws.root and p.name.startswith(".")):
                continue
            stats = [s for f in (p.rglob("*") if p.is_dir() else [p]) if not f.is_dir() and (s := _stat(f))]
            stats = stats or [s for s in [_stat(p)] if s]  # an empty folder: its own time
            if stats:
                found.append((max(s.st_mtime for s in stats), sum(s.st_size for s in stats), p))
    return sorted(found, key=lambda e: e[0])


def _stat(p: Path) -> os.stat_result | None:
    try:
        return p.lstat()
    except OSError:  # removed meanwhile (another sweep, a finished upload's move)
        return None


def sweep(ws: Workspace, keep_hours: float, max_disk_gb: float, held: set[Path] | None = None, room: int = 0) -> int:
    """Remove what expired (module doc), never a folder in ``held``, leaving ``room`` bytes under the cap for
    what is about to arrive; returns the bytes freed. Temporary files of uploads still arriving stay."""
    entries, now, freed, held = _entries(ws), time.time(), 0, held or set()
    total = sum(size for _, size, _ in entries)
    for changed, size, path in entries:
        if path in held or (path.parent == ws.uploads and path.is_file() and now - changed < 3600):
            continue
        if now - changed > keep_hours * 3600 or total + room > max_disk_gb * GB:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            total, freed = total - size, freed + size
    if freed:
        log.info("app: removed %.1f MB of old uploads and job folders", freed / MB)
    return freed


class UploadGuard:
    """ASGI middleware: each file of an upload request stopped at its kind's limit while it arrives
    (:func:`limit_mb`), after ``make_room(bytes)`` was called with the request's size."""

    def __init__(self, app: Any, limits: Limits, make_room: Callable[[int], object] = lambda n: None) -> None:
        self.app, self.limits, self.make_room = app, limits, make_room

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/upload"):
            await self.app(scope, receive, send)
            return
        import anyio

        headers = dict(scope["headers"])
        counter = _PartCounter(headers.get(b"content-type", b""), self.limits)
        size = int(headers.get(b"content-length", b"0") or 0) if headers.get(b"content-length", b"").isdigit() else 0
        await anyio.to_thread.run_sync(self.make_room, min(size, self.limits.largest_upload_bytes))

        async def guarded() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                counter.feed(message.get("body", b""))
            return message

        await self.app(scope, guarded, send)


class _PartCounter:
    """Follows a multipart body as it streams: the current file's name and bytes so far."""

    def __init__(self, content_type: bytes, limits: Limits) -> None:
        from python_multipart.multipart import MultipartParser, parse_options_header

        _, params = parse_options_header(content_type)
        self.limits, self.name, self.size, self.header = limits, "", 0, b""
        callbacks = {"on_part_begin": self._begin, "on_part_data": self._data, "on_header_value": self._header,
                     "on_header_end": self._header_end}  # fmt: skip
        self.parser = MultipartParser(params[b"boundary"], callbacks) if b"boundary" in params else None  # type: ignore[arg-type]

    def feed(self, chunk: bytes) -> None:
        if self.parser is not None and chunk:
            self.parser.write(chunk)

    def _begin(self) -> None:
        self.name, self.size, self.header = "", 0, b""

    def _header(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def _header_end(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.header)
        if b"filename" in options:
            self.name = options[b"filename"].decode("utf-8", "replace")
        self.header = b""

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self.name:
            return
        self.size += end - start
        mb = limit_mb(self.name, self.limits)
        if self.size > mb * MB:
            from starlette.formparsers import MultiPartException

            # "maximum allowed size": the words Gradio's upload route answers 413 for
            raise MultiPartException(f"{Path(self.name).name}: over the maximum allowed size of {mb:g} MB")
