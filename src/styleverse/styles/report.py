"""Pictures and text for a style-set analysis: ranked distances and density scores, a 2-D map with thumbnails
coloured by group, a contact sheet from most typical to least, ``report.json`` and a README-style
``report.md`` (paper section 6). File names on the charts are shortened in the middle, never cut at the
end: ``big_buck_bunny_3000.jpg`` cut to 18 characters read ``big_buck_bunny_300``, another file's name."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from styleverse.errors import InputError
from styleverse.io.images import load_image, write_bytes_atomic, write_json
from styleverse.plots import contact_sheet, save_figure, shorten, subplots
from styleverse.styles.analysis import DENSITY_RATIO, Analysis, ImageResult

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
    "layer-weighted; multiply by --style-weight). knn_distance = mean distance (square root of the same "
    "metric) from an image to its k nearest other images: a density score. Outliers: knn_distance > median + "
    "k_mad * 1.4826 * MAD of the knn distances and > 3 x their median, so an image far from every group is "
    "flagged even when the set has several looks (its distance to the mean can be small when it sits between "
    "groups). far_from_mean: distance > median + k_mad * 1.4826 * MAD (MAD floored at 1% of the median), the "
    "older rule, reported beside it. Groups: average-linkage clusters of the non-outliers, their number (1 to 6) "
    "chosen by the mean silhouette (kept when >= 0.5); a group's spread is around its own mean. rank: by "
    "knn_distance, 1 = most typical (densest), not by the distance to the mean (which lies between groups). The "
    "subset starts from the non-outliers of the largest group and drops, one at a time, the image whose removal "
    "leaves the smallest spread (mean recomputed each time); a subset no tighter than the set is not suggested; "
    "subset_spread uses the full set's normalisers so it compares with spread, subset_spread_self its own "
    "mean's (as a bank of the subset reports it)."
)
GROUP_COLOURS = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
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


def _group_colour(r: ImageResult) -> str:
    return "tab:red" if r.outlier or r.group < 0 else GROUP_COLOURS[r.group % len(GROUP_COLOURS)]


def plot_distances(a: Analysis, path: str | os.PathLike[str]) -> Path:
    """Two bar charts in the same order (most typical first): the distance to the mean Gram, and the density
    score (mean distance to the nearest images). Outliers (by density) red, left out of the subset orange."""
    ranked = sorted(a.images, key=lambda r: r.rank)
    x = range(1, len(ranked) + 1)
    fig, (ax, ax_k) = subplots(2, 1, figsize=(min(16, 4 + 0.25 * len(ranked)), 6.5), sharex=True)
    colours = [_colour(r) for r in ranked]
    ax.bar(x, [r.distance for r in ranked], color=colours, width=0.8)
    k = a.settings.get("mad_k")
    if a.threshold is not None:
        ax.axhline(a.threshold, color="0.3", ls="--", lw=1, label=f"far from the mean (median + {k}·MAD)")
    ax.axhline(a.spread, color="0.4", ls=":", lw=1, label=f"spread (weighted mean) {a.spread:.3g}")
    ax.set_ylabel("distance to the mean Gram\n(relative, squared)")
    ax.set_title("How far each style image is from the set's average style, and from its nearest neighbours")
    ax.legend(fontsize=8)
    ax_k.bar(x, [r.knn_distance for r in ranked], color=colours, width=0.8)
    if a.knn_threshold is not None:
        ax_k.axhline(a.knn_threshold, color="tab:red", ls="--", lw=1,
                     label=f"outlier (median + {k}·MAD, at least {DENSITY_RATIO:g}× the median)")  # fmt: skip
        ax_k.legend(fontsize=8)
    ax_k.set_ylabel(f"mean distance to the\n{a.knn_k} nearest images")
    if len(ranked) <= 40:
        ax_k.set_xticks(list(x), [shorten(Path(r.path).name, 24) for r in ranked], rotation=70, fontsize=7)
    ax_k.set_xlabel("images, most typical first (red: outlier, orange: left out of the subset)")
    return save_figure(fig, path)


def plot_map(a: Analysis, path: str | os.PathLike[str], thumb: int = 40) -> Path:
    """Images placed by the first two principal components of their Gram vectors, with thumbnails."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig, ax = subplots(figsize=(8, 7))
    xs, ys = [r.xy[0] for r in a.images], [r.xy[1] for r in a.images]
    ax.scatter(xs, ys, c=[_group_colour(r) for r in a.images], s=12, zorder=1)
    ranked = sorted(a.images, key=lambda r: r.rank)
    step = max(1, len(ranked) // MAX_MAP_THUMBS)
    shown = {id(r) for r in ranked[::step]} | {id(r) for r in a.outliers[:MAX_MAP_THUMBS]}
    for r in a.images:
        if id(r) in shown:
            box = OffsetImage(np.asarray(_thumb(r.path, thumb)), zoom=1.0)
            frame = {"edgecolor": _group_colour(r), "lw": 2.5 if r.outlier else 1.5}
            ab = AnnotationBbox(box, r.xy, frameon=True, pad=0.1, bboxprops=frame)
            ax.add_artist(ab)
    ex = a.explained
    ax.set_xlabel(f"PC1 ({ex[0]:.0%} of spread)")
    ax.set_ylabel(f"PC2 ({ex[1]:.0%} of spread)")
    groups = ", ".join(f"{GROUP_COLOURS[g.label % len(GROUP_COLOURS)][4:]} group {g.label + 1}" for g in a.groups)
    ax.set_title(f"Style images by their Gram matrices ({groups}; red: outlier)", fontsize=10)
    ax.margins(0.15)
    return save_figure(fig, path)


def typical_sheet(a: Analysis, path: str | os.PathLike[str]) -> Path:
    """Contact sheet from most typical to least (capped: the most and the least typical halves)."""
    ranked = sorted(a.images, key=lambda r: r.rank)
    total = len(ranked)
    if len(ranked) > MAX_SHEET:
        ranked = ranked[: MAX_SHEET // 2] + ranked[-MAX_SHEET // 2 :]
    labels = [
        f"#{r.rank} {Path(r.path).name}\nd={r.distance:.3g} nn={r.knn_distance:.3g} "
        + ("OUTLIER" if r.outlier else f"g{r.group + 1}")
        for r in ranked
    ]
    how = "all" if len(ranked) == total else f"the {MAX_SHEET // 2} most and {MAX_SHEET // 2} least typical"
    title = (
        f"{len(ranked)} of {total} style images shown ({how}), most typical (densest) first; d: distance to the mean"
    )
    title += ", nn: distance to the nearest images, g: group"
    images = [_thumb(r.path, 128) for r in ranked]
    return contact_sheet(images, labels, path, cols=min(8, len(ranked)), thumb=128, title=title)


def markdown(a: Analysis) -> str:
    """A short README-style summary of the analysis."""
    n, sub = len(a.images), a.subset
    cut = 1 - a.subset_spread / a.spread if a.spread > 0 else 0.0
    lines = [
        "# Style set analysis",
        "",
        f"- images: {n}, outliers (far from every other image): {len(a.outliers)}, far from the mean: "
        f"{sum(r.far_from_mean for r in a.images)}, backbone: `{a.backbone.get('identity')}`",
        f"- groups: {_groups_line(a)}",
        f"- spread (weighted mean distance to the average Gram): **{a.spread:.4g}**"
        f" (in style-loss units: {a.spread_loss:.4g})",
        f"- suggested subset: {len(sub)} images, spread **{a.subset_spread:.4g}** ({change(cut)}; "
        f"{a.subset_spread_self:.4g} relative to the subset's own mean, as its bank reports it)"
        + (f"; {a.subset_note}" if a.subset_note else ""),
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
        "## Outliers",
        "",
        _outlier_text(a),
        "",
        "## Groups",
        "",
        *_group_lines(a),
        "",
        "## Least typical images",
        "",
        "| rank | image | distance to mean | far from mean | to nearest images | outlier | group | in subset |",
        "|---:|---|---:|:---:|---:|:---:|---:|:---:|",
    ]
    for r in sorted(a.images, key=lambda r: (-r.outlier, -r.distance))[:15]:
        lines.append(
            f"| {r.rank} | `{r.path}` | {r.distance:.4g} | {'yes' if r.far_from_mean else ''} | "
            f"{r.knn_distance:.4g} | {'yes' if r.outlier else ''} | {r.group + 1 if r.group >= 0 else '-'} | "
            f"{'yes' if r.in_subset else 'no'} |"
        )
    lines += ["", "## Pictures", ""]
    lines += [f"![{k}]({v})" for k, v in REPORT_FILES.items() if v.endswith(".png")]
    return "\n".join(lines) + "\n"


def change(cut: float) -> str:
    """``30% lower`` / ``6% higher`` for a relative spread reduction (left-out intruders near the mean raise it)."""
    return f"{cut:.0%} lower" if cut >= 0 else f"{-cut:.0%} higher: the images left out sat near the average"


def _groups_line(a: Analysis) -> str:
    if len(a.groups) <= 1:
        return f"one (no split into groups reached a silhouette of 0.5; best {a.silhouette:.2f})"
    sizes = " and ".join(f"{len(g.images)}" for g in a.groups)
    return f"**{len(a.groups)}**, of {sizes} images (silhouette {a.silhouette:.2f}): averaging them mixes their looks"


def _outlier_text(a: Analysis) -> str:
    if a.knn_threshold is None:
        return "Too few images for the density rule."
    missed = [r for r in a.outliers if not r.far_from_mean]
    text = (
        f"An image is an outlier when its mean distance to its {a.knn_k} nearest images exceeds "
        f"{a.knn_threshold:.4g} (median {a.knn_median:.4g} + {a.settings.get('mad_k')} x 1.4826 x MAD, at least "
        f"{DENSITY_RATIO:g} x the median): {len(a.outliers)} image(s)."
    )
    if missed:
        text += (
            f" {len(missed)} of them sit close to the set's average style (not far from the mean): between "
            "groups, where the distance to the mean cannot see them."
        )
    return text


def _group_lines(a: Analysis) -> list[str]:
    lines = [_groups_line(a).replace("**", ""), ""]
    if len(a.groups) > 1:
        lines += ["| group | images | weight | spread (around its own mean) | examples |", "|---:|---:|---:|---:|---|"]
        for g in a.groups:
            names = ", ".join(f"`{Path(p).name}`" for p in g.images[:4]) + (" ..." if len(g.images) > 4 else "")
            lines.append(f"| {g.label + 1} | {len(g.images)} | {g.weight:.4g} | {g.spread:.4g} | {names} |")
        lines += ["", f"The whole set's spread is {a.spread:.4g}: `--write-bank FILE` writes a bank per group "
                  "(FILE.group1.safetensors, ...) beside the subset's (the subset lies in group 1)."]  # fmt: skip
    return lines


def report_dict(a: Analysis) -> dict[str, object]:
    """Everything in ``report.json``: settings, backbone, set-level numbers, then one entry per image."""
    d = {k: v for k, v in asdict(a).items() if k not in ("subset_bank", "group_banks", "images")}
    return {
        "notes": NOTES,
        "count": len(a.images),
        **d,
        "outlier_rule": {"median": a.median, "mad": a.mad, "k": a.settings.get("mad_k"), "threshold": a.threshold},
        "density_rule": {
            "neighbours": a.knn_k,
            "median": a.knn_median,
            "mad": a.knn_mad,
            "k": a.settings.get("mad_k"),
            "ratio": DENSITY_RATIO,
            "threshold": a.knn_threshold,
        },
        "outliers": [r.path for r in a.outliers],
        "far_from_mean": [r.path for r in a.images if r.far_from_mean],
        "silhouette": a.silhouette,
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
    write_json(paths["json"], data)
    return paths
