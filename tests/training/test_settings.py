"""The checks every network trainer's settings share: one message per mistake, naming the setting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from styleverse.errors import ConfigError
from styleverse.fast.adain.train import AdaINTrainConfig
from styleverse.fast.train import FastTrainConfig

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
