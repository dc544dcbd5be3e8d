"""Errors name settings by their library names; a front end words them its own way."""

from __future__ import annotations

from styleverse.errors import ConfigError, InputError

FLAGS = {"resume": "--resume", "size": "--size", "steps_first": "--steps-first", "steps": "--steps"}


def test_each_setting_named_as_a_word_is_said_the_front_ends_way() -> None:
    e = ConfigError("steps_first and steps must be at least 1", ("steps_first", "steps"))
    assert e.worded(FLAGS.get) == "--steps-first and --steps must be at least 1"
    assert str(e) == "steps_first and steps must be at least 1"  # the library's own wording is unchanged
    assert e.worded(lambda s: None) == str(e)


def test_a_setting_inside_a_path_or_another_word_is_left_alone() -> None:
    e = ConfigError("resume: /size/b.resume.safetensors was saved with other sizes; pass resume", ("resume", "size"))
    assert e.worded(FLAGS.get) == "--resume: /size/b.resume.safetensors was saved with other sizes; pass --resume"
    e = ConfigError("size 4096 needs about 9.0 GiB; lower size.", "size")
    assert e.worded(FLAGS.get) == "--size 4096 needs about 9.0 GiB; lower --size."


def test_errors_without_settings_are_their_message() -> None:
    assert InputError("a.png: not an image").worded(FLAGS.get) == "a.png: not an image"
    assert ConfigError("give a style").settings == ()
