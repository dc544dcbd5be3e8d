"""Evaluate results: style distance, content fidelity, the universe judge, temporal steadiness and cost.

:func:`evaluate` takes result paths (or :func:`evaluate_sources` already described results), measures all
of them under **one** feature network (so their numbers compare) and returns an :class:`Evaluation`; the
report module turns that into a table, ``report.json``, ``report.md`` and pictures.

How each result is measured (numbers defined in :mod:`styleverse.evaluation.metrics`):

* an image is measured at its own size (or longest side ``size``); the content photo is resized to exactly
  that size, and the style targets are computed with the style images seen at that longest side times the
  style scale the run used, as ``stylize`` does, so the content photo itself scores content loss 0 and
  relative style distance 1, and a style image measured against itself scores style distance 0;
* a video is measured on ``frames`` frames spread over it (style, content, judge: means over them) and on
  up to ``max_frames`` consecutive frames for the warping error, following and flicker
  (:mod:`styleverse.video.steadiness`, the measure ``video`` records);
* cost (seconds, peak memory) is what the result's sidecar records, or what a sweep measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from styleverse.cancel import Stop, Stopped, never
from styleverse.devices import require_memory, resolve_device, resolve_precision, vgg_pass_bytes
from styleverse.errors import ConfigError
from styleverse.evaluation.frames import frame_pairs, sample_indices
from styleverse.evaluation.judge import UniverseJudge, Verdict, intended_universe
from styleverse.evaluation.metrics import StyleDistance, layer_balanced, pair_verdict, relative, ssim, style_distance
from styleverse.evaluation.sources import Overrides, ResultSource, Styles, describe_result
from styleverse.io.images import load_image, pil_to_tensor, resize_longest
from styleverse.nn.features import FeatureSpec, StyleContentModel, build_model
from styleverse.nn.losses import content_loss
from styleverse.nn.vgg import BackboneInfo
from styleverse.styles.targets import GramDict, StyleImage, StyleSet

if TYPE_CHECKING:
    from styleverse.video.steadiness import TemporalScore

log = logging.getLogger("styleverse")


@dataclass(frozen=True)
class EvaluateSettings:
    """How results are measured. ``features``: the network and layers (no backbone: the network the first
    result's sidecar records, else the first style bank's, else ImageNet VGG). ``size``: longest side results
    are measured at (None: their own). ``universe``: the intended universe for every result (None: what each
    result records).
    ``precision`` fp32 by default: these are measurements."""

    features: FeatureSpec = field(default_factory=FeatureSpec)
    size: int | None = None
    frames: int = 8
    max_frames: int = 300
    classifier: Path | None = None
    universe: str | None = None
    device: str = "auto"
    precision: str = "fp32"

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the flag when a setting is out of range."""
        if self.size is not None and not 16 <= self.size <= 16384:
            raise ConfigError("size must be between 16 and 16384 pixels", setting="size")
        if self.frames < 1:
            raise ConfigError("frames must be at least 1", setting="frames")
        if self.max_frames < 2:
            raise ConfigError("max_frames must be at least 2", setting="max_frames")


@dataclass
class ResultScore:
    """Everything measured about one result (see the module doc); ``preview``/``content_preview`` are the
    pictures the report shows (a video's middle sampled frame), not serialised."""

    source: ResultSource
    size: tuple[int, int]  # (width, height) measured at
    frames_scored: int
    style: StyleDistance
    content_style: StyleDistance  # the content photo's own distance to the same target
    relative_style: float | None
    relative_per_layer: dict[str, float | None]
    content_loss: float
    ssim: float
    balanced_style: float | None = None  # layer-balanced relative style (metrics.layer_balanced): the headline
    overall: str = ""  # style and content read together (metrics.pair_verdict)
    verdict: Verdict | None = None  # the universe judge's
    temporal: TemporalScore | None = None
    seconds: float | None = None
    peak_memory_bytes: int | None = None
    label: str = ""
    preview: Image.Image | None = field(default=None, repr=False)
    content_preview: Image.Image | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ResultScored:
    """Progress: result ``index`` (1-based) of ``total`` is measured."""

    index: int
    total: int
    path: Path


Callback = Callable[[ResultScored], None]


@dataclass
class Evaluation:
    """All scores, the network they were measured under and the settings."""

    scores: list[ResultScore]
    backbone: BackboneInfo
    settings: EvaluateSettings
    device: str
    precision: str
    classifier_universes: list[str] | None = None


class Scorer:
    """The feature network and style targets (cached per style set and size) that score image pairs."""

    def __init__(self, model: StyleContentModel, info: BackboneInfo, device: torch.device, precision: str):
        self.model, self.info = model.to(device).eval(), info
        self.device, self.precision = device, precision
        self._targets: dict[tuple[Styles, float, int], GramDict] = {}

    def targets(self, styles: Styles, style_scale: float, side: int) -> GramDict:
        """Weighted-mean Gram targets of ``styles`` for a result whose longest side is ``side``."""
        from styleverse.styles.bank import bank_targets

        key = (styles, style_scale, side)
        if key not in self._targets:
            layers = list(self.model.style_weights)
            extra = [(bank_targets(b, self.info, layers, side, self.precision), w) for b, w in styles.banks]
            images = [StyleImage(p, w) for p, w in styles.images]
            sset = StyleSet(images, style_scale=style_scale, extra=extra)
            self._targets[key] = sset.targets(self.model, side, self.device, self.precision)
        return self._targets[key]

    @torch.inference_mode()
    def score(
        self, result: torch.Tensor, content: torch.Tensor, targets: GramDict
    ) -> tuple[StyleDistance, StyleDistance, float, float]:
        """Style distance of ``result`` and of ``content`` (same size) to ``targets``, content loss, SSIM."""
        h, w = result.shape[-2:]
        need = vgg_pass_bytes(h, w, 2, self.info.arch, precision=self.precision, backward=False)
        require_memory(need, self.device, f"measuring a {w}x{h} result", "lower size to measure at a smaller size")
        from styleverse.devices import autocast, memory_format

        x = torch.cat([result, content]).to(self.device).contiguous(memory_format=memory_format(self.precision))
        with autocast(self.device, self.precision):
            rep = self.model(x)
        weights = self.model.style_weights
        d_res = style_distance({k: g[:1] for k, g in rep.grams.items()}, targets, weights)
        d_con = style_distance({k: g[1:] for k, g in rep.grams.items()}, targets, weights)
        c_loss = content_loss({k: f[:1] for k, f in rep.content.items()}, {k: f[1:] for k, f in rep.content.items()})
        return d_res, d_con, float(c_loss), ssim(result, content)

    @torch.inference_mode()
    def content_loss_rearranged(self, result: torch.Tensor, content: torch.Tensor) -> float:
        """Mean content loss of ``result`` against ``content`` turned, mirrored both ways and rolled by half:
        the same picture statistics in other layouts, what a result that is not of ``content`` scores about
        as well as against ``content`` itself."""
        turns = (content.flip(-2, -1), content.flip(-1), content.flip(-2), content.roll((1 + content.shape[-2] // 2,
                 1 + content.shape[-1] // 2), (-2, -1)))  # fmt: skip
        losses = []
        for other in turns:
            feats = self.model(torch.cat([result, other]).to(self.device), want_style=False).content
            pair = ({k: f[:1] for k, f in feats.items()}, {k: f[1:] for k, f in feats.items()})
            losses.append(float(content_loss(*pair)))
        return sum(losses) / len(losses)


UNRELATED_RATIO = 0.85  # content loss / rearranged: random VGG, 128 px: 0.60-0.74 of its content, 0.88-1.0 not


def warn_if_unrelated(scorer: Scorer, src: ResultSource, img: Image.Image, content: Image.Image, loss: float) -> None:
    """Warn when ``img`` is hardly closer in content to ``content`` than to it rearranged
    (:meth:`Scorer.content_loss_rearranged`): the result is then not a picture of that content (a wrong
    ``--content``, or a sidecar naming another photo), and every content score of it means nothing."""
    other = scorer.content_loss_rearranged(pil_to_tensor(img), pil_to_tensor(content))
    if loss > UNRELATED_RATIO * other:
        log.warning(
            "%s: does not look like a picture of its content %s (content loss %.3g, %.3g against that photo "
            "rearranged); check the content it is scored against", src.path.name, Path(src.content).name, loss, other,
        )  # fmt: skip


Measured = tuple[Image.Image, Image.Image, tuple[StyleDistance, StyleDistance, float, float]]


def _measure(
    scorer: Scorer, src: ResultSource, result: Image.Image, content: Image.Image, size: int | None
) -> Measured:
    """One picture of a result scored against its content photo: the result at longest side ``size`` when it
    is larger, the content photo at exactly the result's size (Lanczos, as every resize here), the scores."""
    img = resize_longest(result, size) if size and max(result.size) > size else result
    content = content if content.size == img.size else content.resize(img.size, Image.Resampling.LANCZOS)
    targets = scorer.targets(src.styles, src.style_scale, max(img.size))
    return img, content, scorer.score(pil_to_tensor(img), pil_to_tensor(content), targets)


def _mean_distance(ds: Sequence[StyleDistance]) -> StyleDistance:
    keys = ds[0].per_layer
    return StyleDistance(
        {k: sum(d.per_layer[k] for d in ds) / len(ds) for k in keys}, sum(d.total for d in ds) / len(ds),
        ds[0].weights,
    )  # fmt: skip


def _score_image(
    scorer: Scorer, src: ResultSource, settings: EvaluateSettings
) -> tuple[ResultScore, list[Image.Image]]:
    original = load_image(src.path)
    img, content, (d, dc, closs, s) = _measure(scorer, src, original, load_image(src.content), settings.size)
    warn_if_unrelated(scorer, src, img, content, closs)
    rel, rel_layers = relative(d, dc)
    score = ResultScore(src, img.size, 1, d, dc, rel, rel_layers, closs, s, preview=img, content_preview=content)
    return _paired(score), [original]


def _paired(score: ResultScore) -> ResultScore:
    """``score`` with its layer-balanced style and the verdict that reads it with the SSIM."""
    score.balanced_style = layer_balanced(score.style, score.content_style)
    score.overall = pair_verdict(score.balanced_style, score.ssim)
    return score


def _score_video(
    scorer: Scorer, src: ResultSource, settings: EvaluateSettings
) -> tuple[ResultScore, list[Image.Image]]:
    from styleverse.video.flow import DEFAULT_PRESET
    from styleverse.video.steadiness import temporal_score  # optical flow (OpenCV): only for videos

    pairs = frame_pairs(src.path, src.kind, src.content, src.video, settings.max_frames)
    if pairs.truncated:
        log.info("%s: measuring the first %d frames (--max-frames)", src.path, settings.max_frames)
    temporal = temporal_score(zip(pairs.inputs, pairs.outputs, strict=True), src.video.flow or DEFAULT_PRESET)
    picks = sample_indices(len(pairs.outputs), settings.frames)
    judged = [Image.fromarray(pairs.outputs[i]) for i in picks]
    measured = [
        _measure(scorer, src, out, Image.fromarray(pairs.inputs[i]), settings.size)
        for out, i in zip(judged, picks, strict=True)
    ]
    scored = [m[2] for m in measured]
    warn_if_unrelated(scorer, src, measured[0][0], measured[0][1], scored[0][2])
    res_d, con_d, closs, ssims = zip(*scored, strict=True)
    d, dc = _mean_distance(res_d), _mean_distance(con_d)
    rel, rel_layers = relative(d, dc)
    mid = picks[len(picks) // 2]
    score = ResultScore(
        src, judged[0].size, len(picks), d, dc, rel, rel_layers, sum(closs) / len(closs), sum(ssims) / len(ssims),
        temporal=temporal, preview=Image.fromarray(pairs.outputs[mid]),
        content_preview=Image.fromarray(pairs.inputs[mid]),
    )  # fmt: skip
    return _paired(score), judged


def _intended(judge: UniverseJudge, src: ResultSource, settings: EvaluateSettings) -> str | None:
    if settings.universe is not None:
        return settings.universe
    from styleverse.styles.bank import load_bank

    banks = [b for b, _ in src.styles.banks]
    labels = [load_bank(b).settings.get("label") for b in banks]
    named = [x if isinstance(x, str) else None for x in labels]
    return intended_universe(judge.universes, named, banks, [p for p, _ in src.styles.images], src.fast_universe)


def _recorded_network(sources: Sequence[ResultSource]) -> tuple[BackboneInfo | None, str]:
    """The network to measure every result under (one, so their numbers compare), as the results record it:
    the first sidecar's, else the first style bank's (as ``stylize`` and ``video`` take it), and where it
    was found."""
    recorded = next((s.backbone for s in sources if s.backbone is not None), None)
    if recorded is not None:
        return recorded, "the first result's sidecar"
    bank = next((b for s in sources for b, _ in s.styles.banks), None)
    if bank is None:
        return None, "the first result's sidecar"
    from styleverse.styles.bank import load_bank

    return BackboneInfo.from_dict(load_bank(bank).backbone), f"the style bank {bank}"


def evaluate_sources(
    sources: Sequence[ResultSource],
    settings: EvaluateSettings | None = None,
    callback: Callback | None = None,
    labels: Sequence[str] | None = None,
    stop: Stop = never,
) -> Evaluation:
    """Measure described results (see the module doc); ``labels`` name them in pictures (default: file name).
    ``stop()`` is asked before each result: True raises :class:`~styleverse.cancel.Stopped`."""
    settings = settings or EvaluateSettings()
    settings.validate()
    device = resolve_device(settings.device)
    precision = resolve_precision(settings.precision, device)
    judge = UniverseJudge(settings.classifier, settings.device, precision) if settings.classifier else None
    if judge is not None:
        judge.check_universe(settings.universe)
        if judge.problems:
            log.warning("%s: no verdicts, the classifier is not trustworthy: %s", settings.classifier,
                        "; ".join(judge.problems))  # fmt: skip
    features = settings.features.resolve(*_recorded_network(sources), binding=False)
    model, info = build_model(**features.model_args())
    scorer = Scorer(model, info, device, precision)
    scores = []
    for i, src in enumerate(sources):
        if stop():
            raise Stopped(f"stopped after {i} of {len(sources)} results")
        score, seen = (_score_image if src.kind == "image" else _score_video)(scorer, src, settings)
        if judge is not None:
            score.verdict = judge.verdict(seen, _intended(judge, src, settings))
        score.seconds, score.peak_memory_bytes = src.seconds, src.peak_memory_bytes
        score.label = labels[i] if labels is not None else src.path.name
        scores.append(score)
        if callback is not None:
            callback(ResultScored(i + 1, len(sources), src.path))
    universes = judge.universes if judge is not None else None
    return Evaluation(scores, info, settings, str(device), precision, universes)


def evaluate(
    results: Sequence[str | Path],
    settings: EvaluateSettings | None = None,
    overrides: Overrides | None = None,
    callback: Callback | None = None,
    stop: Stop = never,
) -> Evaluation:
    """Describe every result first (so a bad one fails before any network runs), then measure them all."""
    if not results:
        raise ConfigError("give at least one result to evaluate")
    sources = [describe_result(r, overrides or Overrides()) for r in results]
    return evaluate_sources(sources, settings, callback, stop=stop)
