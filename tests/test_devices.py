"""Peak memory as the sidecars record it."""

from __future__ import annotations

import torch

from styleverse.devices import peak_memory


def test_cpu_peak_is_of_the_block_not_of_the_process() -> None:
    mib = 2**20
    with peak_memory(torch.device("cpu")) as big:
        t = torch.ones(300 * mib // 4)  # 300 MiB, touched
        assert float(t[-1]) == 1.0
        del t
    with peak_memory(torch.device("cpu")) as small:
        s = torch.ones(mib // 4)
        del s
    assert big.bytes is not None and small.bytes is not None
    assert big.kind == small.kind == "process resident"  # Linux resets the peak for each block
    assert big.bytes - small.bytes > 250 * mib


def test_free_memory_is_read_from_the_kernel() -> None:
    from styleverse.devices import available_memory

    free = available_memory(torch.device("cpu"))
    assert free is not None and 2**20 < free < 2**50
