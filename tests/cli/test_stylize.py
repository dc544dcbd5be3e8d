"""`styleverse stylize` end to end on tiny inputs: outputs, sidecar, guards, bad flags, resume."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.cli import one_error_line
from fixtures.images import image_folder, make_image

FAST = ["--size", "32", "--steps", "3", "--backbone", "random", "--precision", "fp32", "--quiet"]


def test_full_run_writes_image_sidecar_plot_and_snapshots(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out" / "result.jpg"
    code, _, err = cli(
        "stylize", images["content"], "--style", images["style_a"], images["style_b"], "--style-weights", "3", "1",
        "-o", out, "--plot", tmp_path / "loss.png", "--save-every", "1", *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert Image.open(out).format == "JPEG" and Image.open(out).size == (32, 27)
    side = json.loads((tmp_path / "out" / "result.jpg.json").read_text())
    assert side["backbone"]["source"] == "random" and side["steps_run"] == 3
    assert [s["weight"] for s in side["styles"]] == [3.0, 1.0]
    assert set(side["final_losses"]) >= {"style", "content", "total", "tv"} and side["seconds"] > 0
    assert side["peak_memory_bytes"] > 10 * 2**20 and side["peak_memory_kind"].startswith("process resident")
    assert side["versions"]["torch"] and side["config"]["steps"] == 3
    assert Image.open(tmp_path / "loss.png").size[0] > 200
    snaps = sorted(p.name for p in (tmp_path / "out" / "result_snapshots").iterdir())
    assert snaps == ["step_00001.png", "step_00002.png", "step_00003.png", "strip.png"]
    assert not list(tmp_path.glob("out/.*"))  # no temp files left


def test_existing_output_is_kept_unless_overwrite(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.png"
    out.write_bytes(b"precious")
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", out, *FAST)
    assert code == 2 and "already exists" in one_error_line(err) and out.read_bytes() == b"precious"
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", out, "--overwrite", *FAST)
    assert code == 0, err
    assert Image.open(out).size == (32, 27)


def test_output_equal_to_input_is_refused(cli, images) -> None:  # type: ignore[no-untyped-def]
    before = images["style_a"].read_bytes()
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", images["style_a"], *FAST)
    assert code == 2 and "also an input" in one_error_line(err)
    assert images["style_a"].read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "0"], "expected a number >= 1"),
        (["--size", "abc"], "expected a whole number"),
        (["--style-weights", "1", "2"], "one per style"),
        (["--style-weight", "-3"], "expected a finite number >= 0"),
        (["--optimizer", "sgd"], "invalid choice"),
        (["--style-layers", "relu9_1"], "unknown layer"),
        (["--init", "missing.png"], "no such file"),
        (["--backbone", "nowhere.safetensors"], "not found"),
        (["--device", "cuda:7"], "cuda"),
        (["--size", "8"], "between 16 and"),
    ],
)
def test_bad_flags_are_one_line_and_status_2(cli, images, tmp_path: Path, extra: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.png"
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", out, *FAST, *extra)
    assert code == 2 and message in one_error_line(err), err
    assert not out.exists() and not (tmp_path / "o.png.json").exists()


def test_bad_inputs_are_one_line_and_status_2(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    cases = [
        ([images["content"], "--style", tmp_path / "nope.png"], "no such file"),
        ([empty, "--style", images["style_a"]], "empty"),
        ([images["content"]], "at least one style"),
    ]
    for args, message in cases:
        code, _, err = cli("stylize", *args, "-o", tmp_path / "o.png", *FAST)
        assert code == 2 and message in one_error_line(err)
    # the library names settings (``scales``); the CLI says them as its flags
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", tmp_path / "o.png",
                       *FAST, "--scales", "8")  # fmt: skip
    assert code == 2 and "sizes (--size, --scales) must be between 16" in one_error_line(err)
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", tmp_path / "o.xyz", *FAST)
    assert code == 2 and "extension" in one_error_line(err)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", blocker / "o.png", *FAST)
    assert code == 2 and "cannot write" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "file", "in"]


def test_help_documents_every_flag_with_its_default(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("stylize", "--help")
    assert code == 0
    flags = set(re.findall(r"(--[a-z][a-z-]+)", out))
    assert {"--style", "--style-weights", "--size", "--steps", "--backbone", "--plot", "--save-every"} <= flags
    assert {"--precision", "--seed", "--scales", "--preserve-color", "--init", "--optimizer", "--lr"} <= flags
    text = " ".join(out.split())
    defaults = ("(default: 512)", "(default: 200)", "(default: 0.008)", "(default: 0.01)", "(default: imagenet)")
    for default in (*defaults, "(default: lbfgs)", "(default: auto)"):
        assert default in text


def _yiq(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64) / 255
    m = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    return a @ m.T


def test_preserve_color_luminance_keeps_content_chroma(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lum.png"
    args = ["stylize", images["content"], "--style", images["style_a"], "-o", out, *FAST]
    assert cli(*args, "--preserve-color", "luminance", "--style-weight", "1e9")[0] == 0
    content = Image.open(images["content"]).convert("RGB").resize((32, 27), Image.Resampling.BICUBIC)
    diff = np.abs(_yiq(Image.open(out))[..., 1:] - _yiq(content)[..., 1:]).mean()
    assert diff < 0.03, diff
    assert cli(*args[: -len(FAST)], "--overwrite", *FAST, "--preserve-color", "histogram")[0] == 0


def test_interrupt_then_resume_finishes_the_run(cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from styleverse.cli import stylize as mod
    from styleverse.transfer.config import StepEvent

    real = mod.StepReporter.__call__

    def interrupt_at_3(self, ev):  # type: ignore[no-untyped-def]
        real(self, ev)
        if isinstance(ev, StepEvent) and ev.step == 3:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: the run stops before step 4 and saves its state

    out = tmp_path / "r.png"
    args = ["stylize", images["content"], "--style", images["style_a"], "-o", out, *FAST, "--steps", "5"]
    monkeypatch.setattr(mod.StepReporter, "__call__", interrupt_at_3)
    code, _, err = cli(*args)
    assert code == 130 and not out.exists() and (tmp_path / "r.png.resume.safetensors").exists()
    assert "Ctrl-C: stopping after this step" in err and "interrupted; state saved to" in err
    monkeypatch.setattr(mod.StepReporter, "__call__", real)
    code, _, err = cli(*args, "--steps", "6", "--resume")
    assert code == 2 and "different settings" in one_error_line(err)
    code, _, err = cli(*args, "--resume")
    assert code == 0, err
    side = json.loads((tmp_path / "r.png.json").read_text())
    assert side["resumed_from_step"] == 3 and side["steps_run"] == 5
    assert not (tmp_path / "r.png.resume.safetensors").exists()


def test_nan_keeps_last_good_image_and_says_so(cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import styleverse.transfer.optimize as tr

    real, calls = tr.style_loss, {"n": 0}

    def flaky(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(*a, **k) * (float("inf") if calls["n"] >= 3 else 1.0)

    monkeypatch.setattr(tr, "style_loss", flaky)
    out = tmp_path / "n.png"
    code, _, err = cli(
        "stylize", images["content"], "--style", images["style_a"], "-o", out, *FAST, "--optimizer", "adam"
    )
    assert code == 2 and "NaN/inf at step 3" in one_error_line(err)
    assert Image.open(out).size == (32, 27)
    assert json.loads((tmp_path / "n.png.json").read_text())["diverged_at_step"] == 3


def test_init_image_and_folder_styles(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = image_folder(tmp_path / "universe", 2, seed=10)
    out = tmp_path / "f.png"
    code, _, err = cli("stylize", images["content"], "--style", folder, "--init", images["style_b"], "-o", out, *FAST)
    assert code == 0, err
    side = json.loads((tmp_path / "f.png.json").read_text())
    assert [s["weight"] for s in side["styles"]] == [0.5, 0.5]


def test_style_bank_gives_the_same_run_as_its_images(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / "u.style.safetensors"
    styles = [images["style_a"], images["style_b"]]
    code, _, err = cli("styles", "bank", *styles, "-o", bank, "--backbone", "random", "--size", "32", "--quiet")
    assert code == 0, err
    a, b = tmp_path / "from_images.png", tmp_path / "from_bank.png"
    assert cli("stylize", images["content"], "--style", *styles, "-o", a, *FAST)[0] == 0
    code, _, err = cli("stylize", images["content"], "--style-bank", bank, "-o", b, *FAST)
    assert code == 0, err
    la = json.loads((tmp_path / "from_images.png.json").read_text())["final_losses"]
    lb = json.loads((tmp_path / "from_bank.png.json").read_text())["final_losses"]
    assert lb["style"] == pytest.approx(la["style"], rel=1e-3)
    diff = np.abs(np.asarray(Image.open(a), dtype=float) - np.asarray(Image.open(b), dtype=float)).max()
    assert diff <= 2, diff
    mixed = tmp_path / "mixed.png"
    code, _, err = cli(
        "stylize", images["content"], "--style", images["style_c"], "--style-bank", bank,
        "--style-weights", "1", "3", "-o", mixed, *FAST,
    )  # fmt: skip
    assert code == 0, err
    side = json.loads((tmp_path / "mixed.png.json").read_text())
    assert side["style_banks"] == [{"path": str(bank), "weight": 3.0}]
    code, _, err = cli(
        "stylize", images["content"], "--style-bank", bank, "-o", tmp_path / "x.png", *FAST, "--pooling", "avg"
    )
    assert code == 2 and "pooling" in one_error_line(err)
    code, _, err = cli(
        "stylize", images["content"], "--style-bank", bank, "--style-weights", "1", "2", "-o", tmp_path / "y.png", *FAST
    )
    assert code == 2 and "one per style" in one_error_line(err)
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_bank_precision_is_part_of_its_compatibility(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A bank computed in bf16 is refused by a float32 run with a message that says how to fix it; a float32
    bank (what `auto` builds) serves a bf16 run too."""
    bf16, fp32 = tmp_path / "b.style.safetensors", tmp_path / "f.style.safetensors"
    common = ["--backbone", "random", "--size", "32", "--quiet"]
    assert cli("styles", "bank", images["style_a"], "-o", bf16, "--precision", "bf16", *common)[0] == 0
    assert cli("styles", "bank", images["style_a"], "-o", fp32, *common)[0] == 0
    code, _, err = cli("stylize", images["content"], "--style-bank", bf16, "-o", tmp_path / "x.png", *FAST)
    line = one_error_line(err)
    assert code == 2 and "bf16" in line and "--precision fp32" in line
    assert not (tmp_path / "x.png").exists()
    fast_bf16 = [a if a != "fp32" else "bf16" for a in FAST]
    for bank, out in ((bf16, "y.png"), (fp32, "z.png")):
        code, _, err = cli("stylize", images["content"], "--style-bank", bank, "-o", tmp_path / out, *fast_bf16)
        assert code == 0, err


def test_style_bank_brings_its_own_backbone(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without --backbone, a bank run uses the network the bank records (no ImageNet download is tried); an
    explicit different --backbone still gets the mismatch error."""
    bank = tmp_path / "u.style.safetensors"
    code, _, err = cli("styles", "bank", images["style_a"], "-o", bank, "--backbone", "random", "--seed", "7",
                       "--size", "32", "--quiet")  # fmt: skip
    assert code == 0, err
    no_backbone = ["--size", "32", "--steps", "2", "--precision", "fp32", "--quiet"]
    out = tmp_path / "o.png"
    code, _, err = cli("stylize", images["content"], "--style-bank", bank, "-o", out, *no_backbone)
    assert code == 0, err
    side = json.loads((tmp_path / "o.png.json").read_text())
    assert side["backbone"]["source"] == "random" and side["backbone"]["seed"] == 7
    code, _, err = cli("stylize", images["content"], "--style-bank", bank, "-o", tmp_path / "p.png", *FAST)
    assert code == 2 and "made with backbone" in one_error_line(err)


def test_each_bank_file_is_read_once(cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A stylise run reads a bank once for the network it records and the targets it holds (and a video run
    the same, through the same job functions)."""
    import styleverse.styles.bank as bank_module

    bank = tmp_path / "u.style.safetensors"
    common = ["--backbone", "random", "--size", "32", "--quiet"]
    assert cli("styles", "bank", images["style_a"], "-o", bank, *common)[0] == 0
    read: list[Path] = []
    real = bank_module._read
    monkeypatch.setattr(bank_module, "_read", lambda p: read.append(p) or real(p))
    no_backbone = ["--size", "32", "--steps", "2", "--precision", "fp32", "--quiet"]
    code, _, err = cli("stylize", images["content"], "--style-bank", bank, "-o", tmp_path / "o.png", *no_backbone)
    assert code == 0, err
    assert read == [bank]


def test_plot_equal_to_output_and_bad_plot_extension_are_refused_up_front(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.png"
    for plot, message in ((out, "same path as"), (tmp_path / "curves.xyz", "extension must be")):
        code, _, err = cli("stylize", images["content"], "--style", images["style_a"], "-o", out, "--plot", plot,
                           *FAST)  # fmt: skip
        assert code == 2 and message in one_error_line(err)
        assert not out.exists()


def test_snapshot_dir_over_a_style_folder_is_refused(cli, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "universe"
    folder.mkdir()
    make_image(folder / "step_00001.png", seed=5)
    before = (folder / "step_00001.png").read_bytes()
    code, _, err = cli("stylize", images["content"], "--style", folder, "-o", tmp_path / "o.png", "--save-every", "1",
                       "--snapshot-dir", folder, "--overwrite", *FAST)  # fmt: skip
    assert code == 2 and "holds the input" in one_error_line(err)
    assert (folder / "step_00001.png").read_bytes() == before
