"""Choosing one access point per placed cell pin and drawing its via.

Every signal pin gets a via from the cells' pin layer up to the lowest routing layer (on SKY130,
li1 to met1) whose lower pad lies inside the pin. When no grid point of the pin can hold the pad,
the via moves along its track on the routing layer to where it fits and a stub on that layer joins
it to the nearest grid node, which becomes the pin's routing terminal. The via and stub are obstacles
owned by the pin's net, so other nets keep their distance; candidates whose shapes would block a
terminal already given to another net are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import klayout.db as kdb
import numpy as np

from kchip.flows.physical.grid import BLOCKED, FREE, RouteGrid
from kchip.flows.physical.layout import Instance, Layout, overlaps
from kchip.formats.lef import Macro, Rect
BUCKET = 2000
#: how far (nm) an access's shapes and its terminal's via pad, plus the spacing, can reach past its
#: cell: the via moves at most half a grid step from its node, whose pad is a fraction of a um
REACH = 3000


@dataclass(frozen=True)
class Access:
    """A pin's via position, its terminal node on the lowest routing layer and the shapes it draws
    there. A pin that is itself drawn on that layer is reached on its metal: no via (``via_x`` is
    None) and no shapes."""

    via_x: int | None
    via_y: int
    node: int
    shapes: tuple[Rect, ...]
    #: the via from the pin's layer up (None for a pin on the routing layer itself)
    via: str | None = None


def _transform(inst: Instance, macro: Macro, rect: Rect) -> Rect:
    x0, y0, x1, y1 = rect
    if inst.orient == "FS":
        y0, y1 = macro.height - y1, macro.height - y0
    return (inst.x + x0, inst.y + y0, inst.x + x1, inst.y + y1)


def _region(rects) -> kdb.Region:
    region = kdb.Region()
    for r in rects:
        region.insert(kdb.Box(*r))
    return region.merged()


def unusable_cells(macros: dict[str, Macro], rules, grid: RouteGrid) -> dict[str, list[str]]:
    """Cells for which no access to all signal pins at once exists (in either row orientation),
    with the pins left out: synthesis should not use them."""
    found = {}
    for name, macro in sorted(macros.items()):
        pins = list(macro.signal_pins())
        if not pins:
            continue
        for orient in ("N", "FS"):
            planner = PinAccessPlanner(rules, grid)
            inst = Instance(name, {}, x=grid.x(4) - grid.x0, y=grid.y(4) - grid.y0, orient=orient)
            plan = planner.plan([(pin, k, planner.candidates(inst, macro, pin)) for k, pin in enumerate(pins)])
            missing = sorted(pin for pin, access in plan.items() if access is None)
            if missing:
                found[name] = missing
                break
    return found


class PinAccessPlanner:
    """Finds access candidates for pins of placed cells (cached per cell and orientation)."""

    def __init__(self, rules, grid: RouteGrid):
        self.grid = grid
        self.pin_layer, self.metal = rules.pin_layer, grid.layers[0]
        self.mfg = rules.grid
        #: the vias a pin may be reached with, best first: a pin too narrow for the preferred one's
        #: pad may take another orientation
        self.vias = rules.tech.vias_between(self.pin_layer, self.metal, rules.via_suffix)
        self.spacing = rules.layers[self.metal].spacing
        self.half_wire = rules.layers[self.metal].width // 2
        self._cache: dict[tuple[str, str], dict[str, list[tuple[int, int, int]]]] = {}
        self._placed: dict[tuple[int, int], list[tuple[int, Rect]]] = {}
        self._vias = rules.vias
        up = rules.via(self.metal, grid.layers[1]).rects[self.metal]
        self.terminal_pad = (max(-up[0], up[2]), max(-up[1], up[3]))

    def _local_candidates(self, macro: Macro, orient: str) -> dict[str, list[tuple]]:
        """Per pin: (via_x, via_y, grid_x, via) in cell coordinates, best first; a pad must lie inside
        the pin's shapes, and the first via in :attr:`vias` that fits at a node is taken there."""
        key = (macro.name, orient)
        if key in self._cache:
            return self._cache[key]
        flip = orient == "FS"

        def local(rect):
            x0, y0, x1, y1 = rect
            return (x0, macro.height - y1, x1, macro.height - y0) if flip else rect

        metal = _region([local(r) for layer, r in macro.obstructions if layer == self.metal] +
                        [local(r) for p in macro.pins.values() for layer, r in p.shapes if layer == self.metal])
        g, dx = self.mfg, self.grid.dx
        result = {}
        for name, pin in macro.signal_pins().items():
            own_metal = [local(r) for layer, r in pin.shapes if layer == self.metal]
            if own_metal:
                result[name] = self._metal_pin_nodes(_region(own_metal), macro)
                continue
            shapes = _region([local(r) for layer, r in pin.shapes if layer == self.pin_layer])
            found = []
            for rank, via in enumerate(self.vias):
                half_x, half_y = via.rects[self.pin_layer][2], via.rects[self.pin_layer][3]
                px0, py0, px1, py1 = via.rects[self.pin_layer]
                ux0, uy0, ux1, uy1 = via.rects[self.metal]
                for y in self._rows(macro):
                    band = shapes & kdb.Region(kdb.Box(-macro.width, y - half_y, 2 * macro.width, y + half_y))
                    for centres in band.sized(g - half_x, g - half_y, 2).each():
                        lo, hi = centres.bbox().left + g, centres.bbox().right - g
                        for grid_x in self._columns(macro):
                            x = min(max(grid_x, lo), hi) // g * g
                            if x < lo or abs(x - grid_x) > dx // 2:
                                continue
                            # the pad inside the pin in y too: the band's centres are grown by the
                            # manufacturing grid, so a pad up to that much over a pin's edge got
                            # through (on IHP 5 nm over a 0.21 um bar, 0.175 um from the rail: M1.b)
                            pad = kdb.Region(kdb.Box(x + px0, y + py0, x + px1, y + py1))
                            if not (pad - shapes).is_empty():
                                continue
                            keep = kdb.Region(kdb.Box(min(x + ux0, grid_x - self.half_wire), y + uy0,
                                                      max(x + ux1, grid_x + self.half_wire), y + uy1))
                            if (keep.sized(self.spacing - 1) & metal).is_empty():
                                found.append((abs(x - grid_x), abs(y - macro.height // 2), rank, x, y, grid_x))
            found.sort()
            best: dict[tuple[int, int], tuple] = {}
            for _, _, rank, x, y, grid_x in found:
                best.setdefault((grid_x, y), (x, y, grid_x, self.vias[rank]))
            result[name] = list(best.values())
        self._cache[key] = result
        return result

    def _rows(self, macro: Macro) -> range:
        """The y of the grid rows over a cell, in the cell's coordinates."""
        return range(self.grid.y0 % self.grid.dy, macro.height, self.grid.dy)

    def _columns(self, macro: Macro) -> range:
        """The x of the grid columns over a cell, in the cell's coordinates."""
        return range(self.grid.x0 % self.grid.dx, macro.width, self.grid.dx)

    def _metal_pin_nodes(self, pin_metal: kdb.Region, macro: Macro) -> list[tuple[None, int, int, None]]:
        """Grid nodes whose wire end lies inside a pin drawn on the lowest routing layer, middle of
        the cell first."""
        h = self.half_wire
        nodes = [(None, y, x, None) for y in self._rows(macro) for x in self._columns(macro)
                 if (kdb.Region(kdb.Box(x - h, y - h, x + h, y + h)) - pin_metal).is_empty()]
        return sorted(nodes, key=lambda n: abs(n[2] - macro.width // 2))

    def candidates(self, inst: Instance, macro: Macro, pin: str) -> list[Access]:
        out = []
        for vx, vy, gx, via in self._local_candidates(macro, inst.orient).get(pin, []):
            if vx is None:
                out.append(Access(None, inst.y + vy, self.grid.node_at(0, inst.x + gx, inst.y + vy), ()))
                continue
            x, y, node_x = inst.x + vx, inst.y + vy, inst.x + gx
            ux0, uy0, ux1, uy1 = via.rects[self.metal]
            shapes = [(x + ux0, y + uy0, x + ux1, y + uy1)]
            if node_x != x:
                shapes.append((min(x, node_x) - self.half_wire, y - self.half_wire,
                               max(x, node_x) + self.half_wire, y + self.half_wire))
            out.append(Access(x, y, self.grid.node_at(0, node_x, y), tuple(shapes), via.name))
        return out

    def feasible(self, access: Access, net_id: int) -> bool:
        """Whether the candidate's terminal is free for the net and its shapes keep their distance
        from every access already committed for other nets."""
        _, i, j = self.grid.decode(access.node)
        if self.grid.wire_block[0, i, j] not in (FREE, net_id) or self.grid.via_block[0, i, j] not in (FREE, net_id):
            return False
        return not any(self._too_close(rect, net_id) for rect in self._footprint(access))

    def plan(self, pins: list[tuple[str, int, list[Access]]], budget: int = 5000) -> dict[str, Access | None]:
        """One access per pin of a cell, chosen together: the most constrained pin first, by a
        depth-first search in which pins of different nets keep their footprints apart; a pin with
        no compatible candidate gets None only when no full assignment was found."""
        options = [(pin, net, [a for a in cands if self.feasible(a, net)]) for pin, net, cands in pins]
        options.sort(key=lambda item: len(item[2]))
        footprints = {id(a): self._footprint(a) for _, _, cands in options for a in cands}
        spacing = self.spacing

        def compatible(a, net_a, b, net_b):
            return net_a == net_b or not any(overlaps(r, q, spacing) for r in footprints[id(a)] for q in footprints[id(b)])

        best: list = [None, -1]
        chosen: list = []
        steps = [0]

        def search(k):
            steps[0] += 1
            placed = sum(c is not None for c in chosen)
            if placed + (len(options) - k) <= best[1] or steps[0] > budget:
                return
            if k == len(options):
                best[0], best[1] = list(chosen), placed
                return
            _, net, cands = options[k]
            for a in cands:
                if all(c is None or compatible(a, net, c, options[m][1]) for m, c in enumerate(chosen)):
                    chosen.append(a)
                    search(k + 1)
                    chosen.pop()
                    if best[1] == len(options):
                        return
            chosen.append(None)
            search(k + 1)
            chosen.pop()

        search(0)
        picks = best[0] or [None] * len(options)
        result = {}
        for (pin, net, _), access in zip(options, picks):
            if access is not None:
                self._remember(access, net)
            result[pin] = access
        return result

    def _buckets(self, rect: Rect):
        x0, y0, x1, y1 = rect
        for bx in range((x0 - BUCKET) // BUCKET, (x1 + BUCKET) // BUCKET + 1):
            for by in range((y0 - BUCKET) // BUCKET, (y1 + BUCKET) // BUCKET + 1):
                yield bx, by

    def _too_close(self, rect: Rect, net_id: int) -> bool:
        for bucket in self._buckets(rect):
            for other_net, other in self._placed.get(bucket, ()):
                if other_net != net_id and overlaps(rect, other, self.spacing):
                    return True
        return False

    def _footprint(self, access: Access) -> tuple[Rect, ...]:
        """The access shapes plus the pad of a met1-met2 via on the terminal node."""
        x, y = self.grid.x(self.grid.decode(access.node)[1]), access.via_y
        px, py = self.terminal_pad
        return (*access.shapes, (x - px, y - py, x + px, y + py))

    def add_layout_metal(self, layout: Layout, owners: dict[str, int], near: list[Rect] | None = None) -> None:
        """The metal already drawn on the lowest routing layer before any access is planned: wires
        and via pads of other nets (an antenna re-route keeps every other net's routing), strap via
        pads, ports. An access whose shapes come closer than the spacing to metal of another net
        (``owners`` maps a routed net to its id; any other metal blocks every net) is not feasible.
        The grid alone does not keep them apart: it checks only the access's terminal node, and a
        pad moved off its node along the track reaches past the via extent the grid uses.
        ``near``, when given, lists the cells whose pins will be planned: only the metal within
        :data:`REACH` of one of them is kept (an access never leaves its cell by more)."""
        metal = [(shape.net, shape.rect) for shape in layout.shapes if shape.layer == self.metal]
        metal += [(via.net, moved(self._vias[via.via].rects[self.metal], via.x, via.y)) for via in layout.vias
                  if self.metal in self._vias[via.via].rects]
        metal += [(port.net, port.rect) for port in layout.ports
                  if port.rect is not None and port.layer == self.metal]
        if near is not None:
            keep = _close_to(np.array([rect for _, rect in metal], dtype=np.int64).reshape(-1, 4), near, REACH)
            metal = [metal[k] for k in np.flatnonzero(keep)]
        for net, rect in metal:
            for bucket in self._buckets(rect):
                self._placed.setdefault(bucket, []).append((owners.get(net, BLOCKED), rect))

    def _remember(self, access: Access, net_id: int) -> None:
        for rect in self._footprint(access):
            for bucket in self._buckets(rect):
                self._placed.setdefault(bucket, []).append((net_id, rect))


def _close_to(rects: np.ndarray, boxes: list[Rect], reach: int, tile: int = 5000) -> np.ndarray:
    """Which of ``rects`` (n x 4) may come within ``reach`` of one of ``boxes``: those sharing a
    ``tile`` nm square with a box grown by ``reach`` (a few more than exactly)."""
    if not len(rects) or not boxes:
        return np.zeros(len(rects), dtype=bool)
    grown = np.array(boxes, dtype=np.int64).reshape(-1, 4) + np.array([-reach, -reach, reach, reach])
    x0, y0 = min(grown[:, 0].min(), rects[:, 0].min()), min(grown[:, 1].min(), rects[:, 1].min())
    bx0, by0 = (grown[:, 0] - x0) // tile, (grown[:, 1] - y0) // tile
    bx1, by1 = (grown[:, 2] - x0) // tile + 1, (grown[:, 3] - y0) // tile + 1
    rx0, ry0 = (rects[:, 0] - x0) // tile, (rects[:, 1] - y0) // tile
    rx1, ry1 = (rects[:, 2] - x0) // tile + 1, (rects[:, 3] - y0) // tile + 1
    nx, ny = int(max(bx1.max(), rx1.max())) + 1, int(max(by1.max(), ry1.max())) + 1
    # tiles a grown box covers (+1/-1 at its corners, summed up), then their running sums for the
    # count of covered tiles in any rectangle of tiles
    corners = np.zeros((nx + 1, ny + 1), dtype=np.int64)
    for (a, b), sign in (((bx0, by0), 1), ((bx1, by1), 1), ((bx1, by0), -1), ((bx0, by1), -1)):
        np.add.at(corners, (a, b), sign)
    covered = (corners.cumsum(axis=0).cumsum(axis=1) > 0).astype(np.int64)
    total = np.zeros((nx + 1, ny + 1), dtype=np.int64)
    total[1:, 1:] = covered[:-1, :-1].cumsum(axis=0).cumsum(axis=1)
    return (total[rx1, ry1] - total[rx0, ry1] - total[rx1, ry0] + total[rx0, ry0]) > 0


def moved(rect: Rect, x: int, y: int) -> Rect:
    """``rect`` shifted by (``x``, ``y``)."""
    return rect[0] + x, rect[1] + y, rect[2] + x, rect[3] + y
