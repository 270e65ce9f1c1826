"""Electrical design rules after routing: cell outputs driving more capacitance than their liberty
allows, and pins whose transition is over its limit (counted by OpenSTA), as metrics and a listing.

The capacitance check reads the load of every driver from OpenSTA (pins and routed wire, see
:attr:`kchip.tools.opensta.StaResult.net_loads`) and the limits from the liberty: the output pin's
``max_capacitance``, else the library's ``default_max_capacitance``; a driver with neither is not
checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kchip.formats.liberty import max_load_pf, read_cells, read_units

METRIC_UNITS = {"timing__drv__max_cap__count": "drivers"}
#: violations listed in the report (the rest are counted)
LISTED = 50


@dataclass(frozen=True)
class CapViolation:
    """A cell output driving ``load_pf`` where its liberty allows ``limit_pf``."""

    pin: str
    cell: str
    load_pf: float
    limit_pf: float

    @property
    def ratio(self) -> float:
        return self.load_pf / self.limit_pf


def capacitance_violations(net_loads: Path, liberty: Path) -> list[CapViolation]:
    """Every driver in ``net_loads`` (``pin cell port farads`` lines) over its limit in ``liberty``,
    worst (largest load over limit) first."""
    cells, units = read_cells(liberty), read_units(liberty)
    to_pf = units.capacitance_f / 1e-12
    found = []
    for line in Path(net_loads).read_text().splitlines():
        pin, cell, port, farads = line.split()
        known = cells.get(cell)
        default = units.default_max_capacitance
        limit = max_load_pf(known, port, units) if known else None if default is None else default * to_pf
        if limit is None:
            continue
        load = float(farads) / 1e-12
        if load > limit:
            found.append(CapViolation(pin, cell, load, limit))
    return sorted(found, key=lambda v: -v.ratio)


def markdown(caps: list[CapViolation], slew_count: int, slew_report: Path) -> str:
    """The STA report's section on max capacitance and max transition."""
    lines = ["## Electrical rules (max capacitance, max transition)", "",
             f"{len(caps)} cell output(s) over max capacitance, {slew_count} pin(s) over max transition.", ""]
    if caps:
        lines += ["| driver | cell | load pF | limit pF |", "| --- | --- | --- | --- |"]
        lines += [f"| `{v.pin}` | {v.cell} | {v.load_pf:.4f} | {v.limit_pf:.4f} |" for v in caps[:LISTED]]
        lines += [f"| ... {len(caps) - LISTED} more | | | |"] if len(caps) > LISTED else []
        lines.append("")
    if slew_count:
        listing = [line for line in Path(slew_report).read_text().splitlines() if "VIOLATED" in line]
        lines += ["```", *listing[:LISTED], *([f"... {len(listing) - LISTED} more"] if len(listing) > LISTED else []),
                  "```", ""]
    return "\n".join(lines) + "\n"
