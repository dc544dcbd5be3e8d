"""``--quality draft|balanced|best``: the fields each level sets, what the user set on purpose wins, and best's
float32 polish runs one more pass at the full size in float32."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.cli import one_error_line
from styleverse.errors import ConfigError
from styleverse.transfer.config import QUALITY, TransferConfig, with_quality
from styleverse.transfer.optimize import StyleTransfer


def test_levels_set_their_fields_and_keep_what_was_chosen() -> None:
    base = TransferConfig()
    assert with_quality(base, "balanced") == base
    draft = with_quality(base, "draft")
    assert (draft.steps, draft.tol) == (QUALITY["draft"]["steps"], QUALITY["draft"]["tol"]) and draft.steps < base.steps
    best = with_quality(TransferConfig(steps=7), "best", keep={"steps"})
    assert best.polish and best.steps == 7 and best.sizes == (256, 512, 512)
    with pytest.raises(ConfigError, match="quality must be one of draft, balanced, best"):
        with_quality(base, "ultra")


def test_polish_is_a_float32_pass_at_full_size(tiny) -> None:  # type: ignore[no-untyped-def]
    model, content, styles = tiny
    cfg = TransferConfig(steps=4, scales=(24, 48), precision="bf16", polish=True, tol=0.0)
    result = StyleTransfer(model, cfg).run(content, styles)
    assert [(max(s["size"]), s["precision"]) for s in result.scales] == [(24, "bf16"), (48, "bf16"), (48, "fp32")]
    assert result.stopped_at == 12


def test_cli_quality(cli: Callable[..., tuple[int, str, str]], images: dict[str, Path], tmp_path: Path) -> None:
    base = ["stylize", images["content"], "--style", images["style_a"], "--size", "32", "--backbone", "random",
            "--precision", "fp32", "--quiet"]  # fmt: skip
    code, _, err = cli(*base, "--quality", "best", "--steps", "2", "-o", tmp_path / "b.png")
    assert code == 0, err
    side = json.loads((tmp_path / "b.png.json").read_text())
    assert side["config"]["polish"] and side["config"]["steps"] == 2 and side["config"]["sizes"] == [32, 32]
    code, _, err = cli(*base, "--quality", "ultra", "-o", tmp_path / "x.png")
    assert code == 2 and "invalid choice" in one_error_line(err)
