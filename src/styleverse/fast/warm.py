"""Gatys warm start: begin the optimisation from a real-time network's result instead of the photo.

``--init fast:MODEL[:UNIVERSE]`` stylises the content with a fast network (or its ``.onnx`` export) and
``--init adain:DECODER`` with an AdaIN decoder fed the run's own style images and banks (their weights too);
the optimisation then starts where the network left off, so it needs fewer steps to the same loss
(``benchmarks/bench_transfer.py --tables warm``). Models are opened by
:func:`styleverse.fast.open.open_stylizer`, the one opener. :mod:`styleverse.transfer` sits below ``fast``
and parses the init (:func:`~styleverse.transfer.config.parse_warm`); the front end that can import both
builds the stylizer here and hands it to the job (``StylizeJob.warm``).
"""

from __future__ import annotations

from styleverse.fast.open import ADAIN_KINDS, FAST_KINDS, Stylizer, StylizerSpec, open_stylizer
from styleverse.styles.spec import StyleSpec


def warm_stylizer(
    warm: tuple[str, str, str | None], style: StyleSpec, device: str = "auto", precision: str = "auto"
) -> Stylizer:
    """The frame function a parsed warm-start init names (``(kind, model, universe)`` as
    :func:`styleverse.transfer.config.parse_warm` gives it; see the module doc). Bad settings or files are a
    one-line StyleverseError, before any optimisation starts."""
    kind, model, universe = warm
    if kind == "fast":
        return open_stylizer(StylizerSpec(model, mix=universe, device=device, precision=precision), FAST_KINDS)
    spec = StylizerSpec(
        model, styles=tuple(map(str, style.images)), banks=tuple(map(str, style.banks)),
        style_weights=style.weights, device=device, precision=precision,
    )  # fmt: skip
    return open_stylizer(spec, ADAIN_KINDS)
