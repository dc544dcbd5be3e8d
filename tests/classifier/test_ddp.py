"""DistributedDataParallel with two CPU processes (gloo), started the way users start it: ``torchrun``.

Each rank trains one epoch of a tiny classifier and dumps its own final weights; the ranks must agree
exactly, and match a single-process run whose batch equals the global batch (2 x per-process batch).
Dropout is set to 0 for the comparison: each rank draws its own dropout masks (seeded per rank), so
with dropout the two-process run is a different, equally valid, random run.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fixtures.classifier import make_universes, tiny
from fixtures.distributed import torchrun
from styleverse.classifier.model import UniverseClassifier, init_weights
from styleverse.classifier.train import train

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    from styleverse.classifier.train import TrainConfig, train

    torch.set_num_threads(1)
    cfg = TrainConfig(**json.loads(sys.argv[1]))
    events = []
    result = train(cfg, callback=lambda ev: events.append(type(ev).__name__))
    rank = int(os.environ["RANK"])
    out = os.path.join(sys.argv[2], f"rank{rank}")
    state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, out + ".safetensors")
    with open(out + ".json", "w") as f:
        json.dump({"events": events, "history": result.history, "world": os.environ["WORLD_SIZE"]}, f)
    """
)


@pytest.mark.slow
def test_two_processes_agree_and_match_one_process_with_the_global_batch(tmp_path: Path) -> None:
    data = make_universes(tmp_path / "data", 8)
    per_rank = dict(epochs=1, batch_size=3, dropout=0.0, lr=1e-3, workers=0)
    cfg = tiny(data, tmp_path / "ddp", **per_rank)
    settings = {**cfg.to_dict(), "hidden": list(cfg.hidden)}
    proc = torchrun(WORKER, tmp_path, json.dumps(settings), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]

    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert info[0]["world"] == "2"
    for k in ranks[0]:
        assert torch.equal(ranks[0][k], ranks[1][k]), f"ranks differ in {k}"
    assert info[0]["events"] and not info[1]["events"], "only rank 0 reports progress"
    written = load_file(str(tmp_path / "ddp" / "last.safetensors"))
    assert all(torch.equal(written[k], ranks[0][k]) for k in written)

    single = train(tiny(data, tmp_path / "single", **{**per_rank, "batch_size": 6}))
    assert single.model is not None
    start = UniverseClassifier(single.model.spec)
    init_weights(start, cfg.seed)
    assert sum(not torch.equal(v, ranks[0][k]) for k, v in start.state_dict().items()) > 10, "training moved nothing"
    # Summation order differs (gradients summed per rank, then across ranks), and Adam's first steps divide
    # by the gradient's own size, so rounding can show: measured at most 0.3% of how far training moved a
    # tensor (the first conv layer, on a CPU without native bf16). A wrong shard or batch moves it ~100%.
    initial = start.state_dict()
    for k, v in single.model.state_dict().items():
        moved, off = float((v - initial[k]).norm()), float((ranks[0][k] - v).norm())
        assert off <= 0.01 * moved + 1e-6, f"DDP and single-process differ in {k}: {off:.3g} (moved {moved:.3g})"
    h2, h1 = info[0]["history"][0], single.history[0]
    assert h2["val_confusion"] == h1["val_confusion"]
    assert abs(h2["train_loss"] - h1["train_loss"]) < 1e-4
