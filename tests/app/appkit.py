"""Helpers for the app's tests: an app context in a temporary folder, files placed as Gradio's upload route
places them, and tiny models and clips."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import av
import numpy as np
import torch

from styleverse.app.config import AppConfig, Limits
from styleverse.app.context import AppContext


def make_ctx(tmp_path: Path, limits: Limits | None = None, **kw: object) -> AppContext:
    """An app with a random backbone, its outputs in ``tmp_path/out``, empty banks and models folders."""
    (tmp_path / "banks").mkdir(exist_ok=True)
    (tmp_path / "models").mkdir(exist_ok=True)
    cfg = AppConfig(
        outputs=tmp_path / "out",
        banks=tmp_path / "banks",
        models=tmp_path / "models",
        backbone="random",
        device="cpu",
        jobs=1,
        limits=limits or Limits(),
        **kw,  # type: ignore[arg-type]
    )
    return AppContext.create(cfg)


def upload(ctx: AppContext, src: Path, name: str | None = None) -> str:
    """Copy ``src`` where Gradio keeps an upload (``uploads/<random>/<name>``); returns that path."""
    folder = ctx.workspace.uploads / secrets.token_hex(8)
    folder.mkdir(parents=True)
    dst = folder / (name or src.name)
    shutil.copyfile(src, dst)
    return str(dst)


def write_clip(path: Path, frames: int = 4, size: tuple[int, int] = (48, 32)) -> Path:
    """A tiny H.264 clip of a moving gradient."""
    w, h = size
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for t in range(frames):
            x = np.linspace(0, 255, w)[None, :, None] + 20 * t
            y = np.linspace(0, 255, h)[:, None, None]
            arr = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                                  np.full((h, w, 1), 128.0)], axis=2)  # fmt: skip
            frame = av.VideoFrame.from_ndarray(np.clip(arr, 0, 255).astype(np.uint8), format="rgb24")
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return path


def fast_model(path: Path, universes: tuple[str, ...] = ("gwen", "miles")) -> Path:
    """A tiny feed-forward network whose universes differ."""
    from styleverse.fast.model import CondInstanceNorm, FastModel, FastSpec, TransformNet, save_model

    torch.manual_seed(0)
    net = TransformNet(FastSpec(universes, width=4, blocks=1))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, CondInstanceNorm):
                m.gamma.add_(torch.randn_like(m.gamma) * 0.5)
                m.beta.add_(torch.randn_like(m.beta) * 0.5)
    return save_model(FastModel(net.eval(), {"identity": "test"}, {"relu1_1": 1.0}, ("relu4_2",)), path)


def adain_model(path: Path) -> Path:
    """A tiny AdaIN decoder on a narrow random encoder."""
    from styleverse.fast.adain.model import save_adain
    from tiny_adain import tiny_model

    return save_adain(tiny_model(), path)
