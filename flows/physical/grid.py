"""The routing grid and its blockages.

Nodes sit at x = 230 + 460*i and y = 170 + 340*j on four layers: met1 (horizontal), met2
(vertical), met3 (horizontal, even j only) and met4 (vertical, even i and even j only). Each layer only runs in
its own direction, so every wire is a track-aligned rectangle and every via sits on a node.

A node can end a wire when a wire-width square there keeps the layer's spacing from every obstacle,
an edge can carry a wire when the wire between its two nodes does, and a node can take a via when
the largest via pad that lands on the layer does. Obstacles are owned by a net (pin shapes, pin-access vias) or by nobody (cell
obstructions, power rails and straps); an owned obstacle only blocks the other nets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kchip.flows.physical.lef import Technology

LAYERS = ("met1", "met2", "met3", "met4")
HORIZONTAL = (True, False, True, False)
X0, DX, Y0, DY = 230, 460, 170, 340
FREE, BLOCKED = -1, -2


@dataclass
class LayerRules:
    width: int
    spacing: int
    via_pad: tuple[int, int]


def layer_rules(tech: Technology) -> list[LayerRules]:
    """Wire width, spacing and the half-size of the largest via pad landing on each routing layer."""
    below = {"met1": "li1", "met2": "met1", "met3": "met2", "met4": "met3"}
    above = {"met1": "met2", "met2": "met3", "met3": "met4"}
    rules = []
    for name in LAYERS:
        pads = [tech.via_between(below[name], name).rects[name]]
        if name in above:
            pads.append(tech.via_between(name, above[name]).rects[name])
        half_x = max(max(-r[0], r[2]) for r in pads)
        half_y = max(max(-r[1], r[3]) for r in pads)
        layer = tech.layers[name]
        rules.append(LayerRules(layer.width, layer.spacing, (half_x, half_y)))
    return rules


#: every how many grid columns and rows each layer has a node (met3 every second row, met4 every
#: second column and row: their pitch is twice that of met1/met2)
NODE_STRIDE = ((1, 1), (1, 1), (1, 2), (2, 2))


def nearest_track_x(layer: str, x: int) -> int:
    """The x of the ``layer`` node column nearest ``x``."""
    stride = NODE_STRIDE[LAYERS.index(layer)][0] * DX
    return X0 + max(0, round((x - X0) / stride)) * stride


class RouteGrid:
    """Node indexing, coordinates and the per-layer blockage maps."""

    def __init__(self, die: tuple[int, int, int, int], tech: Technology):
        _, _, width, height = die
        self.nx = (width - X0) // DX + 1
        self.ny = (height - Y0) // DY + 1
        self.nxy = self.nx * self.ny
        self.size = len(LAYERS) * self.nxy
        self.rules = layer_rules(tech)
        self.wire_block = np.full((len(LAYERS), self.nx, self.ny), FREE, dtype=np.int32)
        self.via_block = np.full((len(LAYERS), self.nx, self.ny), FREE, dtype=np.int32)
        #: edge_block[l, i, j] covers the wire from node (i, j) to the next node along the track
        self.edge_block = np.full((len(LAYERS), self.nx, self.ny), FREE, dtype=np.int32)
        self.valid = np.zeros((len(LAYERS), self.nx, self.ny), dtype=bool)
        for layer, (si, sj) in enumerate(NODE_STRIDE):
            self.valid[layer, ::si, ::sj] = True
        #: node-index distance to the next node along each layer's track
        self.along = (self.ny, 1, self.ny, 2)

    def index(self, layer: int, i: int, j: int) -> int:
        return layer * self.nxy + i * self.ny + j

    def decode(self, node: int) -> tuple[int, int, int]:
        layer, rest = divmod(node, self.nxy)
        i, j = divmod(rest, self.ny)
        return layer, i, j

    @staticmethod
    def x(i: int) -> int:
        return X0 + DX * i

    @staticmethod
    def y(j: int) -> int:
        return Y0 + DY * j

    def node_at(self, layer: int, x: int, y: int) -> int:
        i, j = (x - X0) // DX, (y - Y0) // DY
        if self.x(i) != x or self.y(j) != y or not (0 <= i < self.nx and 0 <= j < self.ny):
            raise ValueError(f"({x}, {y}) nm is not a node of the routing grid")
        return self.index(layer, i, j)

    def _extents(self, layer: int) -> dict[str, tuple[int, int, int, int]]:
        """Node-relative shapes: a wire end at the node, the edge to the next node, a via pad."""
        half = self.rules[layer].width // 2
        step = DY * 2 if layer == 3 else (DX if HORIZONTAL[layer] else DY)
        px, py = self.rules[layer].via_pad
        edge = (-half, -half, step + half, half) if HORIZONTAL[layer] else (-half, -half, half, step + half)
        return {"node": (-half, -half, half, half), "edge": edge, "via": (-px, -py, px, py)}

    def _mark(self, target: np.ndarray, layer: int, rect, extent, owner: int) -> None:
        """Mark nodes whose shape (``extent`` around the node) comes closer than spacing to ``rect``."""
        s = self.rules[layer].spacing
        x0, y0, x1, y1 = rect
        ex0, ey0, ex1, ey1 = extent
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

    def add_obstacle(self, layer_name: str, rect, owner: int = BLOCKED) -> None:
        """An obstacle on a routing layer: blocks wire ends, edges and via pads that come too close."""
        if layer_name not in LAYERS:
            return
        layer = LAYERS.index(layer_name)
        extents = self._extents(layer)
        self._mark(self.wire_block, layer, rect, extents["node"], owner)
        self._mark(self.edge_block, layer, rect, extents["edge"], owner)
        self._mark(self.via_block, layer, rect, extents["via"], owner)
