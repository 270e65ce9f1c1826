"""The routing grid and its blockages.

The routing layers, their directions and the grid come from the process rules
(:class:`~kchip.pdk.rules.ProcessRules`): nodes sit at x = x0 + dx*i and y = y0 + dy*j, where dx and
dy are the pitches of the lowest vertical and horizontal routing layers and x0, y0 their offsets; a
layer with a coarser pitch has a node every few columns or rows (on SKY130, met3 at even j only,
met4 at even i and even j). Each layer only runs in its own direction, so every wire is a
track-aligned rectangle and every via sits on a node.

A grid may cover only a window of the die (an antenna re-route of a few nets): its first column
and row are then those of the die's grid nearest the window's lower left corner that every layer
has a node on, so node coordinates and each layer's nodes are the die grid's.

A node can end a wire when a wire-width square there keeps the layer's spacing from every obstacle
(the wider spacing of the layer's parallel-run-length table from an obstacle wide and long enough),
an edge can carry a wire when the wire between its two nodes does, and a node can take a via when
the largest via pad that lands on the layer does. Obstacles are owned by a net (pin shapes, pin-access vias) or by nobody (cell
obstructions, power rails and straps); an owned obstacle only blocks the other nets.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

FREE, BLOCKED = -1, -2


@dataclass
class LayerRules:
    width: int
    spacing: int
    via_pad: tuple[int, int]
    #: (width, run, spacing) from the layer's parallel-run-length table, see :meth:`spacing_of`
    wide_spacing: tuple[tuple[int, int, int], ...] = ()

    def spacing_of(self, rects: np.ndarray) -> np.ndarray:
        """The spacing a wire keeps from each of ``rects`` (an n x 4 array): the layer's spacing, or a
        wider one from its table where the rectangle is wider than the entry's width and longer than
        its parallel run (a wire beside it could run along all of it)."""
        narrow = np.minimum(rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1])
        long = np.maximum(rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1])
        spacing = np.full(len(rects), self.spacing, dtype=np.int64)
        for width, run, wide in self.wide_spacing:
            spacing[(narrow > width) & (long > run) & (spacing < wide)] = wide
        return spacing


def layer_rules(rules) -> list[LayerRules]:
    """Wire width, spacing and the half-size of the largest via pad landing on each routing layer."""
    stack = (rules.pin_layer, *rules.routing_layers)
    found = []
    for k, name in enumerate(rules.routing_layers):
        pads = [rules.via(stack[k], name).rects[name]]
        if k + 2 < len(stack):
            pads.append(rules.via(name, stack[k + 2]).rects[name])
        half_x = max(max(-r[0], r[2]) for r in pads)
        half_y = max(max(-r[1], r[3]) for r in pads)
        layer = rules.layers[name]
        found.append(LayerRules(layer.width, layer.spacing, (half_x, half_y), layer.wide_spacing))
    return found


def nearest_track_x(rules, layer: str, x: int) -> int:
    """The x of the ``layer`` node column nearest ``x``."""
    x0, dx = rules.origin[0], rules.step[0]
    stride = rules.node_stride[rules.routing_layers.index(layer)][0] * dx
    return x0 + max(0, round((x - x0) / stride)) * stride


class RouteGrid:
    """Node indexing, coordinates and the per-layer blockage maps."""

    def __init__(self, die: tuple[int, int, int, int], rules, window: tuple[int, int, int, int] | None = None):
        _, _, width, height = die
        self.layers = rules.routing_layers
        self.horizontal = rules.horizontal
        #: every how many grid columns and rows each layer has a node
        self.stride = rules.node_stride
        (self.x0, self.y0), (self.dx, self.dy) = rules.origin, rules.step
        self.nx = (width - self.x0) // self.dx + 1
        self.ny = (height - self.y0) // self.dy + 1
        if window is not None:
            every_i = math.lcm(*(si for si, _ in self.stride))
            every_j = math.lcm(*(sj for _, sj in self.stride))
            i0 = max(0, (window[0] - self.x0) // self.dx) // every_i * every_i
            j0 = max(0, (window[1] - self.y0) // self.dy) // every_j * every_j
            i1 = min(self.nx - 1, max(i0, -(-(window[2] - self.x0) // self.dx)))
            j1 = min(self.ny - 1, max(j0, -(-(window[3] - self.y0) // self.dy)))
            self.x0, self.y0 = self.x0 + i0 * self.dx, self.y0 + j0 * self.dy
            self.nx, self.ny = i1 - i0 + 1, j1 - j0 + 1
        self.nxy = self.nx * self.ny
        self.size = len(self.layers) * self.nxy
        self.rules = layer_rules(rules)
        shape = (len(self.layers), self.nx, self.ny)
        self.wire_block = np.full(shape, FREE, dtype=np.int32)
        self.via_block = np.full(shape, FREE, dtype=np.int32)
        #: edge_block[l, i, j] covers the wire from node (i, j) to the next node along the track
        self.edge_block = np.full(shape, FREE, dtype=np.int32)
        self.valid = np.zeros(shape, dtype=bool)
        for layer, (si, sj) in enumerate(self.stride):
            self.valid[layer, ::si, ::sj] = True
        #: node-index distance to the next node along each layer's track
        self.along = tuple(self.ny * si if h else sj for h, (si, sj) in zip(self.horizontal, self.stride))

    def index(self, layer: int, i: int, j: int) -> int:
        return layer * self.nxy + i * self.ny + j

    def decode(self, node: int) -> tuple[int, int, int]:
        layer, rest = divmod(node, self.nxy)
        i, j = divmod(rest, self.ny)
        return layer, i, j

    def x(self, i):
        return self.x0 + self.dx * i

    def y(self, j):
        return self.y0 + self.dy * j

    def node_at(self, layer: int, x: int, y: int) -> int:
        i, j = (x - self.x0) // self.dx, (y - self.y0) // self.dy
        if self.x(i) != x or self.y(j) != y or not (0 <= i < self.nx and 0 <= j < self.ny):
            raise ValueError(f"({x}, {y}) nm is not a node of the routing grid")
        return self.index(layer, i, j)

    def _extents(self, layer: int) -> dict[str, tuple[int, int, int, int]]:
        """Node-relative shapes: a wire end at the node, the edge to the next node, a via pad."""
        half = self.rules[layer].width // 2
        si, sj = self.stride[layer]
        horizontal = self.horizontal[layer]
        step = self.dx * si if horizontal else self.dy * sj
        px, py = self.rules[layer].via_pad
        edge = (-half, -half, step + half, half) if horizontal else (-half, -half, half, step + half)
        return {"node": (-half, -half, half, half), "edge": edge, "via": (-px, -py, px, py)}

    def _mark(self, target: np.ndarray, layer: int, rect, extent, owner: int) -> None:
        """Mark nodes whose shape (``extent`` around the node) comes closer than spacing to ``rect``."""
        x0, y0, x1, y1 = rect
        s = int(self.rules[layer].spacing_of(np.array([rect], dtype=np.int64))[0])
        ex0, ey0, ex1, ey1 = extent
        X0, DX, Y0, DY = self.x0, self.dx, self.y0, self.dy
        lo_i = max(0, -(-(x0 - s - ex1 + 1 - X0) // DX))
        hi_i = min(self.nx - 1, (x1 + s - ex0 - 1 - X0) // DX)
        lo_j = max(0, -(-(y0 - s - ey1 + 1 - Y0) // DY))
        hi_j = min(self.ny - 1, (y1 + s - ey0 - 1 - Y0) // DY)
        if lo_i > hi_i or lo_j > hi_j:
            return
        view = target[layer, lo_i:hi_i + 1, lo_j:hi_j + 1]
        if owner == BLOCKED:
            view[...] = BLOCKED
        else:
            view[(view != FREE) & (view != owner)] = BLOCKED
            view[view == FREE] = owner

    def block(self, layer_name: str, rects) -> None:
        """Obstacles owned by nobody, many at once: the same as :meth:`add_obstacle` for each of
        ``rects`` (a blocked node stays blocked whatever else is added, in any order)."""
        if layer_name not in self.layers or not len(rects):
            return
        layer = self.layers.index(layer_name)
        if not isinstance(rects, np.ndarray):
            rects = np.fromiter(itertools.chain.from_iterable(rects), dtype=np.int64, count=4 * len(rects))
        rects = rects.reshape(-1, 4).astype(np.int64, copy=False)
        s = self.rules[layer].spacing_of(rects)
        x0, y0, x1, y1 = rects.T
        X0, DX, Y0, DY = self.x0, self.dx, self.y0, self.dy
        extents = self._extents(layer)
        for target, kind in ((self.wire_block, "node"), (self.edge_block, "edge"), (self.via_block, "via")):
            ex0, ey0, ex1, ey1 = extents[kind]
            lo_i = np.maximum(0, -(-(x0 - s - ex1 + 1 - X0) // DX))
            hi_i = np.minimum(self.nx - 1, (x1 + s - ex0 - 1 - X0) // DX)
            lo_j = np.maximum(0, -(-(y0 - s - ey1 + 1 - Y0) // DY))
            hi_j = np.minimum(self.ny - 1, (y1 + s - ey0 - 1 - Y0) // DY)
            keep = (lo_i <= hi_i) & (lo_j <= hi_j)
            if not keep.any():
                continue
            lo_i, hi_i, lo_j, hi_j = lo_i[keep], hi_i[keep] + 1, lo_j[keep], hi_j[keep] + 1
            # the union of the index boxes: +1 and -1 at their corners, summed up both axes
            rows, size = self.ny + 1, (self.nx + 1) * (self.ny + 1)
            corners = np.bincount(lo_i * rows + lo_j, minlength=size) + np.bincount(hi_i * rows + hi_j, minlength=size)
            corners -= np.bincount(hi_i * rows + lo_j, minlength=size) + np.bincount(lo_i * rows + hi_j, minlength=size)
            count = corners.reshape(self.nx + 1, rows).cumsum(axis=0).cumsum(axis=1)
            target[layer][count[:-1, :-1] > 0] = BLOCKED

    def add_obstacle(self, layer_name: str, rect, owner: int = BLOCKED) -> None:
        """An obstacle on a routing layer: blocks wire ends, edges and via pads that come too close."""
        if layer_name not in self.layers:
            return
        layer = self.layers.index(layer_name)
        extents = self._extents(layer)
        self._mark(self.wire_block, layer, rect, extents["node"], owner)
        self._mark(self.edge_block, layer, rect, extents["edge"], owner)
        self._mark(self.via_block, layer, rect, extents["via"], owner)
