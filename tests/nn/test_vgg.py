"""VGG definition, layer names, truncation and every weight source (no network: file:// URLs only)."""

from __future__ import annotations

import hashlib
import importlib
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from styleverse.errors import WeightsError
from styleverse.nn.vgg import (
    VGGFeatures,
    imagenet_weights_path,
    layer_names,
    load_backbone,
)


def test_layer_names_follow_the_paper_and_torchvision_indices() -> None:
    names = layer_names("vgg19")
    assert len(names) == 37  # torchvision vgg19.features has 37 modules
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names.index("relu4_2") == 22 and names[-2:] == ["relu5_4", "pool5"]
    assert len(layer_names("vgg16")) == 31
    keys = [k for k in VGGFeatures("vgg19").state_dict() if k.endswith("weight")]
    # the 16 conv layers of torchvision's vgg19 live at these indices
    assert [int(k.split(".")[1]) for k in keys] == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_forward_stops_after_deepest_requested_layer() -> None:
    model = VGGFeatures("vgg19", width=1 / 16)
    ran: list[int] = []
    for i, m in enumerate(model.features):
        m.register_forward_hook(lambda *_, i=i: ran.append(i))
    out = model(torch.rand(1, 3, 32, 32), ["relu1_1", "relu2_1"])
    assert set(out) == {"relu1_1", "relu2_1"}
    assert max(ran) == layer_names("vgg19").index("relu2_1")
    assert out["relu2_1"].shape == (1, 8, 16, 16)


def test_upto_truncates_and_avg_pooling_swaps_pools() -> None:
    small = VGGFeatures("vgg19", upto="relu3_1", width=1 / 16)
    assert small.names[-1] == "relu3_1" and len(small.features) == 12
    avg = VGGFeatures("vgg16", pooling="avg", width=1 / 16)
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in avg.features)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in avg.features)
    with pytest.raises(WeightsError):
        small(torch.rand(1, 3, 16, 16), ["relu5_1"])


def test_random_backbone_is_seeded() -> None:
    a, info = load_backbone("random", seed=3, width=1 / 16)
    b, _ = load_backbone("random", seed=3, width=1 / 16)
    c, _ = load_backbone("random", seed=4, width=1 / 16)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    assert info.source == "random" and "seed=3" in info.identity
    assert not any(p.requires_grad for p in a.parameters())


def _state(width: float = 1 / 16, arch: str = "vgg19") -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in load_backbone("random", arch=arch, width=width, seed=7)[0].state_dict().items()}


def test_loads_safetensors_and_pth_state_dicts(tmp_path: Path) -> None:
    full = _state(width=1.0, arch="vgg16")
    full["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the head too; it is ignored
    save_file(full, tmp_path / "w.safetensors")
    torch.save(full, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        model, info = load_backbone(str(tmp_path / name), arch="vgg16")
        assert torch.equal(model.features[0].weight, full["features.0.weight"])
        assert info.source == "file" and info.sha256 and len(info.sha256) == 64


def test_bad_weight_files_are_one_clear_error(tmp_path: Path) -> None:
    good = _state(width=1.0, arch="vgg16")
    nan = dict(good)
    nan["features.0.weight"] = torch.full_like(good["features.0.weight"], float("nan"))
    save_file(nan, tmp_path / "nan.safetensors")
    wrong = dict(good)
    wrong["features.0.weight"] = torch.zeros(3, 3, 3, 3)
    save_file(wrong, tmp_path / "shape.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="NaN"):
        load_backbone(str(tmp_path / "nan.safetensors"), arch="vgg16")
    with pytest.raises(WeightsError, match="shape"):
        load_backbone(str(tmp_path / "shape.safetensors"), arch="vgg16")
    with pytest.raises(WeightsError, match=r"not a (readable )?weights file"):
        load_backbone(str(tmp_path / "junk.pth"))
    with pytest.raises(WeightsError, match="not found"):
        load_backbone(str(tmp_path / "missing.pth"))


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # runs on an unsafe unpickle
        return (Path.write_text, (self.marker, "pwned"))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        torch.save({"features.0.weight": _Evil(marker)}, f, pickle_module=pickle)
    with pytest.raises(WeightsError, match="could run code") as e:
        load_backbone(str(path))
    assert "weights_only" not in str(e.value)  # never advise the unsafe load
    assert not marker.exists()


def _fake_release(tmp_path: Path, arch: str = "vgg16", corrupt: bool = False) -> str:
    """A full-size state dict published under a torchvision-style name ``arch-<sha256[:8]>.pth``."""
    src = tmp_path / "release.pth"
    torch.save(_state(width=1.0, arch=arch), src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    if corrupt:
        digest = "00000000" if digest != "00000000" else "11111111"
    named = tmp_path / "srv" / f"{arch}-{digest}.pth"
    named.parent.mkdir()
    src.rename(named)
    return named.as_uri()


def test_imagenet_download_is_hash_checked_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    url = _fake_release(tmp_path)
    monkeypatch.setitem(importlib.import_module("styleverse.nn.vgg").IMAGENET_URLS, "vgg16", url)
    with pytest.raises(WeightsError, match="not cached"):
        imagenet_weights_path("vgg16", download=False)
    path = imagenet_weights_path("vgg16")
    assert path.parent == hub / "checkpoints" and path.exists()
    model, info = load_backbone("imagenet", arch="vgg16")
    assert info.source == "imagenet" and info.identity == "vgg16/max/imagenet"
    assert model.features[0].weight.abs().sum() > 0


def test_imagenet_hash_mismatch_and_offline_fail_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    bad = _fake_release(tmp_path, corrupt=True)
    with pytest.raises(WeightsError, match="hash"):
        imagenet_weights_path("vgg16", url=bad)
    assert not list((tmp_path / "hub" / "checkpoints").glob("*.pth"))
    unreachable = (tmp_path / "nowhere" / "vgg19-dcbb9e9d.pth").as_uri()
    with pytest.raises(WeightsError) as e:
        imagenet_weights_path("vgg19", url=unreachable)
    assert "download.pytorch.org/models/vgg19-dcbb9e9d.pth" in str(e.value) and "--backbone" in str(e.value)
