"""Harvesting labelled frames from video into a dataset folder (manifest I/O re-exported from :mod:`.manifest`).

The paper (section 5) built its classifier's data set by sampling frames of each universe at regular
intervals, and found two problems: near-identical frames (universes with little screen time sampled
densely) and class imbalance. This module answers the first while harvesting — near-duplicates within a
label are dropped by perceptual hash, and black, white and faded frames are dropped as blank — and
:mod:`styleverse.frames.balance` answers the second.

Dataset layout::

    DATASET/manifest.csv                    one row per image (format below)
    DATASET/<label>/<video-stem>_<ms>.jpg   harvested frame at <ms> milliseconds into the video
    DATASET/<label>/<stem>_<ms>_aug<k>.jpg  augmented copy written by ``balance``
    DATASET/.harvest-state.json             finished jobs, so a re-run skips them without decoding

``manifest.csv`` is described in :mod:`styleverse.frames.manifest`.

Harvesting is idempotent and resumable: every JPEG is written atomically before its row reaches the
manifest, and the manifest is rewritten atomically every ``flush_every`` new rows and after every video,
so a run killed at any moment leaves a valid dataset; a re-run skips finished videos and, within a
video, frames already in the manifest. Rows whose files have gone are dropped and re-harvested.

A run holds the dataset's lock (:func:`styleverse.io.lock.output_lock`) from start to end, so a second
harvest or balance of the same dataset is refused instead of losing the first one's rows, and it first
removes temporary files a killed run left. A video that ends before its range (a truncated file, a
segment past the end) is not an error FFmpeg reports; the job's :class:`JobDone` and the report carry a
warning saying how much was read.

Under ``torchrun`` the jobs (videos or segments) are dealt to the processes. Each samples its jobs,
writes the JPEG of every frame that is not blank and not in the dataset, and leaves the samples (names,
times, phashes) in ``DATASET/.harvest-part-N.json``; rank 0, holding the lock, takes them in job order and
makes exactly the dedup decisions one process makes (so the manifest is the same), deleting the JPEGs of
duplicates. A killed shared run keeps every job rank 0 had recorded; the next run samples the others again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from styleverse.distributed import deal, on_main, process_group
from styleverse.errors import ConfigError, InputError, OutputError
from styleverse.frames.manifest import MANIFEST_FIELDS as MANIFEST_FIELDS  # re-exported: the manifest I/O
from styleverse.frames.manifest import STATE_NAME, Row, read_manifest, remove_leftovers, write_manifest
from styleverse.frames.quality import (
    DEFAULT_BLANK_THRESHOLD,
    DEFAULT_DEDUP_THRESHOLD,
    DedupIndex,
    blank_reason,
    phash_hex,
)
from styleverse.frames.segments import Job
from styleverse.frames.segments import clip_jobs as clip_jobs  # re-exported: what to harvest
from styleverse.frames.segments import parse_time as parse_time
from styleverse.frames.segments import read_segments as read_segments
from styleverse.io.images import save_image, write_bytes_atomic
from styleverse.io.lock import output_lock
from styleverse.io.video import VideoReader, frame_thumbnail, frame_to_image


@dataclass(frozen=True)
class HarvestConfig:
    """How to harvest. ``every`` is seconds between samples (0 = every frame); ``size`` scales frames down
    to that longest side; ``dedup_threshold`` drops frames whose phash is fewer than that many bits from a
    kept frame of the same label (0 disables); ``blank_threshold`` drops frames whose luminance standard
    deviation (0–255) is below it (0 disables)."""

    every: float = 1.0
    size: int | None = None
    dedup_threshold: int = DEFAULT_DEDUP_THRESHOLD
    blank_threshold: float = DEFAULT_BLANK_THRESHOLD
    flush_every: int = 25

    def validate(self) -> None:
        if not (0 <= self.every < float("inf")):
            raise ConfigError(f"every must be a number of seconds >= 0, got {self.every}", setting="every")
        if self.size is not None and self.size < 16:
            raise ConfigError(f"size must be at least 16 pixels, got {self.size}", setting="size")
        if not 0 <= self.dedup_threshold <= 64:
            raise ConfigError(
                f"dedup_threshold must be 0..64 bits, got {self.dedup_threshold}", setting="dedup_threshold"
            )
        if not 0 <= self.blank_threshold <= 255:
            raise ConfigError(f"blank_threshold must be 0..255, got {self.blank_threshold}", setting="blank_threshold")


@dataclass(frozen=True)
class JobStarted:
    """A video (range) is open and about to be sampled; job ``index`` of ``total``."""

    job: Job
    index: int
    total: int
    expected: int | None  # frames to sample, roughly; None if the video does not say


@dataclass(frozen=True)
class FrameDone:
    """One sampled frame: ``outcome`` is kept, existing (already harvested), duplicate or blank."""

    job: Job
    timestamp: float
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class JobSkipped:
    """Finished in an earlier run with the same settings, and all its frames are still there: not decoded."""

    job: Job


@dataclass(frozen=True)
class JobDone:
    """A video (range) was sampled to its end; ``warning`` (one line) when the video ran out before the
    range did (see :meth:`styleverse.io.video.VideoReader.shortfall`)."""

    job: Job
    covered: int  # frames of this job now in the dataset (new and earlier)
    warning: str = ""


@dataclass(frozen=True)
class JobFailed:
    """A video could not be opened or decoded; ``message`` is one line naming the file and the reason."""

    job: Job
    message: str


@dataclass
class LabelCounts:
    """Frames of one label: newly kept, already in the dataset, dropped as duplicate or blank; failed videos."""

    kept: int = 0
    existing: int = 0
    duplicates: int = 0
    blank: int = 0
    errors: int = 0


@dataclass
class HarvestReport:
    """Per-label counts, failed videos (job, one-line message), rows dropped for missing files, and
    warnings about videos read only in part (one line each, naming the video)."""

    labels: dict[str, LabelCounts] = field(default_factory=dict)
    failures: list[tuple[Job, str]] = field(default_factory=list)
    pruned: int = 0
    warnings: list[str] = field(default_factory=list)


Event = JobStarted | FrameDone | JobSkipped | JobDone | JobFailed


PART_PREFIX = ".harvest-part-"  # DATASET/.harvest-part-000003.json: job 3 sampled by a process of a shared run
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Sample:
    """A sampled frame as the dedup decision sees it: its file name in the dataset, its time, and its phash
    (None when already in the dataset or ``blank``, the reason it is)."""

    path: str
    timestamp: float
    phash: str | None = None
    blank: str = ""


OneJob = Callable[[Job, int, int, "LabelCounts"], tuple[list[str], str]]


class _Harvest:
    """State of one harvest run: the manifest rows, per-label hash indexes, and the finished-jobs record."""

    def __init__(self, dataset: Path, config: HarvestConfig, on_event: Callable[[Event], None] | None) -> None:
        self.dataset, self.config, self.emit = dataset, config, on_event or (lambda e: None)
        rows = read_manifest(dataset, missing_ok=True)
        self.rows = [r for r in rows if (dataset / r.path).is_file()]
        self.report = HarvestReport(pruned=len(rows) - len(self.rows))
        self.paths = {r.path for r in self.rows}
        self.index: dict[str, DedupIndex] = {}
        for r in self.rows:
            if r.origin == "harvested":
                self._index(r.label).add(r.phash)
        self.state: dict[str, list[str]] = self._read_state()
        self.unflushed = self.report.pruned

    def _index(self, label: str) -> DedupIndex:
        return self.index.setdefault(label, DedupIndex(self.config.dedup_threshold))

    def _read_state(self) -> dict[str, list[str]]:
        try:
            data = json.loads((self.dataset / STATE_NAME).read_text())
            return {str(k): [str(p) for p in v] for k, v in data.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def flush(self) -> None:
        if self.unflushed:
            write_manifest(self.dataset, self.rows)
            self.unflushed = 0

    def key(self, job: Job) -> str:
        """Identity of a finished job: the video file (path, size, mtime), its range and label, and the settings."""
        try:
            st = job.video.stat()
            version: list[int] = [st.st_size, st.st_mtime_ns]
        except OSError:
            version = []
        where: dict[str, object] = {"video": str(job.video.resolve()), "version": version, "label": job.label}
        where |= {"start": job.start, "end": job.end}
        return json.dumps({**where, **asdict(self.config), "flush_every": None}, sort_keys=True)

    def finished(self, job: Job) -> list[str] | None:
        """The paths of a job finished by an earlier run with these settings, if all are still there."""
        done = self.state.get(self.key(job))
        return done if done is not None and all(p in self.paths for p in done) else None

    def run(
        self, jobs: Sequence[Job], one: Callable[[Job, int, int, LabelCounts], tuple[list[str], str]]
    ) -> HarvestReport:
        """Every job in order through ``one`` (:meth:`job`, or :meth:`merge` of what other processes
        sampled), skipping finished ones, recording each in the manifest and the finished-jobs state."""
        try:
            for i, job in enumerate(jobs):
                counts = self.report.labels.setdefault(job.label, LabelCounts())
                done = self.finished(job)
                if done is not None:
                    counts.existing += len(done)
                    self.emit(JobSkipped(job))
                    continue
                try:
                    kept, warning = one(job, i, len(jobs), counts)
                except InputError as e:
                    counts.errors += 1
                    self.report.failures.append((job, str(e)))
                    self.emit(JobFailed(job, str(e)))
                    continue
                self.flush()
                self.state[self.key(job)] = kept
                write_bytes_atomic(self.dataset / STATE_NAME, json.dumps(self.state, indent=1).encode())
                if warning:
                    self.report.warnings.append(f"{job.source} ({job.label}): {warning}")
                self.emit(JobDone(job, len(kept), warning))
        finally:
            self.flush()
        return self.report

    def job(self, job: Job, index: int, total: int, counts: LabelCounts) -> tuple[list[str], str]:
        """Harvest one video range; returns the paths (new and existing) it covers, and a warning when the
        video ran out before the range did (empty when it did not)."""
        covered: list[str] = []
        with VideoReader(job.video) as reader:
            self.emit(JobStarted(job, index, total, reader.expected_samples(job.start, job.end, self.config.every)))
            for sample, frame in self.samples(job, reader):
                outcome = self.decide(job, sample, counts, covered)
                if outcome == "kept":
                    self.save(sample.path, frame, reader)
                    self.flush_some()
                self.emit(FrameDone(job, sample.timestamp, outcome, sample.blank))
            warning = reader.shortfall(job.start, job.end) or ""
        return covered, warning

    def part_path(self, index: int) -> Path:
        """Where a process of a shared harvest leaves what it sampled of job ``index`` for rank 0."""
        return self.dataset / f"{PART_PREFIX}{index:06d}.json"

    def prepare(self, job: Job, index: int) -> None:
        """A shared harvest's first half, on the process dealt ``job``: sample it, write the JPEG of every
        frame that is neither in the dataset nor blank (rank 0 deletes those it finds duplicates), and leave
        the samples in :meth:`part_path`."""
        part: dict[str, object]
        try:
            with VideoReader(job.video) as reader:
                samples = []
                for sample, frame in self.samples(job, reader):
                    if sample.phash is not None:
                        self.save(sample.path, frame, reader)
                    samples.append(asdict(sample))
                part = {"samples": samples, "warning": reader.shortfall(job.start, job.end) or "", "error": None}
        except InputError as e:
            part = {"samples": [], "warning": "", "error": str(e)}
        write_bytes_atomic(self.part_path(index), json.dumps(part).encode())

    def merge(self, job: Job, index: int, total: int, counts: LabelCounts) -> tuple[list[str], str]:
        """A shared harvest's second half, on rank 0 in job order: the dedup decisions :meth:`job` would make
        on the samples another process left (waiting for them), duplicates' JPEGs deleted."""
        path = self.part_path(index)
        while not path.is_file():
            time.sleep(POLL_SECONDS)
        part = json.loads(path.read_text())
        path.unlink()  # what it holds is recorded below (or the job reported failed) before the state is saved
        if part["error"]:
            raise InputError(str(part["error"]))
        covered: list[str] = []
        self.emit(JobStarted(job, index, total, len(part["samples"])))
        for raw in part["samples"]:
            sample = Sample(**raw)
            outcome = self.decide(job, sample, counts, covered)
            if outcome == "duplicate":
                (self.dataset / sample.path).unlink(missing_ok=True)
            elif outcome == "kept":
                self.flush_some()
            self.emit(FrameDone(job, sample.timestamp, outcome, sample.blank))
        return covered, str(part["warning"])

    def samples(self, job: Job, reader: VideoReader) -> Iterator[tuple[Sample, av.VideoFrame]]:
        """Each sampled frame of ``job`` with what the dedup decision needs: its file name, and its phash
        unless it is already in the dataset or blank."""
        for t, frame in reader.sample(job.start, job.end, self.config.every):
            rel = f"{job.label}/{job.stem}_{round(t * 1000)}.jpg"
            if rel in self.paths:
                yield Sample(rel, t), frame
                continue
            thumb = frame_thumbnail(frame, reformatter=reader.thumbnailer)
            reason = blank_reason(thumb, self.config.blank_threshold)
            yield (Sample(rel, t, blank=reason) if reason else Sample(rel, t, phash_hex(thumb))), frame

    def decide(self, job: Job, s: Sample, counts: LabelCounts, covered: list[str]) -> str:
        """The outcome of sample ``s`` given every frame kept before it (existing, blank, duplicate or kept),
        counted; a kept one is added to the rows (its file must be written before the next flush)."""
        if s.path in self.paths:
            covered.append(s.path)
            counts.existing += 1
            return "existing"
        if s.blank or s.phash is None:
            counts.blank += 1
            return "blank"
        if self._index(job.label).is_duplicate(s.phash):
            counts.duplicates += 1
            return "duplicate"
        self.rows.append(Row(s.path, job.label, job.source, round(s.timestamp, 3), s.phash))
        self.paths.add(s.path)
        self._index(job.label).add(s.phash)
        covered.append(s.path)
        counts.kept += 1
        self.unflushed += 1
        return "kept"

    def save(self, rel: str, frame: av.VideoFrame, reader: VideoReader) -> None:
        """Write the JPEG of a sampled frame (atomic)."""
        try:
            (self.dataset / rel).parent.mkdir(exist_ok=True)
            save_image(frame_to_image(frame, self.config.size, reader.reformatter), self.dataset / rel)
        except OSError as e:
            raise OutputError(f"{self.dataset / rel}: cannot write frame ({e.strerror or e})") from None

    def flush_some(self) -> None:
        if self.unflushed >= self.config.flush_every:
            self.flush()


def harvest(
    dataset: str | os.PathLike[str],
    jobs: Sequence[Job],
    config: HarvestConfig | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> HarvestReport:
    """Harvest frames of ``jobs`` into ``dataset`` (created if needed) and return what was kept or dropped.
    A video that is missing, corrupt or fails mid-way is reported in ``HarvestReport.failures`` (frames
    kept before the failure stay) and the other jobs go on. Settings are checked before anything is written."""
    cfg = config or HarvestConfig()
    cfg.validate()
    if not jobs:
        raise ConfigError(
            "nothing to harvest: give label NAME VIDEO ... or segments CSV", setting=("label", "segments")
        )
    root = Path(dataset)
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: exists and is not a folder")
    _check_manifest_stems(read_manifest(root, missing_ok=True), jobs)
    with process_group("cpu") as (ctx, _), contextlib.ExitStack() as held:

        def claim() -> list[int]:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"{root}: cannot create dataset folder ({e.strerror or e})") from None
            held.enter_context(output_lock(root, folder=True))
            remove_leftovers(root, {job.label for job in jobs})
            for stale in root.glob(PART_PREFIX + "*"):  # left by a killed shared harvest: sampled again
                stale.unlink()
            run = _Harvest(root, cfg, None)
            return [i for i, job in enumerate(jobs) if run.finished(job) is None]

        todo = on_main(claim, ctx)
        run = _Harvest(root, cfg, on_event if ctx.is_main else None)
        if ctx.world_size == 1:
            return run.run(jobs, run.job)
        for k in deal([1.0] * len(todo), ctx.world_size)[ctx.rank]:
            run.prepare(jobs[todo[k]], todo[k])
        return run.run(jobs, run.merge) if ctx.is_main else run.report


def _check_manifest_stems(rows: Sequence[Row], jobs: Sequence[Job]) -> None:
    """Refuse a video whose frame names would collide with those of a differently named video already
    harvested under the same label (e.g. ``clip.mp4`` now, ``clip.mkv`` before)."""
    known: dict[tuple[str, str], str] = {}
    for r in rows:
        if r.origin == "harvested":
            known.setdefault((r.label, r.path.rsplit("/", 1)[-1].rsplit("_", 1)[0]), Path(r.source).name)
    for job in jobs:
        name = known.get((job.label, job.stem))
        if name is not None and name != job.video.name:
            raise ConfigError(
                f"label '{job.label}': {job.video.name} would reuse the frame names of {name}, "
                "already in the dataset; rename one"
            )
