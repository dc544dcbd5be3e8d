"""The Stylise tab's page: its controls, the gallery of universes, examples, presets, the Advanced settings,
the before/after result, the visit's history and the batch of photos, wired to the job glue of
:mod:`styleverse.app.stylise` (one photo) and :mod:`styleverse.app.batch` (several).

The handlers take the page's raw values (``preprocess=False``) and turn them into a :class:`Request` inside
the job's stream, so a value the page cannot take (a seed that is not a number) is one line of status like
any other refusal. The visit's history is a ``gr.State`` of :class:`~styleverse.app.history.Entry`.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from styleverse.app import batch, gallery, history, sources
from styleverse.app.context import AppContext
from styleverse.app.controls import (
    capped_slider,
    download,
    job_buttons,
    progress_and_status,
    run_and_cancel,
    shown,
    streamed,
    style_pickers,
)
from styleverse.app.jobs import Ticket, error_line
from styleverse.app.stylise import DEFAULTS, LABELS, PRESET_SECONDS, PRESETS, TAB, Request, View, parse_scales, run
from styleverse.app.views import payload_path, payload_paths, payload_rows, progress_html, status_html
from styleverse.errors import ConfigError, StyleverseError
from styleverse.samples import SAMPLE_STYLES
from styleverse.styles.spec import COLOR_MODES
from styleverse.transfer.config import INITS, OPTIMIZERS, QUALITY
from styleverse.transfer.demo import write_samples

# the job handlers' inputs, in this order (the page's raw values)
INPUTS = (
    "photo",
    "universes",
    "images",
    "banks",
    "weights",
    "quality",
    "size",
    "steps",
    "strength",
    "color",
    "content_weight",
    "tv_weight",
    "optimizer",
    "init",
    "seed",
    "scales",
    "history",
    "picked",
    "batch",
)
EXAMPLES = "examples"  # the holder of the examples' copies in the uploads folder (no page has this session)


def examples(ctx: AppContext, photo: gr.Image, images: gr.File) -> Any:
    """The bundled photo and drawn styles that ``styleverse demo`` uses, one example per style and one with
    all three. Gradio copies example files into its cache (the uploads folder) as the examples are made;
    those copies are held for the server's life, so the sweep never takes them (the originals, written to a
    temporary folder, go at once)."""
    with tempfile.TemporaryDirectory(prefix="styleverse-examples-") as tmp:
        content, styles = write_samples(tmp)
        made = gr.Examples(
            [[str(content), [str(s)]] for s in styles] + [[str(content), [str(s) for s in styles]]],
            [photo, images],
            label="Examples: the bundled photo with drawn styles",
            elem_id="stylise-examples",
            example_labels=[*SAMPLE_STYLES, "all three"],
        )
    for folder in _cached(list(made.non_none_processed_examples.values()), ctx.workspace.uploads):
        ctx.holds.hold(EXAMPLES, folder)
    return made


def _cached(value: Any, uploads: Path) -> set[Path]:
    """The folders of every file inside ``uploads`` that ``value`` (examples as Gradio holds them) names."""
    if isinstance(value, dict) and not value.get("path"):
        return set().union(*(_cached(v, uploads) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_cached(v, uploads) for v in value)) if value else set()
    path = payload_path(value) if isinstance(value, dict) or hasattr(value, "path") else None
    return {Path(path).parent} if path and Path(path).is_relative_to(uploads) else set()


def number(value: Any, setting: str, whole: bool = False) -> Any:
    """The number the page sent for ``setting`` (an int with ``whole``), or a one-line ConfigError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise ConfigError(f"{setting} must be a number, not '{value}'", setting=setting)
    if whole and v != int(v):
        raise ConfigError(f"{setting} must be a whole number, not '{value}'", setting=setting)
    return int(v) if whole else v


def request_from(v: dict[str, Any]) -> Request:
    """The :class:`Request` of the page's values (keyed by :data:`INPUTS`)."""
    choice = sources.choice_from(
        v["universes"], payload_paths(v["banks"]), payload_paths(v["images"]), payload_rows(v["weights"])
    )
    return Request(
        payload_path(v["photo"]),
        choice,
        number(v["size"], "size", whole=True),
        number(v["steps"], "steps", whole=True),
        number(v["strength"], "strength"),
        str(v["color"]),
        str(v["quality"]),
        number(v["content_weight"], "content_weight"),
        number(v["tv_weight"], "tv_weight"),
        str(v["optimizer"]),
        str(v["init"]),
        number(v["seed"], "seed", whole=True),
        parse_scales(v["scales"]),
    )


def guarded(make: Callable[[], Any], job: Callable[[Any], Iterator[View]]) -> Iterator[View]:
    """``job(make())``, or the one line of why ``make`` could not make its request."""
    try:
        req = make()
    except StyleverseError as e:
        yield View(progress_html(0, 1, "not started"), status_html(error_line(e, LABELS), "error"), hide_downloads=True)
        return
    yield from job(req)


def job_of(ctx: AppContext, kind: str, v: dict[str, Any]) -> Callable[[Ticket], Iterator[View]]:
    """The job a button starts with the page's values ``v``: ``run`` (the photo), ``again`` (the history's
    selected entry, its own settings) or ``batch`` (the batch's photos, the page's settings)."""

    def job(ticket: Ticket) -> Iterator[View]:
        if kind == "again":
            yield from guarded(lambda: history.chosen(v["history"], v["picked"]).request, lambda r: run(ctx, r, ticket))
        elif kind == "batch":
            yield from guarded(lambda: request_from(v), lambda r: batch.run(ctx, r, payload_paths(v["batch"]), ticket))
        else:
            yield from guarded(lambda: request_from(v), lambda r: run(ctx, r, ticket))

    return job


def shower(entries: list[history.Entry], picked: int | None = None) -> Callable[[View, bool], tuple[Any, ...]]:
    """A :class:`View` as the tab's outputs (progress, status, before/after, losses, PNG and JSON downloads,
    history state and gallery, batch zip, picked entry), adding its entries to the visit's history
    ``entries``; the entry ``picked`` stays picked (the gallery's highlight and Run again follow it)."""

    def show(v: View, first: bool = False) -> tuple[Any, ...]:
        nonlocal picked
        kept: tuple[Any, ...] = (gr.skip(),) * 3
        if v.entries:
            entries[:] = history.add(entries, *v.entries)
            picked = history.still_picked(picked, len(v.entries))
            kept = (list(entries), gr.update(value=history.items(entries), selected_index=picked), picked)
        files = v.downloads or (None, None)
        return (
            *map(shown, (v.progress, v.status, v.image, v.losses)),
            *(download(p, v.hide_downloads) for p in files),
            *kept[:2],
            download(v.archive, v.hide_downloads),
            kept[2],
        )

    return show


def preset_values(quality: str, max_size: int) -> tuple[int, int]:
    """The size and steps a preset sets (its --quality level's steps cap, the default's otherwise)."""
    return min(PRESETS[quality][1], max_size), int(QUALITY[quality].get("steps", DEFAULTS.steps))


def preset_choices() -> list[tuple[str, str]]:
    """The preset radio's (label, value) pairs: each with the time it took here."""
    return [(f"{PRESETS[q][0]} ({PRESET_SECONDS[q]})", q) for q in QUALITY]


def build(ctx: AppContext) -> None:
    """The tab's elements and events (inside a ``gr.Tab``)."""
    lim = ctx.config.limits
    entries, picked = gr.State([]), gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            photo = gr.Image(
                label="Photo", type="filepath", image_mode=None, sources=["upload"], height=240, elem_id="stylise-photo"
            )
            cards = ctx.offer(
                gr.Gallery(
                    gallery.items(gallery.cards(ctx)),
                    label="Universes: click one to use it",
                    columns=5,
                    height=150,
                    allow_preview=False,
                    object_fit="cover",
                    fit_columns=False,
                    elem_id="stylise-gallery",
                ),
                lambda: gr.update(value=gallery.items(gallery.cards(ctx))),
            )
            universes, images = style_pickers(ctx, "stylise", info="from the server's --banks folder or made here")
            examples(ctx, photo, images)
            with gr.Accordion("Upload style banks (.safetensors from styles bank)", open=False):
                banks = gr.File(
                    label="Style banks",
                    file_count="multiple",
                    file_types=[".safetensors"],
                    height=110,
                    elem_id="stylise-banks",
                )
            weights = gr.Dataframe(
                headers=["style", "weight"],
                datatype=["str", "number"],
                value=[],
                column_count=2,
                static_columns=[0],
                interactive=True,
                label=LABELS["style_weights"],
                elem_id="stylise-weights",
            )
            quality = gr.Radio(
                preset_choices(),
                value="balanced",
                label=LABELS["quality"],
                elem_id="stylise-preset",
                info="sets size and steps (the CLI's --quality); times: this 2-core server, idle, random network",
            )
            with gr.Row():
                size = capped_slider(64, lim.max_size, DEFAULTS.size, 16, LABELS["size"], "stylise-size")
                steps = capped_slider(1, lim.max_steps, DEFAULTS.steps, 1, LABELS["steps"], "stylise-steps")
            with gr.Row():
                strength = gr.Slider(
                    0.1, 10, value=1.0, step=0.1, label="Style strength (x default)", elem_id="stylise-strength"
                )
                color = gr.Radio(
                    list(COLOR_MODES), value="none", label=LABELS["preserve_color"], elem_id="stylise-color"
                )
            with gr.Accordion("Advanced", open=False, elem_id="stylise-advanced"):
                with gr.Row():
                    content_weight = gr.Number(
                        DEFAULTS.content_weight,
                        label=LABELS["content_weight"],
                        minimum=0,
                        info=f"default {DEFAULTS.content_weight:g}",
                        elem_id="stylise-cw",
                    )
                    tv_weight = gr.Number(
                        DEFAULTS.tv_weight,
                        label=LABELS["tv_weight"],
                        minimum=0,
                        info=f"default {DEFAULTS.tv_weight:g}",
                        elem_id="stylise-tv",
                    )
                    seed = gr.Number(
                        DEFAULTS.seed,
                        label=LABELS["seed"],
                        precision=0,
                        info=f"default {DEFAULTS.seed}",
                        elem_id="stylise-seed",
                    )
                with gr.Row():
                    optimizer = gr.Radio(
                        list(OPTIMIZERS),
                        value=DEFAULTS.optimizer,
                        label=LABELS["optimizer"],
                        info=f"default {DEFAULTS.optimizer}",
                        elem_id="stylise-optimizer",
                    )
                    init = gr.Radio(
                        list(INITS),
                        value=DEFAULTS.init,
                        label=LABELS["init"],
                        info=f"default {DEFAULTS.init} (the photo)",
                        elem_id="stylise-init",
                    )
                scales = gr.Textbox(
                    "",
                    label=LABELS["scales"],
                    placeholder="auto",
                    elem_id="stylise-scales",
                    info="default auto: the size and its halves down to 256 px; e.g. 256 512",
                )
            with gr.Accordion("Batch of photos", open=False, elem_id="stylise-batch"):
                photos = gr.File(
                    label=f"Photos (up to {lim.max_batch_photos}; the styles and settings above)",
                    file_count="multiple",
                    file_types=["image"],
                    height=110,
                    elem_id="stylise-batch-photos",
                )
                with gr.Row():
                    batch_go = gr.Button("Stylise all", elem_id="stylise-batch-run")
                    archive = gr.DownloadButton("Download ZIP", visible=False, elem_id="stylise-batch-download")
        with gr.Column(scale=1):  # Run, progress and result together at the top: all in view at 1366x768
            go, stop = run_and_cancel("Stylise", "stylise")
            progress, status = progress_and_status(
                "stylise", "Upload a photo (or click an example), pick a universe or style images, then Stylise."
            )
            result = gr.ImageSlider(
                label="Before / after (drag)",
                format="png",
                type="pil",
                interactive=False,
                height=360,
                elem_id="stylise-result",
            )
            with gr.Row():
                png = gr.DownloadButton("Download PNG", visible=False, elem_id="stylise-download")
                side = gr.DownloadButton("Download settings (JSON)", visible=False, elem_id="stylise-sidecar")
            losses = gr.Image(label="Loss curve", format="png", interactive=False, height=200, elem_id="stylise-losses")
            with gr.Accordion("History of this visit", open=True):
                shelf = gr.Gallery(
                    label="Results (click one, then run it again)",
                    columns=4,
                    height=170,
                    allow_preview=False,
                    fit_columns=False,
                    elem_id="stylise-history",
                )
                rerun = gr.Button("Run again with its settings", elem_id="stylise-rerun")

    controls = dict(
        zip(
            INPUTS,
            (
                photo,
                universes,
                images,
                banks,
                weights,
                quality,
                size,
                steps,
                strength,
                color,
                content_weight,
                tv_weight,
                optimizer,
                init,
                seed,
                scales,
                entries,
                picked,
                photos,
            ),
            strict=True,
        )
    )
    _wire(
        ctx,
        controls,
        cards,
        shelf,
        (go, rerun, batch_go),
        stop,
        status,
        [progress, status, result, losses, png, side, entries, shelf, archive, picked],
    )


def _wire(
    ctx: AppContext,
    c: dict[str, Any],
    cards: gr.Gallery,
    shelf: gr.Gallery,
    buttons: tuple[gr.Button, ...],
    stop: gr.Button,
    status: gr.HTML,
    outputs: list[Any],
) -> None:
    """The tab's events: photo check, weights table, gallery and history clicks, presets, and the three jobs."""

    def check_photo(value: Any) -> tuple[Any, str]:
        path = payload_path(value)
        if path is None:
            return gr.skip(), gr.skip()
        try:
            ctx.workspace.upload(path, "photo", "image")
        except StyleverseError as e:
            return None, status_html(error_line(e, LABELS), "error")
        return gr.skip(), status_html("Photo ready.")

    def table(universes_v: Any, images_v: Any, banks_v: Any, rows_v: Any) -> list[list[Any]]:
        choice = sources.choice_from(universes_v, payload_paths(banks_v), payload_paths(images_v), payload_rows(rows_v))
        return sources.weight_rows(choice)

    def pick_card(evt: gr.SelectData, chosen: list[str] | None) -> list[str]:
        caption = evt.value.get("caption") if isinstance(evt.value, dict) else None
        return gallery.picked(str(caption or ""), chosen, ctx.bank_names())

    def pick_entry(evt: gr.SelectData) -> int:
        return int(evt.index) if isinstance(evt.index, int) else int(evt.index[0])

    def jobs(kind: str) -> Callable[..., Iterator[tuple[Any, ...]]]:
        def fn(request: gr.Request, *values: Any) -> Iterator[tuple[Any, ...]]:
            # Gradio passes the request to the parameter annotated gr.Request, the inputs in INPUTS' order
            v = dict(zip(INPUTS, values, strict=True))
            show = shower(list(v["history"] or []), v["picked"])
            yield from streamed(ctx, TAB, request, job_of(ctx, kind, v), show)

        return fn

    c["photo"].upload(check_photo, c["photo"], [c["photo"], status], preprocess=False, queue=False)
    for src in ("universes", "images", "banks"):
        c[src].change(
            table,
            [c[k] for k in ("universes", "images", "banks", "weights")],
            c["weights"],
            preprocess=False,
            queue=False,
        )
    cards.select(pick_card, c["universes"], c["universes"], queue=False)
    shelf.select(pick_entry, None, c["picked"], queue=False)
    lim = ctx.config.limits.max_size
    c["quality"].change(lambda q: preset_values(q, lim), c["quality"], [c["size"], c["steps"]], queue=False)
    runs = [(b, jobs(k)) for b, k in zip(buttons, ("run", "again", "batch"), strict=True)]
    job_buttons(ctx, TAB, runs, stop, status, [c[k] for k in INPUTS], outputs)
