"""Clock-tree synthesis: a geometrically balanced tree of clock buffers.

The clock sinks are split by recursive bisection (alternately in x and y, at the median) into
clusters of at most ``max_fanout``; each cluster gets a buffer at its centroid, placed on the nearest
free sites. The buffers are clustered the same way, level by level, until one root buffer is left,
which the clock port drives. Equal fan-out per level and centroid placement keep the paths from the
root to every sink similar, which is what keeps skew low; the timing stage measures it with a
propagated clock and the routed parasitics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kchip.flows.physical.layout import Instance, Layout, plain_name
from kchip.formats.lef import Macro
from kchip.flows.physical.placer import PlacementError, RowOccupancy


@dataclass(frozen=True)
class ClockTreeConfig:
    """Sinks per buffer, the buffer cells by level, and the input and output pin they all share;
    ``narrower`` buffers (same pins) stand in for a level's cell where no free run of sites is
    left for it near its sinks' centre."""

    max_fanout: int
    leaf_buffer: str
    trunk_buffer: str
    root_buffer: str
    input_pin: str
    output_pin: str
    narrower: tuple[str, ...] = ()


def _clusters(points: np.ndarray, max_size: int) -> list[np.ndarray]:
    groups, stack = [], [(np.arange(len(points)), 0)]
    while stack:
        idx, axis = stack.pop()
        if len(idx) <= max_size:
            groups.append(idx)
            continue
        spread = np.ptp(points[idx], axis=0)
        axis = int(np.argmax(spread)) if spread.max() > 0 else axis
        order = idx[np.argsort(points[idx, axis], kind="stable")]
        half = len(order) // 2
        stack += [(order[:half], 1 - axis), (order[half:], 1 - axis)]
    return groups


def buffer_tree(layout: Layout, macros: dict[str, Macro], occupancy: RowOccupancy, net: str,
                sinks: list[tuple[str, str]], cfg: ClockTreeConfig, role: str, prefix: str) -> tuple[int, int]:
    """Drive ``sinks`` of ``net`` through a tree of buffers; returns (buffers, levels)."""

    def centre(name):
        inst = layout.instances[name]
        m = macros[inst.cell]
        return inst.x + m.width / 2, inst.y + m.height / 2

    level_sinks = sinks
    level, buffers = 0, 0
    while True:
        level += 1
        points = np.array([centre(name) for name, _ in level_sinks])
        last = len(level_sinks) <= cfg.max_fanout
        groups = [np.arange(len(level_sinks))] if last else _clusters(points, cfg.max_fanout)
        preferred = cfg.root_buffer if last else (cfg.leaf_buffer if level == 1 else cfg.trunk_buffer)
        next_sinks = []
        for k, group in enumerate(groups):
            name = f"{prefix}_{level}_{k}"
            child_net = f"{plain_name(net)}_{prefix}{level}_{k}"
            cx, cy = points[group].mean(axis=0)
            cell, x, y = _place_buffer(layout, macros, occupancy, preferred, cfg.narrower, cx, cy)
            layout.instances[name] = Instance(cell, {cfg.input_pin: net, cfg.output_pin: child_net}, role, x, y,
                                              dict(layout.rows)[y])
            for g in group:
                sink, pin = level_sinks[g]
                layout.instances[sink].conns[pin] = child_net
            next_sinks.append((name, cfg.input_pin))
            buffers += 1
        if last:
            return buffers, level
        level_sinks = next_sinks


def _place_buffer(layout: Layout, macros: dict[str, Macro], occupancy: RowOccupancy, preferred: str,
                  narrower: tuple[str, ...], cx: float, cy: float) -> tuple[str, int, int]:
    """The buffer cell and its lower-left corner nearest (cx, cy): ``preferred``, else the widest
    of ``narrower`` that still finds a free run of sites (a core filled to its limit may keep no
    run as wide as the strongest clock buffer); PlacementError when none fits."""
    stand_ins = sorted((c for c in narrower if macros[c].width < macros[preferred].width),
                       key=lambda c: -macros[c].width)

    def place(cell: str) -> tuple[str, int, int]:
        width = macros[cell].width
        return (cell, *occupancy.nearest(cx - width / 2, cy - layout.site[1] / 2, width, what=f"a {cell} buffer"))

    for cell in (preferred, *stand_ins):
        try:
            return place(cell)
        except PlacementError as exc:
            error = exc
    raise error


def input_sinks(layout: Layout, macros: dict[str, Macro]) -> dict[str, list[tuple[str, str]]]:
    """The cell inputs (instance, pin) on each net."""
    sinks: dict[str, list[tuple[str, str]]] = {}
    for name, inst in layout.instances.items():
        for pin, net in inst.conns.items():
            if macros[inst.cell].pins[pin].direction == "INPUT":
                sinks.setdefault(net, []).append((name, pin))
    return sinks


def build_clock_tree(layout: Layout, macros: dict[str, Macro], cfg: ClockTreeConfig,
                     liberty_clock_pins: frozenset[tuple[str, str]] = frozenset()) -> dict[str, float]:
    """Insert the buffer tree for ``layout.clock_net``; returns clock-tree metrics, among them the
    number of cell clock pins the clock port drives: pins with LEF ``USE CLOCK`` or, for a library
    whose LEF marks none (some libraries write ``USE SIGNAL`` on their flops' clock pins), the (cell, pin)
    pairs in ``liberty_clock_pins`` (liberty ``clock : true``)."""
    sinks = input_sinks(layout, macros).get(layout.clock_net, [])
    clock_pins = sum(macros[layout.instances[inst].cell].pins[pin].use == "CLOCK"
                     or (layout.instances[inst].cell, pin) in liberty_clock_pins for inst, pin in sinks)
    if not sinks:
        return {"cts__sinks__count": 0, "cts__clock_pins__count": 0, "cts__buffers__count": 0,
                "cts__levels__count": 0}
    buffers, levels = buffer_tree(layout, macros, RowOccupancy(layout, macros), layout.clock_net, sinks,
                                  cfg, "clock", "clkbuf")
    return {"cts__sinks__count": len(sinks), "cts__clock_pins__count": clock_pins,
            "cts__buffers__count": buffers, "cts__levels__count": levels}


def buffer_high_fanout_nets(layout: Layout, macros: dict[str, Macro], max_fanout: int, buffer_cell: str,
                            pins: tuple[str, str]) -> dict[str, float]:
    """Split every signal net (other than the clock) driving more than ``max_fanout`` cell inputs
    into a buffer tree, as a repair step before routing: long, wide nets crowd the router and make
    slow edges. ``pins`` are the buffer's input and output pin."""
    sinks_of = input_sinks(layout, macros)
    sinks_of.pop(layout.clock_net, None)
    cfg = ClockTreeConfig(max_fanout, buffer_cell, buffer_cell, buffer_cell, *pins)
    occupancy = RowOccupancy(layout, macros)
    nets = buffers = 0
    for k, (net, sinks) in enumerate(sorted(sinks_of.items())):
        if len(sinks) > max_fanout:
            added, _ = buffer_tree(layout, macros, occupancy, net, sinks, cfg, "logic", f"fanout{k}")
            nets += 1
            buffers += added
    return {"repair__high_fanout_nets__count": nets, "repair__buffers__count": buffers}
