"""Shared flag groups: defaults come from the library's dataclasses, and flags build those dataclasses."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from styleverse.cli.common import fields_from
from styleverse.cli.flags import defaults, parse_mix
from styleverse.cli.main import build_parser
from styleverse.errors import ConfigError


def test_fields_from_takes_the_flags_named_after_fields_and_given_values_win() -> None:
    @dataclasses.dataclass(frozen=True)
    class Settings:
        a: int = 1
        b: int = 2
        c: int = 3

    args = argparse.Namespace(a=10, c=30, unrelated=5)
    assert Settings(**fields_from(args, Settings, c=99)) == Settings(10, 2, 99)


@pytest.mark.parametrize("command", ["fast", "adain"])
def test_a_trainer_parsed_without_flags_has_its_configs_defaults(command: str) -> None:
    from styleverse.fast.adain.train import AdaINTrainConfig
    from styleverse.fast.train import FastTrainConfig

    cls = FastTrainConfig if command == "fast" else AdaINTrainConfig
    args = build_parser().parse_args([command, "train", "--content", "c", "--style", "s", "-o", "m.safetensors"])
    want = {k: v for k, v in defaults(cls).items() if k in vars(args)}
    assert want and {k: getattr(args, k) for k in want} == want


def test_video_and_stylize_share_the_gatys_flags_with_their_own_defaults() -> None:
    from styleverse.transfer.config import TransferConfig
    from styleverse.video.config import GatysSettings

    parser = build_parser()
    stylize = parser.parse_args(["stylize", "c.png", "-o", "o.png"])
    video = parser.parse_args(["video", "in.mp4", "-o", "out.mp4"])
    for args, cls in ((stylize, TransferConfig), (video, GatysSettings)):
        d = cls()
        for name in ("optimizer", "content_weight", "style_weight", "tv_weight"):
            assert getattr(args, name) == getattr(d, name), name
        assert args.lr is None and args.style == [] and args.style_bank == []


def test_parse_mix_sums_repeated_universes_and_refuses_a_bad_weight() -> None:
    assert parse_mix("gwen", None) == "gwen"
    assert parse_mix(None, ["gwen:1", "miles:2", "gwen:0.5"]) == {"gwen": 1.5, "miles": 2.0}
    with pytest.raises(ConfigError, match="not a number"):
        parse_mix(None, ["gwen:x"])
