"""Streaming Gram matrices into running sums: how a bank (or an analysis) sees thousands of images in
bounded memory (paper section 4 averages Grams over many frames). Each image is decoded a few ahead on threads
(``inputs.prefetch_tensors``), passed once through the feature network, added to the immutable
``targets.RunningSums`` (so an interrupt between two images leaves a consistent state to save, :mod:`.resume`)
and dropped; a bank build also takes AdaIN's channel mean and std (Huang & Belongie 2017) from the same pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.errors import InputError
from styleverse.progress import Progress
from styleverse.styles.inputs import prefetch_tensors
from styleverse.styles.targets import GramDict, StatDict, StyleImage, image_grams

Callback = Callable[[Progress], None]


def stream_style(
    model: torch.nn.Module,
    images: Sequence[StyleImage],
    size: int | None,
    device: torch.device,
    precision: str = "fp32",
    callback: Callback | None = None,
    start: int = 0,
    stop: Stop = never,
    with_stats: bool = True,
) -> Iterator[tuple[GramDict, float, StatDict]]:
    """``(grams, weight, stats)`` per image of ``images[start:]``, computed one at a time
    (``styles.image_grams``), ready for ``RunningSums.add``; ``stats`` holds each style layer's channel mean
    and std (``targets.ChannelStats``) from the same network pass, or nothing without ``with_stats``.
    Progress events count all of ``images``, so a resumed stream (``start`` > 0) reports where it is.
    ``stop()`` is asked before each image; True raises :class:`~styleverse.cancel.Stopped` between two."""
    rest, total = list(images[start:]), len(images)
    if start and callback:
        callback(Progress("grams", start, total))
    for i, (s, t) in enumerate(zip(rest, prefetch_tensors(rest, size), strict=True), start + 1):
        if stop():
            raise Stopped(f"stopped after {i - 1} of {total} images")
        stats: StatDict = {}
        if with_stats:
            grams, stats = image_grams(model, t, device, precision, with_stats=True)  # type: ignore[call-overload]
        else:
            grams = image_grams(model, t, device, precision)  # type: ignore[call-overload]
        finite = [g.sum() for g in grams.values()] + [x.mean.sum() + x.std.sum() for x in stats.values()]
        if not all(torch.isfinite(v) for v in finite):  # NaN/inf reach the sums
            raise InputError(f"{s.path}: style features hold NaN/inf (bad weights or image)")
        yield grams, s.weight, stats
        if callback:
            callback(Progress("grams", i, total, str(s.path)))
