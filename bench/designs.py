"""Corpus benchmark: the full flow on public designs nobody tuned it for. Prints JSON per design.

    python bench/designs.py [--pdk ihp-sg13g2] [--jobs 2] [--runs-dir DIR] [--timeout-min 60] [NAME ...]

Each design of ``bench/corpus/*.toml`` (sources read from ``../shared/designs``, settings as
OpenLane used them) runs as ``kchip flow run --pdk PDK`` in its own process, ``--jobs`` designs at a
time; the same settings serve every PDK (OpenLane's are for SKY130; its clocks and utilisations are
kept on the other 130 nm process too).
Per design: cells, die and core area, utilisation, unrouted nets, DRC errors by rule, antenna
violations, LVS result, setup and hold WNS, router rounds, time per stage, peak memory, exit code
and, for a failed run, the failed stage and its first error line. Target: every design signs off
clean (``clean`` true) at OpenLane's own clock and utilisation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
KEYS = ("design__instance__count", "design__die__area_um2", "design__core_area__um2", "design__utilization",
        "route__unrouted__count", "route__rounds__count", "drc__errors__count", "antenna__violations__count",
        "lvs__mismatch__count", "lvs__unverified_cells__count", "equiv__unproven__count",
        "timing__setup__ws", "timing__hold__ws", "timing__unconstrained__count", "timing__clock_period__ns",
        "timing__setup_without_wires__ws", "timing__wire_delay__fraction", "timing__drv__max_cap__count",
        "timing__drv__max_slew__count", "synth__area__um2", "place__region__fraction",
        "route__antenna_violations_before__count", "antenna__diodes__count")


def _stage_report(run_dir: Path) -> tuple[dict, dict | None]:
    seconds, failed = {}, None
    for status in sorted((run_dir / "status").glob("*.json")):
        data = json.loads(status.read_text())
        name = status.stem.split("-", 1)[1]
        if "ended" in data:
            seconds[name] = round(data["ended"] - data["started"], 1)
        if data.get("state") in ("failed", "interrupted"):
            failed = {"stage": name, "error": (data.get("error") or "").strip().splitlines()[:3]}
    return seconds, failed


def run_design(toml: Path, runs_dir: Path, timeout_s: float, pdk: str) -> dict:
    run_dir = runs_dir / toml.stem
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir.parent / f"{toml.stem}.log"
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kchip", "flow", "run", "--design", str(toml),
                                 "--run-dir", str(run_dir), "--pdk", pdk], stdout=out, stderr=subprocess.STDOUT)
    timer = threading.Timer(timeout_s, proc.terminate)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    timed_out = not timer.is_alive() and time.perf_counter() - started >= timeout_s
    output = log.read_text()
    elapsed = time.perf_counter() - started
    metrics_file = run_dir / "final" / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    seconds, failed = _stage_report(run_dir)
    drc = run_dir / "final" / "report.md"
    by_rule = {}
    drc_json = next(run_dir.glob("stages/*-drc/*/drc.json"), None)
    if drc_json is not None and metrics:
        by_rule = json.loads(drc_json.read_text()).get("errors_by_rule", {})
    return {
        "design": toml.stem, "pdk": pdk, "exit_code": proc.returncode, "timed_out": timed_out,
        "clean": proc.returncode == 0 and bool(metrics),
        "total_s": round(elapsed, 1), "stage_s": seconds, "failed": failed,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **{k: metrics.get(k) for k in KEYS}, "drc_by_rule": by_rule,
        "report": str(drc) if drc.is_file() else None, "last_output": output.strip().splitlines()[-3:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="corpus designs to run (default: all)")
    parser.add_argument("--pdk", default="sky130A", help="PDK variant every design runs on (default: sky130A)")
    parser.add_argument("--jobs", type=int, default=1, help="designs run at the same time")
    parser.add_argument("--runs-dir", type=Path, help="where run folders go (default: a new temporary folder)")
    parser.add_argument("--timeout-min", type=float, default=60.0, help="per design")
    args = parser.parse_args()
    tomls = sorted(CORPUS.glob("*.toml"))
    if args.names:
        known = {t.stem: t for t in tomls}
        unknown = sorted(set(args.names) - set(known))
        if unknown:
            sys.exit(f"unknown corpus design(s) {unknown}; known: {', '.join(known)}")
        tomls = [known[n] for n in args.names]
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="kchip-corpus-"))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda t: run_design(t, runs_dir, args.timeout_min * 60, args.pdk), tomls))
    print(json.dumps({"runs_dir": str(runs_dir), "pdk": args.pdk, "cpu_count": os.cpu_count(),
                      "clean": sum(r["clean"] for r in results), "designs": results}, indent=2))


if __name__ == "__main__":
    main()
