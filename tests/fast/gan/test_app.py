"""The app's Real time tab opens a gan model as it opens a fast one: its universes are the mix sliders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fixtures.app import make_ctx, upload
from fixtures.images import make_image
from styleverse.app import realtime
from styleverse.fast.gan.model import GanModel, GanSpec, Generator, save_gan

pytestmark = pytest.mark.usefixtures("one_thread")


def test_realtime_tab_mixes_a_gan_models_universes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    torch.manual_seed(0)
    net = Generator(GanSpec(("gwen", "miles"), width=4, blocks=1)).eval()
    with torch.no_grad():
        net.decoder.up[-1].norm.beta[1] += 0.5  # the universes differ
    save_gan(GanModel(net), tmp_path / "models" / "universes.safetensors")
    rt = realtime.Realtime(ctx)
    photo = upload(ctx, make_image(tmp_path / "p.png", (40, 32)))
    req = realtime.Request("universes.safetensors", None, photo, weights=(1.0, 0.0), size=32)
    assert rt.names(req) == ["gwen", "miles"]
    a, line = rt.render(req)
    b, _ = rt.render(realtime.Request("universes.safetensors", None, photo, weights=(0.0, 1.0), size=32))
    assert a.size == (32, 26) and "universes.safetensors" in line
    assert a.tobytes() != b.tobytes(), "the mix sliders change nothing"
