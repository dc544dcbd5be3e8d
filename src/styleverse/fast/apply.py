"""Using a trained transform network: a frame stylizer (torch or ONNX) and stylising image files.

A stylizer is a callable ``frame (1,3,H,W) float32 in [0,1] -> stylised frame of the same shape``, so the
video frame loop (and anything else that stylises frames) takes it without knowing what is inside. Frames of
any size work: they are reflection-padded to a multiple of 4 for the network and cropped back. ``strength``
blends the result with the frame (0: the frame, 1: fully stylised); a ``mix`` of universes uses the weighted
conditional-normalisation parameters (Dumoulin et al. 2017). ``preserve_color`` keeps the frame's chroma and
takes the stylised luminance (Gatys et al. 2016, as ``stylize --preserve-color luminance``).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from styleverse.devices import memory_format, place, resolve_device, resolve_precision
from styleverse.errors import ConfigError, InputError, OutputError
from styleverse.fast.model import FastModel, check_size, load_model, mix_weights, pad_to_multiple
from styleverse.io.images import check_output, list_images, load_tensor, save_image
from styleverse.nn.color import luminance_transfer

Mix = Mapping[str, float] | str | None
FrameStylizer = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StylizerConfig:
    """How to apply a network. ``mix``: a universe name, ``{name: weight}`` or None (the first universe, or
    what an ONNX file has baked in); ``strength`` None means 1, or the baked strength of an ONNX file."""

    mix: Mix = None
    strength: float | None = None
    preserve_color: bool = False
    device: str = "auto"
    precision: str = "auto"
    threads: int = 0  # onnxruntime threads (0: its default)

    def checked_strength(self) -> float:
        s = 1.0 if self.strength is None else self.strength
        if not (0.0 <= s <= 1.0 and math.isfinite(s)):
            raise ConfigError(f"strength must be between 0 and 1, not {s}", setting="strength")
        return float(s)


class FastStylizer:
    """A trained network (torch) as a frame stylizer: ``stylizer(frame) -> frame``.

    ``precision`` ``fp32``, or ``bf16``: a bfloat16 copy of the network in channels_last layout (``auto`` picks
    it where the hardware runs bf16 natively). A bf16 copy rather than autocast, because autocast would cast
    every weight again on every call (measured: a sixth of the time of a 256-px frame). The strength blend
    and the output are float32 in [0, 1].
    """

    def __init__(self, model: FastModel | str | os.PathLike[str], config: StylizerConfig | None = None) -> None:
        cfg = config or StylizerConfig()
        self.model = model if isinstance(model, FastModel) else load_model(model)
        self.device = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device)
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        self.fmt = memory_format(self.precision)
        net = self.model.net if self.dtype == torch.float32 else copy.deepcopy(self.model.net).to(self.dtype)
        self.net = place(net, self.device, self.precision).eval()
        self.weights = mix_weights(self.model.universes, cfg.mix).to(self.device, self.dtype)
        self.strength = cfg.checked_strength()
        self.preserve_color = cfg.preserve_color

    @property
    def universes(self) -> tuple[str, ...]:
        return self.model.universes

    @torch.inference_mode()
    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        check_size(int(frame.shape[-2]), int(frame.shape[-1]), "frame")
        x, (h, w) = pad_to_multiple(frame.to(self.device, torch.float32))
        y = self.net(x.to(self.dtype).contiguous(memory_format=self.fmt), self.weights).float()
        s = self.strength
        out = (y if s == 1.0 else s * y + (1 - s) * x)[..., :h, :w].clamp(0, 1).contiguous()
        if self.preserve_color:
            out = luminance_transfer(out, frame.to(out.device, torch.float32))
        return out.cpu() if frame.device.type == "cpu" else out


class OnnxStylizer:
    """An exported ``.onnx`` network run by onnxruntime, with the same interface as :class:`FastStylizer`.

    A file exported with its mix baked in refuses another mix or strength (export again without
    ``--universe``/``--mix`` to choose them at run time).
    """

    def __init__(self, path: str | os.PathLike[str], config: StylizerConfig | None = None) -> None:
        from styleverse.fast.export import open_session

        cfg = config or StylizerConfig()
        self.session, meta = open_session(path, cfg.threads)
        self.path = Path(path)
        self.universes = tuple(meta["universes"])
        self.baked = meta.get("baked")
        self.preserve_color = cfg.preserve_color
        self.feeds: dict[str, np.ndarray] = {}
        if self.baked is None:
            self.feeds["weights"] = mix_weights(self.universes, cfg.mix).numpy()
            self.feeds["strength"] = np.array(cfg.checked_strength(), dtype=np.float32)
            return
        want = mix_weights(self.universes, cfg.mix).tolist() if cfg.mix is not None else self.baked["weights"]
        strength = self.baked["strength"] if cfg.strength is None else cfg.checked_strength()
        if not np.allclose(want, self.baked["weights"]) or not math.isclose(strength, self.baked["strength"]):
            raise ConfigError(
                f"{path}: its mix is baked in ({_describe(self.universes, self.baked)}); export again without "
                "universe/mix to choose the universe and strength when applying",
                setting=("universe", "mix"),
            )

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        check_size(int(frame.shape[-2]), int(frame.shape[-1]), "frame")
        x, (h, w) = pad_to_multiple(frame.detach().cpu().float())
        (y,) = self.session.run(None, {"image": x.numpy(), **self.feeds})
        out = torch.from_numpy(y)[..., :h, :w].clamp(0, 1).contiguous()
        if self.preserve_color:
            out = luminance_transfer(out, frame.cpu().float())
        return out


def _describe(universes: Sequence[str], baked: Mapping[str, Any]) -> str:
    parts = [f"{n}:{w:g}" for n, w in zip(universes, baked["weights"], strict=True) if w]
    return f"{' '.join(parts)}, strength {baked['strength']:g}"


def open_stylizer(path: str | os.PathLike[str], config: StylizerConfig | None = None) -> FastStylizer | OnnxStylizer:
    """:class:`OnnxStylizer` for an ``.onnx`` file, else :class:`FastStylizer` for a fast model file."""
    if Path(path).suffix.lower() == ".onnx":
        return OnnxStylizer(path, config)
    return FastStylizer(path, config)


def plan_outputs(
    inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], overwrite: bool = False,
    protect: Sequence[str | os.PathLike[str]] = (),
) -> list[tuple[Path, Path]]:  # fmt: skip
    """(input image, output file) pairs: ``output`` is a file for one input image, a folder (created) for
    a folder or several inputs, where each result keeps its input's file name. Checked before any work."""
    images = list_images(inputs)
    single = len(images) == 1 and len(inputs) == 1 and not Path(inputs[0]).is_dir()
    out = Path(output)
    if single:
        return [(images[0], check_output(out, [*images, *protect], overwrite))]
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: several inputs need an output folder, and this is a file")
    names = [p.name for p in images]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two inputs are named {dup[0]}; the output folder would hold one; rename one")
    return [(p, check_output(out / p.name, [*images, *protect], overwrite)) for p in images]


def apply_images(
    stylizer: FastStylizer | OnnxStylizer | FrameStylizer, pairs: Sequence[tuple[Path, Path]],
    size: int | None = None, callback: Callable[[Path], Any] | None = None,
) -> list[Path]:  # fmt: skip
    """Stylise each input (longest side ``size``, or as it is) and save it atomically; returns the outputs."""
    if size is not None and size < 16:
        raise ConfigError("size must be at least 16 pixels", setting="size")
    written = []
    for src, dst in pairs:
        img = load_tensor(src, size)
        check_size(int(img.shape[-2]), int(img.shape[-1]), str(src))
        written.append(save_image(stylizer(img), dst))
        if callback is not None:
            callback(dst)
    return written
