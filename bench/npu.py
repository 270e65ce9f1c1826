"""Cycles of the NPU core on a 64x64x64 product and simulation speed on Icarus and Verilator.

Prints JSON: the CYCLES register for C = A x B at M = K = N = 64 on a 4x4 core, computed on
operands already in the buffers, against the ideal M*K*N/n^2 (utilisation target: >= 90%), the
same with the operands streamed in first, and simulated clock cycles per wall-clock second with the
cocotb driver checking every cycle (Verilator's build time reported separately).

    .venv/bin/python bench/npu.py [--sim icarus verilator] [--size 64] [--n 4]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from kchip.verification import runner
from kchip.verification.npu_core import npu_testbench

TARGET_UTILISATION = 0.90


def measure(simulator: str, size: int, n: int, build_root: Path) -> dict:
    depth = math.ceil(size / n) * size
    bench = replace(npu_testbench(name="npu_bench", n=n, a_depth=depth, b_depth=depth),
                    test_module="kchip.verification.npu_core.tb_npu_bench")
    out = build_root / f"{simulator}.json"
    began = time.perf_counter()
    result = runner.run(bench, simulator=simulator, seed=1, build_root=build_root,
                        env={"KCHIP_NPU_BENCH_SHAPE": f"{size},{size},{size}",
                             "KCHIP_NPU_BENCH_OUT": str(out.resolve())})
    figures = json.loads(out.read_text())
    ideal = size**3 // n**2
    return {
        "simulator": simulator,
        "cycles": figures["cycles_compute"],
        "ideal_cycles": ideal,
        "utilisation": round(ideal / figures["cycles_compute"], 4),
        "cycles_with_operand_load": figures["cycles_with_load"],
        "sim_cycles_per_s": figures["sim_cycles_per_s_compute"],
        "sim_cycles_per_cpu_s": figures["sim_cycles_per_cpu_s_compute"],
        "sim_cycles_per_s_with_load": figures["sim_cycles_per_s_with_load"],
        "build_and_run_s": round(time.perf_counter() - began, 1),
        "tests": result.tests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim", nargs="+", choices=runner.SIMULATORS,
                        default=list(runner.SIMULATORS))
    parser.add_argument("--size", type=int, default=64, help="M = K = N (default 64)")
    parser.add_argument("--n", type=int, default=4, help="array size (default 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kchip-npu-bench-") as folder:
        runs = [measure(sim, args.size, args.n, Path(folder)) for sim in args.sim]
    cycles = runs[0]["cycles"]
    print(json.dumps({
        "shape": {"m": args.size, "k": args.size, "n": args.size}, "array": args.n,
        "cycles": cycles, "ideal_cycles": runs[0]["ideal_cycles"],
        "utilisation": runs[0]["utilisation"], "utilisation_target": TARGET_UTILISATION,
        "meets_target": runs[0]["utilisation"] >= TARGET_UTILISATION,
        "simulators": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
