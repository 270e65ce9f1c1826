"""Run every check on a system and collect the outcome: per-check status, violations, link loads,
timings, and a JSON form with flat metric names."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kchip.chiplet import checks
from kchip.chiplet.checks import Violation
from kchip.chiplet.model import System
from kchip.chiplet.routing import Routing, route
from kchip.chiplet.rtl_ports import Skip, check_rtl_ports
from kchip.formats.files import write_atomic  # noqa: F401 (kchip.chiplet.report.write_atomic)

#: Every check, in report order, with what it asks.
CHECKS: dict[str, str] = {
    "link": "both ends share a standard; widths and rates it allows; within its reach",
    "bump_pitch": "bump pitch within the standard's range and landable on the die's package",
    "shoreline": "PHYs fit each edge's length, opposite PHY depths and the die area",
    "capacity": "all demands routed at once within link capacities (multi-commodity flow)",
    "latency": "every routed path within its demand's latency budget",
    "deadlock": "acyclic channel dependency graph of the routing",
    "reachability": "every die reachable from the AP, with its required edge-disjoint paths",
    "power": "interconnect power at the demanded bandwidth within die and system budgets",
    "rtl_ports": "declared die ports match the RTL top's names, directions and widths",
}


@dataclass
class CheckReport:
    """The outcome of checking one system."""

    system: System
    routing: Routing
    violations: dict[str, list[Violation]]
    skipped: dict[str, list[Skip]]
    seconds: dict[str, float] = field(default_factory=dict)
    rtl_checked: int = 0

    @property
    def passed(self) -> bool:
        return not any(self.violations.values())

    def status(self, check: str) -> str:
        """``fail``, ``pass``, or ``skipped`` (the RTL check when no die's RTL could be compared)."""
        if self.violations.get(check):
            return "fail"
        if check == "rtl_ports" and self.rtl_checked == 0:
            return "skipped"
        return "pass"

    def link_rows(self) -> list[dict]:
        """Per link: standard, capacity, load each way, utilisation and power."""
        arc_load = self.routing.arc_load()
        power = checks.link_power_w(self.system, self.routing)
        rows = []
        for i, link in enumerate(self.system.links):
            forward, backward = float(arc_load[2 * i]), float(arc_load[2 * i + 1])
            capacity = link.capacity_gbyte_s
            if link.standard.duplex == "half":
                utilisation = (forward + backward) / capacity
            else:
                utilisation = max(forward, backward) / capacity
            rows.append({"name": link.name, "ends": [link.a.key, link.b.key], "standard": link.describe(),
                         "duplex": link.standard.duplex, "capacity_gbyte_s": capacity,
                         "load_forward_gbyte_s": forward, "load_backward_gbyte_s": backward,
                         "utilisation": utilisation, "power_w": float(power[i])})
        return rows

    def metrics(self) -> dict[str, dict]:
        rows = self.link_rows()
        count = sum(len(v) for v in self.violations.values())
        return {
            "chiplet__violations__count": {"value": count, "unit": "count"},
            "chiplet__interconnect_power__total": {"value": round(sum(r["power_w"] for r in rows), 6),
                                                   "unit": "W"},
            "chiplet__link_utilisation__max": {"value": round(max((r["utilisation"] for r in rows),
                                                                  default=0.0), 6), "unit": "ratio"},
            "chiplet__demand_bandwidth__total": {
                "value": sum(d.gbyte_per_s for d in self.system.demands), "unit": "GB/s"},
            "chiplet__check_time__total": {"value": round(sum(self.seconds.values()), 6), "unit": "s"},
        }

    def to_json(self) -> dict:
        return {
            "system": self.system.name,
            "file": str(self.system.file) if self.system.file else None,
            "passed": self.passed,
            "checks": [{"name": name, "asks": asks, "status": self.status(name),
                        "seconds": round(self.seconds.get(name, 0.0), 6),
                        "violations": [{"subject": v.subject, "message": v.message}
                                       for v in self.violations.get(name, [])],
                        "skipped": [s.reason for s in self.skipped.get(name, [])]}
                       for name, asks in CHECKS.items()],
            "routing": {"method": self.routing.method, "feasible": self.routing.feasible,
                        "proven": self.routing.proven, "lp_rounds": self.routing.rounds,
                        "seconds": round(self.seconds.get("routing", 0.0), 6)},
            "links": self.link_rows(),
            "metrics": self.metrics(),
        }


def run_checks(system: System, *, rtl: bool = True) -> CheckReport:
    """Every check of :data:`CHECKS` on ``system``; ``rtl=False`` skips the RTL port check."""
    seconds: dict[str, float] = {}

    def timed(name, function, *args):
        started = time.perf_counter()
        result = function(*args)
        seconds[name] = time.perf_counter() - started
        return result

    routing = timed("routing", route, system)
    violations = {
        "link": timed("link", checks.check_links, system),
        "bump_pitch": timed("bump_pitch", checks.check_bump_pitch, system),
        "shoreline": timed("shoreline", checks.check_shoreline, system),
        "capacity": timed("capacity", checks.check_capacity, system, routing),
        "latency": timed("latency", checks.check_latency, system, routing),
        "deadlock": timed("deadlock", checks.check_deadlock, system, routing),
        "reachability": timed("reachability", checks.check_reachability, system, routing),
        "power": timed("power", checks.check_power, system, routing),
    }
    skipped: dict[str, list[Skip]] = {}
    bound = sum(1 for die in system.dies.values() if die.rtl is not None)
    if rtl:
        violations["rtl_ports"], skipped["rtl_ports"] = timed("rtl_ports", check_rtl_ports, system)
    else:
        skipped["rtl_ports"] = [Skip("rtl_ports", "system", "RTL port check disabled (--no-rtl)")]
    checked = bound - len(skipped["rtl_ports"]) if rtl else 0
    return CheckReport(system, routing, violations, skipped, seconds, checked)


def write_json(report: CheckReport, path: Path) -> None:
    write_atomic(path, json.dumps(report.to_json(), indent=1, default=_plain) + "\n")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
