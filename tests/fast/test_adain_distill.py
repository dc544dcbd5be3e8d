"""``adain distill``: a small encoder learns the teacher VGG's features, the decoder is tuned on them, the
result opens and stylises as any AdaIN model does, a stopped run resumes bit for bit, and bad teachers are
refused in one line (tiny random VGG of 1/16 width, 32 px crops)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures.app import make_ctx, upload
from fixtures.cli import one_error_line
from fixtures.images import image_folder
from fixtures.networks import adain_model, fast_model
from styleverse.app import realtime
from styleverse.fast.adain.distill import AdaINDistillConfig, compare, distill_adain
from styleverse.fast.adain.export import export_onnx
from styleverse.fast.adain.model import load_adain
from styleverse.fast.open import StylizerSpec, open_stylizer

Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    image_folder(tmp_path / "photos", 4, (48, 40), "p{i}.png")
    image_folder(tmp_path / "styles", 3, (44, 44), "s{i}.png", seed=10)
    adain_model(tmp_path / "teacher.safetensors")
    return tmp_path


def config(root: Path, out: str = "small.safetensors", **kw: object) -> AdaINDistillConfig:
    base = AdaINDistillConfig(
        str(root / "teacher.safetensors"), (str(root / "photos"),), (str(root / "styles"),), str(root / out),
        width=4, blocks=1, size=32, load_size=40, batch_size=2, steps=6, encoder_steps=3, lr=1e-2,
        decoder_lr=1e-3, precision="fp32", device="cpu", checkpoint_every=0,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_student_learns_the_features_and_the_model_opens_as_any_decoder(root: Path) -> None:
    result = distill_adain(config(root, steps=40, encoder_steps=30))
    feature = [h["feature"] for h in result.history]
    assert sum(feature[-5:]) < 0.6 * sum(feature[:5]), feature
    assert all(h["content"] == 0 for h in result.history[:30]) and all(h["content"] > 0 for h in result.history[30:])
    teacher, small = load_adain(root / "teacher.safetensors"), load_adain(root / "small.safetensors")
    assert small.student is not None and small.student.width == 4 and small.student.channels == (4, 8, 16, 32)
    assert small.encoder == teacher.encoder and small.spec == teacher.spec and small.step == 40
    spec = StylizerSpec(str(root / "small.safetensors"), styles=(str(root / "styles" / "s0.png"),), style_size=32)
    stylizer = open_stylizer(spec, ("adain_decoder",))
    frame = torch.rand(1, 3, 36, 44, generator=torch.Generator().manual_seed(0))
    out = stylizer(frame)
    assert out.shape == frame.shape and bool(torch.isfinite(out).all()) and float(out.std()) > 0
    photos, styles = [frame[..., :32, :40]], [torch.rand(1, 3, 32, 32)]
    gap = compare(teacher, small, photos, styles)[0]
    assert gap.pixel > 0 and min(gap.style + gap.content) >= 0
    assert compare(teacher, teacher, photos, styles)[0].pixel == 0
    ctx = make_ctx(root)  # the app's Real time tab takes it as it takes any decoder
    model, photo = upload(ctx, root / "small.safetensors"), upload(ctx, root / "photos" / "p1.png")
    req = realtime.Request(None, model, photo, style_uploads=(upload(ctx, root / "styles" / "s1.png"),), size=32)
    assert realtime.Realtime(ctx).render(req)[0].size == (32, 27)


def test_a_narrower_decoder_is_new_and_trained_and_exports_to_onnx(root: Path) -> None:
    result = distill_adain(config(root, decoder_width=1 / 32, steps=4, encoder_steps=1))
    small = load_adain(root / "small.safetensors")
    assert result.model.spec.width == 1 / 32 and small.spec.width == 1 / 32 and small.student is not None
    ort = pytest.importorskip("onnxruntime")
    content, style = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        want = small.net(content, *small.net.style_stats(style)).clamp(0, 1).numpy()
    session = ort.InferenceSession(str(export_onnx(small, root / "s.onnx")), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"content": content.numpy(), "style": style.numpy(), "alpha": np.ones(1, np.float32)})
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-3


def test_resumed_run_equals_an_uninterrupted_one(root: Path) -> None:
    straight = distill_adain(config(root, "a.safetensors"))
    calls: list[int] = []
    first = distill_adain(config(root, "b.safetensors"), stop=lambda: calls.append(1) or len(calls) == 4)
    assert first.interrupted and first.model.step == 4  # stopped in the decoder's phase
    resumed = distill_adain(config(root, "b.safetensors", resume=True))
    assert [h["total"] for h in resumed.history] == [h["total"] for h in straight.history]
    a, b = (load_adain(root / f"{n}.safetensors").net.state_dict() for n in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(Exception, match="encoder_steps: 3 then, 2 now"):
        distill_adain(config(root, "b.safetensors", resume=True, encoder_steps=2))


def test_cli_help_and_one_line_refusals(root: Path, cli: Cli) -> None:
    code, out, _ = cli("adain", "distill", "--help")
    assert code == 0 and "--decoder-width" in out and "--encoder-steps" in out and "(default: 32)" in out
    args = ["--content", root / "photos", "--style", root / "styles", "--width", "4", "--blocks", "1", "--size", "32",
            "--load-size", "40", "--batch-size", "2", "--steps", "2", "--encoder-steps", "1", "--device", "cpu",
            "--precision", "fp32", "--quiet"]  # fmt: skip
    code, out, err = cli("adain", "distill", root / "teacher.safetensors", "-o", root / "s.safetensors", *args)
    assert code == 0 and "encoder width 4 x 1 blocks" in out, err
    code, _, err = cli("adain", "apply", root / "s.safetensors", root / "photos" / "p0.png", "-o", root / "o.png",
                       "--style", root / "styles" / "s1.png", "--size", "40", "--quiet")  # fmt: skip
    assert code == 0 and (root / "o.png").is_file(), err
    fast = fast_model(root / "fast.safetensors")
    cases = {
        "not a styleverse AdaIN decoder": (fast, []),
        "is itself distilled": (root / "s.safetensors", []),
        "multiple of 8": (root / "teacher.safetensors", ["--size", "30"]),
    }
    for needle, (teacher, extra) in cases.items():
        code, _, err = cli("adain", "distill", teacher, "-o", root / "x.safetensors", *args, *extra)
        assert code == 2 and needle in one_error_line(err), (needle, err)
    assert not (root / "x.safetensors").exists()
