"""Settings of the web app: where it listens, which folders it reads and writes, and the limits it enforces.

A default lives here only; ``styleverse app`` reads its flag defaults from these dataclasses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from styleverse.errors import ConfigError

if TYPE_CHECKING:
    from styleverse.nn.features import FeatureSpec

MB = 1024 * 1024
THREADS_PER_JOB = 4  # CPUs a job gets by default: fewer jobs at once, each faster (jobs x threads <= CPUs)


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. Uploads over a size are refused before they are read; images over
    ``max_pixels`` before they are decoded (a small file can hold a huge picture)."""

    max_upload_mb: float = 25.0  # one image, bank or model file
    max_video_mb: float = 200.0
    max_pixels: int = 40_000_000  # decoded pixels of one uploaded image
    max_size: int = 1024  # longest side a stylise or real-time result may have
    max_steps: int = 1000
    max_style_images: int = 64  # per stylise or analysis request
    max_batch_photos: int = 16  # photos of one Stylise batch
    max_video_frames: int = 300
    max_video_side: int = 1024

    def validate(self) -> None:
        """Refuse limits that cannot work (naming the setting)."""
        if not (self.max_upload_mb > 0 and self.max_video_mb > 0):
            raise ConfigError("upload limits must be positive")
        if self.max_pixels < 16 * 16 or self.max_size < 16 or self.max_video_side < 16:
            raise ConfigError("pixel and size limits must allow at least 16x16 pixels")
        if min(self.max_steps, self.max_style_images, self.max_video_frames, self.max_batch_photos) < 1:
            raise ConfigError("step, style-image, frame and batch limits must be at least 1")

    @property
    def largest_upload_bytes(self) -> int:
        """The largest file the server accepts at all (Gradio refuses bigger uploads before our code runs)."""
        return int(max(self.max_upload_mb, self.max_video_mb) * MB)


@dataclass(frozen=True)
class AppConfig:
    """One app server. ``host`` 127.0.0.1 keeps it on this machine; ``share`` asks Gradio for a public link
    (off unless asked). ``banks``/``models`` are folders whose style banks and real-time models the page
    offers. ``jobs`` run at once (default one per 4 CPUs), each with ``cpus // jobs`` torch threads; the rest wait
    in the queue, which shows them their place. ``keep_hours`` and ``max_disk_gb`` bound the outputs folder
    (:mod:`styleverse.app.disk`). ``backbone`` is the feature network of stylise, video and
    universe jobs (``random`` for trials and tests): :meth:`features` says which one a job uses."""

    host: str = "127.0.0.1"
    port: int = 7860
    outputs: Path = Path("styleverse-app")
    banks: Path | None = None
    models: Path | None = None
    share: bool = False
    backbone: str = "imagenet"
    jobs: int | None = None  # None: one per THREADS_PER_JOB CPUs
    queue_size: int = 32
    keep_hours: float = 24.0  # uploads and job folders older than this are removed (unless a page shows them)
    max_disk_gb: float = 10.0  # the outputs folder is kept under this, oldest removed first
    device: str = "auto"
    limits: Limits = field(default_factory=Limits)

    def features(self, banks: bool = False) -> FeatureSpec:
        """The feature network of a job: the server's ``backbone``, or with ``banks`` the one the first bank
        records (a bank decides its own network, see :meth:`FeatureSpec.resolve`)."""
        from styleverse.nn.features import FeatureSpec

        return FeatureSpec(backbone=None if banks else self.backbone)

    @property
    def concurrency(self) -> int:
        """Jobs that run at once: ``jobs``, by default one per :data:`THREADS_PER_JOB` CPUs (at least one)."""
        return self.jobs if self.jobs is not None else max(1, cpu_count() // THREADS_PER_JOB)

    def threads_per_job(self) -> int:
        """torch threads each job gets, so that running jobs together use the CPUs without oversubscribing."""
        return max(1, cpu_count() // self.concurrency)

    def validate(self) -> None:
        """Refuse settings that cannot work, before anything is started."""
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, not {self.port}", setting="port")
        if self.jobs is not None and self.jobs < 1:
            raise ConfigError("jobs must be at least 1", setting="jobs")
        if not (self.keep_hours > 0 and self.max_disk_gb > 0):
            raise ConfigError("keep_hours and max_disk_gb must be positive", setting="keep_hours")
        if self.max_disk_gb * 1024 * MB < 2 * self.limits.largest_upload_bytes:
            raise ConfigError("max_disk_gb must hold at least two of the largest uploads", setting="max_disk_gb")
        if self.queue_size < 1:
            raise ConfigError("queue_size must be at least 1", setting="queue_size")
        for name, folder in (("banks", self.banks), ("models", self.models)):
            if folder is not None and not Path(folder).is_dir():
                raise ConfigError(f"{name} {folder}: no such folder", setting=name)
        self.limits.validate()
