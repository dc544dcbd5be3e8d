"""What a stylise result records beside itself (``OUT.png.json``): :class:`StylizeSidecar`.

Written by :func:`styleverse.transfer.job.run_stylize` (and, for a feed-forward or AdaIN result, by
``evaluate --sweep``), read back by ``evaluate`` (:mod:`styleverse.evaluation.sources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from styleverse.styles.record import ResultRecord, Weighted, integer, obj, text, weighted, weighted_json

FINAL_LOSSES_OF = "saved image (clamped to [0,1], 8-bit), float32"


@dataclass(frozen=True, kw_only=True)
class StylizeSidecar(ResultRecord):
    """A stylised image's record: the style images (folders expanded) and banks with the weights they were
    used at, the optimiser ``config``, where and why it stopped, its losses, and (for a network's result)
    the ``method`` and ``model`` that made it."""

    styles: tuple[Weighted, ...] = ()
    style_banks: tuple[Weighted, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    device_used: str | None = None
    steps_run: int | None = None
    final_losses: dict[str, float] = field(default_factory=dict)
    iterate_losses: dict[str, float] = field(default_factory=dict)
    stop_reason: str | None = None
    stopped_at_step: int | None = None
    scales_run: tuple[dict[str, Any], ...] = ()
    precision_used: str | None = None
    diverged_at_step: int | None = None
    resumed_from_step: int | None = None
    method: str | None = None  # None: Gatys optimisation with config's optimizer
    model: str | None = None

    @property
    def method_name(self) -> str:
        """What made the result: the recorded method, else ``gatys OPTIMIZER``."""
        return self.method or f"gatys {self.config.get('optimizer', '?')}"

    def to_json(self) -> dict[str, Any]:
        """The sidecar as written; ``method`` and ``model`` only where set."""
        made_by = {k: v for k, v in (("method", self.method), ("model", self.model)) if v is not None}
        return {
            "output": self.output, "content": self.content, **made_by,
            "styles": weighted_json(self.styles), "style_banks": weighted_json(self.style_banks),
            "settings": self.settings, "config": self.config,
            "backbone": self.backbone.to_dict() if self.backbone is not None else None,
            "device_used": self.device_used, "steps_run": self.steps_run,
            "final_losses": self.final_losses, "final_losses_of": FINAL_LOSSES_OF,
            "iterate_losses": self.iterate_losses, "stop_reason": self.stop_reason,
            "stopped_at_step": self.stopped_at_step, "scales_run": list(self.scales_run),
            "precision_used": self.precision_used,
            **self.cost_json(),
            "diverged_at_step": self.diverged_at_step, "resumed_from_step": self.resumed_from_step,
            "versions": self.versions,
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StylizeSidecar:
        """The record a sidecar holds; missing or malformed keys take their defaults, unknown ones are ignored.
        A style entry that is not ``{path, weight}`` is a one-line :class:`InputError`."""
        settings = obj(d, "settings")
        return cls(
            **cls.common(d, settings, "content"),
            styles=weighted(d.get("styles"), "style image"),
            style_banks=weighted(d.get("style_banks"), "bank"),
            config=obj(d, "config"),
            device_used=text(d.get("device_used")),
            steps_run=integer(d.get("steps_run")),
            final_losses=_losses(d.get("final_losses")),
            iterate_losses=_losses(d.get("iterate_losses")),
            stop_reason=text(d.get("stop_reason")),
            stopped_at_step=integer(d.get("stopped_at_step")),
            scales_run=tuple(s for s in d.get("scales_run") or () if isinstance(s, dict)),
            precision_used=text(d.get("precision_used")),
            diverged_at_step=integer(d.get("diverged_at_step")),
            resumed_from_step=integer(d.get("resumed_from_step")),
            method=text(d.get("method")),
            model=text(d.get("model")),
        )


def _losses(x: object) -> dict[str, float]:
    """A recorded ``{term: value}`` with its numbers (a non-finite value is kept as written, NaN or inf)."""
    if not isinstance(x, dict):
        return {}
    return {str(k): float(v) for k, v in x.items() if isinstance(v, int | float) and not isinstance(v, bool)}
