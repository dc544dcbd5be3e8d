"""Small pieces of the page every tab draws the same way: the progress bar, the status line, the loss curve,
and reading the values the browser sends (Gradio's raw file payloads)."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw

CSS = """
.sv-progress { display: flex; align-items: center; gap: 0.75em; min-height: 2em; }
.sv-progress progress { flex: 1; height: 0.9em; appearance: none; -webkit-appearance: none; border: none;
  border-radius: 6px; background: #e9ecef; overflow: hidden; }
.sv-progress progress::-webkit-progress-bar { background: #e9ecef; border-radius: 6px; }
.sv-progress progress::-webkit-progress-value { background: #f97316; border-radius: 6px; }
.sv-progress progress::-moz-progress-bar { background: #f97316; }
.sv-progress span { font-variant-numeric: tabular-nums; white-space: nowrap; }
.sv-status { padding: 0.45em 0.75em; border-radius: 6px; background: #f1f3f5; color: #212529; }
.sv-status.sv-error { background: #ffe3e3; color: #a51111; font-weight: 600; }
.sv-status.sv-done { background: #e6fcf5; color: #087f5b; }
"""


def progress_html(done: float, total: float, label: str = "") -> str:
    """A ``<progress>`` bar (``value``/``max`` attributes a test can read) with a text label beside it."""
    total = max(float(total), 1.0)
    done = min(max(float(done), 0.0), total)
    text = html.escape(label or f"{done:g} / {total:g}")
    return f'<div class="sv-progress"><progress value="{done:g}" max="{total:g}"></progress><span>{text}</span></div>'


def eta_text(seconds: float | None) -> str:
    """`` · about 1 min 20 s left`` for a progress line (empty while there is no estimate)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    return f" · about {duration_text(seconds)} left"


def duration_text(seconds: float) -> str:
    """``1 h 5 min``, ``1 min 20 s`` or ``20 s``: a duration in a progress or status line."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def timed_progress(
    done: float, total: float, label: str, started: float, now: float | None = None, left: float | None = None
) -> str:
    """A progress bar whose line says ``label · 12 s elapsed · about 30 s left``: every job tab's progress
    line, so each shows what is done, how long it took and how long it will take alike. The time left is
    ``left`` when the caller estimates it (NaN: no estimate yet), else the pace so far: elapsed / done x
    what remains (none before the first unit is done)."""
    took = (time.monotonic() if now is None else now) - started
    if left is None and done > 0:
        left = took / done * (total - done)
    return progress_html(done, total, f"{label} · {duration_text(took)} elapsed{eta_text(left)}")


class Pace:
    """The progress lines of a job in stages (:func:`timed_progress`): the time since the job started, and
    the time left at the pace of the current stage, measured afresh when the stage changes (a slow first
    stage does not skew the estimate of the next, a stage's start is not taken for its pace)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started
        self._stage: object = None
        self._since = (self.started, 0.0)

    def line(self, done: float, total: float, label: str, stage: object = None, now: float | None = None) -> str:
        """The line for ``done`` of ``total`` in ``stage`` (any value; a new one restarts the pace)."""
        now = time.monotonic() if now is None else now
        if stage != self._stage:
            self._stage, self._since = stage, (now, done)
        t0, d0 = self._since
        left = (total - done) * (now - t0) / (done - d0) if done > d0 else None
        return timed_progress(done, total, label, self.started, now, math.nan if left is None else left)


def status_html(text: str, kind: str = "info") -> str:
    """One status line: ``info``, ``done`` or ``error`` (shown red, with a warning sign)."""
    mark = "⚠ " if kind == "error" else ""
    return f'<div class="sv-status sv-{kind}" role="status">{mark}{html.escape(text)}</div>'


def loss_curve(history: Sequence[dict[str, float]], size: tuple[int, int] = (460, 240)) -> Image.Image:
    """The style and content loss so far on a log scale, drawn with Pillow.

    Not matplotlib: it is not thread-safe (its mathtext parser shares state), and the job itself plots in
    its worker thread while this runs in the page's thread."""
    w, h = size
    left, right, top, bottom = 58, 12, 12, 28
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.rectangle([left, top, w - right, h - bottom], outline=(120, 120, 120))
    lines = {k: [(r["step"], r[k]) for r in history if r.get(k, 0) > 0 and math.isfinite(r[k])] for k in _CURVES}
    values = [v for pts in lines.values() for _, v in pts]
    if not values:
        d.text((left + 8, top + 8), "no loss yet", fill=(90, 90, 90))
        return img
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    hi = hi if hi > lo else lo + 1
    s0 = min(r["step"] for r in history)
    s1 = max(max(r["step"] for r in history), s0 + 1)

    def xy(step: float, v: float) -> tuple[float, float]:
        x = left + (step - s0) / (s1 - s0) * (w - left - right)
        y = h - bottom - (math.log10(v) - lo) / (hi - lo) * (h - top - bottom)
        return x, y

    for e in range(lo, hi + 1):
        y = xy(s0, 10.0**e)[1]
        d.line([left, y, w - right, y], fill=(230, 230, 230))
        d.text((4, y - 6), f"1e{e}", fill=(90, 90, 90))
    d.text((left, h - bottom + 6), f"step {s0:g}", fill=(90, 90, 90))
    d.text((w - right - 60, h - bottom + 6), f"step {s1:g}", fill=(90, 90, 90))
    for i, (key, colour) in enumerate(_CURVES.items()):
        pts = [xy(s, v) for s, v in lines[key]]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        elif pts:
            d.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=colour)
        if pts:
            d.text((w - right - 70, top + 4 + 14 * i), key, fill=colour)
    return img


_CURVES = {"style": (214, 39, 40), "content": (31, 119, 180), "tv": (44, 160, 44)}


def payload_path(value: Any) -> str | None:
    """The server path of one file value as Gradio sends it unprocessed (a dict or object with ``path``, a
    video box's with ``video`` holding that, or a plain string); None for no file."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("video"), dict):  # a video box's value: the file under "video"
            return payload_path(value["video"])
        path = value.get("path")
        return str(path) if path else None
    if getattr(value, "video", None) is not None:
        return payload_path(value.video)
    path = getattr(value, "path", None)
    return str(path) if path else None


def payload_paths(value: Any) -> list[str]:
    """Every server path of a (possibly multiple) file value; empty for none."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [p for p in (payload_path(v) for v in items) if p]


def payload_rows(value: Any) -> list[list[Any]]:
    """The rows of a table value as sent unprocessed (``{"data": rows}``), a pandas frame, or plain rows."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [list(r) for r in value.get("data") or []]
    if hasattr(value, "values") and hasattr(value, "columns"):
        return [list(r) for r in value.values.tolist()]
    return [list(r) for r in value]
