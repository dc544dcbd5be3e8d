"""Streaming Gram matrices into running sums: how a bank (or an analysis) sees thousands of images in
bounded memory.

The paper (section 4) averages Gram matrices over many frames of a universe. Here every image is decoded
a few ahead on threads (``bank_inputs.prefetch_tensors``), passed once through the feature network, added
to :class:`RunningSums` and dropped. The sums are immutable so that an interrupt between two images always
leaves a consistent state to save (``bank_resume``). A bank build also takes each layer's channel mean and
std from the same pass (:func:`stream_style`), AdaIN's style representation (Huang & Belongie 2017).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.errors import InputError
from styleverse.progress import Progress
from styleverse.styles.inputs import prefetch_tensors
from styleverse.styles.targets import GramDict, RunningSums, StatDict, StyleImage, add_all, image_grams

Callback = Callable[[Progress], None]


def accumulate(items: Iterable[tuple[GramDict, float]]) -> tuple[GramDict, float, float, dict[str, float], int]:
    """Mean (as ``styles.weighted_mean``) plus Σw, Σw², Σw‖G‖² per layer and the count, in one pass."""
    s = add_all(RunningSums(), items)
    return s.mean(), s.weight, s.weight_sq, dict(s.sq_norm), s.count


def stream_grams(
    model: torch.nn.Module,
    images: Sequence[StyleImage],
    size: int | None,
    device: torch.device,
    precision: str = "fp32",
    callback: Callback | None = None,
    start: int = 0,
    stop: Stop = never,
) -> Iterator[tuple[GramDict, float]]:
    """``(grams, weight)`` per image of ``images[start:]``, computed one at a time (``styles.image_grams``).
    Progress events count all of ``images``, so a resumed stream (``start`` > 0) reports where it is.
    ``stop()`` is asked before each image; True raises :class:`~styleverse.cancel.Stopped` between two."""
    for grams, w, _ in _stream(model, images, size, device, precision, callback, start, False, stop):
        yield grams, w


def stream_style(
    model: torch.nn.Module,
    images: Sequence[StyleImage],
    size: int | None,
    device: torch.device,
    precision: str = "fp32",
    callback: Callback | None = None,
    start: int = 0,
    stop: Stop = never,
) -> Iterator[tuple[GramDict, float, StatDict]]:
    """As :func:`stream_grams`, plus each style layer's channel mean and std (``targets.ChannelStats``) from
    the same network pass: ``(grams, weight, stats)`` per image, ready for ``RunningSums.add``."""
    for grams, w, stats in _stream(model, images, size, device, precision, callback, start, True, stop):
        yield grams, w, stats or {}


def _stream(
    model: torch.nn.Module,
    images: Sequence[StyleImage],
    size: int | None,
    device: torch.device,
    precision: str,
    callback: Callback | None,
    start: int,
    with_stats: bool,
    stop: Stop = never,
) -> Iterator[tuple[GramDict, float, StatDict | None]]:
    rest, total = list(images[start:]), len(images)
    if start and callback:
        callback(Progress("grams", start, total))
    for i, (s, t) in enumerate(zip(rest, prefetch_tensors(rest, size), strict=True), start + 1):
        if stop():
            raise Stopped(f"stopped after {i - 1} of {total} images")
        stats: StatDict | None = None
        if with_stats:
            grams, stats = image_grams(model, t, device, precision, with_stats=True)  # type: ignore[call-overload]
        else:
            grams = image_grams(model, t, device, precision)  # type: ignore[call-overload]
        finite = [g.sum() for g in grams.values()] + [x.mean.sum() + x.std.sum() for x in (stats or {}).values()]
        if not all(torch.isfinite(v) for v in finite):  # NaN/inf reach the sums
            raise InputError(f"{s.path}: style features hold NaN/inf (bad weights or image)")
        yield grams, s.weight, stats
        if callback:
            callback(Progress("grams", i, total, str(s.path)))
