"""Pictures people would rather look at than read: loss curves, snapshot strips, contact sheets.

Figures are made without pyplot (no display, and no global figure registry, so the web app's jobs can plot
from several threads at once); every file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from styleverse.io.images import atomic_path, save_image, tensor_to_pil


def subplots(*grid: int, figsize: tuple[float, float] | None = None, **kw: Any) -> tuple[Figure, Any]:
    """A figure and its axes, as ``pyplot.subplots`` gives them, but owned by the caller alone."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kw)


def colormap(name: str) -> Any:
    """A named matplotlib colour map."""
    return matplotlib.colormaps[name]


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Save a figure atomically (format from the extension)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return Path(path)


def plot_losses(history: Sequence[dict[str, float]], path: str | os.PathLike[str], title: str = "") -> Path:
    """Style and content loss over steps on a log scale (the paper's Figure 4); scale changes marked. Where the
    history has ``best`` (style transfer: the lowest total so far, the point a stop saves) it is drawn too."""
    fig, ax = subplots(figsize=(7, 4))
    steps = [h["step"] for h in history]
    best = any("best" in h for h in history)
    lines = (
        ("style", "tab:red", "style"),
        ("content", "tab:blue", "content"),
        ("tv", "tab:green", "tv"),
        ("total", "0.4", "total (this step)" if best else "total"),
        ("best", "k", "best so far (what is saved)"),
    )
    for key, colour, label in lines:
        vals = [h.get(key, 0.0) for h in history]
        if any(v > 0 for v in vals):
            # zeros (the content loss at step 1 starts from the content image) cannot sit on a log axis
            shown = [v if v > 0 else float("nan") for v in vals]
            style = {"lw": 1.8, "ls": "--"} if key == "best" else {"lw": 1.5 if key != "total" else 1}
            ax.plot(steps, shown, label=label, color=colour, **style)
    for i in range(1, len(history)):
        if history[i].get("scale") != history[i - 1].get("scale"):
            ax.axvline(history[i]["step"], color="0.7", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.set_title(title or "Style and content loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def labelled_strip(
    images: Sequence[Image.Image], labels: Sequence[str], height: int = 256, pad: int = 4, label_h: int = 18
) -> Image.Image:
    """Images side by side at a common height, each with a text label under it."""
    scaled = [im.resize((max(1, round(im.width * height / im.height)), height)) for im in images]
    width = sum(im.width for im in scaled) + pad * (len(scaled) + 1)
    sheet = Image.new("RGB", (width, height + label_h + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    x = pad
    for im, text in zip(scaled, labels, strict=True):
        sheet.paste(im, (x, pad))
        draw.text((x + 2, pad + height + 3), text, fill="black")
        x += im.width + pad
    return sheet


def snapshot_strip(
    snapshots: Sequence[tuple[int, torch.Tensor]], path: str | os.PathLike[str], height: int = 256
) -> Path:
    """Snapshots (step, image) side by side, labelled by step (the paper's Figures 5–7)."""
    ims = [tensor_to_pil(t) for _, t in snapshots]
    return save_image(labelled_strip(ims, [f"step {s}" for s, _ in snapshots], height), path)


LINE_H = 12  # pixels per text line of the default font (10 px Aileron)


def shorten(text: str, chars: int) -> str:
    """``text`` in at most ``chars`` characters, shortened in the middle with "…" (both ends stay readable,
    so a shortened name cannot pass for another one, as a name cut at the end can)."""
    if len(text) <= chars:
        return text
    keep = max(0, chars - 1)
    head = (keep + 1) // 2
    return text[:head] + "…" + text[len(text) - (keep - head) :]


def ellipsize(text: str, width: float, draw: ImageDraw.ImageDraw | None = None) -> str:
    """``text`` shortened in the middle with "…" until it fits ``width`` pixels in the default font, so both
    ends of a name stay readable (``big_buck…3000.jpg``) and a cut name never passes for another one."""
    draw = draw or ImageDraw.Draw(Image.new("RGB", (1, 1)))
    if draw.textlength(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest kept length that fits
        mid = (lo + hi + 1) // 2
        if draw.textlength(shorten(text, mid + 1)) <= width:
            lo = mid
        else:
            hi = mid - 1
    return shorten(text, lo + 1)


def wrap(text: str, width: float, draw: ImageDraw.ImageDraw | None = None) -> list[str]:
    """Words of ``text`` in lines no wider than ``width`` pixels (a word too long alone is ellipsized)."""
    draw = draw or ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(ellipsize(word, width, draw))
    return lines


def contact_sheet(
    images: Sequence[Image.Image],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    cols: int = 8,
    thumb: int = 128,
    title: str = "",
) -> Path:
    """Grid of square-fitted thumbnails for eyeballing a set of images, under an optional ``title`` (wrapped
    to the sheet's width; say there how many images are shown out of how many). Each label may hold several
    lines (separated by newlines); every line is shortened in the middle to fit its cell, never cut silently."""
    rows = max(1, -(-len(images) // cols))
    n_lines = max((len(t.split("\n")) for t in labels), default=1)
    cell_h = thumb + n_lines * LINE_H + 4
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    head = wrap(title, cols * thumb - 4, measure) if title else []
    top = len(head) * LINE_H + 6 if head else 0
    sheet = Image.new("RGB", (cols * thumb, top + rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for k, line in enumerate(head):
        draw.text((2, 3 + k * LINE_H), line, fill="black")
    for i, (im, text) in enumerate(zip(images, labels, strict=True)):
        t = im.copy()
        t.thumbnail((thumb, thumb))
        x, y = (i % cols) * thumb, top + (i // cols) * cell_h
        sheet.paste(t, (x + (thumb - t.width) // 2, y + (thumb - t.height) // 2))
        for k, line in enumerate(text.split("\n")):
            draw.text((x + 2, y + thumb + 2 + k * LINE_H), ellipsize(line, thumb - 4, draw), fill="black")
    return save_image(sheet, path)
