"""cocotb measurement of the NPU core for ``bench/npu.py``: cycles and simulation speed.

Runs one M x K x N product (``KCHIP_NPU_BENCH_SHAPE``, default ``64,64,64``) twice without
back-pressure: first loading the operands, then again on the resident operands, so that the
second CYCLES value is pure compute. The result is checked against the golden model both times;
the figures go to the JSON file ``KCHIP_NPU_BENCH_OUT``.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from kchip.verification.npu_core.driver import NpuDriver, Operation

CLOCK_NS = 10


@cocotb.test(timeout_time=60, timeout_unit="sec")
async def measure(dut):
    rows, depth, cols = (int(x) for x in os.environ.get("KCHIP_NPU_BENCH_SHAPE", "64,64,64")
                         .split(","))
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    driver = NpuDriver(dut, rng)
    await driver.start()
    a = rng.integers(-128, 128, size=(rows, depth)).astype(np.int8)
    b = rng.integers(-128, 128, size=(depth, cols)).astype(np.int8)
    figures = {"n": driver.n, "m": rows, "k": depth, "n_cols": cols}
    for label, load in (("with_load", True), ("compute", False)):
        op = Operation(a=a, b=b, mult=1000, shift=22, load_a=load, load_b=load)
        began_ns, began_cpu = get_sim_time("ns"), time.process_time()
        began_s = time.perf_counter()
        outcome = await driver.run(op)
        wall, cpu = time.perf_counter() - began_s, time.process_time() - began_cpu
        simulated = (get_sim_time("ns") - began_ns) / CLOCK_NS
        assert (outcome.c == op.expected()).all(), f"{label}: wrong result"
        figures[f"cycles_{label}"] = outcome.cycles
        figures[f"sim_cycles_per_s_{label}"] = round(simulated / wall)
        figures[f"sim_cycles_per_cpu_s_{label}"] = round(simulated / cpu)
    with open(os.environ["KCHIP_NPU_BENCH_OUT"], "w") as out:
        json.dump(figures, out)
