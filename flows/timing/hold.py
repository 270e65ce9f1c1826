"""Hold repair after the clock tree: delay cells in front of register inputs that change too early.

A propagated clock reaches a register later than its clock port by the tree's insertion delay, so
data that leaves an input port (or a register near the root) right after the edge can overwrite
the value the register should still capture. Each register data pin whose hold slack is below the
target gets a delay cell between its net and the pin, placed on the free sites nearest the
register; a pin still short after a pass gets the next, longer delay cell in front of the last
one. A cell that leaves the pin's setup slack below the setup floor is taken out again, and the
pin is reported as not repaired, as is a pin with no free run of sites for its cell left. ``measure`` times the layout
as it is (hold and setup slack per ``instance/pin``), so the repair works with any timer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from kchip.flows.physical.layout import Instance, Layout, plain_name
from kchip.flows.physical.placer import PlacementError, RowOccupancy
from kchip.formats.lef import Macro
from kchip.tools.opensta_endpoints import EndpointSlack, PlacedTiming

Measure = Callable[[Layout], PlacedTiming]


@dataclass(frozen=True)
class HoldCells:
    """The delay cells, shortest delay first, and the input and output pin they share."""

    cells: tuple[str, ...]
    input_pin: str
    output_pin: str


@dataclass
class HoldRepair:
    """What the repair did: delay cells per pin (instance names, nearest the pin last), the pins
    it could not repair and why, and the worst hold slack before and after (ns)."""

    inserted: dict[str, list[str]] = field(default_factory=dict)
    unrepaired: dict[str, str] = field(default_factory=dict)
    hold_before: float | None = None
    hold_after: float | None = None
    passes: int = 0

    def metrics(self) -> dict[str, float]:
        values = {"repair__hold_cells__count": sum(map(len, self.inserted.values())),
                  "repair__hold_pins__count": len(self.inserted),
                  "repair__hold_unrepaired__count": len(self.unrepaired),
                  "repair__hold_passes__count": self.passes,
                  "repair__hold_before__ws": self.hold_before, "repair__hold_after__ws": self.hold_after}
        return {name: value for name, value in values.items() if value is not None}


#: units of :meth:`HoldRepair.metrics`
METRIC_UNITS = {"repair__hold_cells__count": "cells", "repair__hold_pins__count": "pins",
                "repair__hold_unrepaired__count": "pins", "repair__hold_passes__count": "passes",
                "repair__hold_before__ws": "ns", "repair__hold_after__ws": "ns"}


def insert_delay(layout: Layout, macros: dict[str, Macro], occupancy: RowOccupancy, endpoint: str,
                 cell: str, pins: HoldCells, taken_nets: set[str]) -> str:
    """Put a ``cell`` between ``endpoint`` (``instance/pin``) and the net driving it, on the free
    sites nearest the instance; returns the new instance's name (its output net is that name with
    ``_net``, a name not in ``taken_nets``, which gains it)."""
    inst_name, _, pin = endpoint.rpartition("/")
    inst = layout.instances[inst_name]
    net = inst.conns[pin]
    base = plain_name(f"hold_{inst_name}_{pin}")
    k = 0
    while f"{base}_{k}" in layout.instances or f"{base}_{k}_net" in taken_nets:
        k += 1
    name = f"{base}_{k}"
    width = macros[cell].width
    x, y = occupancy.nearest(inst.x + macros[inst.cell].width / 2 - width / 2, inst.y, width,
                             what=f"hold delay cell {cell} for {endpoint}")
    layout.instances[name] = Instance(cell, {pins.input_pin: net, pins.output_pin: f"{name}_net"}, "logic",
                                      x, y, dict(layout.rows)[y])
    inst.conns[pin] = f"{name}_net"
    taken_nets.add(f"{name}_net")
    return name


def remove_delay(layout: Layout, endpoint: str, name: str, pins: HoldCells) -> None:
    """Take the delay cell ``name`` out from in front of ``endpoint`` again."""
    inst_name, _, pin = endpoint.rpartition("/")
    delay = layout.instances.pop(name)
    layout.instances[inst_name].conns[pin] = delay.conns[pins.input_pin]


def repair_hold(layout: Layout, macros: dict[str, Macro], measure: Measure, pins: HoldCells, *,
                target_ns: float, setup_floor_ns: float = 0.0, max_passes: int = 4,
                timing: PlacedTiming | None = None) -> HoldRepair:
    """Repair every register data pin whose hold slack is below ``target_ns`` (see the module);
    ``timing``, when given, is the layout's timing as it stands (saving the first measurement)."""
    result = HoldRepair()
    slacks = _registers(timing or measure(layout))
    result.hold_before = _worst_hold(slacks)
    for _ in range(max_passes):
        short = sorted(pin for pin, slack in slacks.items()
                       if slack.hold is not None and slack.hold < target_ns and pin not in result.unrepaired)
        if not short:
            break
        result.passes += 1
        occupancy, taken_nets = RowOccupancy(layout, macros), set(layout.nets())
        added = {}
        for pin in short:
            chain = result.inserted.setdefault(pin, [])
            cell = pins.cells[min(len(chain), len(pins.cells) - 1)]
            try:
                added[pin] = insert_delay(layout, macros, occupancy, pin, cell, pins, taken_nets)
            except PlacementError as error:
                result.unrepaired[pin] = f"no room for a delay cell: {error}"
                continue
            chain.append(added[pin])
        if not added:
            break
        after = _registers(measure(layout))
        for pin, name in added.items():
            setup = after[pin].setup
            if setup is not None and setup < setup_floor_ns:
                remove_delay(layout, pin, name, pins)
                result.inserted[pin].pop()
                result.unrepaired[pin] = (f"a delay cell would leave setup slack {setup:.3f} ns "
                                          f"(below {setup_floor_ns} ns)")
        result.inserted = {pin: chain for pin, chain in result.inserted.items() if chain}
        slacks = _registers(measure(layout)) if any(pin in result.unrepaired for pin in added) else after
    for pin, slack in slacks.items():
        if slack.hold is not None and slack.hold < target_ns and pin not in result.unrepaired:
            result.unrepaired[pin] = f"hold slack {slack.hold:.3f} ns after {result.passes} passes"
    result.hold_after = _worst_hold(slacks)
    return result


def _registers(timing: PlacedTiming) -> dict[str, EndpointSlack]:
    """The endpoints that are cell pins (``instance/pin``): output ports take no delay cell."""
    return {pin: slack for pin, slack in timing.endpoints.items() if "/" in pin}


def _worst_hold(slacks: dict[str, EndpointSlack]) -> float | None:
    return min((s.hold for s in slacks.values() if s.hold is not None), default=None)
