"""Detailed placement: each cell moves to the free sites nearest its optimal region when that
shortens its nets.

A cell's optimal region (Goto's) is where the half-perimeter wirelength of its nets is least with
everything else kept: between the medians of the lower and upper ends of its nets' boxes taken
without it, on each axis. Each pass visits every movable cell, looks for the free run of sites
closest to the middle of that region (within a few rows and sites of it, and no farther than a
reach from where the cell is), and keeps the move only when the cell's nets get shorter and the
bin it moves into stays within a density (counting each cell's spreading area, which grows with its
pins: clusters of pin-dense cells are what the router cannot reach). Nets with more than ``max_fanout`` terminals and the
clock do not pull (a high-fanout net's box hardly depends on one cell).
"""

from __future__ import annotations

import numpy as np

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import Macro


class DensityBins:
    """Spreading area (nm2) per square bin of ``rows`` cell rows over the core, as a fraction of the
    bin's area, to keep moves out of bins that are full."""

    def __init__(self, layout: Layout, rows: int):
        self.x0, self.y0, x1, y1 = layout.core
        self.side = rows * layout.site[1]
        self.shape = (max(1, -(-(x1 - self.x0) // self.side)), max(1, -(-(y1 - self.y0) // self.side)))
        self.fill = np.zeros(self.shape)

    def bin(self, x: float, y: float) -> tuple[int, int]:
        return (min(self.shape[0] - 1, max(0, int((x - self.x0) // self.side))),
                min(self.shape[1] - 1, max(0, int((y - self.y0) // self.side))))

    def add(self, x: float, y: float, area: float) -> None:
        self.fill[self.bin(x, y)] += area / self.side ** 2


def refine(layout: Layout, macros: dict[str, Macro], movable: list[str], occupancy, *, passes: int = 2,
           reach_rows: int = 8, max_fanout: int = 16, areas: dict[str, float] | None = None,
           max_density: float = 1.0, bin_rows: int = 4) -> dict[str, float]:
    """Move ``movable`` cells (placed, legal) towards their optimal regions; ``occupancy`` is the
    :class:`~kchip.flows.physical.placer.RowOccupancy` of the placement. A move into another bin of
    ``bin_rows`` rows is made only while that bin's ``areas`` (each movable cell's spreading area,
    nm2; its own area when not given; fixed cells count their own area) stay within
    ``max_density`` of it. Returns metrics."""
    site_w, row_h = layout.site
    orient_of = dict(layout.rows)
    centre: dict[str, tuple[float, float]] = {}
    for name, inst in layout.instances.items():
        if inst.x is not None:
            m = macros[inst.cell]
            centre[name] = (inst.x + m.width / 2, inst.y + m.height / 2)
    points: dict[str, list] = {}
    for port in layout.ports:
        if port.rect:
            points.setdefault(port.net, []).append(((port.rect[0] + port.rect[2]) / 2,
                                                     (port.rect[1] + port.rect[3]) / 2))
    members: dict[str, list[str]] = {}
    for name, inst in layout.instances.items():
        if inst.x is not None:
            for net in set(inst.conns.values()):
                members.setdefault(net, []).append(name)
    pulling = {net for net, names in members.items()
               if net != layout.clock_net and 2 <= len(names) + len(points.get(net, ())) <= max_fanout}
    cell_nets = {name: [n for n in set(layout.instances[name].conns.values()) if n in pulling] for name in movable}

    areas = areas or {}
    area_of = {name: areas.get(name, macros[inst.cell].width * macros[inst.cell].height)
               for name, inst in layout.instances.items() if inst.x is not None}
    density = DensityBins(layout, bin_rows)
    for name, (x, y) in centre.items():
        density.add(x, y, area_of[name])

    def box_without(net: str, name: str):
        xy = [centre[o] for o in members[net] if o != name] + points.get(net, [])
        if not xy:
            return None
        xs, ys = zip(*xy)
        return min(xs), max(xs), min(ys), max(ys)

    def length(boxes, x, y) -> float:
        return sum(max(hx, x) - min(lx, x) + max(hy, y) - min(ly, y) for lx, hx, ly, hy in boxes)

    moves, gain = 0, 0.0
    reach = reach_rows * row_h
    for _ in range(passes):
        moved = 0
        for name in movable:
            boxes = [b for b in (box_without(n, name) for n in cell_nets[name]) if b is not None]
            if not boxes:
                continue
            inst, macro = layout.instances[name], macros[layout.instances[name].cell]
            cx, cy = centre[name]
            ends_x = np.array([v for b in boxes for v in b[:2]])
            ends_y = np.array([v for b in boxes for v in b[2:]])
            tx = float(np.clip(np.median(ends_x), cx - reach, cx + reach))
            ty = float(np.clip(np.median(ends_y), cy - reach, cy + reach))
            if abs(tx - cx) < site_w and abs(ty - cy) < row_h / 2:
                continue
            before = length(boxes, cx, cy)
            occupancy.free(inst.x, inst.y, macro.width)
            spot = occupancy.closest_free(tx - macro.width / 2, ty - macro.height / 2, macro.width,
                                          rows=1, sites=max(8, 4 * macro.width // site_w))
            if spot is not None:
                nx, ny = spot[0] + macro.width / 2, spot[1] + macro.height / 2
                after = length(boxes, nx, ny)
                target_bin = density.bin(nx, ny)
                fits = (target_bin == density.bin(cx, cy)
                        or density.fill[target_bin] + area_of[name] / density.side ** 2 <= max_density)
                if fits and after < before - site_w / 2:
                    density.add(cx, cy, -area_of[name])
                    density.add(nx, ny, area_of[name])
                    inst.x, inst.y, inst.orient = spot[0], spot[1], orient_of[spot[1]]
                    centre[name] = (nx, ny)
                    moved += 1
                    gain += before - after
            occupancy.mark(inst.x, inst.y, macro.width)
        moves += moved
        if not moved:
            break
    return {"place__detailed_moves__count": moves, "place__detailed_gain__um": gain / 1000}
