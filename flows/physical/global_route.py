"""Global routing on a coarse grid of routing cells (gcells), whose routes bound the detailed search.

The detailed routing grid (:class:`~kchip.flows.physical.grid.RouteGrid`) is cut into gcells of
``size`` x ``size`` grid steps. Each boundary between two neighbouring gcells has a capacity: the
tracks of the layers running across it (horizontal layers for a boundary between left and right
neighbours, vertical ones between lower and upper) whose node on the boundary is on the grid and
not blocked by a fixed obstacle; the lowest layer, which the cells' pin accesses crowd, counts for
:data:`LOWEST_LAYER_SHARE` of its tracks. Every net is routed on the two-dimensional gcell graph, one
terminal at a time into the tree it has so far (nearest first), by A* with the costs of negotiated
congestion (PathFinder, as the detailed router): a boundary costs its length times (1 + history)
times (1 + present factor x the tracks it would be over capacity by); nets crossing boundaries over
capacity are routed again each round, with history added on those boundaries, until none is over or
the rounds run out.

A net's guide is the set of gcells its global route passes; the detailed router searches inside the
guide widened by a few gcells (:meth:`GlobalRoute.corridor`), so that a long connection explores a
band along its global route instead of its whole bounding box. What is left over capacity is the
overflow map: per boundary, and in total, an early sign that a floorplan cannot route.
"""

from __future__ import annotations

import heapq
import time

import numpy as np
from numba import njit

from kchip.flows.physical.congestion import LOWEST_LAYER_SHARE
from kchip.flows.physical.grid import BLOCKED, RouteGrid
from kchip.flows.physical.search import traced_back

#: PathFinder schedule on the gcell graph: history added per round over capacity, the present
#: factor's start and growth
HISTORY_STEP, PRESENT_START, PRESENT_GROWTH = 1.0, 0.5, 2.0
#: how far (gcells) a connection's search may leave the bounding box of its terminal and the tree
SEARCH_MARGIN = 8


@njit(cache=True)
def _astar(source, stamp, box, ngy, length_h, length_v, use_h, use_v, cap_h, cap_v, hist_h, hist_v, pres,
           target, best, best_stamp, parent, closed):
    """Cheapest gcell path from ``source`` to a gcell whose ``target`` entry is ``stamp`` inside
    ``box`` (gcell columns and rows); boundary ``(gi, gj)``-``(gi + 1, gj)`` is entry ``gi*ngy + gj``
    of the ``_h`` arrays, ``(gi, gj)``-``(gi, gj + 1)`` the same entry of the ``_v`` arrays."""
    i_lo, i_hi, j_lo, j_hi = box[0], box[1], box[2], box[3]
    ti, tj = box[4], box[5]
    best[source] = 0.0
    best_stamp[source] = stamp
    parent[source] = -1
    heap = [(0.0, source)]
    while len(heap) > 0:
        _, n = heapq.heappop(heap)
        if closed[n] == stamp:
            continue
        closed[n] = stamp
        if target[n] == stamp:
            return traced_back(n, parent)
        i, j = n // ngy, n % ngy
        for d in range(4):
            if d == 0:
                if i <= i_lo:
                    continue
                m, e, horizontal = n - ngy, n - ngy, True
            elif d == 1:
                if i >= i_hi:
                    continue
                m, e, horizontal = n + ngy, n, True
            elif d == 2:
                if j <= j_lo:
                    continue
                m, e, horizontal = n - 1, n - 1, False
            else:
                if j >= j_hi:
                    continue
                m, e, horizontal = n + 1, n, False
            if horizontal:
                over = use_h[e] + 1 - cap_h[e]
                unit = length_h * (1.0 + hist_h[e])
            else:
                over = use_v[e] + 1 - cap_v[e]
                unit = length_v * (1.0 + hist_v[e])
            new = best[n] + unit * (1.0 + pres * max(over, 0.0))
            if best_stamp[m] != stamp or new < best[m]:
                best[m] = new
                best_stamp[m] = stamp
                parent[m] = n
                mi, mj = m // ngy, m % ngy
                heapq.heappush(heap, (new + abs(mi - ti) * length_h + abs(mj - tj) * length_v, m))
    return np.empty(0, dtype=np.int64)


class GlobalRoute:
    """The gcell graph of a routing grid, its capacities, and every net's global route."""

    def __init__(self, grid: RouteGrid, size: int):
        self.size = size
        self.ngx, self.ngy = -(-grid.nx // size), -(-grid.ny // size)
        self.cap_h, self.cap_v = self._capacities(grid)
        self.length_h, self.length_v = grid.dx * size / 1000, grid.dy * size / 1000
        shape = self.ngx * self.ngy
        self.use_h, self.use_v = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
        self.hist_h, self.hist_v = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
        self.guides: list[np.ndarray] = []
        self.rounds: list[dict] = []

    def _capacities(self, grid: RouteGrid) -> tuple[np.ndarray, np.ndarray]:
        """Tracks across each gcell boundary (see the module's description)."""
        size, ngx, ngy = self.size, self.ngx, self.ngy
        cap_h, cap_v = np.zeros((ngx, ngy)), np.zeros((ngx, ngy))
        free = grid.valid & (grid.wire_block != BLOCKED) & (grid.edge_block != BLOCKED)
        for layer, horizontal in enumerate(grid.horizontal):
            share = LOWEST_LAYER_SHARE if layer == 0 else 1.0
            if horizontal:
                columns = np.arange(1, ngx) * size
                # free[layer, column, :] summed per gcell row, for each boundary column
                tracks = np.add.reduceat(free[layer, columns, :].astype(np.float64), np.arange(0, grid.ny, size),
                                         axis=1) if len(columns) else np.zeros((0, ngy))
                cap_h[:-1, :] += share * tracks
            else:
                rows = np.arange(1, ngy) * size
                tracks = np.add.reduceat(free[layer][:, rows].astype(np.float64), np.arange(0, grid.nx, size),
                                         axis=0) if len(rows) else np.zeros((ngx, 0))
                cap_v[:, :-1] += share * tracks
        return cap_h.ravel(), cap_v.ravel()

    def cell(self, grid: RouteGrid, node: int) -> int:
        """The gcell of a detailed grid node."""
        _, i, j = grid.decode(node)
        return (i // self.size) * self.ngy + j // self.size

    def route(self, grid: RouteGrid, terminals: list[list[int]], *, max_rounds: int = 10) -> dict[str, float]:
        """Route every net (``terminals``: its detailed grid nodes) on the gcell graph; returns metrics."""
        started = time.perf_counter()
        cells = [sorted({self.cell(grid, t) for t in ts}) for ts in terminals]
        self._edges: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, np.int64), np.empty(0, np.int64))] * len(cells)
        self.guides = [np.array(c, dtype=np.int64) for c in cells]
        count = self.ngx * self.ngy
        self._target = np.zeros(count, np.int32)
        self._best = np.zeros(count, np.float64)
        self._best_stamp = np.zeros(count, np.int32)
        self._parent = np.full(count, -1, np.int64)
        self._closed = np.zeros(count, np.int32)
        self._stamp = 0
        todo = [k for k, c in enumerate(cells) if len(c) > 1]
        pres = PRESENT_START
        over_h, over_v, overflow = self.use_h - self.cap_h, self.use_v - self.cap_v, 0.0
        for round_number in range(1, max_rounds + 1):
            for k in todo:
                self._commit(k, -1)
                self._route_net(k, cells[k], pres)
                self._commit(k, +1)
            over_h, over_v = self.use_h - self.cap_h, self.use_v - self.cap_v
            overflow = float(np.maximum(over_h, 0).sum() + np.maximum(over_v, 0).sum())
            self.rounds.append({"round": round_number, "nets_routed": len(todo),
                                "overflow_tracks": round(overflow, 1),
                                "seconds": round(time.perf_counter() - started, 2)})
            if overflow <= 0 or round_number == max_rounds:
                break
            hot_h, hot_v = over_h > 0, over_v > 0
            todo = [k for k in todo if hot_h[self._edges[k][0]].any() or hot_v[self._edges[k][1]].any()]
            self.hist_h[hot_h] += HISTORY_STEP
            self.hist_v[hot_v] += HISTORY_STEP
            pres *= PRESENT_GROWTH
        return {"groute__gcell__size": self.size,
                "groute__rounds__count": len(self.rounds),
                "groute__overflow__tracks": round(overflow, 1),
                "groute__overflow_boundaries__count": int((over_h > 0).sum() + (over_v > 0).sum()),
                "groute__runtime__s": round(time.perf_counter() - started, 2)}

    def _route_net(self, k: int, cells: list[int], pres: float) -> None:
        ngy = self.ngy
        tree = {cells[0]}
        rest = sorted(cells[1:], key=lambda c: abs(c // ngy - cells[0] // ngy) + abs(c % ngy - cells[0] % ngy))
        steps_h, steps_v = [], []
        for terminal in rest:
            if terminal in tree:
                continue
            self._stamp += 1
            stamp = self._stamp
            nodes = np.fromiter(tree, dtype=np.int64, count=len(tree))
            self._target[nodes] = stamp
            gi, gj = np.append(nodes // ngy, terminal // ngy), np.append(nodes % ngy, terminal % ngy)
            near = int(np.argmin(np.abs(nodes // ngy - terminal // ngy) + np.abs(nodes % ngy - terminal % ngy)))
            box = np.array([max(0, gi.min() - SEARCH_MARGIN), min(self.ngx - 1, gi.max() + SEARCH_MARGIN),
                            max(0, gj.min() - SEARCH_MARGIN), min(ngy - 1, gj.max() + SEARCH_MARGIN),
                            nodes[near] // ngy, nodes[near] % ngy], dtype=np.int64)
            path = _astar(terminal, stamp, box, ngy, self.length_h, self.length_v, self.use_h, self.use_v,
                          self.cap_h, self.cap_v, self.hist_h, self.hist_v, pres, self._target, self._best,
                          self._best_stamp, self._parent, self._closed)
            for a, b in zip(path[:-1].tolist(), path[1:].tolist()):
                low, high = min(a, b), max(a, b)
                (steps_v if high - low == 1 else steps_h).append(low)
            tree.update(path.tolist())
        self._edges[k] = (np.array(steps_h, dtype=np.int64), np.array(steps_v, dtype=np.int64))
        self.guides[k] = np.array(sorted(tree), dtype=np.int64)

    def _commit(self, k: int, sign: int) -> None:
        steps_h, steps_v = self._edges[k]
        np.add.at(self.use_h, steps_h, sign)
        np.add.at(self.use_v, steps_v, sign)

    def corridor(self, k: int, widen: int) -> np.ndarray:
        """The gcells of net ``k``'s guide and every gcell within ``widen`` gcells of one."""
        guide = self.guides[k]
        gi, gj = guide // self.ngy, guide % self.ngy
        offsets = np.arange(-widen, widen + 1)
        wi = (gi[:, None, None] + offsets[None, :, None]).repeat(len(offsets), axis=2).ravel()
        wj = (gj[:, None, None] + offsets[None, None, :]).repeat(len(offsets), axis=1).ravel()
        keep = (wi >= 0) & (wi < self.ngx) & (wj >= 0) & (wj < self.ngy)
        return np.unique(wi[keep] * self.ngy + wj[keep])
