"""Flow speed: wall time per stage, total, orchestration overhead, and a no-op re-run. Prints JSON.

    python bench/flow.py [--design counter] [--run-dir DIR] [--keep]

The flow runs as a user runs it (``kchip flow run`` in a fresh process) in a fresh run folder, then
once more unchanged. Per stage, ``work_s`` is the time inside the stage's own work (external tools
and the in-process placement and routing algorithms), ``wall_s`` the whole Luigi task. The
orchestration overhead is the total wall time minus the sum of the stages' work.
Targets: overhead <= 3 % of the total; no-op re-run <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def kchip_flow(design: str, run_dir: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", design,
                           "--run-dir", str(run_dir)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1) or not (run_dir / "final" / "metrics.json").exists():
        sys.exit(f"flow failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", default="counter")
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    args = parser.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="kchip-bench-flow-"))
    shutil.rmtree(run_dir, ignore_errors=True)
    total = kchip_flow(args.design, run_dir)
    noop = kchip_flow(args.design, run_dir)
    metrics = json.loads((run_dir / "final" / "metrics.json").read_text())
    stages = {}
    for status in sorted((run_dir / "status").glob("*.json")):
        name = status.stem.split("-", 1)[1]
        own = json.loads(status.read_text()).get("metrics", {})
        stages[name] = {kind: own.get(f"flow__{name}__{key}__s") for kind, key in
                        (("wall_s", "runtime"), ("work_s", "work"), ("subprocess_s", "subprocess"))}
    work = sum(s["work_s"] or 0.0 for s in stages.values())
    overhead = total - work
    print(json.dumps({
        "design": args.design,
        "cpu_count": os.cpu_count(),
        "stages": stages,
        "total_s": round(total, 2),
        "stage_work_s": round(work, 2),
        "orchestration_overhead_s": round(overhead, 2),
        "orchestration_overhead_pct": round(100 * overhead / total, 2),
        "noop_rerun_s": round(noop, 2),
        "targets": {"orchestration_overhead_pct": 3.0, "noop_rerun_s": 1.0},
        "signoff": {k: metrics.get(k) for k in ("route__unrouted__count", "drc__errors__count",
                                                 "lvs__mismatch__count", "timing__setup__ws",
                                                 "timing__hold__ws")},
    }, indent=2))
    if not args.keep and not args.run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
