"""What every styled result records beside itself (its sidecar ``RESULT.json``): the common part.

A stylise job (:class:`styleverse.transfer.sidecar.StylizeSidecar`) and a video job
(:class:`styleverse.video.sidecar.VideoSidecar`) each write one; ``evaluate`` reads them back through their
``from_json``. Reading tolerates sidecars written by other versions of styleverse: a missing or malformed key
takes its default, an unknown key is ignored. What is written keeps the keys sidecars have always had (users
and the README read them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from styleverse.errors import InputError
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.spec import StyleSpec

Weighted = tuple[str, float]  # a recorded path (as given at run time) and its weight


def number(x: object) -> float | None:
    """``x`` when it is a finite JSON number, else None."""
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def integer(x: object) -> int | None:
    """``x`` when it is a JSON integer, else None."""
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def text(x: object) -> str | None:
    """``x`` when it is a JSON string, else None."""
    return x if isinstance(x, str) else None


def obj(d: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``d[key]`` when it is a JSON object, else an empty one (a sidecar from another version may lack it)."""
    v = d.get(key)
    return dict(v) if isinstance(v, dict) else {}


def weighted(items: object, what: str) -> tuple[Weighted, ...]:
    """``[{path, weight}, ...]`` as (path, weight) pairs; a one-line :class:`InputError` for an entry that is
    not one (the sidecar is damaged)."""
    out = []
    for item in items if isinstance(items, list) else []:
        w = number(item.get("weight")) if isinstance(item, Mapping) else None
        if w is None or not isinstance(item.get("path"), str):
            raise InputError(f"a {what} entry is not {{path, weight}}; the sidecar is damaged")
        out.append((str(item["path"]), w))
    return tuple(out)


def weighted_json(items: tuple[Weighted, ...]) -> list[dict[str, Any]]:
    """The inverse of :func:`weighted`."""
    return [{"path": p, "weight": w} for p, w in items]


@dataclass(frozen=True, kw_only=True)
class ResultRecord:
    """What every result records: what it was made from (``content``: the photo or input video, and
    ``style``), where it went, the job's ``settings`` as plain JSON, the feature network (``backbone``), what
    it cost and the library versions. Paths are as given at run time."""

    content: str | None = None
    output: str | None = None
    style: StyleSpec = field(default_factory=StyleSpec)
    settings: dict[str, Any] = field(default_factory=dict)
    backbone: BackboneInfo | None = None
    seconds: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory_kind: str | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def common(d: Mapping[str, Any], style: Mapping[str, Any], content_key: str) -> dict[str, Any]:
        """The common fields read from the sidecar ``d``, the style from its settings ``style``."""
        backbone = d.get("backbone")
        return {
            "content": text(d.get(content_key)),
            "output": text(d.get("output")),
            "style": StyleSpec.from_settings(style),
            "settings": obj(d, "settings"),
            "backbone": BackboneInfo.from_dict(backbone) if isinstance(backbone, dict) and backbone else None,
            "seconds": number(d.get("seconds")),
            "peak_memory_bytes": int(peak) if (peak := number(d.get("peak_memory_bytes"))) is not None else None,
            "peak_memory_kind": text(d.get("peak_memory_kind")),
            "versions": {str(k): str(v) for k, v in obj(d, "versions").items()},
        }

    def cost_json(self) -> dict[str, Any]:
        """Seconds, peak memory and its kind as sidecars write them."""
        seconds = round(self.seconds, 3) if self.seconds is not None else None
        return {"seconds": seconds, "peak_memory_bytes": self.peak_memory_bytes,
                "peak_memory_kind": self.peak_memory_kind}  # fmt: skip
