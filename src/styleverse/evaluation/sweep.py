"""A small grid of stylisations on given photos, measured and laid out side by side.

Methods compare on numbers only when they are run on the same photos and styles and measured the same way.
:func:`run_sweep` runs, through the library's job functions (never the CLI):

* ``lbfgs`` / ``adam``: the Gatys optimisation (:func:`styleverse.transfer.job.run_stylize`) for every
  style weight x step count of the grid;
* ``fast:MODEL``: a trained feed-forward network (or its ONNX export), the universe ``--universe`` names if
  it has it, else its first;
* ``adain:DECODER``: an AdaIN decoder with the same style images and banks (both opened by
  :func:`styleverse.fast.open.open_model`);

then measures every result with :func:`styleverse.evaluation.evaluate.evaluate_sources` and writes the
evaluation report plus ``sweep.png`` (one row per photo: the photo, then every run with its scores under it)
and ``tradeoff.png`` (style distance against content fidelity, time as marker size). Time is the seconds the
stylisation took with its networks already loaded; peak memory is the CUDA allocator's peak on a GPU, and on
a CPU the process's peak resident memory during the run (reset before each run; it includes what the process
already held, such as the networks).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from styleverse.cancel import Stop, Stopped, never
from styleverse.devices import peak_memory, resolve_device, resolve_precision
from styleverse.errors import ConfigError
from styleverse.evaluation.evaluate import EvaluateSettings, Evaluation, ResultScored, evaluate_sources
from styleverse.evaluation.report import score_lines, sheet, write_report
from styleverse.evaluation.sources import ResultSource, Styles, resolve_styles
from styleverse.io.images import load_image, load_tensor, save_image, write_json
from styleverse.io.outputs import Output, check_outputs
from styleverse.styles.spec import StyleSpec
from styleverse.transfer.config import OPTIMIZERS, TransferConfig
from styleverse.transfer.config import Event as TransferEvent
from styleverse.transfer.sidecar import StylizeSidecar

_D = TransferConfig()
SWEEP_FILES = {"sheet": "sweep.png"}


@dataclass(frozen=True)
class Method:
    """One way of stylising: an optimiser (``lbfgs``, ``adam``) or a network file (``fast``, ``adain``)."""

    kind: str
    model: Path | None = None

    @property
    def name(self) -> str:
        return self.kind if self.model is None else f"{self.kind}:{self.model.name.split('.')[0]}"


def parse_method(text: str) -> Method:
    """``lbfgs``, ``adam``, ``fast:MODEL`` or ``adain:DECODER`` (the file must exist)."""
    kind, sep, path = text.partition(":")
    if kind in OPTIMIZERS and not sep:
        return Method(kind)
    if kind in ("fast", "adain") and path:
        if not Path(path).is_file():
            raise ConfigError(f"methods {text}: no such file {path}", setting="methods")
        return Method(kind, Path(path))
    raise ConfigError(f"methods {text}: use lbfgs, adam, fast:MODEL or adain:DECODER", setting="methods")


@dataclass(frozen=True)
class SweepSettings:
    """The grid: ``photos`` x (``methods``; optimisers also x ``style_weight_grid`` x ``steps_grid``), the
    ``style`` as ``stylize`` takes it, photos stylised at longest side ``size``; results, their sidecars and
    the report go to ``out_dir``. ``evaluation`` says how they are measured (its feature network, layers and
    precision are also the Gatys runs')."""

    photos: tuple[Path, ...]
    out_dir: Path
    style: StyleSpec = field(default_factory=StyleSpec)
    style_weight_grid: tuple[float, ...] = (_D.style_weight,)
    steps_grid: tuple[int, ...] = (_D.steps,)
    methods: tuple[str, ...] = ("lbfgs",)
    size: int = 256
    seed: int = _D.seed
    overwrite: bool = False
    evaluation: EvaluateSettings = field(default_factory=EvaluateSettings)

    def validate(self) -> list[Method]:
        """The parsed methods, after the settings are checked (one-line :class:`ConfigError`)."""
        if not self.photos:
            raise ConfigError("give at least one photo to sweep")
        if not self.style:
            raise ConfigError("a sweep needs a style: style images or a style bank")
        if not self.methods:
            raise ConfigError("methods needs at least one method", setting="methods")
        if not self.style_weight_grid or any(not w > 0 for w in self.style_weight_grid):
            raise ConfigError("style_weights_grid needs numbers > 0", setting="style_weights_grid")
        if not self.steps_grid or any(s < 1 for s in self.steps_grid):
            raise ConfigError("steps_grid needs whole numbers >= 1", setting="steps_grid")
        if not 16 <= self.size <= 16384:
            raise ConfigError("size must be between 16 and 16384 pixels", setting="size")
        if len({p.stem for p in self.photos}) != len(self.photos):
            raise ConfigError("two photos share a file name; their results would share a folder; rename one")
        self.evaluation.validate()
        return [parse_method(m) for m in dict.fromkeys(self.methods)]


@dataclass(frozen=True)
class Run:
    """One cell of the grid: a photo, a method and (for optimisers) a style weight and step count."""

    photo: Path
    method: Method
    output: Path
    style_weight: float | None = None
    steps: int | None = None

    @property
    def label(self) -> str:
        if self.style_weight is None:
            return self.method.name
        return f"{self.method.name} sw {self.style_weight:g} {self.steps} st"


@dataclass(frozen=True)
class SweepRunStarted:
    """Progress: run ``index`` (1-based) of ``total`` starts."""

    index: int
    total: int
    label: str
    photo: Path


# what a sweep reports: each run starting, the stylise job's own events, then each result measured
Event = SweepRunStarted | TransferEvent | ResultScored
Callback = Callable[[Event], None]


@dataclass
class SweepOutcome:
    """The runs, their evaluation and the files written."""

    runs: list[Run]
    evaluation: Evaluation
    paths: dict[str, Path]


def plan_runs(settings: SweepSettings, methods: list[Method]) -> list[Run]:
    """Every run of the grid with its output file ``OUT/runs/<photo>/<method>[_sw<w>_<n>steps].png``."""
    runs = []
    for photo in settings.photos:
        folder = settings.out_dir / "runs" / photo.stem
        for m in methods:
            if m.model is None:
                grid = itertools.product(settings.style_weight_grid, settings.steps_grid)
                runs += [Run(photo, m, folder / f"{m.kind}_sw{sw:g}_{n}steps.png", sw, n) for sw, n in grid]
            else:
                runs.append(Run(photo, m, folder / f"{m.name.replace(':', '_')}.png"))
    return runs


def output_files(settings: SweepSettings, runs: list[Run]) -> dict[str, Output | Path]:
    """Every file the sweep writes, keyed by what names it, for one up-front check."""
    from styleverse.evaluation.report import report_paths

    outs: dict[str, Output | Path] = {"-o": Output(settings.out_dir, "folder")}
    outs |= {f"-o ({p.name})": p for p in report_paths(settings.out_dir).values()}
    outs |= {f"-o ({name})": settings.out_dir / name for name in SWEEP_FILES.values()}
    for r in runs:
        outs[f"run {r.output.relative_to(settings.out_dir)}"] = Output(r.output, "image")
        outs[f"run {r.output.relative_to(settings.out_dir)}.json"] = r.output.with_name(r.output.name + ".json")
    return outs


class _Runner:
    """Runs grid cells; networks of ``fast``/``adain`` methods are loaded once and kept."""

    def __init__(self, settings: SweepSettings, callback: Callback | None, stop: Stop = never):
        self.s, self.callback, self.stop = settings, callback, stop
        self.device = resolve_device(settings.evaluation.device)
        self.precision = resolve_precision(settings.evaluation.precision, self.device)
        self._nets: dict[Method, Any] = {}

    def gatys(self, run: Run) -> tuple[float, int | None]:
        from styleverse.transfer.job import StylizeJob, run_stylize

        s, ev = self.s, self.s.evaluation
        assert run.style_weight is not None and run.steps is not None
        cfg = replace(_D, steps=run.steps, optimizer=run.method.kind, style_weight=run.style_weight, size=s.size,
                      scales=(s.size,), seed=s.seed, precision=self.precision, device=str(self.device))  # fmt: skip
        job = StylizeJob(run.photo, run.output, s.style, cfg, ev.features, overwrite=s.overwrite)
        with peak_memory(self.device) as peak:
            outcome = run_stylize(job, self.callback, self.stop)
        if outcome.interrupted or outcome.result.stop_reason == "stopped":
            raise Stopped(f"stopped in {run.label}")
        return outcome.result.seconds, peak.bytes

    def network(self, run: Run) -> tuple[float, int | None]:
        m = run.method
        if m not in self._nets:
            self._nets[m] = self._open(m)
        stylizer = self._nets[m]
        photo = load_tensor(run.photo, self.s.size)
        with peak_memory(self.device) as peak:
            t0 = time.perf_counter()
            image = stylizer(photo)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - t0
        save_image(image, run.output)
        return seconds, peak.bytes

    def universe(self, m: Method) -> str | None:
        """The universe a fast network renders in this sweep."""
        net = self._nets.get(m)
        if net is None or not net.universes:
            return None
        want = self.s.evaluation.universe
        return want if want in net.universes else net.universes[0]

    def _open(self, m: Method) -> Any:
        """A network method's stylizer: a fast network in ``--universe`` if it has it (else its first), an
        AdaIN decoder with the sweep's styles, seen at the sweep's size."""
        from styleverse.fast.open import ADAIN_KINDS, FAST_KINDS, StylizerSpec, open_model

        assert m.model is not None
        s, kinds = self.s, FAST_KINDS if m.kind == "fast" else ADAIN_KINDS
        opened = open_model(m.model, str(self.device), self.precision, kinds)
        want = s.evaluation.universe
        return opened.stylizer(StylizerSpec(
            str(m.model), mix=want if want in opened.universes else None, styles=tuple(map(str, s.style.images)),
            banks=tuple(map(str, s.style.banks)), style_weights=s.style.weights, style_size=s.size,
            device=str(self.device), precision=self.precision,
        ))  # fmt: skip


def _sidecar(run: Run, styles: Styles, seconds: float, peak: int | None) -> None:
    """A network result's sidecar, so ``styleverse evaluate`` can measure it again later on its own."""
    side = StylizeSidecar(
        output=str(run.output), content=str(run.photo), method=run.method.name, model=str(run.method.model),
        styles=tuple((str(p), w) for p, w in styles.images), style_banks=tuple((str(p), w) for p, w in styles.banks),
        seconds=seconds, peak_memory_bytes=peak,
    )  # fmt: skip
    write_json(run.output.with_name(run.output.name + ".json"), side.to_json())


def sweep_sheet(settings: SweepSettings, ev: Evaluation, runs: list[Run], path: Path) -> Path:
    """One row per photo: the photo, then each of its runs with the scores under it."""
    from PIL import Image

    per_photo = len(runs) // len(settings.photos)
    cells: list[tuple[Image.Image, str]] = []
    for k, photo in enumerate(settings.photos):
        cells.append((load_image(photo), f"photo\n{photo.name}"))
        for s in ev.scores[k * per_photo : (k + 1) * per_photo]:
            assert s.preview is not None
            cells.append((s.preview, "\n".join([s.label, *score_lines(s)])))
    n = len(settings.photos)
    title = (f"sweep: {n} photo{'s' if n > 1 else ''} x {per_photo} runs, measured under {ev.backbone.identity}; "
             "style = distance relative to the photo's (1 unmoved, 0 reached)")  # fmt: skip
    return sheet(cells, path, per_photo + 1, title)


def run_sweep(settings: SweepSettings, callback: Callback | None = None, stop: Stop = never) -> SweepOutcome:
    """Check every output, run the grid, measure every result, write the report and the sweep pictures.
    ``stop()`` is asked before each run and by the Gatys runs before every step: True raises
    :class:`~styleverse.cancel.Stopped` (a Gatys run stopped by a signal keeps its resume state)."""
    methods = settings.validate()
    styles = resolve_styles(settings.style)
    runs = plan_runs(settings, methods)
    protect = [*settings.photos, *(p for p, _ in styles.images), *(p for p, _ in styles.banks)]
    protect += [m.model for m in methods if m.model is not None]
    for p in settings.photos:
        load_image(p)  # a photo that cannot be read fails now, not after an hour of runs
    check_outputs(output_files(settings, runs), protect, settings.overwrite)
    runner = _Runner(settings, callback, stop)
    sources = []
    for i, run in enumerate(runs):
        if stop():
            raise Stopped(f"stopped after {i} of {len(runs)} runs")
        if callback is not None:
            callback(SweepRunStarted(i + 1, len(runs), run.label, run.photo))
        run.output.parent.mkdir(parents=True, exist_ok=True)
        if run.method.model is None:
            seconds, peak = runner.gatys(run)
        else:
            seconds, peak = runner.network(run)
            _sidecar(run, styles, seconds, peak)
        side = run.output.with_name(run.output.name + ".json")
        sources.append(ResultSource(run.output, "image", run.photo, styles, side, run.method.name, None, 1.0, seconds,
                                    peak, runner.universe(run.method)))  # fmt: skip
    labels = [f"{r.photo.stem}: {r.label}" if len(settings.photos) > 1 else r.label for r in runs]
    ev = evaluate_sources(sources, settings.evaluation, callback, labels, stop)
    extra = {"sweep": {"photos": [str(p) for p in settings.photos], "runs": [r.label for r in runs],
                       "size": settings.size, "methods": [m.name for m in methods]}}  # fmt: skip
    paths = write_report(ev, settings.out_dir, extra, title="Sweep")
    paths["sweep"] = sweep_sheet(settings, ev, runs, settings.out_dir / SWEEP_FILES["sheet"])
    return SweepOutcome(runs, ev, paths)
