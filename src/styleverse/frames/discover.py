"""``frames discover``: find the universes of one or more films and propose them for a person to name.

Typing every universe's time ranges into a segments CSV by hand takes hours for a film that cuts between
universes hundreds of times. This job samples the films, finds their shots, describes each shot's style
(:mod:`styleverse.frames.describe`), groups the shots (:mod:`styleverse.frames.cluster`) and writes, into
``OUT``:

* ``proposal.csv``: the segments CSV of the proposal (labels ``u1``..``uK`` and ``unsure``), ready for
  ``frames harvest --segments``;
* ``sheets/<label>.png``: per universe its shots, most typical first, with their times; ``sheets/unsure.png``;
* ``timeline.png``: each film as a bar coloured by universe; ``report.md`` and ``report.json``.

It is resumable per shot: descriptions are saved as shots finish (:mod:`styleverse.frames.shotstore`, at
most every ``save_every`` seconds, and when stopped), and the same command continues where it stopped.
Memory stays bounded whatever the film's length: frames are streamed, a shot holds at most a reservoir of
frames, and only the description vectors of all shots (a few kB each) are held at once.
:func:`edit` renames, merges and drops universes of a proposal and redraws everything.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from styleverse.cancel import Stop, Stopped, never
from styleverse.devices import resolve_device, resolve_precision
from styleverse.errors import ConfigError
from styleverse.frames.cluster import UNSURE as UNSURE_GROUP
from styleverse.frames.cluster import ClusterSettings, cluster_shots, embed
from styleverse.frames.describe import Describer, describe_film
from styleverse.frames.discover_report import (
    load_thumbs,
    measure,
    sheet_picks,
    strip_picks,
    timeline,
    write_report,
    write_sheets,
)
from styleverse.frames.proposal import Proposal, edit_labels, format_time, load, save, write_csv
from styleverse.frames.quality import DEFAULT_BLANK_THRESHOLD
from styleverse.frames.segments import UNSURE
from styleverse.frames.shotstore import ShotStore, store_folder, store_key
from styleverse.io.lock import output_lock
from styleverse.io.outputs import Output, check_outputs, network_files
from styleverse.io.state import not_fingerprinted
from styleverse.io.video import VideoReader
from styleverse.nn.features import FeatureSpec, build_model
from styleverse.progress import Progress

log = logging.getLogger("styleverse")
OnEvent = Callable[[Progress], None]


@dataclass(frozen=True)
class DiscoverConfig:
    """``every``: seconds between samples (cuts are found between samples); ``size``: longest side frames are
    described at; ``frames_per_shot``: frames averaged into a shot's description; ``blank_threshold``: the
    luminance std (0-255) below which a frame is blank; ``thumb``, ``per_sheet``: contact-sheet thumbnails and
    shots per sheet; ``cluster``: how shots are grouped; ``device``/``precision``: where the network runs;
    ``save_every``: most seconds between saves of the descriptions."""

    every: float = 0.25
    size: int = 256
    frames_per_shot: int = 3
    blank_threshold: float = DEFAULT_BLANK_THRESHOLD
    thumb: int = 128
    per_sheet: int = 48
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    device: str = "auto"
    precision: str = "auto"
    save_every: float = not_fingerprinted(10.0)

    def validate(self) -> None:
        checks = (
            (0 < self.every < math.inf, "every must be a number of seconds > 0", "every"),
            (self.size >= 16, "size must be at least 16 pixels", "size"),
            (self.frames_per_shot >= 1, "frames_per_shot must be at least 1", "frames_per_shot"),
            (0 <= self.blank_threshold <= 255, "blank_threshold must be within 0..255", "blank_threshold"),
            (self.thumb >= 16, "thumb must be at least 16 pixels", "thumb"),
            (self.per_sheet >= 1, "per_sheet must be at least 1", "per_sheet"),
        )
        for ok, message, setting in checks:
            if not ok:
                raise ConfigError(f"{message}, got {getattr(self, setting)}", setting=setting)
        self.cluster.validate()


@dataclass(frozen=True)
class DiscoverResult:
    """The output folder, the proposal and its files."""

    out: Path
    proposal: Proposal
    files: dict[str, Path]


def _check_films(films: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every film opens (a one-line :class:`InputError` otherwise) and none is given twice."""
    if not films:
        raise ConfigError("give at least one film", setting="films")
    paths = [Path(f) for f in films]
    seen: dict[Path, Path] = {}
    for p in paths:
        with VideoReader(p):
            pass
        other = seen.setdefault(p.resolve(), p)
        if other is not p:
            raise ConfigError(f"{p}: given twice (also as {other})", setting="films")
    return paths


def _describer(config: DiscoverConfig, features: FeatureSpec) -> tuple[Describer, dict[str, Any]]:
    """The describer (no network when ``pixel_weight`` is 1) and the settings that make its descriptions."""
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    model, network = None, "pixel statistics only"
    if config.cluster.pixel_weight < 1:
        spec = features.resolve()
        model, info = build_model(**spec.model_args())
        model = model.to(device).eval()
        network = f"{info.identity} {','.join(model.style_weights)}"
    d = Describer(model, device, precision, config.size, config.frames_per_shot, config.blank_threshold, config.thumb)
    keep = ("every", "size", "frames_per_shot", "blank_threshold", "thumb")
    settings = {k: getattr(config, k) for k in keep} | {"network": network, "precision": precision}
    weights = dict(model.style_weights) if model is not None else {}
    return d, settings | {"blocks": d.blocks(), "layer_weights": weights}


def _describe(
    path: Path, film: int, store: ShotStore, d: Describer, config: DiscoverConfig, on_event: OnEvent, stop: Stop
) -> None:
    """Describe one film into its store from where it stopped; raises :class:`Stopped` when ``stop()``."""
    s = store.state
    if s.done:
        log.info("%s: described earlier (%d records)", path.name, s.records)
        return
    with VideoReader(path) as r:
        total = round(r.info.duration) if r.info.duration else None
    at = format_time(s.resume.time if s.resume else 0.0)[:-4]
    log.info("%s: describing from %s (%d records so far)", path.name, at, s.records)
    started, saved = time.monotonic(), time.monotonic()
    shown = [-1]

    def on_sample(t: float) -> None:
        if int(t) != shown[0]:
            shown[0] = int(t)
            on_event(Progress("describe", int(t), total, path.name))

    try:
        for records, resume in describe_film(path, film, d, config.every, s.resume, stop, on_sample):
            store.append(records, resume)
            if time.monotonic() - saved >= config.save_every or resume is None:
                store.save()
                saved = time.monotonic()
                to = format_time(resume.time if resume is not None else records[-1].shot.end)[:-4]
                log.info("%s: %d records saved, described to %s", path.name, store.state.records, to)
    finally:
        store.save()
    if not store.state.done:
        where = format_time(store.state.resume.time if store.state.resume else 0.0)[:-4]
        raise Stopped(f"{path.name}: described up to {where}; run the same command again to continue")
    minutes = (total or 0) / 60
    took = time.monotonic() - started
    log.info("%s: %d records in %.0f s (%.1f s per film-minute)", path.name, store.state.records, took,
             took / minutes if minutes else math.nan)  # fmt: skip


def _cluster(stores: Sequence[ShotStore], settings: dict[str, Any], config: DiscoverConfig) -> tuple[Any, ...]:
    """Every record of the stores, the indices of the described ones, their clustering space and groups."""
    records = [r for store in stores for r in store.records()]
    rows = np.array([i for i, r in enumerate(records) if r.vector is not None], dtype=int)
    blocks = settings["blocks"]
    width = sum(n for _, n in blocks)
    x = np.stack([records[i].vector for i in rows]) if len(rows) else np.zeros((0, width), np.float32)
    z = embed(x, blocks, config.cluster.pixel_weight, settings["layer_weights"])
    seconds = np.array([records[i].shot.seconds for i in rows])
    return records, rows, z, cluster_shots(z, seconds, config.cluster)


def discover(
    films: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: DiscoverConfig | None = None,
    features: FeatureSpec | None = None,
    on_event: OnEvent | None = None,
    stop: Stop = never,
) -> DiscoverResult:
    """Describe, group and propose (see the module doc). Settings and films are checked before anything is
    written; an unreadable film is a one-line :class:`InputError`."""
    cfg = config or DiscoverConfig()
    cfg.validate()
    spec = features or FeatureSpec()
    paths = _check_films(films)
    root = check_outputs({"out": Output(out, "folder")}, [*paths, *network_files(spec.backbone)])["out"]
    d, settings = _describer(cfg, spec)  # a network that cannot load is refused before anything is written
    root.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda e: None)
    with output_lock(root, folder=True):
        keys = [store_key(p, settings) for p in paths]
        stores = [ShotStore(store_folder(root, k), i, settings, cfg.thumb) for i, k in enumerate(keys)]
        for i, (film, store) in enumerate(zip(paths, stores, strict=True)):
            emit(Progress("films", i, len(paths), film.name))
            _describe(film, i, store, d, cfg, emit, stop)
        records, rows, z, c = _cluster(stores, settings, cfg)
        labels, why = [UNSURE] * len(records), [r.shot.kind if r.vector is None else "" for r in records]
        for k, i in enumerate(rows):
            labels[i] = UNSURE if c.labels[k] == UNSURE_GROUP else f"u{c.labels[k] + 1}"
            why[i] = c.why[k]
        chosen = f"{c.k} (forced)" if cfg.cluster.universes else str(c.k)
        settings = settings | {"pixel_weight": cfg.cluster.pixel_weight, "chosen": chosen, "silhouettes": c.tried,
                     "cluster": asdict(cfg.cluster), "per_sheet": cfg.per_sheet}  # fmt: skip
        names = [os.path.relpath(f.resolve(), root.resolve()) for f in paths]
        old = _earlier_edits(root)
        p = Proposal(names, keys, [r.shot for r in records], labels, why, settings)
        files = _render(root, p, stores, z, rows, emit)
        if old:
            log.warning("the proposal was made afresh; its earlier edits (%s) are no longer applied", "; ".join(old))
    return DiscoverResult(root, p, files)


def _earlier_edits(root: Path) -> list[str]:
    try:
        return load(root).edits
    except Exception:
        return []


def _render(
    root: Path, p: Proposal, stores: Sequence[ShotStore], z: np.ndarray, rows: np.ndarray, emit: OnEvent
) -> dict[str, Path]:
    """Every output of a proposal (module doc), old sheets of labels that are gone removed."""
    m = measure(p, z, rows)
    emit(Progress("sheets", 0, None, None))
    sheets_dir = root / "sheets"
    if sheets_dir.is_dir():
        for old in sheets_dir.glob("*.png"):
            old.unlink()
    thumb = int(p.settings["thumb"])
    per_sheet = int(p.settings.get("per_sheet", 48))
    wanted = {i for ids in sheet_picks(p, m, per_sheet).values() for i in ids} | set(strip_picks(p))
    thumbs = load_thumbs((r for store in stores for r in store.records(thumbs=True)), wanted)
    sheets = write_sheets(p, m, sheets_dir, thumbs, per_sheet, thumb)
    files = {"proposal": write_csv(root, p), "timeline": timeline(p, root / "timeline.png", thumbs)}
    files |= {"report": write_report(root, p, m, sheets)} | {f"sheet {k}": v for k, v in sheets.items()}
    save(root, p)
    return files


def edit(
    out: str | os.PathLike[str],
    rename: Sequence[tuple[str, str]] = (),
    merge: Sequence[tuple[str, str]] = (),
    drop: Sequence[str] = (),
    on_event: OnEvent | None = None,
) -> DiscoverResult:
    """Rename, merge and drop universes of the proposal in ``out`` (see
    :func:`styleverse.frames.proposal.edit_labels`) and redraw its files."""
    root = Path(out)
    p = load(root)
    if not (rename or merge or drop):
        raise ConfigError("nothing to edit: give rename, merge or drop", setting=("rename", "merge", "drop"))
    labels = edit_labels(p.labels, rename, merge, drop)
    with output_lock(root, folder=True):
        stores = [ShotStore(store_folder(root, k), i, _store_settings(p), int(p.settings["thumb"]))
                  for i, k in enumerate(p.stores)]  # fmt: skip
        records = [r for store in stores for r in store.records()]
        if len(records) != len(p.shots):
            raise ConfigError(f"{root}: the proposal and its shot descriptions disagree; run frames discover again")
        rows = np.array([i for i, r in enumerate(records) if r.vector is not None], dtype=int)
        blocks = [tuple(b) for b in p.settings["blocks"]]
        x = np.stack([records[i].vector for i in rows]) if len(rows) else np.zeros((0, sum(n for _, n in blocks)))
        z = embed(x, blocks, float(p.settings["pixel_weight"]), p.settings.get("layer_weights"))
        said = [f"merge {a}={b}" for a, b in merge] + [f"drop {n}" for n in drop]
        said += [f"rename {a}={b}" for a, b in rename]
        p.labels, p.edits = labels, [*p.edits, "; ".join(said)]
        files = _render(root, p, stores, z, rows, on_event or (lambda e: None))
    return DiscoverResult(root, p, files)


def _store_settings(p: Proposal) -> dict[str, Any]:
    keep = ("every", "size", "frames_per_shot", "blank_threshold", "thumb", "network", "precision", "blocks",
            "layer_weights")  # fmt: skip
    return {k: p.settings[k] for k in keep}
