"""Steadiness that a frozen video cannot win (issue 19): the warping error comes with *following*, and
``video`` and ``evaluate`` measure one number on the frames as written (after H.264)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures.images import make_image
from fixtures.videos import make_video
from styleverse.evaluation.evaluate import EvaluateSettings, evaluate
from styleverse.nn.features import FeatureSpec
from styleverse.styles.spec import StyleSpec
from styleverse.video.config import GatysSettings, VideoConfig, VideoJob
from styleverse.video.job import run_video
from styleverse.video.steadiness import temporal_score, written_frames
from styleverse.video.work import WorkFolder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("clip") / "clip.mp4", "miles", seconds=0.8, fps=10, size=(128, 96)
    )  # DIS needs more than 64 px here


def test_a_frozen_clip_does_not_follow_and_a_recoloured_one_does(clip: Path) -> None:
    frames = list(written_frames(clip, folder=False))
    recoloured = [255 - f[..., ::-1] for f in frames]  # a "style" that moves with the input
    frozen = [recoloured[0]] * len(frames)
    follows = temporal_score(zip(frames, recoloured, strict=True))
    still = temporal_score(zip(frames, frozen, strict=True))
    assert still.warping_error is not None and follows.warping_error is not None
    assert still.following == pytest.approx(-1.0) and still.frozen  # stands still where the input moves
    assert follows.following is not None and follows.following > 0.5 and not follows.frozen
    assert follows.input_following == pytest.approx(still.input_following) and follows.input_following > 0.5
    assert still.flicker == 0.0 and still.warping_ratio is not None  # the warping error alone cannot tell


def _run(clip: Path, out: Path) -> dict:
    out.parent.mkdir(parents=True)
    style = make_image(out.parent / "style.png", (32, 32), 2)
    video = VideoConfig(steps_first=4, steps=3, max_frames=6, passes=1)  # the measurement, not the passes
    job = VideoJob(
        clip, out, StyleSpec((style,)), video, FeatureSpec("random"), GatysSettings(precision="fp32", device="cpu")
    )
    return run_video(job).sidecar["metric"]


def test_video_and_evaluate_score_the_written_file_alike_and_a_frozen_one_worse(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = EvaluateSettings(precision="fp32", device="cpu")
    moving = _run(clip, tmp_path / "a" / "moving.mp4")
    first = WorkFolder.read_frame
    monkeypatch.setattr(WorkFolder, "read_frame", lambda self, i, lead=False: first(self, 0))  # all as the first
    frozen = _run(clip, tmp_path / "b" / "frozen.mp4")
    monkeypatch.undo()
    for metric, out in ((moving, tmp_path / "a" / "moving.mp4"), (frozen, tmp_path / "b" / "frozen.mp4")):
        (s,) = evaluate([out], settings).scores
        assert s.temporal is not None
        assert s.temporal.warping_error == pytest.approx(metric["warping_error"], rel=1e-6)
        assert s.temporal.following == pytest.approx(metric["following"], rel=1e-6)
        assert s.temporal.frozen == (metric["following"] < 0)
    assert frozen["following"] < 0 < moving["following"]
    assert np.isfinite(moving["input_following"]) and moving["input_following"] == pytest.approx(
        frozen["input_following"]
    )
