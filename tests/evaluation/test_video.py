"""``styleverse evaluate`` on videos: the temporal warping error (the video command's definition) and flicker,
measured after the fact on frames as written, against the input video they were made from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.images import make_image
from fixtures.videos import make_video

FP32 = ("--backbone", "random", "--precision", "fp32", "--quiet")


def test_video_warping_error_and_flicker_against_the_input(cli, tmp_path: Path) -> None:
    from styleverse.io.video import VideoReader, frame_to_array

    clip = make_video(tmp_path / "clip.mp4", "miles", seconds=0.6, fps=10, size=(48, 32))
    with VideoReader(clip) as r:
        frames = [frame_to_array(d.frame, (48, 32), 0, r.reformatter) for d in r.frames()]
    same, flat = tmp_path / "same", tmp_path / "flat"
    grey = np.full_like(frames[0], 128)
    for folder, pick in ((same, lambda i: frames[i]), (flat, lambda i: grey)):
        folder.mkdir()
        for i in range(len(frames)):
            Image.fromarray(pick(i)).save(folder / f"frame_{i + 1:06d}.png")
    style = make_image(tmp_path / "style.png", (36, 36), 2)
    out = tmp_path / "rep"
    code, _, err = cli("evaluate", same, flat, "--content", clip, "--style", style, "-o", out, *FP32)
    assert code == 0, err
    a, b = (r["temporal"] for r in json.loads((out / "report.json").read_text())["results"])
    assert a["frames"] == b["frames"] == len(frames) == 6
    assert a["warping_error"] == pytest.approx(a["input_warping_error"]) and a["warping_error"] > 0
    assert a["flicker_ratio"] == pytest.approx(1.0) and a["flicker"] > 0.01
    assert b["flicker"] == 0.0 and b["warping_error"] == pytest.approx(0.0, abs=1e-9)  # flat: steady at any flow


def test_video_sidecar_gives_input_range_styles_and_cost(cli, tmp_path: Path) -> None:
    """A folder of frames with the sidecar ``styleverse video -o DIR/`` writes (its keys, by hand): the input
    video, the frame range, the styles and the seconds come from it."""
    clip = make_video(tmp_path / "clip.mp4", "gwen", seconds=0.6, fps=10, size=(48, 32))
    style = make_image(tmp_path / "style.png", (36, 36), 2)
    out_frames = tmp_path / "styled"
    out_frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 48, 3), 40 * i, np.uint8)).save(out_frames / f"frame_{i + 1:06d}.png")
    side = {
        "complete": True,
        "input": "clip.mp4",  # relative to where the job ran: found beside the sidecar
        "settings": {
            "style": {"styles": ["style.png"], "style_banks": [], "style_weights": None, "style_scale": 1.0},
            "video": {"start": 0.0, "end": None, "max_frames": 3, "size": None, "flow": "medium"},
        },
        "input_video": {"rotation": 0},
        "stylizer": {"kind": "gatys", "temporal_weight": 1.0},
        "backbone": {"arch": "vgg19", "source": "random", "pooling": "max", "seed": 0, "width": 1.0},
        "seconds": 12.5,
        "frames": [],
    }
    (tmp_path / "styled.json").write_text(json.dumps(side))
    out = tmp_path / "rep"
    code, stdout, err = cli("evaluate", out_frames, "-o", out, "--precision", "fp32")
    assert code == 0, err
    (r,) = json.loads((out / "report.json").read_text())["results"]
    assert r["method"] == "video gatys" and r["content_photo"] == str(clip) and r["cost"]["seconds"] == 12.5
    assert r["temporal"]["frames"] == 3 and r["frames_scored"] == 3
    assert r["temporal"]["flicker"] == pytest.approx(40 / 255, abs=1e-6)  # grey levels 0, 40, 80
    assert [s["path"] for s in r["styles"]] == [str(style)]
    assert "warp err" in stdout and "flicker" in stdout


def test_after_the_fact_warping_error_is_the_video_commands_own(tmp_path: Path) -> None:
    """A real ``styleverse video`` job written as PNG frames (lossless): evaluate reads its sidecar and measures
    exactly the warping error the frame loop measured while stylising, and the same floor."""
    from styleverse.evaluation.evaluate import EvaluateSettings, evaluate
    from styleverse.nn.features import FeatureSpec
    from styleverse.styles.spec import StyleSpec
    from styleverse.video.config import GatysSettings, VideoConfig, VideoJob
    from styleverse.video.job import run_video

    clip = make_video(tmp_path / "clip.mp4", "miles", seconds=0.5, fps=10, size=(32, 24))
    style = make_image(tmp_path / "style.png", (32, 32), 2)
    out = tmp_path / "styled"
    out.mkdir()  # an existing folder: a PNG sequence
    video, gatys = VideoConfig(steps_first=3, steps=2, max_frames=4), GatysSettings(precision="fp32", device="cpu")
    outcome = run_video(VideoJob(clip, out, StyleSpec((style,)), video, FeatureSpec("random"), gatys))
    metric = outcome.sidecar["metric"]
    assert metric["warping_error"] > 0 and metric["input_warping_error"] > 0
    (s,) = evaluate([out], EvaluateSettings(precision="fp32", device="cpu")).scores
    assert s.temporal is not None and s.temporal.frames == 4 and s.source.method == "video gatys"
    assert s.temporal.warping_error == pytest.approx(metric["warping_error"], rel=1e-6)
    assert s.temporal.input_warping_error == pytest.approx(metric["input_warping_error"], rel=1e-6)
    assert s.seconds == outcome.sidecar["seconds"] and s.relative_style is not None
