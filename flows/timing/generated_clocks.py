"""Clocks that registers make: a flip-flop whose output clocks other registers (a clock divider).

Without a clock of its own, every register such a net clocks is an unconstrained endpoint. Each
flip-flop output that reaches a register clock pin, directly or through buffers and inverters (the
flow's own fanout buffers among them), becomes the source of a generated clock (see
:class:`kchip.formats.sdc.GeneratedClock`): its master is whatever clock reaches the divider's own
clock pin, so dividers of dividers chain. The divide ratio is left at 1, the tightest the logic
allows (the period a divider's logic really makes is not known from the netlist), so the timing
is never optimistic.
"""

from __future__ import annotations

from kchip.flows.physical.layout import Layout
from kchip.formats.liberty import LibertyCell
from kchip.formats.sdc import GeneratedClock


def register_made_clocks(layout: Layout, cells: dict[str, LibertyCell]) -> list[GeneratedClock]:
    """The generated clocks of ``layout`` (instances of cells missing from ``cells`` are skipped)."""
    drivers: dict[str, tuple[str, str]] = {}
    for name, inst in layout.instances.items():
        cell = cells.get(inst.cell)
        for pin, net in inst.conns.items():
            if cell and pin in cell.pins and cell.pins[pin].direction == "output":
                drivers[net] = (name, pin)
    sources: dict[str, GeneratedClock] = {}
    for inst in layout.instances.values():
        cell = cells.get(inst.cell)
        if cell is None or not cell.is_sequential:
            continue
        for pin, net in inst.conns.items():
            if pin in cell.pins and cell.pins[pin].clock:
                found = _register_source(net, layout, cells, drivers)
                if found and found.output_pin not in sources:
                    sources[found.output_pin] = found
    return [sources[pin] for pin in sorted(sources)]


def _register_source(net: str, layout: Layout, cells: dict[str, LibertyCell],
                     drivers: dict[str, tuple[str, str]]) -> GeneratedClock | None:
    """The flip-flop output that drives ``net`` through single-input cells, if any."""
    seen = set()
    while net in drivers and net not in seen and net != layout.clock_net:
        seen.add(net)
        name, pin = drivers[net]
        inst = layout.instances[name]
        cell = cells[inst.cell]
        if cell.is_flop:
            clocks = [p for p in cell.pins.values() if p.clock and p.name in inst.conns]
            return GeneratedClock(f"{name}/{clocks[0].name}", f"{name}/{pin}") if len(clocks) == 1 else None
        inputs = [p for p in cell.pins.values() if p.direction == "input" and p.name in inst.conns]
        if len(inputs) != 1:
            return None
        net = inst.conns[inputs[0].name]
    return None
