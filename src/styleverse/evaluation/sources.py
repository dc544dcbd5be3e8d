"""What each result to evaluate is, and what it was made from.

A result is an image, a video file or a folder of PNG frames (``styleverse video -o DIR/``). Beside it, a
job may have left a sidecar ``RESULT.json``, read here through the job's own record type:

* ``stylize`` (:class:`styleverse.transfer.sidecar.StylizeSidecar`): the content, the style images (each
  with its normalised-later weight, folders already expanded) and banks, the style scale, the backbone (the
  network it was optimised under), seconds and peak memory;
* ``video`` (:class:`styleverse.video.sidecar.VideoSidecar`): the input video, the style as given (images,
  banks, weights, scale), which frames (start, end, frame limit, size, flow preset), the input's rotation,
  the stylizer (Gatys, or a feed-forward network with its universe ``mix``), seconds and peak memory;
* ``evaluate --sweep`` writes, for a feed-forward or AdaIN result, a ``stylize`` record with its ``method``
  and ``model``;
* ``fast apply`` and ``adain apply`` write none: give ``--content`` and ``--style``/``--style-bank``.

Paths a sidecar records are as they were given at run time, relative to the folder the run started in; one
that does not exist from here is looked for beside the sidecar. ``--content``/``--style``/``--style-bank``
override what a sidecar says. Peak memory is read from ``peak_memory_bytes`` where a sidecar records it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from styleverse.errors import ConfigError, InputError
from styleverse.io.images import IMAGE_EXTENSIONS, is_image_name
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.record import ResultRecord, Weighted
from styleverse.styles.spec import StyleSpec
from styleverse.styles.targets import expand_styles
from styleverse.transfer.sidecar import StylizeSidecar
from styleverse.video.sidecar import VideoSidecar

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
Kind = Literal["image", "video", "frames"]


@dataclass(frozen=True)
class VideoRange:
    """Which input frames a video result was made from, and how they were seen (``styleverse video``)."""

    start: float = 0.0
    end: float | None = None
    max_frames: int | None = None
    size: int | None = None
    rotation: int | None = None  # None: as the input file says
    flow: str | None = None  # DIS preset the job used; None: the default


@dataclass(frozen=True)
class Styles:
    """Weighted style images (folders expanded) and banks; weights are normalised together later."""

    images: tuple[tuple[Path, float], ...] = ()
    banks: tuple[tuple[Path, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.images or self.banks)


@dataclass(frozen=True)
class Overrides:
    """What the command line says instead of the sidecars (empty: use the sidecar)."""

    content: Path | None = None
    style: StyleSpec = field(default_factory=StyleSpec)


@dataclass(frozen=True)
class ResultSource:
    """One result and what it was made from (see the module doc)."""

    path: Path
    kind: Kind
    content: Path
    styles: Styles
    sidecar: Path | None = None
    method: str = "no sidecar"
    backbone: BackboneInfo | None = None  # the network the result was made under, as its sidecar records
    style_scale: float = 1.0
    seconds: float | None = None
    peak_memory_bytes: int | None = None
    fast_universe: str | None = None
    video: VideoRange = field(default_factory=VideoRange)


def result_kind(path: Path) -> Kind:
    """Image, video file or folder of frames; a one-line :class:`InputError` for anything else."""
    if path.is_dir():
        if not any(is_image_name(p.name) for p in path.iterdir()):
            raise InputError(f"{path}: folder holds no frames (PNG/JPEG images); give an image, a video or a folder")
        return "frames"
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    raise InputError(
        f"{path}: not a result styleverse can evaluate (an image {', '.join(sorted(IMAGE_EXTENSIONS))}, a video "
        f"{', '.join(VIDEO_EXTENSIONS)}, or a folder of frames)"
    )


def sidecar_path(result: Path) -> Path:
    """``RESULT.json`` beside the result (``DIR.json`` for a folder of frames)."""
    p = Path(str(result).rstrip("/\\"))
    return p.with_name(p.name + ".json")


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar's content; None when there is none; :class:`InputError` when it is not a JSON object."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: sidecar is not readable JSON ({e}); remove it or fix it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: sidecar is not a JSON object; remove it or fix it")
    return data


def _locate(raw: object, side: Path, what: str) -> Path:
    """A path the sidecar recorded: as given if it exists from here, else beside the sidecar."""
    if not isinstance(raw, str) or not raw:
        raise InputError(f"{side}: records no {what}; pass it on the command line")
    p = Path(raw)
    if p.exists() or p.is_absolute():
        return p
    near = side.parent / p
    return near if near.exists() else p


def resolve_styles(spec: StyleSpec) -> Styles:
    """Styles as ``stylize`` reads them: one weight per image entry, then per bank; a folder shares its
    weight among its images."""
    spec.validate()
    styles, banks, n = spec.images, spec.banks, len(spec.images) + len(spec.banks)
    w = list(spec.weights) if spec.weights is not None else [1.0] * n
    if any(not (v >= 0 and math.isfinite(v)) for v in w) or (n and sum(w) <= 0):
        raise ConfigError("style_weights must be finite, >= 0 and not all zero", setting="style_weights")
    images = expand_styles(list(styles), w[: len(styles)]) if styles else []
    for b in banks:
        if not Path(b).is_file():
            raise InputError(f"{b}: no such style bank file")
    return Styles(
        tuple((s.path, s.weight) for s in images),
        tuple((Path(b), x) for b, x in zip(banks, w[len(styles) :], strict=True)),
    )


@dataclass(frozen=True)
class _Recorded:
    """What a sidecar says a result was made from, its paths located from here."""

    content: str | None = None
    styles: Styles = field(default_factory=Styles)
    method: str = "no sidecar"
    style_scale: float = 1.0
    fast_universe: str | None = None
    video: VideoRange = field(default_factory=VideoRange)


def _paths(items: tuple[Weighted, ...], side: Path, what: str) -> tuple[tuple[Path, float], ...]:
    """Recorded (path, weight) pairs with each path located from here."""
    return tuple((_locate(p, side, what), w) for p, w in items)


def _stylize_record(side: Path, rec: StylizeSidecar) -> _Recorded:
    styles = Styles(_paths(rec.styles, side, "style image"), _paths(rec.style_banks, side, "bank"))
    return _Recorded(rec.content, styles, rec.method_name, rec.style.scale)


def _video_record(side: Path, rec: VideoSidecar) -> _Recorded:
    st = rec.style
    recorded = replace(
        st,
        images=tuple(_locate(str(p), side, "style image") for p in st.images),
        banks=tuple(_locate(str(p), side, "bank") for p in st.banks),
    )
    vid = rec.video
    span = VideoRange(vid.start, vid.end, vid.max_frames, vid.size, rec.input_video.rotation, vid.flow)
    styles = resolve_styles(recorded) if recorded else Styles()
    return _Recorded(rec.content, styles, f"video {rec.stylizer_kind}", st.scale, rec.universe, span)


def _record(side: Path, data: dict[str, Any]) -> tuple[_Recorded, ResultRecord]:
    """The sidecar ``data`` (at ``side``) read as the job that wrote it; a damaged one in one line."""
    if VideoSidecar.describes(data):
        video = VideoSidecar.from_json(data)
        return _video_record(side, video), video
    try:
        image = StylizeSidecar.from_json(data)
    except InputError as e:  # a style entry that is not {path, weight}
        raise InputError(f"{side}: {e}") from None
    return _stylize_record(side, image), image


def describe_result(path: str | os.PathLike[str], overrides: Overrides | None = None) -> ResultSource:
    """The result at ``path`` with its content and styles from the command line or else its sidecar.

    One-line errors: a path that is not an image, video or folder of frames; a result with no sidecar and
    no ``--content``; a sidecar that records no styles when none are given."""
    overrides = overrides or Overrides()
    p = Path(str(path).rstrip("/\\")) if str(path) not in ("/", "\\") else Path(path)
    kind = result_kind(p)
    side = sidecar_path(p)
    data = read_sidecar(side)
    rec, record = _record(side, data) if data is not None else (_Recorded(), None)
    content = overrides.content
    if content is None:
        if data is None:
            raise InputError(f"{p}: has no sidecar {side.name}, so its content is unknown; pass --content PHOTO")
        content = _locate(rec.content, side, "content")
    if not content.exists():
        raise InputError(f"{content}: content not found (for {p}); pass --content PATH")
    styles = resolve_styles(overrides.style) if overrides.style else rec.styles
    if not styles:
        why = "its sidecar records none" if data is not None else f"it has no sidecar {side.name}"
        raise InputError(f"{p}: no style to compare with ({why}); pass --style IMAGE... or --style-bank BANK")
    return ResultSource(
        path=p,
        kind=kind,
        content=content,
        styles=styles,
        sidecar=side if data is not None else None,
        method=rec.method,
        backbone=record.backbone if record else None,
        style_scale=rec.style_scale,
        seconds=record.seconds if record else None,
        peak_memory_bytes=(record.peak_memory_bytes or None) if record else None,
        fast_universe=rec.fast_universe,
        video=rec.video,
    )
