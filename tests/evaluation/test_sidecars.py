"""The sidecar records jobs write and ``evaluate`` reads: what is written reads back equal, and a sidecar from
another version (keys missing, malformed or unknown) reads with defaults instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from styleverse.errors import InputError
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.sidecar import StylizeSidecar
from styleverse.video.config import VideoConfig
from styleverse.video.sidecar import InputVideo, VideoSidecar, WarpingError

STYLE = StyleSpec((Path("s.png"),), (Path("b.safetensors"),), (2.0, 1.0), 1.5, "luminance")


def _stylize() -> StylizeSidecar:
    return StylizeSidecar(
        content="photo.png", output="out.png", style=STYLE, settings={"content": "photo.png", **STYLE.settings()},
        backbone=BackboneInfo("vgg19", "random", "avg", seed=3), seconds=1.25, peak_memory_bytes=10,
        peak_memory_kind="rss", versions={"styleverse": "0.1.0"}, styles=(("s.png", 2.0),),
        style_banks=(("b.safetensors", 1.0),), config={"optimizer": "adam"}, device_used="cpu", steps_run=4,
        final_losses={"style": 1.0}, iterate_losses={"style": 1.1}, stop_reason="max_steps", stopped_at_step=4,
        scales_run=({"size": 32},), precision_used="fp32", resumed_from_step=2,
    )  # fmt: skip


def test_a_stylize_sidecar_reads_back_what_was_written_through_json() -> None:
    side = _stylize()
    text = json.dumps(side.to_json())
    back = StylizeSidecar.from_json(json.loads(text))
    assert back == side and back.method_name == "gatys adam" and back.style.scale == 1.5
    assert "method" not in side.to_json() and side.to_json()["final_losses_of"].startswith("saved image")


def test_a_network_result_records_its_method_and_model() -> None:
    side = StylizeSidecar(content="p.png", styles=(("s.png", 1.0),), method="adain", model="m.safetensors")
    d = side.to_json()
    assert d["method"] == "adain" and d["model"] == "m.safetensors"
    assert StylizeSidecar.from_json(d).method_name == "adain"


def test_an_old_or_partial_stylize_sidecar_reads_with_defaults() -> None:
    old = {"content": "p.png", "styles": [{"path": "s.png", "weight": 1}], "settings": {"style_scale": "big"},
           "backbone": None, "seconds": "slow", "peak_memory_bytes": 5.0, "something_new": [1, 2]}  # fmt: skip
    side = StylizeSidecar.from_json(old)
    assert side.content == "p.png" and side.styles == (("s.png", 1.0),) and side.style_banks == ()
    assert side.style == StyleSpec() and side.backbone is None and side.seconds is None
    assert side.peak_memory_bytes == 5 and side.method_name == "gatys ?" and side.final_losses == {}


@pytest.mark.parametrize("entry", [{"path": "s.png"}, {"weight": 1}, "s.png", {"path": "s.png", "weight": True}])
def test_a_damaged_style_entry_is_refused_in_one_line(entry: object) -> None:
    with pytest.raises(InputError, match="style image entry is not"):
        StylizeSidecar.from_json({"content": "p.png", "styles": [entry]})


def test_a_video_sidecar_reads_back_what_was_written_through_json() -> None:
    video = VideoConfig(start=0.5, end=2.0, max_frames=7, size=64, flow="fast")
    settings = {"input": "clip.mp4", "style": STYLE.settings(), "video": {**video.__dict__}}
    side = VideoSidecar(
        complete=True, content="clip.mp4", output="out.mp4", style=STYLE, settings=settings, video=video,
        fingerprint={"a": 1}, input_video=InputVideo((64, 48), rotation=90, fps=10.0, audio="aac"), frames_done=2,
        stylizer={"kind": "fast", "mix": "u1"},
        frames=({"index": 0}, {"index": 1}), seconds=2.0, metric=WarpingError(0.1, 0.2, 0.5),
    )  # fmt: skip
    d = json.loads(json.dumps(side.to_json()))
    assert VideoSidecar.describes(d) and not VideoSidecar.describes(_stylize().to_json())
    back = VideoSidecar.from_json(d)
    assert back == side and back.input_video.rotation == 90 and back.stylizer_kind == "fast" and back.universe == "u1"


def test_an_old_or_partial_video_sidecar_reads_with_defaults() -> None:
    old = {"input": "clip.mp4", "frames": [], "complete": "yes", "input_video": {"rotation": "90"},
           "settings": {"video": {"start": "0.5", "end": 3, "max_frames": 2.5, "size": True, "flow": "fast"}},
           "stylizer": {"mix": {"a": 0.0, "b": 1}}, "unknown": {}}  # fmt: skip
    side = VideoSidecar.from_json(old)
    assert side.video == VideoConfig(end=3, flow="fast") and side.input_video == InputVideo() and not side.complete
    assert side.universe == "b" and side.stylizer_kind == "?" and side.style == StyleSpec()
    assert VideoSidecar.from_json({"stylizer": {"mix": {"a": 1, "b": 1}}}).universe is None
