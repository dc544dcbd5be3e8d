"""What a video result records beside itself (``OUT.mp4.json``, ``DIR.json``): :class:`VideoSidecar`.

Written last by :func:`styleverse.video.output.write_outputs` (its ``complete`` and ``fingerprint`` mark the
job finished, which a rerun checks), read back by ``evaluate`` (:mod:`styleverse.evaluation.sources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints

from styleverse.styles.record import ResultRecord, integer, number, obj, text
from styleverse.video.config import VideoConfig

METRIC = (
    "measured on the frames as written (after encoding). temporal warping error (Lai et al. 2018): mean over "
    "frames t>1 of the squared RGB distance between output t and output t-1 warped by the input's DIS flow, "
    "averaged over pixels where the flow is reliable; pixels in [0,1]. input_warping_error: the same for the "
    "input frames (not a floor: a frozen output goes below it). following: on reliable pixels that move, "
    "(e_still - e_warp) / (e_still + e_warp), e_still the distance to the unwarped previous output: 1 = moves "
    "with the input, below 0 = does not follow it (frozen: -1); input_following: the input's own"
)


@dataclass(frozen=True)
class WarpingError:
    """The clip's steadiness (see :data:`METRIC` and :mod:`styleverse.video.steadiness`): warping error, the
    input's, their ratio, and whether the output follows the input's motion."""

    warping_error: float | None = None
    input_warping_error: float | None = None
    ratio_to_input: float | None = None
    following: float | None = None
    input_following: float | None = None
    definition: str = METRIC

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WarpingError:
        """The metric a sidecar records; missing or malformed values are None."""
        keys = ("warping_error", "input_warping_error", "ratio_to_input", "following", "input_following")
        out, ref, ratio, follow, follow_in = (number(d.get(k)) for k in keys)
        return cls(out, ref, ratio, follow, follow_in, text(d.get("definition")) or METRIC)


@dataclass(frozen=True)
class InputVideo:
    """The input video as the job saw it: stored ``size`` (width, height), pixel aspect and time base as
    fractions in text, the ``rotation`` it was shown at, frame rate, codecs, and damaged frames skipped."""

    size: tuple[int, int] | None = None
    pixel_aspect: str = "1"
    rotation: int | None = None  # None: not recorded (as the input file says)
    fps: float | None = None
    time_base: str | None = None
    codec: str | None = None
    audio: str | None = None  # codec of the first audio stream; None: silent
    skipped_damaged_frames: int = 0

    def to_json(self) -> dict[str, object]:
        """The record as written: the fields under their own names, ``size`` as a list."""
        return {**asdict(self), "size": list(self.size) if self.size is not None else None}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InputVideo:
        """The input a sidecar records; missing or malformed values take their defaults."""
        raw = d.get("size")
        w, h = (integer(x) for x in raw) if isinstance(raw, list) and len(raw) == 2 else (None, None)
        size = (w, h) if w is not None and h is not None else None
        rotation, fps, skipped = integer(d.get("rotation")), number(d.get("fps")), d.get("skipped_damaged_frames")
        tb, codec, audio = (text(d.get(k)) for k in ("time_base", "codec", "audio"))
        return cls(size, text(d.get("pixel_aspect")) or "1", rotation, fps, tb, codec, audio, integer(skipped) or 0)


@dataclass(frozen=True, kw_only=True)
class VideoSidecar(ResultRecord):
    """A stylised video's record (``content`` is the input video): whether the job finished and with which
    settings (``complete``, ``fingerprint``), which frames it took and how (``video``), the input's
    properties, the files written, the warping-error ``metric``, the ``stylizer`` and each frame's record."""

    complete: bool = False
    fingerprint: dict[str, Any] = field(default_factory=dict)
    video: VideoConfig = field(default_factory=VideoConfig)
    input_video: InputVideo = field(default_factory=InputVideo)
    outputs: dict[str, Any] = field(default_factory=dict)
    frames_done: int = 0
    metric: WarpingError = field(default_factory=WarpingError)
    stylizer: dict[str, Any] = field(default_factory=dict)
    frames: tuple[dict[str, Any], ...] = ()

    @staticmethod
    def describes(d: Mapping[str, Any]) -> bool:
        """Whether the sidecar ``d`` is a video job's (a stylise job's records no input video and no frames)."""
        return "input" in d and "frames" in d

    @property
    def stylizer_kind(self) -> str:
        """``gatys`` or the feed-forward network's kind (``?`` when not recorded)."""
        return str(self.stylizer.get("kind", "?"))

    @property
    def universe(self) -> str | None:
        """The one universe a feed-forward video renders: ``--universe NAME``, or a ``--mix`` with one weight > 0."""
        mix = self.stylizer.get("mix")
        if isinstance(mix, str):
            return mix
        if isinstance(mix, dict):
            used = [k for k, w in mix.items() if isinstance(w, int | float) and w > 0]
            return str(used[0]) if len(used) == 1 else None
        return None

    def to_json(self) -> dict[str, Any]:
        """The sidecar as written."""
        return {
            "complete": self.complete, "input": self.content, "output": self.output, "settings": self.settings,
            "fingerprint": self.fingerprint, "input_video": self.input_video.to_json(), "outputs": self.outputs,
            "frames_done": self.frames_done, "metric": asdict(self.metric),
            "backbone": self.backbone.to_dict() if self.backbone is not None else None,
            "stylizer": self.stylizer, **self.cost_json(), "frames": list(self.frames), "versions": self.versions,
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> VideoSidecar:
        """The record a sidecar holds; missing or malformed keys take their defaults, unknown ones are ignored."""
        settings = obj(d, "settings")
        return cls(
            **cls.common(d, obj(settings, "style"), "input"),
            complete=d.get("complete") is True,
            fingerprint=obj(d, "fingerprint"),
            video=video_config(obj(settings, "video")),
            input_video=InputVideo.from_json(obj(d, "input_video")),
            outputs=obj(d, "outputs"),
            frames_done=integer(d.get("frames_done")) or 0,
            metric=WarpingError.from_json(obj(d, "metric")),
            stylizer=obj(d, "stylizer"),
            frames=tuple(f for f in d.get("frames") or () if isinstance(f, dict)),
        )


def video_config(d: Mapping[str, Any]) -> VideoConfig:
    """The :class:`VideoConfig` a sidecar's ``settings.video`` records: each value of its field's type, else
    the field's default (an integer passes for a float, a boolean for neither)."""
    hints = get_type_hints(VideoConfig)
    kw: dict[str, Any] = {}
    for f in fields(VideoConfig):
        v = d.get(f.name)
        kinds = get_args(hints[f.name]) if isinstance(hints[f.name], UnionType) else (hints[f.name],)
        allowed = tuple(k for k in kinds if k is not NoneType) + ((int,) if float in kinds else ())
        bool_for_number = isinstance(v, bool) and bool not in kinds
        if f.name in d and ((v is None and NoneType in kinds) or (isinstance(v, allowed) and not bool_for_number)):
            kw[f.name] = v
    return VideoConfig(**kw)
