"""The one way to open a real-time model file as a frame stylizer: fast networks, AdaIN decoders, ONNX exports.

:func:`open_stylizer` takes a file, or a :class:`StylizerSpec` (the file and how to stylise with it), and gives
a :class:`Stylizer`: ``stylizer(frame)`` maps a (1,3,H,W) float32 frame in [0,1] to one of the same shape;
``.identity`` is what the output depends on (kind, model name, a digest of the files read, the settings the
kind uses, precision), which sidecars record and resume compares; ``.universes`` what a mix may weigh. Every
command and the app open models here, so one model has one identity whichever way it is opened. A front end
that renders one model many ways keeps :func:`open_model`'s result (:class:`ModelCache`: one per file
version) and calls :meth:`OpenedModel.stylizer` per request. The file says what it is (``.onnx``, or a
``.safetensors`` file's ``styleverse_kind``); a caller taking only some ``kinds`` (``fast apply`` takes no
AdaIN decoder) has a file of another kind reported by the loader of the kind it expects.

How to add a model kind: write a subclass of :class:`ModelKind` in this module — its ``name`` (the
``styleverse_kind`` its files carry), ``suffix``, ``made_by`` (the command that writes it, for messages),
``settings`` (the :class:`StylizerSpec` fields its output depends on: they become its identity), and the
methods ``load`` (the file -> a network, once per file version), ``check`` (the settings alone, before any
file is read), ``build`` (an opened network and a spec -> a frame function) and, where it has them,
``universes`` and ``files`` (the other files a spec makes it read) — then add an instance to :data:`KINDS`
and its name to the family tuple (:data:`FAST_KINDS`, :data:`ADAIN_KINDS`) of the commands that should take
it. A setting no kind has yet becomes a :class:`StylizerSpec` field. The engine itself (the network's pass
over a frame) lives beside its model, as :mod:`styleverse.fast.apply` and :mod:`styleverse.fast.adain.apply`
do; no command, job or app tab needs to change.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open

from styleverse.devices import resolve_device, resolve_precision
from styleverse.errors import ConfigError, InputError
from styleverse.fast.adain.apply import AdaINStylizer, bank_style, check_controls, image_style, load_mask
from styleverse.fast.adain.model import MULTIPLE as ADAIN_MULTIPLE
from styleverse.fast.adain.model import load_adain
from styleverse.fast.apply import FastStylizer, Mix, OnnxStylizer, check_strength
from styleverse.fast.export import open_onnx, open_session
from styleverse.fast.model import load_model
from styleverse.io.images import list_images, load_tensor, pad_to_multiple
from styleverse.nn.color import luminance_transfer, match_histogram
from styleverse.styles.inputs import inputs_digest
from styleverse.styles.targets import StyleImage

FrameFn = Callable[[torch.Tensor], torch.Tensor]
PROBE = 64  # side of the test pattern every stylizer is tried on once


@dataclass(frozen=True)
class StylizerSpec:
    """A model file and how to stylise with it; each kind reads the fields it uses (``ModelKind.settings``).

    ``mix``: the universes of a fast network or ONNX export: a name, ``{name: weight}`` or None (the first
    universe, or what an ONNX export has baked in); ``strength``: their blend with the frame (None: 1, or the
    baked one). AdaIN: ``styles`` (images or folders, one style each) then ``banks`` (a universe each), mixed
    by ``style_weights`` (one per style in that order), ``alpha`` (eq. 14 of Huang & Belongie 2017), a
    two-style ``mask`` and ``style_size`` (the longest side style images are seen at). ``preserve_color``:
    ``none``, ``luminance`` or (AdaIN with style images) ``histogram``.
    """

    model: str
    mix: Mix = None
    strength: float | None = None
    styles: tuple[str, ...] = ()
    banks: tuple[str, ...] = ()
    style_weights: tuple[float, ...] | None = None
    alpha: float = 1.0
    mask: str | None = None
    style_size: int = 512
    preserve_color: str = "none"
    device: str = "auto"
    precision: str = "auto"

    def inputs(self) -> list[str]:
        """Every file these settings name (outputs must not replace any of them)."""
        return [self.model, *self.styles, *self.banks, *([self.mask] if self.mask else [])]


@dataclass(eq=False)  # compared and hashed by identity: each opened stylizer is its own
class Stylizer:
    """A frame stylizer: ``stylizer(frame)`` (1,3,H,W) float32 in [0,1] -> the same shape, with ``kind``
    (the file's kind), ``identity`` (what its output depends on, JSON-ready) and ``universes`` (what a mix may
    weigh; empty for models that take styles or have their mix baked in)."""

    apply: FrameFn
    kind: str
    identity: dict[str, Any]
    universes: tuple[str, ...]

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        return self.apply(frame)


class ModelKind:
    """One kind of real-time model file (see the module doc for how to add one)."""

    name = ""  # the styleverse_kind in the file's metadata
    suffix = ".safetensors"
    made_by = ""  # the command that writes such files
    settings: tuple[str, ...] = ()  # the StylizerSpec fields the output depends on
    takes_styles = False  # styles come with each spec (AdaIN), not from the file

    def device(self, device: str, precision: str) -> tuple[torch.device, str]:
        """Where and in which precision it runs."""
        dev = resolve_device(device)
        return dev, resolve_precision(precision, dev)

    def load(self, path: Path, device: torch.device, precision: str) -> Any:
        """The file's network, ready to build stylizers from; one-line InputError for a bad file."""
        raise NotImplementedError

    def universes(self, network: Any) -> tuple[str, ...]:
        """The universes a spec's ``mix`` may weigh."""
        return ()

    def check(self, spec: StylizerSpec) -> None:
        """The settings alone, before any file is read (one-line ConfigError)."""

    def files(self, spec: StylizerSpec) -> list[Path]:
        """The files besides the model that a stylizer of ``spec`` reads (folders as their images)."""
        return []

    def build(self, opened: OpenedModel, spec: StylizerSpec) -> FrameFn:
        """The frame function of ``spec`` on an opened network."""
        raise NotImplementedError


class FastKind(ModelKind):
    """A multi-universe transform network from ``fast train`` (:mod:`styleverse.fast.model`)."""

    name, made_by = "fast_model", "fast train"
    settings = ("mix", "strength", "preserve_color")

    def load(self, path: Path, device: torch.device, precision: str) -> Any:
        return load_model(path)

    def universes(self, network: Any) -> tuple[str, ...]:
        return tuple(network.universes)

    def check(self, spec: StylizerSpec) -> None:
        if spec.preserve_color == "histogram":
            raise ConfigError("preserve_color histogram needs style images; use luminance", setting="preserve_color")
        if spec.preserve_color not in ("none", "luminance"):
            msg = f"preserve_color must be none or luminance, not '{spec.preserve_color}'"
            raise ConfigError(msg, setting="preserve_color")
        check_strength(spec.strength)

    def build(self, opened: OpenedModel, spec: StylizerSpec) -> FrameFn:
        colour = spec.preserve_color == "luminance"
        return FastStylizer(opened.network, spec.mix, spec.strength, colour, opened.device, opened.precision)


class GanKind(FastKind):
    """A style-aware generator from ``gan train`` (:mod:`styleverse.fast.gan.model`): a transform network's
    interface and settings, so it runs on the fast frame stylizer."""

    name, made_by = "gan_model", "gan train"

    def load(self, path: Path, device: torch.device, precision: str) -> Any:
        from styleverse.fast.gan.model import load_gan

        return load_gan(path)


class OnnxKind(FastKind):
    """A transform network exported by ``fast export``, run by onnxruntime on the CPU in float32."""

    name, suffix, made_by = "fast_onnx", ".onnx", "fast export"

    def device(self, device: str, precision: str) -> tuple[torch.device, str]:
        return torch.device("cpu"), "fp32"

    def load(self, path: Path, device: torch.device, precision: str) -> Any:
        return open_session(path)

    def universes(self, network: Any) -> tuple[str, ...]:
        return () if network[1].get("baked") is not None else tuple(network[1]["universes"])

    def build(self, opened: OpenedModel, spec: StylizerSpec) -> FrameFn:
        (session, meta), colour = opened.network, spec.preserve_color == "luminance"
        return OnnxStylizer(session, meta, spec.model, spec.mix, spec.strength, colour)


class AdaINKind(ModelKind):
    """An AdaIN decoder from ``adain train`` with its encoder (:mod:`styleverse.fast.adain.model`), or one from
    ``adain distill`` that holds its small encoder (the same kind: the loader builds whichever the file says):
    any style images and banks, given with each spec. Their statistics are kept with the opened model, per file
    version."""

    name, made_by = "adain_decoder", "adain train"
    settings = ("styles", "banks", "style_weights", "alpha", "mask", "style_size", "preserve_color")
    takes_styles = True

    def load(self, path: Path, device: torch.device, precision: str) -> Any:
        model = load_adain(path)
        model.net.to(device)
        return model

    def check(self, spec: StylizerSpec) -> None:
        banks = [False] * len(spec.styles) + [True] * len(spec.banks)
        check_controls(banks, spec.style_weights, spec.alpha, spec.preserve_color, spec.mask is not None)
        if spec.style_size < ADAIN_MULTIPLE:
            raise ConfigError(f"style_size must be at least {ADAIN_MULTIPLE} pixels", setting="style_size")

    def files(self, spec: StylizerSpec) -> list[Path]:
        return [*list_images(spec.styles), *map(Path, spec.banks), *([Path(spec.mask)] if spec.mask else [])]

    def build(self, opened: OpenedModel, spec: StylizerSpec) -> FrameFn:
        model, dev, prec, size = opened.network, opened.device, opened.precision, spec.style_size

        def image(s: str) -> Any:  # a folder: the versions of its images
            key = ("image", size, *map(file_version, list_images([s])))
            return opened.memo.get(key, lambda: image_style(model, s, size, dev, prec))

        def bank(b: str) -> Any:
            return opened.memo.get(("bank", file_version(b)), lambda: bank_style(model, b, prec))

        styles = [*map(image, spec.styles), *map(bank, spec.banks)]
        mask = load_mask(spec.mask) if spec.mask else None
        return AdaINStylizer(model, styles, spec.style_weights, spec.alpha, spec.preserve_color, mask, dev, prec)


class AdaINOnnxKind(ModelKind):
    """An AdaIN model exported by ``adain export`` (:mod:`styleverse.fast.adain.export`), run by onnxruntime on
    the CPU in float32: with its style baked in (``style`` fixed: no style is given), or taking one style
    image per spec (``style`` any; banks need the style baked in: ``adain export --style-bank``)."""

    name, suffix, made_by = "adain_onnx", ".onnx", "adain export"
    settings = ("styles", "alpha", "style_size", "preserve_color")
    takes_styles = True

    def device(self, device: str, precision: str) -> tuple[torch.device, str]:
        return torch.device("cpu"), "fp32"

    def load(self, path: Path, device: torch.device, precision: str) -> Any:
        from styleverse.fast.adain.export import ONNX_KIND

        return open_onnx(path, ONNX_KIND, self.made_by)

    def check(self, spec: StylizerSpec) -> None:
        baked = [True]  # no style given: a file with its style baked in, checked as a bank would be
        check_controls([False] * len(spec.styles) or baked, spec.style_weights, spec.alpha, spec.preserve_color, False)
        refused = [("banks", bool(spec.banks)), ("mask", spec.mask is not None), ("styles", len(spec.styles) > 1)]
        for setting, given in refused:
            if given:
                raise ConfigError(
                    f"an AdaIN .onnx takes one style image, or none with its style baked in; not {setting} "
                    "(export with them baked in: adain export --style/--style-bank, or use the .safetensors)",
                    setting=setting,
                )

    def files(self, spec: StylizerSpec) -> list[Path]:
        return list_images(spec.styles)

    def build(self, opened: OpenedModel, spec: StylizerSpec) -> FrameFn:
        (session, meta), where = opened.network, Path(spec.model).name
        fixed = meta.get("style") == "fixed"
        if fixed == bool(spec.styles):
            need = "has its style baked in; give no style" if fixed else "takes a style image; give one"
            raise ConfigError(f"{where}: {need}", setting="styles")
        if fixed and spec.preserve_color == "histogram":
            raise ConfigError(f"{where}: its style is baked in, so it cannot be recoloured; use luminance",
                              setting="preserve_color")  # fmt: skip
        style = None
        if not fixed:
            paths = list_images(spec.styles)
            if len(paths) != 1:
                raise ConfigError(f"{where}: takes one style image, not a folder of {len(paths)}", setting="styles")
            style = load_tensor(paths[0], spec.style_size)
        return partial(adain_onnx_frame, session, style, spec.alpha, spec.preserve_color)


KINDS: dict[str, ModelKind] = {k.name: k for k in (FastKind(), AdaINKind(), OnnxKind(), GanKind(), AdaINOnnxKind())}
FAST_KINDS = ("fast_model", "fast_onnx", "gan_model")  # what `fast apply` and `video --model` take
ADAIN_KINDS = ("adain_decoder", "adain_onnx")  # what `adain apply` and `video --adain` take


def _not_a_model(path: Path, kinds: list[ModelKind]) -> InputError:
    by_suffix: dict[str, list[str]] = {}
    for k in kinds:
        by_suffix.setdefault(k.suffix, []).append(k.made_by)
    made = ", or ".join(f"a{'n' if s == '.onnx' else ''} {s} from {' or '.join(m)}" for s, m in by_suffix.items())
    return InputError(f"{path}: not a model file ({made})")


def adain_onnx_frame(
    session: Any, style: torch.Tensor | None, alpha: float, preserve_color: str, frame: torch.Tensor
) -> torch.Tensor:
    """One frame through an ``adain export`` graph: padded to a multiple of 8 and cropped back; ``style`` None
    for a graph with its style baked in; ``preserve_color`` as :class:`~styleverse.fast.adain.apply.AdaINStylizer`
    takes it (histogram: the style image recoloured to the frame; luminance: the frame's chroma kept)."""
    content = frame.detach().cpu().float()
    x, (h, w) = pad_to_multiple(content, ADAIN_MULTIPLE)
    feeds = {"content": x.numpy(), "alpha": np.array([alpha], dtype=np.float32)}
    if style is not None:
        s = match_histogram(style, content) if preserve_color == "histogram" else style
        feeds["style"] = pad_to_multiple(s, ADAIN_MULTIPLE)[0].numpy()
    (y,) = session.run(None, feeds)
    out = torch.from_numpy(y)[..., :h, :w].clamp(0, 1).contiguous()
    return luminance_transfer(out, content) if preserve_color == "luminance" else out


def _onnx_kind(path: Path) -> str | None:
    """The ``styleverse_kind`` an .onnx file's metadata names (None when unreadable)."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return None
    return {p.key: p.value for p in model.metadata_props}.get("styleverse_kind")


def model_kind(path: str | os.PathLike[str], kinds: tuple[str, ...] | None = None) -> ModelKind:
    """The kind of a model file among ``kinds`` (default: all): by its suffix, else by its metadata. Where
    one kind alone fits the suffix, or a caller taking only some ``kinds`` gives a file of none of them (or
    none at all), the loader of the first that fits reports it. One-line InputError."""
    p, allowed = Path(path), [KINDS[k] for k in (kinds or KINDS)]
    fits = [k for k in allowed if k.suffix == p.suffix.lower()] or [k for k in allowed if k.suffix != ".onnx"]
    if len(fits) <= 1:
        return (fits or allowed)[0]
    if p.suffix.lower() == ".onnx":
        name = _onnx_kind(p)
        if name is None:
            return fits[0]  # its loader says what is wrong with it
    else:
        try:
            with safe_open(str(p), framework="pt") as f:
                name = (f.metadata() or {}).get("styleverse_kind")
        except Exception:
            if kinds is not None:
                return fits[0]
            raise _not_a_model(p, allowed) from None
    found = [k for k in fits if k.name == name]
    if not found and kinds is not None:
        return fits[0]
    if not found:
        raise InputError(f"{p}: not a real-time model (it holds a {name or 'file of another kind'})")
    return found[0]


def file_version(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """(absolute path, modification time in ns, size): what changes when a file is replaced or edited
    (-1, -1 for a missing file, which its loader then reports)."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.abspath(path), -1, -1
    return os.path.abspath(path), st.st_mtime_ns, st.st_size


class Memo:
    """A few loaded objects keyed by what they were loaded from, least recently used dropped first.
    Thread-safe; a value is loaded outside the lock (two threads may load it once each)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        """The object kept under ``key``, loaded with ``load()`` the first time."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class OpenedModel:
    """A model file loaded once (``network``) on ``device`` in ``precision``; :meth:`stylizer` builds frame
    stylizers from it, keeping what they load from other files (AdaIN style statistics) per file version."""

    def __init__(self, kind: ModelKind, path: Path, network: Any, device: torch.device, precision: str) -> None:
        self.kind, self.path, self.network, self.device, self.precision = kind, path, network, device, precision
        self.universes = kind.universes(network)
        self.memo = Memo(32)  # what stylizers of this model read from other files, keyed by their versions

    def stylizer(self, spec: StylizerSpec) -> Stylizer:
        """The frame stylizer of ``spec`` (its ``model`` is this file) and its identity."""
        self.kind.check(spec)
        apply = self.kind.build(self, spec)
        read = [self.path, *self.kind.files(spec)]
        identity: dict[str, Any] = {"kind": self.kind.name, "model": Path(spec.model).name}
        identity["files"] = inputs_digest([StyleImage(p, 1.0) for p in read])  # absolute paths, sizes, mtimes
        for name in self.kind.settings:
            value = getattr(spec, name)
            identity[name] = dict(value) if isinstance(value, Mapping) else value
        identity["precision"] = self.precision
        key = ("probe", json.dumps(identity, sort_keys=True, default=str))
        # the probe judges the network, not the style: AdaIN decodes the pattern's own features (alpha 0), since a
        # flat or black style rightly paints a flat or black picture; a mask fixes the size, so it goes too
        if self.kind.name == "adain_decoder":
            tried = self.kind.build(self, replace(spec, mask=None, alpha=0.0, preserve_color="none"))
        else:
            tried = self.kind.build(self, replace(spec, mask=None)) if spec.mask else apply
        self.memo.get(key, lambda: probe(tried, Path(spec.model), self.kind.made_by))
        return Stylizer(apply, self.kind.name, identity, self.universes)


def probe(apply: FrameFn, path: Path, made_by: str) -> bool:
    """One-line InputError when a stylizer paints a 64-pixel test pattern (gradients and a checkerboard) in NaN,
    one flat colour or over 90% pure black and white: what weights no training produces do (a damaged or
    edited file whose numbers are finite), caught before any output is written. True when it passed."""
    y, x = torch.meshgrid(torch.linspace(0, 1, PROBE), torch.linspace(0, 1, PROBE), indexing="ij")
    pattern = torch.stack([x, y, ((x * 8).floor() + (y * 8).floor()) % 2])[None]
    with torch.inference_mode():
        out = apply(pattern).float()
    clipped = float(((out <= 1e-6) | (out >= 1 - 1e-6)).float().mean())
    if not bool(torch.isfinite(out).all()):
        how = "as NaN or inf"
    elif float(out.std()) < 1 / 255:
        how = "in one flat colour"
    elif clipped > 0.9:
        how = "in pure black and white"
    else:
        return True
    raise InputError(
        f"{path}: paints a test pattern {how}: its weights are not a trained model's (a damaged or edited "
        f"file?); make it again with `styleverse {made_by}`"
    )


def open_model(
    path: str | os.PathLike[str], device: str = "auto", precision: str = "auto", kinds: tuple[str, ...] | None = None
) -> OpenedModel:
    """Load a model file of one of ``kinds`` (default: any) on ``device`` in ``precision``."""
    kind = model_kind(path, kinds)
    dev, prec = kind.device(device, precision)
    return OpenedModel(kind, Path(path), kind.load(Path(path), dev, prec), dev, prec)


def open_stylizer(spec: StylizerSpec | str | os.PathLike[str], kinds: tuple[str, ...] | None = None) -> Stylizer:
    """A model file (with its default settings) or a :class:`StylizerSpec` as a frame stylizer; the settings
    are checked before the file is loaded. One-line StyleverseError for bad settings or files."""
    spec = spec if isinstance(spec, StylizerSpec) else StylizerSpec(str(spec))
    model_kind(spec.model, kinds).check(spec)
    return open_model(spec.model, spec.device, spec.precision, kinds).stylizer(spec)


class ModelCache(Memo):
    """Opened models, one per file version, device and precision (a front end that renders one model many
    ways loads it once; a replaced file is loaded again)."""

    def open(
        self, path: str | os.PathLike[str], device: str = "auto", precision: str = "auto",
        kinds: tuple[str, ...] | None = None,
    ) -> OpenedModel:  # fmt: skip
        """:func:`open_model`, from the cache when this version of the file was opened before."""
        key = (*file_version(path), device, precision, kinds)
        return self.get(key, lambda: open_model(path, device, precision, kinds))
