"""The outputs folder's path masked at the server's edge: out as ``~outputs`` in every textual response
(sized or streamed, even split between two chunks), back in as the folder in JSON bodies and ``file=`` URLs;
files served from the folder go out as they are."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from styleverse.app.pathmask import MARK, PathMask


def _client(root: Path) -> TestClient:
    async def sized(request: Request) -> Response:
        return JSONResponse({"path": f"{root}/.uploads/ab/p.png", "url": f"/gradio_api/file={root}/x.png",
                             "other": f"{root}er/keep.png", "root": str(root)})  # fmt: skip

    async def streamed(request: Request) -> Response:
        text = f'data: {{"path": "{root}/job/out.png"}}\n\n'
        cut = len('data: {"path": "') + 5  # inside the folder's path

        async def chunks() -> AsyncIterator[str]:
            yield text[:cut]
            yield text[cut:]

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def echo(request: Request) -> Response:  # as bytes: an image's type, which goes out unmasked
        return Response(json.dumps(await request.json()).encode(), media_type="image/png")

    async def served(request: Request) -> Response:
        return PlainTextResponse(f"{request.url.path} holds {root}/a")

    routes = [Route("/sized", sized), Route("/stream", streamed), Route("/echo", echo, methods=["POST"]),
              Route("/gradio_api/file={p:path}", served)]  # fmt: skip
    return TestClient(Starlette(routes=routes, middleware=[Middleware(PathMask, root=root)]))


def test_a_sized_response_names_the_folder_as_the_mark_and_keeps_its_length_true(tmp_path: Path) -> None:
    root = tmp_path / "out"
    r = _client(root).get("/sized")
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.json() == {"path": f"{MARK}/.uploads/ab/p.png", "url": f"/gradio_api/file={MARK}/x.png",
                        "other": f"{root}er/keep.png", "root": MARK}  # fmt: skip


def test_a_stream_split_inside_the_path_is_masked(tmp_path: Path) -> None:
    r = _client(tmp_path / "out").get("/stream")
    assert r.text == f'data: {{"path": "{MARK}/job/out.png"}}\n\n'


def test_the_mark_comes_back_as_the_folder_in_json_bodies_and_file_urls(tmp_path: Path) -> None:
    root = tmp_path / "out"
    client = _client(root)
    sent = {"data": [{"path": f"{MARK}/.uploads/ab/p.png", "note": f"{MARK}ish stays"}]}
    got = client.post("/echo", json=sent).content.decode()
    assert got == json.dumps({"data": [{"path": f"{root}/.uploads/ab/p.png", "note": f"{MARK}ish stays"}]})
    served = client.get(f"/gradio_api/file={MARK}/job/out.png").text
    assert served == f"/gradio_api/file={root}/job/out.png holds {root}/a"  # a served file goes out as it is


def test_the_mask_round_trips(tmp_path: Path) -> None:
    mask = PathMask(None, tmp_path / "out")
    text = f'["{tmp_path}/out/.uploads/a b/ü.png", "{tmp_path}/outside"]'.encode()
    assert mask.mask(text) == f'["{MARK}/.uploads/a b/ü.png", "{tmp_path}/outside"]'.encode()
    assert mask.unmask(mask.mask(text)) == text
