"""A trained transform network as a frame stylizer (:class:`styleverse.fast.open.Stylizer`), in torch or
onnxruntime. Frames of any size are reflection-padded to a multiple of 4 and cropped back. ``strength`` blends
the result with the frame (0: the frame); a ``mix`` of universes weighs the conditional-normalisation
parameters (Dumoulin et al. 2017); ``preserve_color`` takes the stylised luminance (Gatys et al. 2016).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from styleverse.devices import memory_format, place, resolve_device, resolve_precision
from styleverse.errors import ConfigError
from styleverse.fast.model import MULTIPLE, FastModel, check_size, mix_weights
from styleverse.io.images import pad_to_multiple
from styleverse.nn.color import luminance_transfer

Mix = Mapping[str, float] | str | None


def check_strength(strength: float | None) -> float:
    """``strength`` (None: 1) checked to lie in [0, 1]."""
    s = 1.0 if strength is None else strength
    if not (0.0 <= s <= 1.0 and math.isfinite(s)):
        raise ConfigError(f"strength must be between 0 and 1, not {s}", setting="strength")
    return float(s)


class FastStylizer:
    """A trained network (torch) as a frame stylizer: ``stylizer(frame) -> frame``.

    ``mix``: a universe name, ``{name: weight}`` or None (the first universe); ``strength`` None means 1.
    ``precision`` ``fp32``, or ``bf16``: a bfloat16 copy of the network in channels_last layout (``auto`` picks
    it where the hardware runs bf16 natively). A bf16 copy rather than autocast, because autocast would cast
    every weight again on every call (measured: a sixth of the time of a 256-px frame). The strength blend
    and the output are float32 in [0, 1].
    """

    def __init__(
        self, model: FastModel, mix: Mix = None, strength: float | None = None, preserve_color: bool = False,
        device: str | torch.device = "auto", precision: str = "auto",
    ) -> None:  # fmt: skip
        self.model = model
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        self.fmt = memory_format(self.precision)
        net = self.model.net if self.dtype == torch.float32 else copy.deepcopy(self.model.net).to(self.dtype)
        self.net = place(net, self.device, self.precision).eval()
        self.weights = mix_weights(self.model.universes, mix).to(self.device, self.dtype)
        self.strength = check_strength(strength)
        self.preserve_color = preserve_color

    @property
    def universes(self) -> tuple[str, ...]:
        return self.model.universes

    @torch.inference_mode()
    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        check_size(int(frame.shape[-2]), int(frame.shape[-1]), "frame")
        x, (h, w) = pad_to_multiple(frame.to(self.device, torch.float32), MULTIPLE)
        y = self.net(x.to(self.dtype).contiguous(memory_format=self.fmt), self.weights).float()
        s = self.strength
        out = (y if s == 1.0 else s * y + (1 - s) * x)[..., :h, :w].clamp(0, 1).contiguous()
        if self.preserve_color:
            out = luminance_transfer(out, frame.to(out.device, torch.float32))
        return out.cpu() if frame.device.type == "cpu" else out


class OnnxStylizer:
    """An exported ``.onnx`` network run by onnxruntime, with the same interface as :class:`FastStylizer`:
    ``session`` and ``meta`` as :func:`styleverse.fast.export.open_session` gives them, ``where`` names the
    file in messages.

    A file exported with its mix baked in refuses another mix or strength (export again without
    ``--universe``/``--mix`` to choose them at run time); None takes what it has baked in.
    """

    def __init__(
        self, session: Any, meta: Mapping[str, Any], where: str | os.PathLike[str], mix: Mix = None,
        strength: float | None = None, preserve_color: bool = False,
    ) -> None:  # fmt: skip
        self.session, self.universes, self.baked = session, tuple(meta["universes"]), meta.get("baked")
        self.preserve_color = preserve_color
        self.feeds: dict[str, np.ndarray] = {}
        if self.baked is None:
            self.feeds["weights"] = mix_weights(self.universes, mix).numpy()
            self.feeds["strength"] = np.array(check_strength(strength), dtype=np.float32)
            return
        want = mix_weights(self.universes, mix).tolist() if mix is not None else self.baked["weights"]
        s = self.baked["strength"] if strength is None else check_strength(strength)
        if not np.allclose(want, self.baked["weights"]) or not math.isclose(s, self.baked["strength"]):
            raise ConfigError(
                f"{where}: its mix is baked in ({_describe(self.universes, self.baked)}); export again without "
                "universe/mix to choose the universe and strength when applying",
                setting=("universe", "mix"),
            )

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        check_size(int(frame.shape[-2]), int(frame.shape[-1]), "frame")
        x, (h, w) = pad_to_multiple(frame.detach().cpu().float(), MULTIPLE)
        (y,) = self.session.run(None, {"image": x.numpy(), **self.feeds})
        out = torch.from_numpy(y)[..., :h, :w].clamp(0, 1).contiguous()
        if self.preserve_color:
            out = luminance_transfer(out, frame.cpu().float())
        return out


def _describe(universes: Sequence[str], baked: Mapping[str, Any]) -> str:
    parts = [f"{n}:{w:g}" for n, w in zip(universes, baked["weights"], strict=True) if w]
    return f"{' '.join(parts)}, strength {baked['strength']:g}"
