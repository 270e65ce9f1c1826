"""Pin access: where a via from a cell pin up to met1 fits on the routing grid without a rule break.

A pin can be reached at a grid point when the via's lower pad lies entirely inside the pin's shapes
(so no new geometry sticks out of the pin) and its met1 pad keeps the minimum spacing from every
met1 shape of the cell. Cells with a signal pin that has no such point are "inaccessible": synthesis
is told not to use them.
"""

from __future__ import annotations

from dataclasses import dataclass
import klayout.db as kdb

from kchip.flows.physical.lef import Macro, Technology

Point = tuple[int, int]


@dataclass(frozen=True)
class Grid:
    """The routing grid in cell-local coordinates: x = x_offset + k*x_pitch, y likewise."""

    x_offset: int
    x_pitch: int
    y_offset: int
    y_pitch: int

    @classmethod
    def from_technology(cls, tech: Technology) -> "Grid":
        vertical = tech.layers["met2"]
        horizontal = tech.layers["met1"]
        return cls(vertical.offset, vertical.pitch, horizontal.offset, horizontal.pitch)


def _region(rects) -> kdb.Region:
    region = kdb.Region()
    for x0, y0, x1, y1 in rects:
        region.insert(kdb.Box(x0, y0, x1, y1))
    return region.merged()


def _box(center: Point, rect) -> kdb.Box:
    x, y = center
    return kdb.Box(x + rect[0], y + rect[1], x + rect[2], y + rect[3])


def pin_access_points(macro: Macro, tech: Technology, grid: Grid) -> dict[str, list[Point]]:
    """Grid points (cell-local, orientation N) where each signal pin can take a li1-met1 via."""
    via = tech.via_between("li1", "met1")
    lower, upper = via.rects["li1"], via.rects["met1"]
    spacing = tech.layers["met1"].spacing
    met1 = _region([r for layer, r in macro.obstructions if layer == "met1"] +
                   [r for pin in macro.pins.values() for layer, r in pin.shapes if layer == "met1"])
    points = {}
    for name, pin in macro.signal_pins().items():
        shapes = _region([r for layer, r in pin.shapes if layer == "li1"])
        found = []
        for x in range(grid.x_offset, macro.width, grid.x_pitch):
            for y in range(grid.y_offset, macro.height, grid.y_pitch):
                pad = kdb.Region(_box((x, y), lower))
                if not (pad - shapes).is_empty():
                    continue
                keep_out = kdb.Region(_box((x, y), upper)).sized(spacing - 1)
                if (keep_out & met1).is_empty():
                    found.append((x, y))
        points[name] = found
    return points


def inaccessible_cells(macros: dict[str, Macro], tech: Technology) -> dict[str, list[str]]:
    """Cells with at least one signal pin that has no on-grid access point: cell -> those pins."""
    grid = Grid.from_technology(tech)
    bad = {}
    for name, macro in macros.items():
        if not macro.signal_pins():
            continue
        missing = [pin for pin, pts in pin_access_points(macro, tech, grid).items() if not pts]
        if missing:
            bad[name] = missing
    return bad
