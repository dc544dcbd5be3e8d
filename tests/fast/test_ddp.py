"""fast train under torchrun with two CPU processes (gloo): the ranks agree, and match one process whose batch
is the global batch (2 x per-process batch), because every process draws its share of the same global batch
and the loop averages gradients."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from fixtures.distributed import torchrun
from fixtures.fast import make_banks, make_photos, tiny
from styleverse.fast.model import TransformNet, load_model
from styleverse.fast.train import train_fast

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    from styleverse.fast.train import FastTrainConfig, train_fast
    from styleverse.nn.features import FeatureSpec

    torch.set_num_threads(1)
    raw = json.loads(sys.argv[1])
    raw["features"] = FeatureSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw["features"].items()})
    cfg = FastTrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    events = []
    result = train_fast(cfg, callback=lambda ev: events.append(type(ev).__name__))
    rank = os.environ["RANK"]
    out = os.path.join(sys.argv[2], f"rank{rank}")
    save_file({k: v.contiguous() for k, v in result.model.net.state_dict().items()}, out + ".safetensors")
    with open(out + ".json", "w") as f:
        json.dump({"events": events, "history": result.history}, f)
    """
)


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_global_batch(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    banks = make_banks(tmp_path / "banks")
    make_photos(tmp_path / "photos", 5)
    cfg = tiny(tmp_path, banks, steps=3, batch_size=2, width=4, output=str(tmp_path / "ddp.safetensors"))
    proc = torchrun(WORKER, tmp_path, json.dumps(asdict(cfg)), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]

    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for k in ranks[0]:
        assert torch.equal(ranks[0][k], ranks[1][k]), f"ranks differ in {k}"
    assert info[0]["events"] and not info[1]["events"], "only rank 0 reports progress"
    written = load_model(tmp_path / "ddp.safetensors").net.state_dict()
    assert all(torch.equal(written[k], ranks[0][k]) for k in written)

    torch.set_num_threads(1)
    single = train_fast(replace(cfg, batch_size=4, output=str(tmp_path / "single.safetensors")))
    for a, b in zip(info[0]["history"], single.history, strict=True):
        for k in ("total", "style", "content"):
            assert abs(a[k] - b[k]) <= 1e-5 * abs(b[k]), (k, a, b)
    # Compare what the networks compute, not their raw weights: some β (those a later instance norm cancels,
    # e.g. at the end of a residual block) get only rounding noise as gradient, which Adam turns into steps.
    ddp = TransformNet(single.model.net.spec)
    ddp.load_state_dict(ranks[0])
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(cfg.seed)
    fresh = TransformNet(single.model.net.spec)
    with torch.no_grad():
        for w in torch.eye(2):
            y_ddp, y_one, y_fresh = ddp(x, w), single.model.net(x, w), fresh(x, w)
            assert (y_ddp - y_one).abs().max() < 1e-3
            assert (y_one - y_fresh).abs().max() > 1e-2, "training moved nothing"
