"""What each result to evaluate is, and what it was made from.

A result is an image, a video file or a folder of PNG frames (``styleverse video -o DIR/``). Beside it, a
job may have left a sidecar ``RESULT.json``:

* ``stylize`` (:func:`styleverse.transfer.job.sidecar`): ``content``, ``styles`` (each image with its
  normalised-later weight, folders already expanded), ``style_banks``, ``settings`` (style scale, layers),
  ``backbone`` (the network it was optimised under), ``seconds``;
* ``video`` (:func:`styleverse.video.report.sidecar`): ``input`` (the video), ``settings.style`` (the
  stylise settings: styles as given, banks, weights), ``settings.video`` (start, end, frame limit, size,
  flow preset), ``input_video.rotation``, ``stylizer`` (Gatys, or a feed-forward network with its universe
  ``mix``), ``seconds``;
* ``evaluate --sweep`` writes, for a feed-forward or AdaIN result, the ``stylize`` keys it needs plus
  ``method``, ``model`` and ``peak_memory_bytes``;
* ``fast apply`` and ``adain apply`` write none: give ``--content`` and ``--style``/``--style-bank``.

Paths a sidecar records are as they were given at run time, relative to the folder the run started in; one
that does not exist from here is looked for beside the sidecar. ``--content``/``--style``/``--style-bank``
override what a sidecar says. Peak memory is read from ``peak_memory_bytes`` where a sidecar records it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from styleverse.errors import ConfigError, InputError
from styleverse.io.images import IMAGE_EXTENSIONS, is_image_name
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.spec import StyleSpec
from styleverse.styles.targets import expand_styles

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


def _number(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _obj(d: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``d[key]`` when it is a JSON object, else an empty one (a sidecar from another version may lack it)."""
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _weighted(items: object, side: Path, what: str) -> tuple[tuple[Path, float], ...]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and _number(item.get("weight")) is not None:
            out.append((_locate(item.get("path"), side, what), float(item["weight"])))
        else:
            raise InputError(f"{side}: a {what} entry is not {{path, weight}}; the sidecar is damaged")
    return tuple(out)


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


def _stylize_record(side: Path, d: dict[str, Any]) -> dict[str, Any]:
    settings = _obj(d, "settings")
    cfg = _obj(d, "config")
    return {
        "content": d.get("content"),
        "styles": Styles(
            _weighted(d.get("styles"), side, "style image"), _weighted(d.get("style_banks"), side, "bank")
        ),
        "method": d["method"] if isinstance(d.get("method"), str) else f"gatys {cfg.get('optimizer', '?')}",
        "style_scale": _number(settings.get("style_scale")) or 1.0,
    }


def _mix_universe(mix: object) -> str | None:
    """The one universe a feed-forward video renders: ``--universe NAME``, or a ``--mix`` with one weight > 0."""
    if isinstance(mix, str):
        return mix
    if isinstance(mix, dict):
        used = [k for k, w in mix.items() if isinstance(w, int | float) and w > 0]
        return str(used[0]) if len(used) == 1 else None
    return None


def _video_record(side: Path, d: dict[str, Any]) -> dict[str, Any]:
    settings = _obj(d, "settings")
    st = _obj(settings, "style")
    vid = _obj(settings, "video")
    raw_w = st.get("style_weights")
    recorded = StyleSpec(
        tuple(_locate(p, side, "style image") for p in st.get("styles") or []),
        tuple(_locate(p, side, "bank") for p in st.get("style_banks") or []),
        tuple(float(x) for x in raw_w) if isinstance(raw_w, list) else None,
    )
    stylizer = _obj(d, "stylizer")
    styles = resolve_styles(recorded) if recorded else Styles()
    iv = _obj(d, "input_video")
    size, frames, end = vid.get("size"), vid.get("max_frames"), _number(vid.get("end"))
    return {
        "content": d.get("input"),
        "styles": styles,
        "method": f"video {stylizer.get('kind', '?')}",
        "style_scale": _number(st.get("style_scale")) or 1.0,
        "fast_universe": _mix_universe(stylizer.get("mix")),
        "video": VideoRange(
            start=_number(vid.get("start")) or 0.0,
            end=end,
            max_frames=int(frames) if isinstance(frames, int) else None,
            size=int(size) if isinstance(size, int) else None,
            rotation=int(iv["rotation"]) if isinstance(iv.get("rotation"), int) else None,
            flow=vid.get("flow") if isinstance(vid.get("flow"), str) else None,
        ),
    }


def describe_result(path: str | os.PathLike[str], overrides: Overrides | None = None) -> ResultSource:
    """The result at ``path`` with its content and styles from the command line or else its sidecar.

    One-line errors: a path that is not an image, video or folder of frames; a result with no sidecar and
    no ``--content``; a sidecar that records no styles when none are given."""
    overrides = overrides or Overrides()
    p = Path(str(path).rstrip("/\\")) if str(path) not in ("/", "\\") else Path(path)
    kind = result_kind(p)
    side = sidecar_path(p)
    data = read_sidecar(side)
    rec: dict[str, Any] = {}
    if data is not None:
        rec = _video_record(side, data) if "input" in data and "frames" in data else _stylize_record(side, data)
    content = overrides.content
    if content is None:
        if data is None:
            raise InputError(f"{p}: has no sidecar {side.name}, so its content is unknown; pass --content PHOTO")
        content = _locate(rec.get("content"), side, "content")
    if not content.exists():
        raise InputError(f"{content}: content not found (for {p}); pass --content PATH")
    styles = rec.get("styles") or Styles()
    if overrides.style:
        styles = resolve_styles(overrides.style)
    if not styles:
        why = "its sidecar records none" if data is not None else f"it has no sidecar {side.name}"
        raise InputError(f"{p}: no style to compare with ({why}); pass --style IMAGE... or --style-bank BANK")
    recorded = data.get("backbone") if data is not None and isinstance(data.get("backbone"), dict) else None
    backbone = BackboneInfo.from_dict(recorded) if recorded else None
    return ResultSource(
        path=p,
        kind=kind,
        content=content,
        styles=styles,
        sidecar=side if data is not None else None,
        method=str(rec.get("method", "no sidecar")),
        backbone=backbone,
        style_scale=float(rec.get("style_scale", 1.0)),
        seconds=_number(data.get("seconds")) if data else None,
        peak_memory_bytes=int(data["peak_memory_bytes"]) if data and _number(data.get("peak_memory_bytes")) else None,
        fast_universe=rec.get("fast_universe"),
        video=rec.get("video") or VideoRange(),
    )
