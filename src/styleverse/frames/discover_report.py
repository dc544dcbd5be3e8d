"""What ``frames discover`` shows a person: per universe a contact sheet of its shots (most typical first,
with timestamps), its screen time and its distance to the others; a timeline of each film coloured by
universe; ``report.md`` and ``report.json``.

Distances are measured in the clustering space (:func:`styleverse.frames.cluster.embed`) between universe
centres, and said in units of the *spread*: the mean distance of a universe's shots to their own centre,
averaged over universes. A separation well above 1 means two universes do not overlap; near 1 they blur
into each other (a merge may be wanted, or the network sees them alike).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch
from PIL import Image, ImageDraw

from styleverse.frames.describe import Described
from styleverse.frames.proposal import Proposal, format_time, segments
from styleverse.frames.segments import UNSURE
from styleverse.io.images import write_bytes_atomic, write_json
from styleverse.plots import colormap, contact_sheet, save_figure, subplots

UNSURE_COLOUR = "#b0b0b0"


@dataclass(frozen=True)
class Universe:
    """One proposed universe: shots, screen time, spread and its nearest other universe."""

    label: str
    shots: int
    seconds: float
    spread: float
    nearest: str | None
    separation: float | None  # centre distance to the nearest, in units of the mean spread


@dataclass(frozen=True)
class Measures:
    """Universes in order, the separation between every pair, and per record its distance to its own (or
    for an unsure shot its nearest) universe's centre and that universe (nan / "" where it has none)."""

    universes: list[Universe]
    separation: dict[str, dict[str, float]]
    distance: np.ndarray
    nearest: list[str]


def measure(p: Proposal, z: np.ndarray, rows: np.ndarray) -> Measures:
    """:class:`Measures` of ``p``; ``z`` holds the clustering space's row of each described record, whose
    indices into ``p.shots`` are ``rows``."""
    names = p.universes()
    label = np.array([p.labels[i] for i in rows])
    centres = {n: z[label == n].mean(axis=0) for n in names}
    spread = {n: float(np.linalg.norm(z[label == n] - centres[n], axis=1).mean()) for n in names}
    unit = float(np.mean(list(spread.values()))) if spread else 1.0
    unit = unit if unit > 0 else 1.0
    sep = {a: {b: float(np.linalg.norm(centres[a] - centres[b])) / unit for b in names if b != a} for a in names}
    distance, nearest = np.full(len(p.shots), math.nan), [""] * len(p.shots)
    if names:
        c = np.stack([centres[n] for n in names])
        d = np.sqrt(np.maximum((z**2).sum(1)[:, None] + (c**2).sum(1)[None] - 2 * z @ c.T, 0)) / unit
        for k, i in enumerate(rows):
            own = names.index(p.labels[i]) if p.labels[i] in names else int(d[k].argmin())
            distance[i], nearest[i] = float(d[k, own]), names[own]
    universes = []
    for n in names:
        members = [i for i, x in enumerate(p.labels) if x == n]
        near = min(sep[n], key=sep[n].__getitem__) if sep[n] else None
        universes.append(Universe(n, len(members), sum(p.shots[i].seconds for i in members), spread[n] / unit,
                                  near, sep[n][near] if near else None))  # fmt: skip
    return Measures(universes, sep, distance, nearest)


def colours(names: Sequence[str]) -> dict[str, Any]:
    """One colour per universe (tab10, then tab20), grey for unsure."""
    cmap = colormap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)} | {UNSURE: UNSURE_COLOUR}


STRIP = 12  # thumbnails along the timeline of a single film


def strip_picks(p: Proposal, n: int = STRIP) -> list[int]:
    """For a single film, the records shown above its timeline: the one at each of ``n`` evenly spaced times."""
    if len(p.films) != 1 or not p.shots:
        return []
    end = p.shots[-1].end
    times = [(k + 0.5) * end / n for k in range(n)]
    return [min(range(len(p.shots)), key=lambda i: abs((p.shots[i].start + p.shots[i].end) / 2 - t)) for t in times]


def _strip(ax: Any, p: Proposal, thumbs: dict[int, Image.Image], colour: dict[str, Any]) -> None:
    """The thumbnails of :func:`strip_picks`, each framed in its label's colour, side by side over the film."""
    picks = strip_picks(p)
    cell = max(thumbs[i].width for i in picks), max(thumbs[i].height for i in picks)
    strip = Image.new("RGB", (cell[0] * len(picks), cell[1]), "white")
    draw = ImageDraw.Draw(strip)
    for k, i in enumerate(picks):
        strip.paste(thumbs[i].resize(cell), (k * cell[0], 0))
        rgb = tuple(round(255 * c) for c in to_rgb(colour.get(p.labels[i], "white")))
        draw.rectangle([k * cell[0], 0, (k + 1) * cell[0] - 1, cell[1] - 1], outline=rgb, width=max(2, cell[0] // 20))
    ax.imshow(np.asarray(strip), extent=(0, p.shots[-1].end, 0, 1), aspect="auto")
    ax.set_axis_off()


def timeline(p: Proposal, path: Path, thumbs: dict[int, Image.Image] | None = None, title: str = "") -> Path:
    """A bar per film from start to end, coloured by label (unsure grey, dropped left blank); for a single
    film with ``thumbs`` (of :func:`strip_picks`), a strip of its frames above, framed in their labels' colours."""
    names = p.universes()
    colour = colours(names)
    picks = strip_picks(p) if thumbs else []
    bar = 0.55 * len(p.films) + 0.4
    rows: tuple[float, ...] = (bar,)
    if thumbs and picks:  # thumbnails keep their shape: the bar spans about 10 of the figure's 11 inches
        rows = (10 / len(picks) * float(np.mean([thumbs[i].height / thumbs[i].width for i in picks])), bar)
    fig, axes = subplots(len(rows), 1, figsize=(11, sum(rows) + 1.2), gridspec_kw={"height_ratios": rows},
                         squeeze=False)  # fmt: skip
    ax = axes[-1][0]
    if thumbs and picks:
        _strip(axes[0][0], p, thumbs, colour)
    for film, start, end, label in segments(p):
        ax.broken_barh([(start, end - start)], (film - 0.4, 0.8), facecolors=colour[label], linewidth=0)
    ax.set_yticks(range(len(p.films)), [Path(f).name for f in p.films])
    ax.set_ylim(len(p.films) - 0.5, -0.5)
    ax.set_xlim(0, max([s.end for s in p.shots] or [1.0]))
    ax.xaxis.set_major_formatter(lambda x, _: format_time(x)[3:-4] if x < 3600 else format_time(x)[:-4])
    ax.set_xlabel("time (mm:ss)")
    seconds = {n: sum(s.seconds for s, x in zip(p.shots, p.labels, strict=True) if x == n) for n in [*names, UNSURE]}
    handles = [Patch(color=colour[n], label=f"{n} ({format_time(seconds[n])[3:-4]})") for n in [*names, UNSURE]
               if seconds[n] > 0]  # fmt: skip
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.5), ncol=min(6, len(handles)),
              frameon=False)  # fmt: skip
    axes[0][0].set_title(title or f"{len(names)} universes proposed")
    return save_figure(fig, path)


def sheet_picks(p: Proposal, m: Measures, per_sheet: int) -> dict[str, list[int]]:
    """Per label (universes, then unsure) the records its sheet shows: most typical first (unsure: in film
    order)."""
    picks = {}
    for n in [*p.universes(), UNSURE]:
        members = [i for i, x in enumerate(p.labels) if x == n]
        if n != UNSURE:
            members.sort(key=lambda i: (math.inf if math.isnan(m.distance[i]) else m.distance[i], i))
        if members:
            picks[n] = members[:per_sheet]
    return picks


def load_thumbs(records: Iterable[Described], wanted: set[int]) -> dict[int, Image.Image]:
    """The thumbnails of the ``wanted`` records (indices into ``p.shots``) from a stream of every record."""
    return {i: Image.fromarray(r.thumb) for i, r in enumerate(records) if i in wanted}


def write_sheets(
    p: Proposal, m: Measures, folder: Path, thumbs: dict[int, Image.Image], per_sheet: int, thumb: int
) -> dict[str, Path]:
    """``folder/<label>.png`` per universe and for unsure, from the ``thumbs`` of :func:`sheet_picks`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for n, ids in sheet_picks(p, m, per_sheet).items():
        total = sum(1 for x in p.labels if x == n)
        labels = [_caption(p, m, i) for i in ids]
        seconds = sum(s.seconds for s, x in zip(p.shots, p.labels, strict=True) if x == n)
        order = "in film order" if n == UNSURE else "most typical first"
        title = f"{n}: {total} shots, {format_time(seconds)[:-4]} on screen; showing {len(ids)}, {order}"
        out[n] = contact_sheet([thumbs[i] for i in ids], labels, folder / f"{n}.png", cols=6, thumb=thumb, title=title)
    return out


def _caption(p: Proposal, m: Measures, i: int) -> str:
    s = p.shots[i]
    film = f"{Path(p.films[s.film]).stem} " if len(p.films) > 1 else ""
    second = (
        f"{s.seconds:.1f} s  d {m.distance[i]:.2f}" if not math.isnan(m.distance[i]) else f"{s.seconds:.1f} s {s.kind}"
    )
    return f"{film}{format_time(s.start)[:-2]}\n{second}"


def report_data(p: Proposal, m: Measures) -> dict[str, Any]:
    """What report.json holds: settings, universes, separations, unsure time by reason, edits."""
    unsure: dict[str, float] = {}
    for s, x, why in zip(p.shots, p.labels, p.why, strict=True):
        if x == UNSURE:
            unsure[why or s.kind] = unsure.get(why or s.kind, 0.0) + s.seconds
    return {
        "films": p.films,
        "settings": p.settings,
        "universes": [asdict(u) for u in m.universes],
        "separation": m.separation,
        "unsure_seconds": unsure,
        "edits": p.edits,
        "segments": len(segments(p)),
    }


def write_report(out: Path, p: Proposal, m: Measures, sheets: dict[str, Path]) -> Path:
    """``report.json`` and ``report.md`` in ``out``."""
    data = report_data(p, m)
    write_json(out / "report.json", data)
    lines = [f"# Universes proposed for {', '.join(Path(f).name for f in p.films)}", ""]
    lines += [*_settings_lines(p.settings), "", "![timeline](timeline.png)", ""]
    lines += [
        "| universe | shots | screen time | nearest | separation | spread | sheet |",
        "|---|---|---|---|---|---|---|",
    ]
    for u in m.universes:
        sep = "-" if u.separation is None else f"{u.separation:.2f}"
        sheet = f"[{sheets[u.label].name}](sheets/{sheets[u.label].name})" if u.label in sheets else "-"
        lines.append(f"| {u.label} | {u.shots} | {format_time(u.seconds)[:-4]} | {u.nearest or '-'} | {sep} | "
                     f"{u.spread:.2f} | {sheet} |")  # fmt: skip
    lines += ["", "Separation: distance between universe centres in units of the mean spread (a shot's distance to",
              "its own universe's centre, averaged); well above 1: the universes do not overlap.", ""]  # fmt: skip
    if data["unsure_seconds"]:
        lines.append(f"**{UNSURE}** (left out of every universe; `frames harvest` skips it):")
        lines += [f"- {why}: {format_time(sec)[:-4]}" for why, sec in sorted(data["unsure_seconds"].items())]
        lines.append("")
    if p.edits:
        lines += ["Edits applied:", *[f"- {e}" for e in p.edits], ""]
    lines += _next_steps(p, out)
    write_bytes_atomic(out / "report.md", "\n".join(lines).encode())
    return out / "report.md"


def _settings_lines(s: dict[str, Any]) -> list[str]:
    tried = ", ".join(f"{k}: {v:.2f}" for k, v in s.get("silhouettes", {}).items())
    return [
        f"Shots described by {s.get('network', '-')} (pixel statistics weight {s.get('pixel_weight')}), sampled "
        f"every {s.get('every')} s, {s.get('frames_per_shot')} frames per shot at {s.get('size')} px.",
        f"Universes: {s.get('chosen', '-')}" + (f" (mean silhouette per count tried: {tried})" if tried else ""),
    ]


def _next_steps(p: Proposal, out: Path) -> list[str]:
    names = [n for n in p.universes() if n[1:].isdigit() and n[0] == "u"]
    example = " --rename " + " ".join(f"{n}=NAME" for n in names[:2]) if names else ""
    return [
        "Next: name the universes (and merge or drop) with",
        f"`styleverse frames discover --out {out}{example}`, then",
        f"`styleverse frames harvest --segments {out / 'proposal.csv'} --out DATASET`.",
    ]
