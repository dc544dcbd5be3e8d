"""The outputs folder's location never reaches the browser: :class:`PathMask` stands ``~outputs`` for it.

Gradio names every file it hands the page by its absolute path on the server: the ``path`` of each file
payload, the ``/gradio_api/file=<path>`` URL it is fetched from, the list the upload route answers. The
page keeps these and sends them back as the identity of a file (an upload's payload is an input of the next
event), so they cannot simply be dropped. Everything Gradio serves lives inside the outputs folder (its
cache is ``.uploads/`` there, :mod:`styleverse.app.server`), so one substitution at the server's edge hides
the rest: going out, the folder's absolute path becomes :data:`MARK` (``/srv/out/.uploads/ab/p.png`` ->
``~outputs/.uploads/ab/p.png``); coming in (a JSON body, a ``file=`` URL), :data:`MARK` becomes the folder
again, so Gradio and the jobs see the paths they made. Files served from the folder are sent as they are.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

MARK = "~outputs"  # unreserved URL characters only: the same in a URL, in JSON and in HTML
_TEXT = (b"text/", b"json", b"javascript")  # bodies that may name a file (not images, not video)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def _json(text: str) -> str:
    """``text`` as it stands inside a JSON string (as browsers and orjson write it: non-ASCII kept)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


class PathMask:
    """ASGI middleware: ``root`` (an absolute folder) written as :data:`MARK` in every textual response but
    the files served from it (``/file=`` routes), and :data:`MARK` read back as ``root`` in JSON request
    bodies and ``file=`` URLs."""

    def __init__(self, app: Any, root: str | Path) -> None:
        self.app = app
        roots = {str(Path(root).absolute()), str(Path(root).resolve())}
        forms = {f for r in roots for f in (r, _json(r), json.dumps(r)[1:-1], urllib.parse.quote(r, safe="/"))}
        # the folder itself or anything in it; not a longer name that starts the same (/srv/out vs /srv/outer)
        self._out = re.compile(b"|".join(re.escape(f.encode()) for f in sorted(forms, key=len, reverse=True))
                               + rb"(?![\w.~-])")  # fmt: skip
        self._heads = {f.encode() for f in forms}
        self._root = str(Path(root).absolute())
        self._in = re.compile(re.escape(MARK.encode()) + rb"(?![\w.~-])")

    def mask(self, body: bytes) -> bytes:
        """``body`` with the folder's path (plain, JSON-escaped or URL-quoted) written as :data:`MARK`."""
        return self._out.sub(MARK.encode(), body)

    def unmask(self, body: bytes, in_json: bool = True) -> bytes:
        """``body`` with :data:`MARK` written as the folder's path again (escaped for JSON when ``in_json``)."""
        root = (_json(self._root) if in_json else self._root).encode()
        return self._in.sub(lambda _: root, body)

    def _held(self, body: bytes) -> int:
        """How many bytes at the end of a streamed chunk could begin the folder's path (kept for the next)."""
        return max((n for head in self._heads for n in range(len(head), 0, -1) if body.endswith(head[:n])), default=0)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_file = "/file=" in scope["path"]
        if is_file and MARK in scope["path"]:
            scope = dict(scope, path=self.unmask(scope["path"].encode(), in_json=False).decode())
            scope["raw_path"] = urllib.parse.quote(scope["path"], safe="/=~").encode()
        headers = dict(scope.get("headers") or [])
        if b"json" in headers.get(b"content-type", b""):
            receive = self._unmasked(receive)
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != b"content-length"])
        await self.app(scope, receive, send if is_file else self._masked(send))

    def _unmasked(self, receive: Callable[[], Awaitable[Message]]) -> Callable[[], Awaitable[Message]]:
        """``receive`` giving the whole request body at once, unmasked."""
        read = False

        async def whole() -> Message:
            nonlocal read
            if read:
                return await receive()
            body = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                body += message.get("body", b"")
                if not message.get("more_body"):
                    read = True
                    return {"type": "http.request", "body": self.unmask(body), "more_body": False}

        return whole

    def _masked(self, send: Any) -> Callable[[Message], Awaitable[None]]:
        """``send`` masking a textual response: a sized one whole (its length corrected), a stream chunk by
        chunk (holding back a tail that could begin the folder's path)."""
        start: Message | None = None
        mode, pending = "pass", b""

        async def masked(message: Message) -> None:
            nonlocal start, mode, pending
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                textual = any(t in headers.get(b"content-type", b"") for t in _TEXT)
                if not textual or b"content-encoding" in headers:
                    await send(message)
                elif b"content-length" in headers:
                    start, mode = message, "whole"
                else:
                    mode = "stream"
                    await send(message)
                return
            if message["type"] != "http.response.body" or mode == "pass":
                await send(message)
                return
            pending += message.get("body", b"")
            more = bool(message.get("more_body"))
            if mode == "whole":
                if not more:
                    await self._send_whole(send, start, self.mask(pending))
                return
            keep = self._held(pending) if more else 0
            out, pending = self.mask(pending[: len(pending) - keep]), pending[len(pending) - keep :]
            await send({**message, "body": out})

        return masked

    @staticmethod
    async def _send_whole(send: Any, start: Message | None, body: bytes) -> None:
        assert start is not None
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})
