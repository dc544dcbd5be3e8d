"""The settings every network trainer shares, declared once (the run's tail), and their checks: one message
per mistake, naming the setting."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields, replace

import pytest

from styleverse.classifier.config import TrainConfig
from styleverse.errors import ConfigError
from styleverse.fast.adain.train import AdaINTrainConfig
from styleverse.fast.distill import DistillConfig
from styleverse.fast.gan.train import GanTrainConfig
from styleverse.fast.train import FastTrainConfig
from styleverse.io.state import fingerprint
from styleverse.training.settings import RunSettings, TrainerConfig

TRAINERS = {
    "fast": FastTrainConfig(("photos",), "m.safetensors", banks=("b.style.safetensors",)),
    "adain": AdaINTrainConfig(("photos",), ("styles",), "d.safetensors"),
}
MISTAKES = {
    "batch_size": ({"batch_size": 0}, "batch_size and steps must be >= 1"),
    "lr": ({"lr": float("nan")}, "lr must be a positive number"),
    "checkpoint_every": ({"checkpoint_every": -1}, "checkpoint_every/sample_every >= 0"),
    "resume": ({"resume": True, "overwrite": True}, "resume and overwrite contradict each other"),
    "style_weight": ({"style_weight": -1.0}, "style_weight must be a number >= 0"),
}


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_trainer_refuses_the_shared_mistakes_naming_the_setting(trainer: str, mistake: str) -> None:
    good = TRAINERS[trainer]
    good.validate()
    change, message = MISTAKES[mistake]
    with pytest.raises(ConfigError, match=message) as caught:
        replace(good, **change).validate()
    assert mistake in caught.value.settings


EVERY_TRAINER = {
    **TRAINERS,
    "distill": DistillConfig("t.safetensors", ("photos",), "s.safetensors"),
    "gan": GanTrainConfig(("photos",), ("frames",), "g.safetensors"),
}
NOT_FINGERPRINTED = {"device", "resume", "overwrite", "checkpoint_every", "sample_every"}


@pytest.mark.parametrize("trainer", sorted(EVERY_TRAINER))
def test_every_trainer_has_the_one_run_tail_keyword_only_with_its_own_checkpoint_default(trainer: str) -> None:
    cfg = EVERY_TRAINER[trainer]
    assert isinstance(cfg, TrainerConfig)
    assert cfg.checkpoint_every == (1000 if trainer in ("adain", "gan") else 200)  # a trainer's own default
    fp = fingerprint(cfg)
    assert {"seed", "precision"} <= fp.keys() and not NOT_FINGERPRINTED & fp.keys()
    record = cfg.to_dict()  # what a model file records: every setting, as plain JSON values
    assert record.keys() == {f.name for f in fields(cfg)} and json.loads(json.dumps(record)) == record
    params = inspect.signature(type(cfg)).parameters  # the tail is keyword-only, the trainer's own settings are not
    tail = {f.name for f in fields(TrainerConfig)}
    assert {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY} == tail


def test_the_classifier_shares_the_run_settings_and_may_resume_in_another_precision() -> None:
    cfg = TrainConfig("d", "o", seed=3, precision="fp32")
    assert isinstance(cfg, RunSettings) and not isinstance(cfg, TrainerConfig)
    fp = fingerprint(cfg)
    assert fp["seed"] == 3 and not {"precision", "device", "resume", "overwrite"} & fp.keys()
    assert cfg.to_dict()["hidden"] == list(cfg.hidden) and cfg.to_dict()["precision"] == "fp32"
    with pytest.raises(ConfigError, match="resume and overwrite contradict"):
        replace(cfg, resume=True, overwrite=True).validate()
