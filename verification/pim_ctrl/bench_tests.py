"""cocotb measurements for ``bench/pim.py``: data-bus efficiency of request streams and GEMV cycles.

The bench passes ``KCHIP_PIM_BENCH`` (JSON: ``out`` file, ``stream_requests``, ``gemv`` as
``[outputs, inputs]`` or null) and reads the JSON this test writes. Every run is also checked: the
model must report no violation and the GEMV must match numpy.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np

from kchip.rtl.pim_ctrl.gemv import GemvPlan
from kchip.rtl.pim_ctrl.isa import Request, RequestKind

from . import config_from_env
from .encoding import RESERVED_ROWS, Cmd
from .harness import Harness


async def _measure_stream(harness: Harness, requests: list[Request]) -> dict:
    counts = harness.model.counts
    before = counts[Cmd.RD] + counts[Cmd.WR]
    outcome = await harness.run(requests)
    columns = counts[Cmd.RD] + counts[Cmd.WR] - before
    busy = columns * harness.model.timing.burst_cycles
    return {"requests": len(requests), "cycles": outcome.cycles,
            "data_bus_efficiency": round(busy / outcome.cycles, 4)}


async def _measure_gemv(harness: Harness, outputs: int, inputs: int, seed: int) -> dict:
    geometry, timing = harness.geometry, harness.model.timing
    rng = np.random.default_rng(seed)
    weights = rng.integers(-2 ** 15, 2 ** 15, size=(outputs, inputs))
    x = rng.integers(-2 ** 15, 2 ** 15, size=inputs)
    plan = GemvPlan(geometry, outputs, inputs)
    for (bank, row, col), word in plan.weight_words(weights).items():
        harness.model.write_word(bank, row, col, word)
    host = await harness.run(plan.host_readout_requests())
    requests = plan.offload_requests(x)
    pim = await harness.run(requests)
    first_read = len(requests) - outputs
    y = plan.reduce([pim.read_data[first_read + i] for i in range(outputs)])
    expected = ((weights @ x) & 0xFFFF).astype(np.uint16).view(np.int16)
    assert y == [int(v) for v in expected], "PIM GEMV differs from numpy"
    words = outputs * plan.chunks
    return {
        "outputs": outputs, "inputs": inputs, "weight_words": words,
        "pim_cycles": pim.cycles,
        "host_readout_cycles": host.cycles,
        "pim_speedup": round(host.cycles / pim.cycles, 3),
        "pim_ideal_cycles": plan.slots * plan.chunks * timing.tCCD_L,
        "host_ideal_cycles": words * timing.burst_cycles,
        "pim_matches_numpy": True,
    }


@cocotb.test()
async def measure(dut):
    """Run the streams and the GEMV once and write the figures."""
    spec = json.loads(os.environ["KCHIP_PIM_BENCH"])
    harness = Harness(dut, config_from_env())
    await harness.reset()
    geometry = harness.geometry
    rng = random.Random(cocotb.RANDOM_SEED)
    count = spec["stream_requests"]
    user_words = ((1 << geometry.row_bits) - RESERVED_ROWS) << (geometry.bank_bits
                                                                 + geometry.col_bits)
    results = {
        "sequential_reads": await _measure_stream(
            harness, [Request(RequestKind.READ, a) for a in range(count)]),
        "random_reads": await _measure_stream(
            harness, [Request(RequestKind.READ, rng.randrange(user_words)) for _ in range(count)]),
        "random_mixed": await _measure_stream(
            harness, [Request(rng.choice((RequestKind.READ, RequestKind.WRITE)),
                              rng.randrange(user_words), rng.getrandbits(geometry.data_width))
                      for _ in range(count)]),
    }
    if spec["gemv"]:
        results["gemv"] = await _measure_gemv(harness, *spec["gemv"], seed=cocotb.RANDOM_SEED)
    harness.check_model()
    results["refreshes"] = len(harness.model.refresh_cycles)
    results["simulated_cycles"] = harness.cycle
    out = Path(spec["out"])
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(results))
    partial.replace(out)
