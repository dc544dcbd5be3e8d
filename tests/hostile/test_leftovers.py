"""The last leftovers of the hostile run: ``evaluate`` scoring a result against a photo it is not of, a failed
plot write whose advised ``--resume`` was refused, temporary files a killed plot write left, the classifier's
interrupt message. (Stale locks and work folders a kill leaves: tests/hostile/test_kill_at_write.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from fixtures.cli import one_error_line
from fixtures.images import make_image
from styleverse.errors import OutputError

UNRELATED = "does not look like a picture of its content"
NET = ("--backbone", "random", "--precision", "fp32")


def test_evaluate_warns_when_the_result_is_not_of_its_content(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    photo, other = make_image(tmp_path / "photo.png", (128, 96), 1), make_image(tmp_path / "other.png", (128, 96), 101)
    style = make_image(tmp_path / "style.png", (40, 40), 2)
    result = tmp_path / "result.png"
    Image.open(photo).filter(ImageFilter.GaussianBlur(2)).point(lambda v: v // 2 + 60).save(result)
    base = ["evaluate", result, "--style", style, *NET]
    code, _, err = cli(*base, "--content", photo, "-o", tmp_path / "a")
    assert code == 0 and UNRELATED not in err, err  # a changed picture of the photo: no warning
    code, _, err = cli(*base, "--content", other, "-o", tmp_path / "b")
    assert code == 0 and UNRELATED in err and "result.png" in err, err


def test_a_failed_plot_write_leaves_nothing_in_the_way_of_the_advised_resume(  # type: ignore[no-untyped-def]
    cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import styleverse.plots as plots

    out, plot = tmp_path / "r.png", tmp_path / "plots" / "loss.png"
    plot.parent.mkdir()
    args = ["stylize", images["content"], "--style", images["style_a"], "-o", out, "--plot", plot, "--size", "32",
            "--steps", "3", *NET, "--quiet"]  # fmt: skip

    def disk_full(fig, path, dpi=120):  # type: ignore[no-untyped-def]
        raise OutputError(f"{path}: cannot write (No space left on device)")

    monkeypatch.setattr(plots, "save_figure", disk_full)
    code, _, err = cli(*args)
    assert code == 2 and "--resume" in one_error_line(err), err
    assert not out.exists() and not out.with_name("r.png.json").exists()
    monkeypatch.undo()
    code, _, err = cli(*args, "--resume")
    assert code == 0, err
    assert out.is_file() and plot.is_file() and not (tmp_path / "r.png.resume.safetensors").exists()


def test_temporary_files_a_killed_plot_write_left_are_removed(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from styleverse.io.images import temp_beside

    plot = tmp_path / "plots" / "loss.png"
    plot.parent.mkdir()
    left = temp_beside(plot)  # what a SIGKILL during the plot's write leaves
    other = temp_beside(tmp_path / "plots" / "someone_else.png")
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", tmp_path / "r.png",
                       "--plot", plot, "--size", "32", "--steps", "2", *NET, "--quiet")  # fmt: skip
    assert code == 0, err
    assert plot.is_file() and not left.exists() and other.exists()


def test_the_classifier_interrupt_names_the_state_resume_continues(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It once named ``resume.pt``, a file styleverse no longer writes; it holds (the state is
    ``resume.safetensors``, and ``--resume`` finishes the run from it)."""
    from fixtures.classifier import make_universes
    from styleverse.classifier import train as mod

    data, run = make_universes(tmp_path / "ds", n=4), tmp_path / "run"
    real, calls = mod.ClassifierTask.losses, []

    def cut_at_2(self, batch, step):  # type: ignore[no-untyped-def]
        calls.append(step)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, batch, step)

    args = ["classifier", "train", data, "--out", run, "--init", "scratch", "--arch", "vgg16", "--width", "0.0625",
            "--size", "32", "--epochs", "2", "--precision", "fp32", "--device", "cpu", "--quiet"]  # fmt: skip
    monkeypatch.setattr(mod.ClassifierTask, "losses", cut_at_2)
    code, out, err = cli(*args)
    said = "".join((out + err).split("\n"))
    assert code == 130 and f"state saved in {run / 'resume.safetensors'}; rerun with --resume" in said, said
    assert "resume.pt " not in said and (run / "resume.safetensors").is_file()
    monkeypatch.undo()
    assert cli(*args, "--resume")[0] == 0
