"""A bank built by two processes under torchrun (gloo on CPU) equals the one-process bank within float32
rounding, and a build whose rank was killed continues with --resume to the same bank."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from fixtures.distributed import torchrun
from fixtures.images import noise_image
from styleverse.styles.bank import load_bank
from styleverse.styles.targets import RunningSums, merge_sums

WORKER = textwrap.dedent(
    """
    import os, sys
    from styleverse.cli.main import main
    from styleverse.styles import stream

    if os.environ.get("KILL_RANK") == os.environ["RANK"]:
        plain, seen = stream.image_grams, []

        def grams(*a, **k):
            seen.append(1)
            if len(seen) == 3:
                os._exit(9)  # killed after two images of its share (saved: --checkpoint-every 1)
            return plain(*a, **k)

        stream.image_grams = grams
    sys.exit(main(["styles", *sys.argv[1:], "--backbone", "random", "--precision", "fp32", "--quiet"]))
    """
)


def test_merged_sums_are_the_sums_of_all_images() -> None:
    g = [{"relu1_1": torch.full((2, 2), float(i))} for i in range(4)]
    one = RunningSums()
    for x in g:
        one = one.add(x, 1.0)
    parts = [RunningSums().add(g[0], 1.0).add(g[2], 1.0), RunningSums().add(g[1], 1.0).add(g[3], 1.0), RunningSums()]
    merged = merge_sums(parts)
    assert (
        merged.count == 4 and merged.weight == one.weight and torch.equal(merged.total["relu1_1"], one.total["relu1_1"])
    )
    assert merge_sums([RunningSums()]).count == 0


@pytest.mark.slow
def test_two_processes_build_the_one_process_bank_and_resume_after_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "set"
    for i in range(9):
        noise_image(folder / f"f{i}.png", 40 + i)
    common = ["--size", "32", "--checkpoint-every", "1"]
    one = torchrun(WORKER, tmp_path, "bank", str(folder), "-o", str(tmp_path / "one.safetensors"), *common, nproc=1)
    assert one.returncode == 0, one.stderr[-3000:]

    out = tmp_path / "two.safetensors"
    monkeypatch.setenv("KILL_RANK", "1")
    killed = torchrun(WORKER, tmp_path, "bank", str(folder), "-o", str(out), *common)
    assert killed.returncode != 0 and not out.exists()
    assert (tmp_path / "two.safetensors.resume.1of2.safetensors").is_file()
    monkeypatch.delenv("KILL_RANK")
    again = torchrun(WORKER, tmp_path, "bank", str(folder), "-o", str(out), *common, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not list(tmp_path.glob("two.safetensors.resume*"))

    a, b = load_bank(tmp_path / "one.safetensors"), load_bank(out)
    assert a.count == b.count == 9 and a.layers == b.layers and b.weight_sum == pytest.approx(a.weight_sum, rel=1e-12)
    for k in a.layers:
        torch.testing.assert_close(b.mean[k], a.mean[k], rtol=1e-6, atol=0)  # the stated tolerance
        assert b.sq_norm_sum[k] == pytest.approx(a.sq_norm_sum[k], rel=1e-12)
    assert a.stats is not None and b.stats is not None
    for k in a.stats:
        torch.testing.assert_close(b.stats[k].mean, a.stats[k].mean, rtol=1e-6, atol=0)
