"""The entry point: every command listed, and only the command that runs gets imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from styleverse.cli.common import flag_names, run_command
from styleverse.cli.main import COMMANDS, build_parser
from styleverse.errors import ConfigError


def _help_lines(parser) -> dict[str, str]:  # type: ignore[no-untyped-def]
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.dest: a.help for a in sub._choices_actions}


def test_listed_help_is_what_each_command_registers() -> None:
    assert _help_lines(build_parser()) == COMMANDS
    assert _help_lines(build_parser(only=None)) == COMMANDS


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_top_level_help_loads_no_heavy_library() -> None:
    code = "from styleverse.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    loaded = _modules_after(code)
    assert "styleverse.cli.main" in loaded
    assert not {"torch", "matplotlib", "gradio", "cv2"} & loaded
    assert not {f"styleverse.cli.{name}" for name in COMMANDS} & loaded


def test_a_command_imports_only_its_own_module() -> None:
    code = "from styleverse.cli.main import main\ntry:\n    main(['frames', '--help'])\nexcept SystemExit:\n    pass"
    loaded = {m for m in _modules_after(code) if m.startswith("styleverse.cli.") and m[15:] in COMMANDS}
    assert loaded == {"styleverse.cli.frames"}


def test_no_command_or_an_unknown_one_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli()
    assert code == 2 and "COMMAND" in err
    code, _, err = cli("stylise-it")
    assert code == 2 and "invalid choice" in err


def test_an_error_says_the_settings_it_names_as_the_flags_of_the_command_that_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser(only="video")
    args = parser.parse_args(["video", "in.mp4", "--style", "s.png", "-o", "out.mp4"])
    flags = flag_names(parser, args)
    assert flags["steps_first"] == "--steps-first" and flags["temporal_weight"] == "--temporal-weight"
    assert "tol_window" not in flags and "dedup_threshold" not in flags  # no such flag / another command's

    def fail(_: object) -> None:
        names = ("steps_first", "steps", "tol_window")
        raise ConfigError("steps_first and steps must be at least 1; tol_window too", names)

    assert run_command(fail, args, flags) == 2
    err = capsys.readouterr().err
    assert err == "styleverse: error: --steps-first and --steps must be at least 1; tol_window too\n"
