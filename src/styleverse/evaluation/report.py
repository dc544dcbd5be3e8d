"""An evaluation as people read it: a table (terminal and ``report.md``), ``report.json`` and pictures.

Pictures: ``results.png``, a contact sheet of the content photo(s), the style images and every result with
its scores under it; ``layers.png``, each result's relative style distance per layer (1 = where the content
photo is, 0 = the target); ``tradeoff.png``, style distance against content fidelity with the time each
result took as marker size (the plot a sweep is for).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from styleverse.errors import InputError
from styleverse.evaluation.evaluate import Evaluation, ResultScore
from styleverse.io.images import load_image, write_bytes_atomic, write_json
from styleverse.plots import colormap, contact_sheet, save_figure, subplots

REPORT_FILES = {
    "json": "report.json",
    "markdown": "report.md",
    "sheet": "results.png",
    "layers": "layers.png",
    "tradeoff": "tradeoff.png",
}
DEFINITIONS = {
    "style_distance": "sum over style layers of weight x MSE(Gram(result), target Gram), Grams normalised by C*H*W: "
    "the style loss before --style-weight; target = weighted mean Gram of the style images and banks",
    "relative_style": "style distance of the result / style distance of the content photo to the same target: "
    "1 = the style has not moved, 0 = reached (the raw sum: mostly the first layer, i.e. colour)",
    "layer_balanced_style": "per style layer, the result's distance / the content photo's at that layer, averaged "
    "with the layer weights: every layer counts by its weight, not its magnitude; the headline style number",
    "verdict": "the layer-balanced style and the SSIM read together: 'style barely moved' at 0.9 or more "
    "('farther than the photo's' above 1), 'content lost' below SSIM 0.3, else 'styled, content kept'",
    "content_loss": "mean over content layers of MSE(features(result), features(content photo)), before "
    "--content-weight; 0 for the photo itself",
    "ssim": "structural similarity (Wang et al. 2004) of the luminance to the content photo's: Gaussian window "
    "sigma 1.5, border excluded; 1 = same structure",
    "judge": "softmax probability the universe classifier gives the intended universe (mean over a video's "
    "sampled frames), and the universe it finds most likely, beside the classifier's own validation accuracy "
    "and ECE; 'no verdict' when that validation fails the trust rule of 'classifier train'",
    "warping_error": "temporal warping error (Lai et al. 2018) as the video command records it, on the frames as "
    "written; ratio = output / input (not a floor: a frozen video goes below it)",
    "following": "whether the output moves with the input: on reliable moving pixels (e_still - e_warp) / (e_still "
    "+ e_warp), e_still the distance to the unwarped previous frame; 1 = moves exactly with the input, below 0 = "
    "FROZEN (stands still where the input moves, -1 for a still image); the input's own beside it",
    "flicker": "mean absolute change between consecutive frames (pixels in [0,1]); ratio = output / input",
    "cost": "seconds and peak memory the result's sidecar records (or a sweep measured); blank where unknown",
}
SHEET_THUMB = 160
MAX_STYLE_THUMBS = 4


def report_paths(out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The files :func:`write_report` writes into ``out_dir``."""
    return {k: Path(out_dir) / v for k, v in REPORT_FILES.items()}


def _g(x: float | None, fmt: str = ".3g") -> str:
    return "" if x is None or not math.isfinite(x) else format(x, fmt)


def _mib(x: int | None) -> str:
    return "" if x is None else f"{x / 2**20:.0f} MiB"


def row(s: ResultScore) -> dict[str, str]:
    """One result as short strings, the columns of the table."""
    v, t = s.verdict, s.temporal
    out = {
        "result": s.label,
        "method": s.source.method,
        "style dist": _g(s.style.total),
        "rel. style": _g(s.relative_style, ".3f"),
        "style (layers)": _g(s.balanced_style, ".3f"),
        "content loss": _g(s.content_loss),
        "SSIM": _g(s.ssim, ".3f"),
        "verdict": s.overall.partition(" (")[0],
    }
    if v is not None and not v.trusted:
        out["P(intended)"] = out["looks like"] = "no verdict"
    elif v is not None:
        out["P(intended)"] = f"{v.intended} {v.intended_probability:.2f}" if v.intended else "(unknown)"
        out["looks like"] = f"{v.top} {v.top_probability:.2f}"
    if v is not None and v.validation:
        val = v.validation
        out["judge val."] = f"acc {_g(val['balanced_accuracy'], '.2f')} ECE {_g(val['ece'], '.2f')}"
        if val.get("temperature") is not None:  # the probabilities shown are scaled by it
            out["judge val."] += f" (T {_g(val['temperature'], '.2f')}: {_g(val.get('ece_scaled'), '.2f')})"
    if t is not None:
        out["warp err"] = (
            f"{_g(t.warping_error)} (x{_g(t.warping_ratio, '.2f')})" if t.warping_error is not None else ""
        )
        out["flicker"] = f"{_g(t.flicker)} (x{_g(t.flicker_ratio, '.2f')})" if t.flicker is not None else ""
        follow = f"{_g(t.following, '.2f')} (input {_g(t.input_following, '.2f')})" if t.following is not None else ""
        out["follows"] = follow + (" FROZEN" if t.frozen else "")
    out["seconds"] = _g(s.seconds, ".1f")
    out["peak mem"] = _mib(s.peak_memory_bytes)
    return out


def table(ev: Evaluation) -> tuple[list[str], list[list[str]]]:
    """Column names and rows (the columns some result has a value in, in order)."""
    rows = [row(s) for s in ev.scores]
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols and any(x.get(c) for x in rows)]
    return cols, [[r.get(c, "") for c in cols] for r in rows]


def score_dict(s: ResultScore) -> dict[str, Any]:
    """A result's numbers as JSON values (None where there is none)."""
    src = s.source
    return {
        "result": str(src.path),
        "label": s.label,
        "kind": src.kind,
        "method": src.method,
        "sidecar": str(src.sidecar) if src.sidecar else None,
        "content_photo": str(src.content),
        "styles": [{"path": str(p), "weight": w} for p, w in src.styles.images],
        "style_banks": [{"path": str(p), "weight": w} for p, w in src.styles.banks],
        "measured_size": list(s.size),
        "frames_scored": s.frames_scored,
        "style": {
            "distance": s.style.total,
            "per_layer": s.style.per_layer,
            "content_photo_distance": s.content_style.total,
            "content_photo_per_layer": s.content_style.per_layer,
            "relative": s.relative_style,
            "relative_per_layer": s.relative_per_layer,
            "layer_balanced": s.balanced_style,
        },
        "verdict": s.overall,
        "content_fidelity": {"loss": s.content_loss, "ssim": s.ssim},
        "judge": asdict(s.verdict) if s.verdict else None,
        "temporal": {**asdict(s.temporal), "frozen": s.temporal.frozen} if s.temporal else None,
        "cost": {"seconds": s.seconds, "peak_memory_bytes": s.peak_memory_bytes},
    }


def report_dict(ev: Evaluation, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything for ``report.json``."""
    st = ev.settings
    return {
        "backbone": ev.backbone.to_dict(),
        "style_layers": list(st.features.style_layers),
        "content_layers": list(st.features.content_layers),
        "measured_at": st.size or "each result's own size",
        "device": ev.device,
        "precision": ev.precision,
        "classifier": str(st.classifier) if st.classifier else None,
        "classifier_universes": ev.classifier_universes,
        "definitions": DEFINITIONS,
        "results": [score_dict(s) for s in ev.scores],
        **(extra or {}),
    }


def markdown(ev: Evaluation, title: str = "Evaluation") -> str:
    """``report.md``: the table, what each column means, and the pictures."""
    cols, rows = table(ev)
    st = ev.settings.features
    where = f"Measured under `{ev.backbone.identity}`, {ev.precision}, style layers {', '.join(st.style_layers)}"
    lines = [f"# {title}", "", f"{where}; content layers {', '.join(st.content_layers)}.", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    lines += ["", "## What the numbers mean", ""]
    lines += [f"- **{k}**: {v}" for k, v in DEFINITIONS.items()]
    lines += ["", "## Pictures", "", "![results](results.png)", "", "![layers](layers.png)", ""]
    lines += ["![tradeoff](tradeoff.png)", ""]
    return "\n".join(lines)


def _thumb(path: Path) -> Image.Image:
    try:
        return load_image(path)
    except InputError:
        return Image.new("RGB", (SHEET_THUMB, SHEET_THUMB), (128, 128, 128))


def score_lines(s: ResultScore) -> list[str]:
    """The scores printed under a result's picture."""
    lines = [
        f"style {_g(s.balanced_style, '.2f')} (raw {_g(s.relative_style, '.2f')})",
        f"content {_g(s.content_loss)} SSIM {_g(s.ssim, '.2f')}",
        *s.overall.partition(" (")[0].split(", "),
    ]
    if s.verdict is not None and not s.verdict.trusted:
        lines.append("judge: no verdict")
    elif s.verdict is not None:
        v = s.verdict
        lines.append(
            f"P({v.intended}) {v.intended_probability:.2f}" if v.intended else f"like {v.top} {v.top_probability:.2f}"
        )
    if s.temporal is not None and s.temporal.warping_ratio is not None:
        lines.append(f"warp x{s.temporal.warping_ratio:.2f} flicker x{_g(s.temporal.flicker_ratio, '.2f')}")
        lines.append("FROZEN" if s.temporal.frozen else f"follows {_g(s.temporal.following, '.2f')}")
    if s.seconds is not None:
        lines.append(f"{s.seconds:.1f} s" + (f", {_mib(s.peak_memory_bytes)}" if s.peak_memory_bytes else ""))
    return lines


def results_sheet(ev: Evaluation, path: str | os.PathLike[str], cols: int | None = None) -> Path:
    """Contact sheet: each distinct content photo and up to four style images, then every result with its
    scores under it."""
    contents: dict[str, tuple[Image.Image, str]] = {}
    for s in ev.scores:
        if s.content_preview is not None:
            contents.setdefault(str(s.source.content), (s.content_preview, f"content\n{s.source.content.name}"))
    styles = list(dict.fromkeys(p for s in ev.scores for p, _ in s.source.styles.images))
    cells = [*contents.values(), *((_thumb(p), f"style\n{p.name}") for p in styles[:MAX_STYLE_THUMBS])]
    for s in ev.scores:
        preview = s.preview if s.preview is not None else Image.new("RGB", (8, 8), (128, 128, 128))
        cells.append((preview, "\n".join([s.label, *score_lines(s)])))
    shown = f"{len(styles[:MAX_STYLE_THUMBS])} of {len(styles)} style images" if styles else "style banks only"
    title = f"{len(ev.scores)} results under {ev.backbone.identity} ({shown}); style = distance relative to the photo's"
    return sheet(cells, path, cols or min(6, len(cells)), title)


def sheet(cells: Sequence[tuple[Image.Image, str]], path: str | os.PathLike[str], cols: int, title: str) -> Path:
    """:func:`styleverse.plots.contact_sheet` of (picture, label) cells, every picture scaled to fill its cell
    (small results are enlarged, so a 64 px result and a 512 px style image show at one size) and labels padded
    to one height."""
    fitted = [ImageOps.contain(im, (SHEET_THUMB, SHEET_THUMB), Image.Resampling.LANCZOS) for im, _ in cells]
    n_lines = max(len(x.split("\n")) for _, x in cells)
    padded = [x + "\n" * (n_lines - len(x.split("\n"))) for _, x in cells]
    return contact_sheet(fitted, padded, path, cols=cols, thumb=SHEET_THUMB, title=title)


def plot_layers(ev: Evaluation, path: str | os.PathLike[str]) -> Path:
    """Grouped bars: per style layer, each result's distance relative to the content photo's."""
    layers = [k.partition(":")[0] for k in ev.settings.features.style_layers]
    n = len(ev.scores)
    fig, ax = subplots(figsize=(max(6, 1.2 * len(layers) * max(1, n) ** 0.5 + 2), 4))
    width = 0.8 / max(1, n)
    for i, s in enumerate(ev.scores):
        vals = [s.relative_per_layer.get(k) for k in layers]
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(layers))]
        ax.bar(xs, [v if v is not None else float("nan") for v in vals], width, label=s.label)
    ax.axhline(1.0, color="0.4", ls="--", lw=1)
    ax.text(len(layers) - 0.5, 1.0, " content photo", va="bottom", ha="right", color="0.3", fontsize=8)
    ax.set_xticks(range(len(layers)), layers)
    ax.set_ylabel("style distance / content photo's")
    ax.set_title("How far each layer's style moved towards the target (0 = reached)")
    ax.grid(True, axis="y", alpha=0.3)
    if n <= 12:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_tradeoff(scores: Sequence[ResultScore], path: str | os.PathLike[str], title: str = "") -> Path:
    """Relative style distance (x, lower = more stylised) against SSIM (y, higher = more faithful); marker
    area grows with the seconds a result took (equal markers when no time is known), colour by method."""
    fig, ax = subplots(figsize=(7, 5))
    top = max((s.seconds for s in scores if s.seconds is not None), default=None)
    methods = list(dict.fromkeys(s.source.method for s in scores))
    colours = colormap("tab10")
    for s in scores:
        if s.relative_style is None:
            continue
        area = 40.0 if top is None or s.seconds is None or top <= 0 else 30 + 400 * s.seconds / top
        c = colours(methods.index(s.source.method) % 10)
        ax.scatter([s.relative_style], [s.ssim], s=area, color=c, alpha=0.7, edgecolors="black", linewidths=0.5)
        ax.annotate(s.label, (s.relative_style, s.ssim), fontsize=7, xytext=(4, 4), textcoords="offset points")
    for i, m in enumerate(methods):
        ax.scatter([], [], color=colours(i % 10), label=m)
    ax.axvline(1.0, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("style distance relative to the content photo (lower = more stylised)")
    ax.set_ylabel("SSIM to the content photo (higher = more faithful)")
    size_note = f"marker area ~ seconds (largest {top:.1f} s)" if top else "no timings recorded"
    ax.set_title(title or f"Style against content fidelity; {size_note}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def write_report(
    ev: Evaluation, out_dir: str | os.PathLike[str], extra: dict[str, Any] | None = None, title: str = "Evaluation"
) -> dict[str, Path]:
    """Write every report file into ``out_dir`` (each atomically); ``extra`` is merged into report.json."""
    paths = report_paths(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    results_sheet(ev, paths["sheet"])
    plot_layers(ev, paths["layers"])
    plot_tradeoff(ev.scores, paths["tradeoff"])
    data = {**report_dict(ev, extra), "files": {k: v.name for k, v in paths.items()}}
    write_bytes_atomic(paths["markdown"], markdown(ev, title).encode())
    write_json(paths["json"], data)
    return paths
