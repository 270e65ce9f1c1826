"""Transition repair before routing: the drivers of nets whose pins are over their maximum
transition are upsized.

OpenSTA times the placed netlist with each net's wire capacitance estimated from the placement
(:func:`kchip.flows.stages.placed_timing.placed_timer`) and lists the pins whose transition is over
the liberty's ``max_transition``. Each such pin's net has one driver; the driver is swapped for the
next larger cell of the same logic (the setup repair's ``larger`` map) on the nearest free sites,
and the netlist is timed again, until no pin is over or nothing changes. A net whose driver is
already the largest of its kind (a NOR3 at x4 still switches 8 flip-flop enables slowly) gets a
buffer at its sinks' centre that drives them all, its driver then driving only the buffer. A pass
is kept only while it lowers the count of pins over their limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import copy

from kchip.flows.physical.cts import ClockTreeConfig, buffer_tree, input_sinks
from kchip.flows.physical.layout import Layout
from kchip.flows.physical.placer import PlacementError, RowOccupancy
from kchip.flows.timing.setup import upsize
from kchip.formats.lef import Macro


@dataclass(frozen=True)
class Buffer:
    """The cell a slow net is buffered with, and its input and output pin."""

    cell: str
    input_pin: str
    output_pin: str


@dataclass
class SlewRepair:
    """Pins over their transition limit before and after, the passes made and the swaps kept
    (instance -> (first cell, last cell))."""

    before: int = 0
    after: int = 0
    passes: int = 0
    resized: dict[str, tuple[str, str]] = field(default_factory=dict)
    buffered: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {"repair__slew_pins_before__count": self.before, "repair__slew_pins_after__count": self.after,
                "repair__slew_resized__count": len(self.resized), "repair__slew_buffers__count": len(self.buffered),
                "repair__slew_passes__count": self.passes}


def slew_drivers(layout: Layout, macros: dict[str, Macro], pins: tuple[str, ...]) -> dict[str, str]:
    """The instance driving the net of each of ``pins`` (``instance/PIN`` names; output ports and
    pins of unknown instances are skipped): net -> driver."""
    drivers_of: dict[str, str] = {}
    for name, inst in layout.instances.items():
        for pin, net in inst.conns.items():
            if macros[inst.cell].pins[pin].direction == "OUTPUT":
                drivers_of[net] = name
    found = {}
    for full in pins:
        inst_name, _, pin = full.rpartition("/")
        inst = layout.instances.get(inst_name)
        if inst is None or pin not in inst.conns or inst.conns[pin] == layout.clock_net:
            continue
        net = inst.conns[pin]
        if net in drivers_of:
            found[net] = drivers_of[net]
    return dict(sorted(found.items()))


def repair_slew(layout: Layout, macros: dict[str, Macro], measure: Callable, larger: dict[str, str],
                buffer: Buffer, *, max_passes: int = 4) -> SlewRepair:
    """Upsize the drivers of nets with pins over their transition limit, or buffer the nets whose
    driver cannot grow (see the module)."""
    result = SlewRepair()
    timing = measure(layout)
    result.before = result.after = len(timing.slew_pins)
    for number in range(max_passes):
        if not timing.slew_pins:
            break
        kept = copy.deepcopy(layout.instances)
        drivers = slew_drivers(layout, macros, timing.slew_pins)
        undo = upsize(layout, macros, sorted({d for d in drivers.values() if layout.instances[d].cell in larger}),
                       larger)
        buffered = _buffer(layout, macros, [net for net, d in drivers.items()
                                            if layout.instances[d].cell not in larger], buffer, f"slew{number}")
        if not undo and not buffered:
            break
        after = measure(layout)
        if len(after.slew_pins) >= len(timing.slew_pins):
            layout.instances = kept
            break
        result.passes += 1
        result.buffered += buffered
        for name, (cell, *_) in undo.items():
            first = result.resized.get(name, (cell, cell))[0]
            result.resized[name] = (first, layout.instances[name].cell)
        timing = after
        result.after = len(timing.slew_pins)
    return result


def _buffer(layout: Layout, macros: dict[str, Macro], nets: list[str], buffer: Buffer, prefix: str) -> list[str]:
    """Put one ``buffer`` between each of ``nets`` and all its cell inputs; returns the nets
    buffered (a net with no room left for a buffer keeps its driver alone)."""
    sinks_of = input_sinks(layout, macros)
    occupancy = RowOccupancy(layout, macros)
    done = []
    for k, net in enumerate(nets):
        sinks = sinks_of.get(net, [])
        if not sinks:
            continue
        cfg = ClockTreeConfig(len(sinks), buffer.cell, buffer.cell, buffer.cell, buffer.input_pin, buffer.output_pin)
        try:
            buffer_tree(layout, macros, occupancy, net, sinks, cfg, "logic", f"{prefix}_{k}")
        except PlacementError:
            continue
        done.append(net)
    return done
