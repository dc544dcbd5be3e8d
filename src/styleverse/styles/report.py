"""Pictures and text for a style-set analysis: ranked distances, a 2-D map with thumbnails, a contact sheet
from most typical to least, ``report.json`` and a README-style ``report.md`` (paper section 6)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from PIL import Image, ImageOps

from styleverse.errors import InputError
from styleverse.io.images import load_image, write_bytes_atomic
from styleverse.plots import contact_sheet, plt, save_figure
from styleverse.styles.analysis import Analysis, ImageResult

REPORT_FILES = {
    "json": "report.json",
    "markdown": "report.md",
    "distances": "distances.png",
    "map": "map.png",
    "sheet": "typical.png",
}
NOTES = (
    "distance = sum over layers of weight_l * |G_i,l - mean_l|^2 / |mean_l|^2 (squared Frobenius norm, relative "
    "to the mean Gram, so layers compare). spread = weighted mean of the distances = weighted variance of the "
    "Grams around their mean. For any output Gram G: weighted mean over images of |G - G_i|^2 = |G - mean|^2 + "
    "spread, so the spread is the part of the summed per-image style losses that no output can remove: a tight "
    "set (small spread) is one a single image can match. spread_loss is that floor in style-loss units (MSE, "
    "layer-weighted; multiply by --style-weight). Outliers: distance > median + k * 1.4826 * MAD (MAD floored "
    "at 1% of the median). The subset drops, one at a time, the image whose removal leaves the smallest spread "
    "(mean recomputed each time); subset_spread uses the full set's normalisers so it compares with spread, "
    "subset_spread_self its own mean's (as a bank of the subset reports it)."
)
MAX_SHEET = 96
MAX_MAP_THUMBS = 120


def report_paths(out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The files :func:`write_report` writes into ``out_dir``."""
    return {k: Path(out_dir) / v for k, v in REPORT_FILES.items()}


def _thumb(path: str, px: int) -> Image.Image:
    try:
        im = load_image(path)
    except InputError:  # vanished since the analysis: show a grey square rather than fail the report
        return Image.new("RGB", (px, px), (128, 128, 128))
    return ImageOps.contain(im, (px, px))


def _colour(r: ImageResult) -> str:
    return "tab:red" if r.outlier else ("tab:blue" if r.in_subset else "tab:orange")


def plot_distances(a: Analysis, path: str | os.PathLike[str]) -> Path:
    """Bar per image in rank order (most typical first); outliers red, left out of the subset orange."""
    ranked = sorted(a.images, key=lambda r: r.rank)
    fig, ax = plt.subplots(figsize=(min(16, 4 + 0.25 * len(ranked)), 4))
    ax.bar(range(1, len(ranked) + 1), [r.distance for r in ranked], color=[_colour(r) for r in ranked], width=0.8)
    if a.threshold is not None:
        k = a.settings.get("mad_k")
        ax.axhline(a.threshold, color="tab:red", ls="--", lw=1, label=f"outlier threshold (median + {k}·MAD)")
    ax.axhline(a.spread, color="0.4", ls=":", lw=1, label=f"spread (weighted mean) {a.spread:.3g}")
    if len(ranked) <= 40:
        ax.set_xticks(range(1, len(ranked) + 1), [Path(r.path).name[:18] for r in ranked], rotation=70, fontsize=7)
    ax.set_xlabel("images, most typical first")
    ax.set_ylabel("distance to the mean Gram (relative, squared)")
    ax.set_title("How far each style image is from the set's average style")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_map(a: Analysis, path: str | os.PathLike[str], thumb: int = 40) -> Path:
    """Images placed by the first two principal components of their Gram vectors, with thumbnails."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig, ax = plt.subplots(figsize=(8, 7))
    xs, ys = [r.xy[0] for r in a.images], [r.xy[1] for r in a.images]
    ax.scatter(xs, ys, c=[_colour(r) for r in a.images], s=12, zorder=1)
    ranked = sorted(a.images, key=lambda r: r.rank)
    step = max(1, len(ranked) // MAX_MAP_THUMBS)
    shown = {id(r) for r in ranked[::step]} | {id(r) for r in a.outliers[:MAX_MAP_THUMBS]}
    for r in a.images:
        if id(r) in shown:
            box = OffsetImage(_thumb(r.path, thumb), zoom=1.0)
            ab = AnnotationBbox(box, r.xy, frameon=True, pad=0.1, bboxprops={"edgecolor": _colour(r), "lw": 1.5})
            ax.add_artist(ab)
    ex = a.explained
    ax.set_xlabel(f"PC1 ({ex[0]:.0%} of spread)")
    ax.set_ylabel(f"PC2 ({ex[1]:.0%} of spread)")
    ax.set_title("Style images by their Gram matrices (red: outlier, orange: left out of subset)")
    ax.margins(0.15)
    return save_figure(fig, path)


def typical_sheet(a: Analysis, path: str | os.PathLike[str]) -> Path:
    """Contact sheet from most typical to least (capped: the most and the least typical halves)."""
    ranked = sorted(a.images, key=lambda r: r.rank)
    if len(ranked) > MAX_SHEET:
        ranked = ranked[: MAX_SHEET // 2] + ranked[-MAX_SHEET // 2 :]
    labels = [f"#{r.rank}  d={r.distance:.3g}{'  OUT' if r.outlier else ''}" for r in ranked]
    return contact_sheet([_thumb(r.path, 128) for r in ranked], labels, path, cols=min(8, len(ranked)), thumb=128)


def markdown(a: Analysis) -> str:
    """A short README-style summary of the analysis."""
    n, sub = len(a.images), a.subset
    cut = 1 - a.subset_spread / a.spread if a.spread > 0 else 0.0
    lines = [
        "# Style set analysis",
        "",
        f"- images: {n}, outliers: {len(a.outliers)}, backbone: `{a.backbone.get('identity')}`",
        f"- spread (weighted mean distance to the average Gram): **{a.spread:.4g}**"
        f" (in style-loss units: {a.spread_loss:.4g})",
        f"- suggested subset: {len(sub)} images, spread **{a.subset_spread:.4g}** ({cut:.0%} lower; "
        f"{a.subset_spread_self:.4g} relative to the subset's own mean, as its bank reports it)",
        "",
        "## What the numbers mean",
        "",
        NOTES,
        "",
        "Why it matters: the style loss averaged (with the weights) over the set's images equals the loss against "
        "the average Gram plus the spread, so the spread is a floor no stylised image can go below. A tight set "
        "(small spread) is one a single image can match; averaging a loose set blurs its looks together "
        "(paper sections 4 and 6).",
        "",
        "## Least typical images",
        "",
        "| rank | image | distance | outlier | in subset |",
        "|---:|---|---:|:---:|:---:|",
    ]
    for r in sorted(a.images, key=lambda r: -r.distance)[:15]:
        lines.append(
            f"| {r.rank} | `{r.path}` | {r.distance:.4g} | {'yes' if r.outlier else ''} | "
            f"{'yes' if r.in_subset else 'no'} |"
        )
    lines += ["", "## Pictures", ""]
    lines += [f"![{k}]({v})" for k, v in REPORT_FILES.items() if v.endswith(".png")]
    return "\n".join(lines) + "\n"


def report_dict(a: Analysis) -> dict[str, object]:
    """Everything in ``report.json``: settings, backbone, set-level numbers, then one entry per image."""
    d = {k: v for k, v in asdict(a).items() if k not in ("subset_bank", "images")}
    return {
        "notes": NOTES,
        "count": len(a.images),
        **d,
        "outlier_rule": {"median": a.median, "mad": a.mad, "k": a.settings.get("mad_k"), "threshold": a.threshold},
        "outliers": [r.path for r in a.outliers],
        "subset": a.subset,
        "subset_size": len(a.subset),
        "spread_reduction": 1.0 - a.subset_spread / a.spread if a.spread > 0 else 0.0,
        "images": [asdict(r) for r in a.images],
    }


def write_report(a: Analysis, out_dir: str | os.PathLike[str], extra: dict | None = None) -> dict[str, Path]:
    """Write every report file into ``out_dir`` (each atomically); ``extra`` is merged into report.json."""
    paths = report_paths(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    plot_distances(a, paths["distances"])
    plot_map(a, paths["map"])
    typical_sheet(a, paths["sheet"])
    data = {**report_dict(a), **(extra or {}), "files": {k: v.name for k, v in paths.items()}}
    write_bytes_atomic(paths["markdown"], markdown(a).encode())
    write_bytes_atomic(paths["json"], (json.dumps(data, indent=2, default=str) + "\n").encode())
    return paths
