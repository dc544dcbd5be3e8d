"""The server without a browser: it listens on 127.0.0.1, serves files from its outputs folder and nowhere
else, refuses uploads over the size limit, and ``styleverse app`` checks its flags in one line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from fixtures.app import free_port, make_ctx
from fixtures.cli import one_error_line
from styleverse.app.config import MB, AppConfig, Limits
from styleverse.app.pathmask import MARK
from styleverse.app.server import serve


def _running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: Limits, **settings: Any
) -> Iterator[tuple[str, AppConfig]]:
    """A running app (in this process) with ``limits`` and other ``settings``; yields its URL and config. The
    process-wide settings the app makes (Gradio's folder, torch threads) are put back afterwards."""
    for var in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED"):
        monkeypatch.setenv(var, "")
    threads = torch.get_num_threads()
    cfg = make_ctx(tmp_path, limits).config
    cfg = AppConfig(**{**cfg.__dict__, "port": free_port(), **settings})
    demo = serve(cfg, block=False)
    try:
        yield f"http://127.0.0.1:{cfg.port}/", cfg
    finally:
        demo.close()
        torch.set_num_threads(threads)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, AppConfig]]:
    """A running app with a 1 MB upload limit."""
    yield from _running(tmp_path, monkeypatch, Limits(max_upload_mb=1, max_video_mb=1))


def test_listens_on_localhost_only_by_default() -> None:
    assert AppConfig().host == "127.0.0.1" and AppConfig().share is False


def test_serves_its_outputs_folder_and_nothing_else(server: tuple[str, AppConfig], tmp_path: Path) -> None:
    url, cfg = server
    assert httpx.get(url, timeout=30).status_code == 200
    job = Path(cfg.outputs).absolute() / "stylise-x"
    job.mkdir()
    (job / "result.txt").write_text("mine")
    (tmp_path / "secret.txt").write_text("not yours")

    def fetch(path: str) -> httpx.Response:
        return httpx.get(f"{url}gradio_api/file={path}", timeout=30)

    assert fetch(str(job / "result.txt")).text == fetch(f"{MARK}/stylise-x/result.txt").text == "mine"
    others = ("/etc/passwd", str(tmp_path / "secret.txt"), f"{job}/../../secret.txt", str(Path.cwd() / "README.md"))
    for other in others:
        r = fetch(other)
        assert r.status_code in (403, 404), (other, r.status_code)
        assert "not yours" not in r.text and "root:" not in r.text


def test_refuses_an_upload_over_the_size_limit(server: tuple[str, AppConfig], tmp_path: Path) -> None:
    url, _ = server
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    small.write_bytes(b"x" * 1000)
    big.write_bytes(b"x" * int(1.5 * MB))

    def post(p: Path) -> httpx.Response:
        with p.open("rb") as f:
            return httpx.post(f"{url}gradio_api/upload", files={"files": (p.name, f)}, timeout=30)

    assert post(small).status_code == 200
    assert post(big).status_code == 413


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--banks", "no-such-folder"], "--banks no-such-folder: no such folder"),
        (["--jobs", "0"], "expected a number >= 1"),
    ],
)
def test_cli_refuses_bad_flags_in_one_line(
    cli: Callable[..., tuple[int, str, str]], args: list[str], message: str, monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("app", *args)
    assert code == 2 and message in one_error_line(err)


def test_cli_flags_become_the_app_config(monkeypatch: Any, tmp_path: Path) -> None:
    from styleverse.cli.app import config_from_args
    from styleverse.cli.main import build_parser

    args = build_parser().parse_args(["app", "--port", "9000", "--outputs", str(tmp_path), "--max-size", "256"])
    cfg = config_from_args(args)
    got = (cfg.host, cfg.port, cfg.outputs, cfg.share, cfg.limits.max_size)
    assert got == ("127.0.0.1", 9000, tmp_path, False, 256)


def _post(url: str, path: Path) -> httpx.Response:
    with path.open("rb") as f:
        return httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, f)}, timeout=30)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, AppConfig]]:
    """An app taking images up to 0.1 MB, videos up to 0.3 MB, and 1 MB of disk in all."""
    yield from _running(tmp_path, monkeypatch, Limits(max_upload_mb=0.1, max_video_mb=0.3), max_disk_gb=1 / 1024)


def test_an_image_over_its_own_limit_is_refused_while_it_arrives_and_leaves_no_file(
    small_disk: tuple[str, AppConfig], tmp_path: Path
) -> None:
    url, cfg = small_disk
    uploads = Path(cfg.outputs).absolute() / ".uploads"
    big_image, clip = tmp_path / "huge.png", tmp_path / "clip.mp4"
    big_image.write_bytes(b"x" * int(0.2 * MB))  # under the video limit, over the image limit
    clip.write_bytes(b"x" * int(0.2 * MB))
    r = _post(url, big_image)
    assert r.status_code == 413 and "huge.png: over the maximum allowed size of 0.1 MB" in r.text, r.text
    assert not [p for p in _files(uploads) if "huge" in p.name or p.name.startswith("tmp")]
    assert _post(url, clip).status_code == 200  # a video may be that big


def test_the_outputs_folder_stays_under_its_cap_through_many_uploads(
    small_disk: tuple[str, AppConfig], tmp_path: Path
) -> None:
    url, cfg = small_disk
    root = Path(cfg.outputs).absolute()
    sizes = []
    for i in range(30):  # 30 x 90 KB: 2.6 MB through a 1 MB folder
        p = tmp_path / f"photo{i}.png"
        p.write_bytes(bytes([i]) * 90_000)
        r = _post(url, p)
        assert r.status_code == 200, r.text
        named = r.json()[0]  # the page learns the upload's place as ~outputs/.uploads/...
        assert named.startswith(f"{MARK}/.uploads/") and (root / named.removeprefix(f"{MARK}/")).is_file()
        sizes.append(sum(f.stat().st_size for f in _files(root)))
    assert max(sizes) <= MB, str(sizes)
    assert len(_files(root / ".uploads")) < 30
