"""Speed of ``kchip chiplet check`` on generated systems, printed as JSON.

Headline: 1,000 dies, 10,000 links and 10,000 demands (target: checks within 5 s), at three traffic
loads: ``light`` (lowest-latency routing fits, no LP), ``busy`` (it overflows some links, the path LP
re-routes and proves a fit) and ``overloaded`` (the LP proves that nothing fits). Then the growth from
100 to 1,000 dies at the ``busy`` load, with 10 links and 10 demands per die.

    .venv/bin/python bench/chiplet.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from kchip.chiplet.generate import synthetic_system
from kchip.chiplet.model import system_from_dict
from kchip.chiplet.report import run_checks

LOADS = {"light": 1.0, "busy": 1.6, "overloaded": 4.0}
TARGET_S = 5.0


def measure(dies: int, links: int, demands: int, load: float, repeat: int) -> dict:
    """Best-of-``repeat`` seconds to validate the system data and to run every check (RTL excluded)."""
    data = synthetic_system(dies, links, demands, load=load)
    best_load = best_check = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        system = system_from_dict(data)
        loaded = time.perf_counter()
        report = run_checks(system, rtl=False)
        done = time.perf_counter()
        best_load, best_check = min(best_load, loaded - started), min(best_check, done - loaded)
    return {
        "dies": dies, "links": links, "demands": demands, "load": load,
        "validate_s": round(best_load, 3), "check_s": round(best_check, 3),
        "routing_s": round(report.seconds["routing"], 3),
        "routing_method": report.routing.method, "lp_rounds": report.routing.rounds,
        "demands_fit": report.routing.feasible,
        "violations": {name: len(found) for name, found in report.violations.items() if found},
        "per_check_s": {name: round(s, 3) for name, s in report.seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per point; the best is kept")
    args = parser.parse_args()
    headline = {name: measure(1000, 10000, 10000, load, args.repeat) for name, load in LOADS.items()}
    growth = [measure(n, 10 * n, 10 * n, LOADS["busy"], args.repeat) for n in (100, 200, 500, 1000)]
    print(json.dumps({
        "bench": "chiplet check",
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "target_s": TARGET_S,
        "headline_1000_dies": headline,
        "within_target": all(r["check_s"] <= TARGET_S for r in headline.values()),
        "growth_busy": [{k: r[k] for k in ("dies", "links", "demands", "check_s", "routing_s",
                                           "routing_method", "lp_rounds")} for r in growth],
    }, indent=1))


if __name__ == "__main__":
    main()
