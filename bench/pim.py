"""Data-bus efficiency and GEMV offload cycles of the PIM DRAM controller, printed as JSON.

For each timing preset (HBM2 and DDR4-3200) and each address map, a 16-bank controller is simulated
against the checking device model (every run must keep every timing rule):

- ``sequential_reads`` / ``random_reads`` / ``random_mixed``: data-bus efficiency, the fraction of
  cycles the data bus carries a burst, from the first request to the controller going idle;
- ``gemv`` (row_bank_col map only): cycles of ``y = W x`` with the PIM offload (mode changes, x
  broadcast, MACs in all banks, results stored and read back) against the same W read out to the
  host, beside the ideal bounds: all banks streaming their share of W at one column per tCCD_L
  (``pim_ideal_cycles``) and the data bus saturated with W (``host_ideal_cycles``).

    .venv/bin/python bench/pim.py [--sim icarus|verilator] [--requests 1024] [--gemv 128x128]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from kchip.verification import runner
from kchip.verification.pim_ctrl import testbench

PRESETS = ("hbm2", "ddr4_3200")
ADDRESS_MAPS = ("row_bank_col", "row_col_bank")


def bench_config(timing: str, address_map: str) -> dict:
    """16 banks in 4 groups, 64-bit words (4 PIM lanes), 8 PIM registers as in HBM-PIM's GRF."""
    return {"controller": {"timing": timing, "banks": 16, "bank_groups": 4, "row_bits": 9,
                           "col_bits": 5, "data_width": 64, "queue_depth": 8, "tag_bits": 6,
                           "pim_regs": 8, "address_map": address_map},
            "rtl_timing_changes": {}}


def measure(timing: str, address_map: str, *, simulator: str, requests: int,
            gemv: tuple[int, int] | None, folder: Path) -> dict:
    config = bench_config(timing, address_map)
    out = folder / f"{timing}-{address_map}.json"
    bench = testbench(config, name=f"pim_bench_{timing}_{address_map}",
                      test_module="kchip.verification.pim_ctrl.bench_tests")
    spec = {"out": str(out), "stream_requests": requests, "gemv": list(gemv) if gemv else None}
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the runner's seed line; stdout is the JSON
        result = runner.run(bench, simulator=simulator, build_root=folder,
                            env={"KCHIP_PIM_BENCH": json.dumps(spec)})
    figures = json.loads(out.read_text())
    figures.update(timing=timing, address_map=address_map, seed=result.seed,
                   wall_s=round(time.perf_counter() - started, 1))
    return figures


def _size(text: str) -> tuple[int, int]:
    try:
        outputs, inputs = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gemv {text!r} must look like 128x128") from None
    return outputs, inputs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", choices=runner.SIMULATORS, default="icarus")
    parser.add_argument("--requests", type=int, default=1024, help="requests per stream")
    parser.add_argument("--gemv", type=_size, default=(128, 128), help="outputs x inputs")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="kchip-bench-pim-") as tmp:
        for timing in PRESETS:
            for address_map in ADDRESS_MAPS:
                runs.append(measure(timing, address_map, simulator=args.sim,
                                    requests=args.requests,
                                    gemv=args.gemv if address_map == "row_bank_col" else None,
                                    folder=Path(tmp)))
    json.dump({"benchmark": "pim_ctrl", "simulator": args.sim,
               "config": bench_config("<preset>", "<map>")["controller"], "runs": runs},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
