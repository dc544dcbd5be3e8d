"""A film described shot by shot: sampled frames, cuts, fades and blanks, and each steady shot's style.

Frames are sampled every ``every`` seconds and streamed once, never held whole. Consecutive samples across a
cut (the rule of :mod:`styleverse.frames.shots`) start a new shot. Within a shot each sample is

* ``blank`` when its luminance barely varies (:func:`~styleverse.frames.quality.blank_reason`: black, white,
  the dark end of a fade);
* ``fade`` when the mean luminance changes steadily between it and a neighbouring sample of the same shot
  (by more than :data:`FADE_STEP` in log brightness per step: a fade in or out, a flash);
* ``steady`` otherwise.

Runs of one kind become the :class:`Shot` records a proposal is made of (a shot that fades out becomes a
steady record and a fade record). Fades and blanks carry no universe's look, so they are never clustered:
the proposal calls them ``unsure``. A steady record is described by up to ``frames_per_shot`` of its frames,
spread evenly over it (a decimating reservoir keeps at most :data:`RESERVOIR` frames of a record in memory
however long the shot), as one vector of blocks:

* per style layer of the feature network, each channel's mean and standard deviation
  (:func:`~styleverse.styles.targets.channel_stats`'s statistics: AdaIN's compact form of the Gram
  matrices' information), averaged over the frames;
* ``colour``: CIELAB means, standard deviations and 8-bin histograms, which need no network at all;
* ``edges``: gradient-magnitude statistics and an orientation histogram (line work, texture scale).

:func:`describe_film` yields each finished shot's records together, so the caller can save after any shot
and a re-run can start at the next one (see :func:`resume_time`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from styleverse.cancel import Stop, never
from styleverse.devices import autocast, memory_format
from styleverse.frames.quality import blank_reason, colour_distance, colour_signature, luminance_stats, phash_hex
from styleverse.frames.shots import is_cut
from styleverse.io.images import pil_to_tensor
from styleverse.io.video import VideoReader, frame_thumbnail, frame_to_image
from styleverse.nn.features import StyleContentModel

FADE_STEP = 0.06  # |log(mean luminance ratio)| between two samples of a shot above which both are fading
RESERVOIR = 24  # most frames of one record held at once
PIXEL_BLOCKS = ("colour", "edges")


@dataclass(frozen=True)
class Shot:
    """One record of a film: ``[start, end)`` seconds of ``kind`` steady, fade or blank; ``cut`` is the
    number of the camera shot it belongs to (a shot that fades out gives two records of one cut)."""

    film: int
    start: float
    end: float
    kind: str
    samples: int
    cut: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Described:
    """A :class:`Shot` with its description (None for a fade or blank) and a thumbnail (RGB uint8)."""

    shot: Shot
    vector: np.ndarray | None
    thumb: np.ndarray


@dataclass
class _Sample:
    t: float
    phash: str
    signature: np.ndarray
    luma: float
    blank: bool
    image: Image.Image


@dataclass
class _Record:
    """A run of samples of one kind within a shot; keeps every ``stride``-th sample's image, at most
    :data:`RESERVOIR` of them (the stride doubles when it is full)."""

    kind: str
    start: float
    last: float
    count: int = 0
    stride: int = 1
    kept: list[tuple[int, Image.Image]] = field(default_factory=list)

    def add(self, s: _Sample) -> None:
        if self.count % self.stride == 0:
            self.kept.append((self.count, s.image))
            if len(self.kept) > RESERVOIR:
                self.stride *= 2
                self.kept = [(i, im) for i, im in self.kept if i % self.stride == 0]
        self.count += 1
        self.last = s.t

    def spread(self, n: int) -> list[Image.Image]:
        """Up to ``n`` kept images spread evenly over the record."""
        picks = np.unique(np.linspace(0, len(self.kept) - 1, min(n, len(self.kept))).round().astype(int))
        return [self.kept[i][1] for i in picks]


@dataclass(frozen=True)
class Describer:
    """How frames become a description: the network (None: pixel statistics only), its device and precision,
    the size frames are described at, frames per record, and the blank threshold."""

    model: StyleContentModel | None
    device: torch.device
    precision: str = "fp32"
    size: int = 256
    frames_per_shot: int = 3
    blank_threshold: float = 10.0
    thumb: int = 128

    def blocks(self) -> list[tuple[str, int]]:
        """The description's blocks in order: (name, length)."""
        layers = []
        if self.model is not None:
            probe = self.network([Image.new("RGB", (32, 32))])
            layers = [(k, v.size) for k, v in zip(self.model.style_weights, probe, strict=True)]
        return [*layers, ("colour", 30), ("edges", 20)]

    @torch.inference_mode()
    def network(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """Per style layer, the channel means and standard deviations averaged over ``images``."""
        assert self.model is not None
        x = torch.cat([pil_to_tensor(im) for im in images]).to(self.device)
        x = x.contiguous(memory_format=memory_format(self.precision))
        with autocast(self.device, self.precision):
            feats = self.model.backbone(x, list(self.model.style_weights))
        out = []
        for k in self.model.style_weights:
            f = feats[k].float().flatten(2)
            v = torch.cat([f.mean(2), f.std(2, correction=0)], dim=1).mean(0).cpu().numpy()
            out.append(v)
        return out

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One vector: the network's blocks (if any), then colour and edge statistics, averaged over images."""
        parts = list(self.network(images)) if self.model is not None else []
        pixels = np.mean([pixel_stats(im) for im in images], axis=0)
        return np.concatenate([*parts, pixels]).astype(np.float32)


def pixel_stats(img: Image.Image) -> np.ndarray:
    """50 numbers a network need not be trusted for: CIELAB means, stds and 8-bin histograms (30), and
    gradient statistics (20): mean, std and quantiles of the magnitude, edge densities, orientations."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    ranges = ((0, 100), (-90, 90), (-90, 90))
    hists = [np.histogram(lab[:, c], 8, ranges[c])[0] / len(lab) for c in range(3)]
    colour = np.concatenate([lab.mean(0) / 50, lab.std(0) / 25, *hists])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy).ravel()
    angle = (np.arctan2(gy, gx).ravel() % np.pi) / np.pi
    orient = np.histogram(angle, 8, (0, 1), weights=mag)[0] / max(float(mag.sum()), 1e-6)
    quant = np.quantile(mag, [0.25, 0.5, 0.75, 0.9, 0.99])
    dens = [(mag > th).mean() for th in (0.1, 0.3, 0.6, 1.0, 2.0)]
    edges = np.concatenate([[mag.mean(), mag.std()], quant, dens, orient])
    return np.concatenate([colour, edges]).astype(np.float32)


def resume_time(t: float, every: float) -> float:
    """Where sampling restarts so that it meets the sample at ``t`` again: the last point of the sampling
    grid (multiples of ``every``) at or before it (:meth:`VideoReader.sample` takes the first frame at or
    after each grid point)."""
    return max(0.0, math.floor((t + 1e-3) / every) * every)


def _kinds(shot: list[_Sample], before: float | None, after: float | None) -> list[str]:
    """Each sample's kind within one shot (see the module doc). ``before`` and ``after`` are the mean
    luminances of the samples across the cuts on either side (None at the film's ends): a fade often trips
    the cut rule between its samples, so a sample whose brightness keeps moving the same way across a cut is
    fading too."""
    logs = [math.log(max(v, 1.0)) if v is not None else None for v in (before, *(s.luma for s in shot), after)]

    def step(i: int) -> float:  # change from extended sample i to i + 1 (0 where one side is missing)
        a, b = logs[i], logs[i + 1]
        return 0.0 if a is None or b is None else b - a

    kinds = []
    for i, s in enumerate(shot):
        came, goes = step(i), step(i + 1)
        inside = (i > 0 and abs(came) > FADE_STEP) or (i < len(shot) - 1 and abs(goes) > FADE_STEP)
        through = abs(came) > FADE_STEP and abs(goes) > FADE_STEP and (came > 0) == (goes > 0)
        kinds.append("blank" if s.blank else "fade" if inside or through else "steady")
    return kinds


def _records(shot: list[_Sample], before: float | None, after: float | None) -> list[_Record]:
    records: list[_Record] = []
    for s, kind in zip(shot, _kinds(shot, before, after), strict=True):
        if not records or records[-1].kind != kind:
            records.append(_Record(kind, s.t, s.t))
        records[-1].add(s)
    return records


def _thumb(img: Image.Image, size: int) -> np.ndarray:
    t = img.copy()
    t.thumbnail((size, size))
    return np.asarray(t.convert("RGB"), dtype=np.uint8)


def _finish(
    shot: list[_Sample], film: int, cut: int, around: tuple[float | None, _Sample | None], every: float, d: Describer
) -> list[Described]:
    """The described records of one finished shot; ``around`` holds the luminance of the sample before its
    first cut and the sample after its last (None at the film's ends). A record ends halfway to the next
    record's first sample (the cut lies somewhere between two samples), the film's last one ``every`` after
    its last sample."""
    before, nxt = around
    records = _records(shot, before, nxt.luma if nxt is not None else None)
    out = []
    for k, r in enumerate(records):
        after = records[k + 1].start if k + 1 < len(records) else nxt.t if nxt is not None else None
        end = (r.last + after) / 2 if after is not None else r.last + every
        images = r.spread(d.frames_per_shot)
        vector = d.describe(images) if r.kind == "steady" else None
        record = Shot(film, round(r.start, 3), round(end, 3), r.kind, r.count, cut)
        out.append(Described(record, vector, _thumb(images[len(images) // 2], d.thumb)))
    return out


@dataclass(frozen=True)
class Resume:
    """Where to continue after a shot: the sampling time, the next cut's number, the last sample's luminance
    (None once the film is done)."""

    time: float
    cut: int
    luma: float | None


def describe_film(
    path: str | Path,
    film: int,
    describer: Describer,
    every: float,
    start: Resume | None = None,
    stop: Stop = never,
    on_sample: Callable[[float], None] | None = None,
) -> Iterator[tuple[list[Described], Resume | None]]:
    """For each shot of the film from ``start`` on (None: the beginning): its described records and where a
    re-run would continue after it (None after the last shot). ``on_sample(t)`` is told of every sampled
    time; ``stop()`` is asked between samples and ends the iteration early (the shot in progress is lost)."""
    at = start or Resume(0.0, 0, None)
    with VideoReader(path) as reader:
        shot: list[_Sample] = []
        cut, before = at.cut, at.luma
        for t, frame in reader.sample(at.time, None, every):
            if stop():
                return
            s = _sample(t, frame, reader, describer)
            if shot and _is_cut(shot[-1], s):
                records = _finish(shot, film, cut, (before, s), every, describer)
                yield records, Resume(resume_time(s.t, every), cut + 1, shot[-1].luma)
                shot, cut, before = [], cut + 1, shot[-1].luma
            shot.append(s)
            if on_sample is not None:
                on_sample(t)
        if shot and not stop():
            yield _finish(shot, film, cut, (before, None), every, describer), None


def _sample(t: float, frame: object, reader: VideoReader, d: Describer) -> _Sample:
    grey = frame_thumbnail(frame, reformatter=reader.thumbnailer)  # type: ignore[arg-type]
    image = frame_to_image(frame, d.size, reader.reformatter)  # type: ignore[arg-type]
    blank = blank_reason(grey, d.blank_threshold) is not None
    return _Sample(t, phash_hex(grey), colour_signature(image), luminance_stats(grey)[0], blank, image)


def _is_cut(a: _Sample, b: _Sample) -> bool:
    from styleverse.frames.quality import phash_bits

    return is_cut(phash_bits(a.phash, b.phash), colour_distance(a.signature, b.signature), b.t - a.t, math.inf)
