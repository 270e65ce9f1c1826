"""Driver sizing for load after placement.

A cell output whose estimated load exceeds its liberty ``max_capacitance`` is swapped for a cell of
the same logic (the same input pins and the same output functions, from the liberty) that can drive
that load, the smallest such one, and moved to the nearest free run of sites. The load is the sinks'
pin capacitance plus the net's wire: the half-perimeter of its placed pins, lengthened for nets of
many pins by the usual ratio of a Steiner tree to the half-perimeter, times the capacitance per
length of the lowest routing layers from the tech LEF. A margin covers the router's detours.
Sequential cells and clock nets are left to the clock tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import Macro
from kchip.flows.physical.placer import RowOccupancy
from kchip.formats.liberty import LibertyCell, LibraryUnits, max_load_pf


@dataclass(frozen=True)
class Resize:
    """One driver swapped: its instance, old and new cell, estimated load and both limits (pF)."""

    instance: str
    old: str
    new: str
    load_pf: float
    old_limit_pf: float
    new_limit_pf: float


def equivalent_cells(cells: dict[str, LibertyCell], usable) -> dict[str, list[str]]:
    """For every usable combinational cell, the usable cells of the same logic, smallest area first
    (the cell itself included)."""
    groups: dict[tuple, list[str]] = {}
    for name, cell in cells.items():
        if name not in usable or cell.is_sequential:
            continue
        outputs = tuple(sorted((p.name, p.function) for p in cell.pins.values() if p.direction == "output"))
        if not outputs or any(function is None for _, function in outputs):
            continue
        inputs = tuple(sorted(p.name for p in cell.pins.values() if p.direction == "input"))
        groups.setdefault((inputs, outputs), []).append(name)
    return {name: sorted(group, key=lambda n: (cells[n].area_um2, n)) for group in groups.values() for name in group}


def steiner_ratio(pins: int) -> float:
    """How much longer a rectilinear Steiner tree is than the half-perimeter of its ``pins``: 1 up
    to three pins, then growing about 8 % a pin, to at most 2.8 (the ratio of 50-pin nets)."""
    return 1.0 if pins <= 3 else min(2.8, 1.0 + 0.08 * (pins - 3))


class LoadEstimate:
    """Pin and wire capacitance (pF) each placed net drives."""

    def __init__(self, layout: Layout, macros: dict[str, Macro], cells: dict[str, LibertyCell],
                 units: LibraryUnits, wire_pf_per_um: float, port_load_pf: float):
        self.layout, self.macros, self.cells = layout, macros, cells
        self.to_pf = units.capacitance_f / 1e-12
        self.wire_pf_per_um, self.port_load_pf = wire_pf_per_um, port_load_pf
        self.ports = {p.name: ((p.rect[0] + p.rect[2]) / 2, (p.rect[1] + p.rect[3]) / 2) for p in layout.ports}

    def _where(self, inst: str, pin: str) -> tuple[float, float]:
        if inst == "":
            return self.ports[pin]
        placed = self.layout.instances[inst]
        macro = self.macros[placed.cell]
        return placed.x + macro.width / 2, placed.y + macro.height / 2

    def load_pf(self, terminals: list[tuple[str, str]], driver: tuple[str, str]) -> float:
        """The load of ``driver`` on a net with ``terminals``."""
        pins = 0.0
        for inst, pin in terminals:
            if (inst, pin) == driver:
                continue
            if inst == "":
                pins += self.port_load_pf
            else:
                cell = self.cells.get(self.layout.instances[inst].cell)
                pins += cell.pins[pin].capacitance * self.to_pf if cell and pin in cell.pins else 0.0
        return pins + self.wire_pf(terminals)

    def wire_pf(self, terminals: list[tuple[str, str]]) -> float:
        """The wire capacitance of a net with ``terminals``."""
        points = [self._where(inst, pin) for inst, pin in terminals]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        hpwl_um = (max(xs) - min(xs) + max(ys) - min(ys)) / 1000
        return self.wire_pf_per_um * hpwl_um * steiner_ratio(len(points))


def size_drivers(layout: Layout, macros: dict[str, Macro], cells: dict[str, LibertyCell], units: LibraryUnits,
                 estimate: LoadEstimate, *, margin: float, usable, reachable) -> list[Resize]:
    """Swap every placed combinational driver whose load times ``1 + margin`` exceeds its limit for
    the smallest cell of the same logic (among ``usable`` names, and only cells for which
    ``reachable(name)`` says the router reaches every pin) whose limit covers it, or the strongest
    one when none does; then re-legalise the swapped cells. Returns what was swapped."""
    equivalents = equivalent_cells(cells, usable)
    swaps = []
    for net, terminals in sorted(layout.nets().items()):
        if net == layout.clock_net or any(inst != "" and layout.instances[inst].x is None for inst, _ in terminals):
            continue
        drivers = [(inst, pin) for inst, pin in terminals if inst and inst in layout.instances
                   and layout.instances[inst].cell in equivalents
                   and cells[layout.instances[inst].cell].pins[pin].direction == "output"]
        if len(drivers) != 1:
            continue
        inst, pin = drivers[0]
        old = layout.instances[inst].cell
        limit = max_load_pf(cells[old], pin, units)
        load = estimate.load_pf(terminals, drivers[0])
        if limit is None or load * (1 + margin) <= limit:
            continue
        options = [(name, max_load_pf(cells[name], pin, units) or 0.0) for name in equivalents[old]
                   if name == old or reachable(name)]
        enough = [(name, cap) for name, cap in options if cap >= load * (1 + margin)]
        new, new_limit = enough[0] if enough else max(options, key=lambda option: option[1])
        if new != old and new_limit > limit:
            swaps.append(Resize(inst, old, new, round(load, 5), round(limit, 5), round(new_limit, 5)))
    _relegalise(layout, macros, swaps)
    return swaps


def _relegalise(layout: Layout, macros: dict[str, Macro], swaps: list[Resize]) -> None:
    """Give each swapped instance its new cell and the free run of sites nearest its old centre."""
    centres = {}
    for swap in swaps:
        inst = layout.instances[swap.instance]
        centres[swap.instance] = (inst.x + macros[swap.old].width / 2, inst.y)
        inst.cell, inst.x, inst.y = swap.new, None, None
    occupancy = RowOccupancy(layout, macros)
    for swap in swaps:
        inst = layout.instances[swap.instance]
        cx, y = centres[swap.instance]
        width = macros[swap.new].width
        inst.x, inst.y = occupancy.nearest(cx - width / 2, y, width, what=f"{swap.instance} ({swap.new})")
        inst.orient = dict(layout.rows)[inst.y]
