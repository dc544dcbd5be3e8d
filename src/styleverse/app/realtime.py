"""The Real time tab: a trained feed-forward network (``fast train``) or AdaIN decoder (``adain train``) applied
to a photo at once, with one mix slider per universe.

A feed-forward model's universes are the ones it was trained on (conditional instance norm mixes them,
Dumoulin et al. 2017); an AdaIN decoder takes any style, so its universes are the style banks of
``--banks`` plus banks and style images uploaded here (their relu4_1 mean and std are mixed, Huang &
Belongie 2017). Models are opened with :class:`styleverse.fast.open.ModelCache`, once per file version, with
the style statistics they have read, so moving a slider costs one pass through the network, not a file load.

The source is a photo or the browser's webcam (:mod:`styleverse.app.webcam`): the same controls make the same
:class:`Request`, and each camera frame is stylised as a photo would be, the frames the model has no time for
dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from styleverse.app.context import AppContext
from styleverse.app.controls import capped_slider
from styleverse.app.files import pick
from styleverse.app.jobs import error_line, use_job_threads
from styleverse.app.views import payload_path, payload_paths, status_html
from styleverse.app.webcam import MAX_STREAMS, STREAM_EVERY, TIME_LIMIT, Webcam, frame_payload
from styleverse.errors import ConfigError, StyleverseError
from styleverse.fast.open import ModelCache, OpenedModel, Stylizer, StylizerSpec, file_version
from styleverse.io.images import load_image, pil_to_tensor, resize_longest, tensor_to_pil

TAB = "realtime"
MAX_MIX = 8  # mix sliders on the page
SOURCES = ("Photo", "Webcam")
# a setting -> its control's label: the page shows it, and an error naming the setting says it so
LABELS = {"size": "Size (px)", "alpha": "Strength (AdaIN: alpha)", "strength": "Strength (AdaIN: alpha)"}


def _named(paths: Sequence[Path], fn: Callable[[], Any]) -> Any:
    """``fn()``, its one-line errors naming ``paths`` by their names (the page never shows a server path)."""
    try:
        return fn()
    except StyleverseError as e:
        msg = str(e)
        for p in paths:
            msg = msg.replace(str(p), p.name)
        raise type(e)(msg) from None


@dataclass(frozen=True)
class Request:
    """One render: the model (a name in ``--models`` or an upload), the photo, the AdaIN styles (universe
    names in ``--banks``, uploaded banks or images), one weight per mix name, size, strength (AdaIN: alpha)
    and colour preservation."""

    model: str | None
    model_upload: str | None
    photo: str | None
    universes: tuple[str, ...] = ()
    style_uploads: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    size: int = 512
    strength: float = 1.0
    preserve_color: bool = False


class Realtime:
    """The tab's logic for one app: which model a request means, its mix names, and the render."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.models = ModelCache()

    def model_path(self, req: Request) -> Path:
        """The request's model file: an upload (size-checked) or a name inside ``--models``."""
        if req.model_upload:
            return self.ctx.workspace.upload(req.model_upload, "model", "model")
        if req.model:
            return pick(self.ctx.config.models, req.model, "model")
        raise ConfigError("choose a model from the list or upload one (fast train / adain train)")

    def model(self, path: Path) -> OpenedModel:
        """The model file opened (on the CPU), once per file version."""
        return _named([path], lambda: self.models.open(path, "cpu"))

    def takes_styles(self, req: Request) -> bool:
        """True for an AdaIN model (its styles come from the page), False for one trained on its universes."""
        return self.model(self.model_path(req)).kind.takes_styles

    def style_files(self, req: Request) -> list[Path]:
        """AdaIN's styles in slider order: universes (``--banks``), then uploads (banks or images)."""
        files = [self.ctx.bank_path(u) for u in req.universes]
        return files + [self.ctx.workspace.upload(p, "style") for p in req.style_uploads]

    def names(self, req: Request) -> list[str]:
        """The mix slider labels for this request's model (empty when no model is chosen, or for an ONNX
        export with its mix baked in)."""
        if not (req.model or req.model_upload):
            return []
        opened = self.model(self.model_path(req))
        if opened.kind.takes_styles:
            return [p.name for p in self.style_files(req)]
        return list(opened.universes)

    def spec(self, req: Request, path: Path, weights: Sequence[float]) -> StylizerSpec:
        """What the request asks of the model at ``path``: its mix (one weight per name) or its styles."""
        colour = "luminance" if req.preserve_color else "none"
        if not self.model(path).kind.takes_styles:
            mix = dict(zip(self.names(req), weights, strict=True)) or None  # none: an ONNX export's own mix
            return StylizerSpec(str(path), mix=mix, strength=req.strength if mix else None, preserve_color=colour,
                                device="cpu")  # fmt: skip
        files = self.style_files(req)
        if not files:
            raise ConfigError("an AdaIN model needs a style: pick a universe or upload a bank or style image")
        pairs = [(f, w, f.suffix.lower() == ".safetensors") for f, w in zip(files, weights, strict=True)]
        for f, _, bank in pairs[len(req.universes) :]:  # uploads; the server's own banks have no upload limit
            self.ctx.workspace.upload(f, "style", "bank" if bank else "image")
        images = [(str(f), w) for f, w, bank in pairs if not bank]
        banks = [(str(f), w) for f, w, bank in pairs if bank]
        return StylizerSpec(
            str(path), styles=tuple(f for f, _ in images), banks=tuple(f for f, _ in banks), alpha=req.strength,
            style_weights=tuple(w for _, w in images + banks), preserve_color=colour, device="cpu",
        )  # fmt: skip

    def stylizer(self, req: Request) -> tuple[Stylizer, dict[str, Any], Path]:
        """The request's model as a frame stylizer ``frame -> frame``, what identifies it (for a video's
        sidecar), and its file."""
        if not 0 <= req.strength <= 1:
            raise ConfigError("strength must be between 0 and 1")
        path = self.model_path(req)
        names = self.names(req)
        given = list(req.weights[: len(names)])  # no weights at all: an equal mix (the Video tab's)
        weights = given + [0.0 if given else 1.0] * (len(names) - len(given))
        spec = self.spec(req, path, weights)
        stylizer: Stylizer = _named([path, *self.style_files(req)], lambda: self.model(path).stylizer(spec))
        return stylizer, stylizer.identity, path

    def version(self, req: Request) -> tuple[Any, ...]:
        """What :meth:`stylizer` gives depends on: the request but its photo, and the versions of the files it
        reads (a model or bank replaced on disk is read again)."""
        path = self.model_path(req)
        files = [path, *(self.style_files(req) if self.takes_styles(req) else [])]
        return (replace(req, photo=None), *map(file_version, files))

    def check_size(self, req: Request) -> None:
        """The request's size within the server's limit (one-line ConfigError)."""
        lim = self.ctx.config.limits
        if not 16 <= req.size <= lim.max_size:
            raise ConfigError(f"size must be between 16 and {lim.max_size} pixels on this server", setting="size")

    def render(self, req: Request) -> tuple[Image.Image, str]:
        """The stylised photo and a line saying what ran and how long it took."""
        self.check_size(req)
        if not req.photo:
            raise ConfigError("upload a photo first")
        photo = self.ctx.workspace.upload(req.photo, "photo", "image")
        stylizer, _, path = self.stylizer(req)
        frame = pil_to_tensor(resize_longest(load_image(photo), req.size))
        t0 = time.perf_counter()
        out = stylizer(frame)
        ms = (time.perf_counter() - t0) * 1000
        h, w = frame.shape[-2:]
        return tensor_to_pil(out), f"{path.name}: {w}x{h} px in {ms:.0f} ms"


def waiting(req: Request, webcam: bool = False) -> str:
    """What the tab still needs before it can draw (a model, a photo or, from the ``webcam``, its start)."""
    if not (req.model or req.model_upload):
        return "Pick a model from the list or upload one."
    if webcam:
        return "Start the webcam (the button under the camera view): each frame is stylised as it comes."
    return "Upload a photo: the result appears at once."


def describe(req: Request, names: Sequence[str], adain: bool = False, webcam: bool = False) -> str:
    """The status line once a model is chosen: which one (uploaded or from the list) and what it mixes
    (``adain``: a model that takes its styles from the page), and what the source still needs."""
    if not (req.model or req.model_upload):
        return waiting(req)
    which = f"uploaded model {Path(req.model_upload).name}" if req.model_upload else f"model {req.model}"
    mix = f"mix its {len(names)} universes with the sliders" if names else "its look is fixed"
    if adain and not names:
        mix = "pick AdaIN universes or upload style images"
    need = " Start the webcam." if webcam else "" if req.photo else " Upload a photo."
    return f"Using the {which}: {mix}.{need}"


# --- the page ---------------------------------------------------------------------------------------------


def build(ctx: AppContext, demo: gr.Blocks | None = None) -> None:
    """The tab's elements and events (inside a ``gr.Tab`` of ``demo``)."""
    rt = Realtime(ctx)
    lim = ctx.config.limits
    models = ctx.model_names()
    hint = "" if models else " (none in --models: upload one)"
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            model = ctx.offer(gr.Dropdown(
                models, value=models[0] if models else None, label=f"Model{hint}",
                info="a fast train or adain train .safetensors, or a fast export .onnx", elem_id="rt-model",
            ), ctx.model_names)  # fmt: skip
            upload = gr.File(
                label="…or upload a model", file_types=[".safetensors", ".onnx"], height=130, elem_id="rt-upload"
            )
            source = gr.Radio(
                list(SOURCES), value=SOURCES[0], label="Source", elem_id="rt-source",
                info="a photo, or your camera stylised frame by frame (frames the model has no time for are skipped)",
            )  # fmt: skip
            photo = gr.Image(
                label="Photo", type="filepath", image_mode=None, sources=["upload"], height=240, elem_id="rt-photo"
            )
            cam = gr.Image(
                label="Webcam", sources=["webcam"], streaming=True, visible=False, height=240, elem_id="rt-webcam"
            )
        with gr.Column(scale=1):  # the result beside the photo or camera (below it on a phone), the controls after
            status = gr.HTML(
                status_html("Pick a model and upload a photo: the result appears at once."), elem_id="rt-status"
            )
            result = gr.Image(label="Result", format="png", interactive=False, height=320, elem_id="rt-result")
            sliders = [
                gr.Slider(
                    0, 1, value=float(i == 0), step=0.05, visible=False, label=f"mix {i + 1}", elem_id=f"rt-mix-{i}"
                )
                for i in range(MAX_MIX)
            ]
            with gr.Row():
                size = capped_slider(64, lim.max_size, 512, 16, LABELS["size"], "rt-size")
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label=LABELS["alpha"], elem_id="rt-strength")
            keep = gr.Checkbox(False, label="Keep the photo's colours", elem_id="rt-color")
            universes = ctx.offer(gr.Dropdown(
                ctx.bank_names(), multiselect=True, label="AdaIN universes (style banks)", elem_id="rt-universes"
            ), ctx.bank_names)  # fmt: skip
            styles = gr.File(
                label="AdaIN styles: banks or images", file_count="multiple", height=130,
                file_types=["image", ".safetensors"], elem_id="rt-styles",
            )  # fmt: skip

    def request(
        model_v: Any, upload_v: Any, photo_v: Any, universes_v: Any, styles_v: Any, size_v: Any = 512,
        strength_v: Any = 1.0, keep_v: Any = False, *weights: Any,
    ) -> Request:  # fmt: skip
        return Request(
            model_v or None, payload_path(upload_v), payload_path(photo_v), tuple(universes_v or ()),
            tuple(payload_paths(styles_v)), tuple(float(w) for w in weights), int(size_v), float(strength_v),
            bool(keep_v),
        )  # fmt: skip

    def relabel(model_v: Any, upload_v: Any, universes_v: Any, styles_v: Any, source_v: Any = None) -> list[Any]:
        req = request(model_v, upload_v, None, universes_v, styles_v)
        try:
            found = rt.names(req)
            adain = bool(req.model or req.model_upload) and rt.takes_styles(req)
            msg = status_html(describe(req, found, adain, source_v == "Webcam"))
        except StyleverseError as e:
            found, msg = [], status_html(error_line(e, LABELS), "error")
        shown = [
            gr.update(visible=i < len(found), label=found[i] if i < len(found) else f"mix {i + 1}", value=float(i == 0))
            for i in range(MAX_MIX)
        ]
        if len(found) > MAX_MIX:
            msg = status_html(f"{len(found)} universes; the page mixes the first {MAX_MIX}", "info")
        return [msg, *shown]

    def draw(source_v: Any, *values: Any) -> tuple[Any, Any]:
        if source_v == "Webcam":  # the camera's frames draw the result
            return gr.skip(), gr.skip()
        req = request(*values)
        if not req.photo or not (req.model or req.model_upload):
            return gr.skip(), status_html(waiting(req))
        try:
            image, line = rt.render(req)
        except Exception as e:
            return gr.skip(), status_html(error_line(e, LABELS), "error")
        return image, status_html(line, "done")

    pickers = [model, upload, universes, styles, source]
    inputs = [model, upload, photo, universes, styles, size, strength, keep, *sliders]
    live = {"concurrency_id": "jobs", "concurrency_limit": ctx.config.concurrency, "trigger_mode": "always_last"}
    # one model at a time: an upload clears the list's choice, a choice from the list clears the upload
    upload.upload(lambda: gr.update(value=None), None, model, queue=False)
    model.input(lambda: None, None, upload, queue=False)
    repick = [model.change, upload.change, universes.change, styles.change, source.change]
    gr.on(repick, relabel, pickers, [status, *sliders], preprocess=False, queue=False).then(
        draw, [source, *inputs], [result, status], preprocess=False, show_progress="minimal", **live
    )
    # input: a drag, or a number typed into a slider's box and confirmed with Enter (release waits for blur)
    redraw = [photo.upload, keep.change, *(c.input for c in (size, strength, *sliders))]
    gr.on(redraw, draw, [source, *inputs], [result, status], preprocess=False, show_progress="minimal", **live)
    source.change(lambda v: [gr.update(visible=v != "Webcam"), gr.update(visible=v == "Webcam")], source,
                  [photo, cam], queue=False)  # fmt: skip
    _stream(rt, cam, source, request, inputs, [result, status])
    if demo is not None:  # a model picked by default: show its universes when the page opens
        demo.load(relabel, pickers, [status, *sliders], preprocess=False, queue=False)


def _stream(
    rt: Realtime, cam: gr.Image, source: gr.Radio, request: Callable[..., Request], inputs: list[Any],
    outputs: list[Any],
) -> None:  # fmt: skip
    """The webcam's frames, each with the controls' values as ``request`` reads them, stylised into
    ``outputs`` (the result and the status line); see :mod:`styleverse.app.webcam` for how frames are dropped.
    Its own concurrency group: a stream holds its place while it runs, and must not hold up the jobs."""
    webcam = Webcam(rt.ctx.config.limits.max_pixels)

    def frame(page: gr.Request, frame_v: Any, source_v: Any, *values: Any) -> tuple[Any, Any]:
        req = request(*values)
        if source_v != "Webcam":  # a camera left running after a switch back to the photo
            return gr.skip(), gr.skip()
        if not (req.model or req.model_upload):
            return gr.skip(), status_html(waiting(req, webcam=True))
        use_job_threads()
        try:
            rt.check_size(req)
            shown = webcam.frame(
                page.session_hash or "", frame_v, req.size, rt.version(req), lambda: rt.stylizer(req)[0]
            )
        except Exception as e:
            return gr.skip(), status_html(error_line(e, LABELS), "error")
        if shown is None:  # dropped: the model is busy with another frame
            return gr.skip(), gr.skip()
        return frame_payload(shown.image), status_html(shown.line, "done")

    cam.stream(
        frame, [cam, source, *inputs], outputs, preprocess=False, postprocess=False, stream_every=STREAM_EVERY,
        time_limit=TIME_LIMIT, concurrency_id="webcam", concurrency_limit=MAX_STREAMS, show_progress="hidden",
    )  # fmt: skip
