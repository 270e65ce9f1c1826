"""Wall time of every ``kchip mpw precheck`` check on one layout; prints JSON.

    KCHIP_PDK_ROOT=... .venv/bin/python bench/precheck.py [RUN_DIR_OR_GDS] [--shuttle tt-sky130:1x1]

Without a layout, the Tiny Tapeout test tile of tests/test_flow_shuttle.py (an 8-bit accumulator
behind the 1x1 tile's pins) runs through the whole flow into a temporary run folder first (about
15 s), and the precheck runs on that run folder. Each check runs once; the tools' files go to a
temporary folder. Output: the layout, the slot, the flow's time when it ran, and per check its
status and seconds, with the total.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from kchip.design import load_design
from kchip.flows.runner import run_flow
from kchip.mpw.precheck import run_precheck
from kchip.mpw.slots import parse_slot_spec
from kchip.pdk import load_pdk

TESTS = Path(__file__).resolve().parent.parent / "tests"
TOP = "tt_um_test"


def tt_tile_run(folder: Path) -> Path:
    """The test tile through the whole flow into ``folder/run``; returns the run folder."""
    sys.path.insert(0, str(TESTS))
    from test_flow_shuttle import TT_VERILOG

    (folder / f"{TOP}.v").write_text(TT_VERILOG)
    design = folder / "tt.toml"
    design.write_text(f'[design]\nname = "{TOP}"\ntop = "{TOP}"\n[source]\nverilog = ["{TOP}.v"]\n'
                      '[clock]\nport = "clk"\nperiod_ns = 20\n[floorplan]\nutilization = 0.4\n')
    pdk = load_pdk("sky130A")
    result = run_flow(load_design(design), pdk.name, pdk.root, folder / "run",
                      overrides={"floorplan.shuttle": "tt-sky130:auto"})
    if not result.ok:
        raise SystemExit(f"the test tile's flow failed: {[(s.name, s.error) for s in result.stages if s.error]}")
    return folder / "run"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, help="a GDS or a kchip run folder (default: the test tile)")
    parser.add_argument("--shuttle", default="tt-sky130:1x1", help="the slot (default: tt-sky130:1x1)")
    parser.add_argument("--top", help="the top cell (default: the GDS file name's stem)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kchip-bench-precheck-") as scratch:
        flow_seconds = None
        path = args.path
        if path is None:
            started = time.perf_counter()
            path = tt_tile_run(Path(scratch))
            flow_seconds = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        report = run_precheck(path, parse_slot_spec(args.shuttle), args.top, workdir=Path(scratch) / "work")
        total = round(time.perf_counter() - started, 2)
    print(json.dumps({"layout": str(args.path or "test tile (temporary run folder)"), "gds": report.gds.name,
                      "slot": report.slot_spec, "flow_seconds": flow_seconds,
                      "checks": {r.name: {"status": r.status, "seconds": round(r.seconds, 3)} for r in report.results},
                      "total_seconds": total}, indent=2))


if __name__ == "__main__":
    main()
