"""`styleverse demo` runs offline on the built-in samples and falls back loudly without ImageNet weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures.cli import one_error_line


def test_demo_writes_everything_and_falls_back_to_random(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    import styleverse.nn.vgg as bb

    monkeypatch.setitem(bb.IMAGENET_URLS, "vgg19", (tmp_path / "offline" / "vgg19-dcbb9e9d.pth").as_uri())
    out = tmp_path / "demo"
    code, _, err = cli("demo", "--out", out, "--size", "40", "--steps", "2")
    assert code == 0, err
    assert "RANDOM" in err
    for name in ("content.png", "stylized.png", "comparison.png", "losses.png", "stylized.png.json"):
        assert (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "styles").iterdir()) == ["halftone.png", "hatching.png", "poster.png"]
    assert (out / "snapshots" / "strip.png").exists()
    assert max(Image.open(out / "stylized.png").size) == 40
    code, _, err = cli("demo", "--out", out, "--size", "40", "--steps", "2", "--backbone", "random")
    assert code == 2 and "not an empty folder" in one_error_line(err)


def test_sample_styles_are_distinct_images() -> None:
    import numpy as np

    from styleverse.samples import SAMPLE_STYLES, content_photo, sample_style

    arrays = [np.asarray(sample_style(n, 64), dtype=np.float32) for n in SAMPLE_STYLES]
    assert all(a.shape == (64, 64, 3) and a.std() > 10 for a in arrays)
    assert min(np.abs(a - b).mean() for i, a in enumerate(arrays) for b in arrays[i + 1 :]) > 10
    assert content_photo().mode == "RGB"
