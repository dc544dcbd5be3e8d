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


TRAIN_COMMANDS = {
    "fast": ["fast", "train", "--content", "c", "--style", "s", "-o", "m.safetensors"],
    "distill": ["fast", "distill", "t.safetensors", "--content", "c", "-o", "s.safetensors"],
    "adain": ["adain", "train", "--content", "c", "--style", "s", "-o", "m.safetensors"],
    "gan": ["gan", "train", "--content", "c", "--style", "s", "-o", "m.safetensors"],
}


def _config_class(command: str) -> type:
    from styleverse.fast.adain.train import AdaINTrainConfig
    from styleverse.fast.distill import DistillConfig
    from styleverse.fast.gan.train import GanTrainConfig
    from styleverse.fast.train import FastTrainConfig

    return {"fast": FastTrainConfig, "distill": DistillConfig, "adain": AdaINTrainConfig, "gan": GanTrainConfig}[
        command
    ]


@pytest.mark.parametrize("command", sorted(TRAIN_COMMANDS))
def test_a_trainer_parsed_without_flags_has_its_configs_defaults(command: str) -> None:
    from styleverse.training.settings import TrainerConfig

    cls = _config_class(command)
    args = build_parser().parse_args(TRAIN_COMMANDS[command])
    want = {k: v for k, v in defaults(cls).items() if k in vars(args)}
    assert want and {k: getattr(args, k) for k in want} == want
    assert {f.name for f in dataclasses.fields(TrainerConfig)} <= want.keys()  # the run's tail has every flag


def test_classifier_train_has_the_run_settings_flags_with_their_defaults() -> None:
    from styleverse.classifier.config import TrainConfig
    from styleverse.training.settings import RunSettings

    args = build_parser().parse_args(["classifier", "train", "d", "--out", "r"])
    run = {f.name for f in dataclasses.fields(RunSettings)} | {"checkpoint_every", "epochs", "lr", "init", "seed"}
    assert {k: getattr(args, k) for k in run} == {k: v for k, v in defaults(TrainConfig).items() if k in run}
    seeded = build_parser().parse_args(["classifier", "train", "d", "--out", "r", "--seed", "5", "--resume"])
    cfg = TrainConfig(**fields_from(seeded, TrainConfig))
    assert (cfg.seed, cfg.resume, cfg.overwrite, cfg.device) == (5, True, False, "auto")


def test_gan_train_builds_its_config_from_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    import styleverse.fast.gan.train as gan_train

    class Built(Exception):
        pass

    def train(cfg: object, *_a: object, **_k: object) -> None:
        raise Built(cfg)

    monkeypatch.setattr(gan_train, "train_gan", train)
    line = [*TRAIN_COMMANDS["gan"], "--label", "gwen", "miles", "--pool", "4", "--seed", "3", "--precision", "fp32"]
    args = build_parser().parse_args(line)
    with pytest.raises(Built) as built:
        args.func(args)
    want = gan_train.GanTrainConfig(
        ("c",), ("s",), "m.safetensors", ("gwen", "miles"), pool=4, seed=3, precision="fp32"
    )
    assert built.value.args[0] == want


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
