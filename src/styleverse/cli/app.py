"""``styleverse app``: the web app (Gradio) on this machine; flags map onto :class:`styleverse.app.config.AppConfig`."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from styleverse.app.config import AppConfig, Limits

from .common import Parser, console, fields_from, need, positive_float, positive_int, setup_logging

D = AppConfig()
L = Limits()


def register(sub: Any) -> None:
    p: Parser = sub.add_parser(
        "app",
        help="the web app: stylise, real time, video and universes in the browser",
        description="Serves a page with every job: upload a photo and watch it take a universe's look, apply a "
        "real-time model, stylise a clip, analyse a style set and build a bank. Listens on 127.0.0.1 (this "
        "machine only) unless --host says otherwise; no public link unless --share. Each job writes into a "
        "folder of its own under --outputs; jobs run a few at a time (--jobs), the rest wait in a queue.",
    )
    p.add_argument("--host", default=D.host, help="address to listen on (0.0.0.0: every network interface)")
    p.add_argument("--port", type=int, default=D.port, help="port to listen on")
    p.add_argument("--outputs", type=Path, default=D.outputs, help="folder for every job's files and the uploads")
    p.add_argument("--banks", type=Path, default=None, help="folder of style banks the page offers as universes")
    p.add_argument("--models", type=Path, default=None, help="folder of real-time models (fast / adain train)")
    p.add_argument("--share", action="store_true", help="also make a temporary public link through Gradio")
    p.add_argument("--backbone", default=D.backbone, help="feature network: imagenet, random (trials) or a PATH")
    p.add_argument("--device", default=D.device, help="auto (CUDA if present), cpu or cuda[:N]")
    p.add_argument("--jobs", type=positive_int, default=None, help="jobs at once (default: one per 4 CPUs, at least 1)")
    p.add_argument("--max-upload-mb", type=positive_float, default=L.max_upload_mb, help="largest image/bank/model")
    p.add_argument("--max-video-mb", type=positive_float, default=L.max_video_mb, help="largest video upload")
    p.add_argument("--max-pixels", type=positive_int, default=L.max_pixels, help="most pixels of an uploaded image")
    p.add_argument("--max-size", type=positive_int, default=L.max_size, help="largest result (longest side, px)")
    p.add_argument(
        "--keep-hours",
        type=positive_float,
        default=D.keep_hours,
        help="remove uploads and job folders older than this (a page still open keeps its own)",
    )
    p.add_argument("--max-disk-gb", type=positive_float, default=D.max_disk_gb,
                   help="keep the --outputs folder under this size, removing the oldest first")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="only errors on the console")
    p.set_defaults(func=cmd_app)


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """The server the flags describe."""
    return AppConfig(**fields_from(args, AppConfig, limits=Limits(**fields_from(args, Limits))))


def cmd_app(args: argparse.Namespace) -> int:
    need(
        importlib.util.find_spec("gradio") is not None,
        "the web app needs gradio: install it with  .venv/bin/pip install -e '.[app]'  (make setup does)",
    )
    setup_logging(args.quiet)
    config = config_from_args(args)
    config.validate()
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]listening on {config.host}: anyone who can reach this machine can use the app[/]")
    if config.share:
        console.print("[yellow]--share: Gradio makes a public link; anyone with it can use the app[/]")
    from styleverse.app.server import serve

    serve(config, block=True)
    return 0
