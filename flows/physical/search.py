"""The router's path search, compiled with numba: weighted A* over the routing grid.

Node ``n`` of layer ``l`` at (i, j) is ``l*nxy + i*ny + j``; layer 0 is the lowest routing layer.
A search may move along its layer's track (to the next node, ``stride`` columns or rows on), or by a
via to the layer above or below where that layer has a node. It may not enter a node or edge blocked
for its net, nor place a via where a via pad is blocked, nor stack two vias on one node of layer 2
(the island on it would be below the minimum area). A node costs its step (a wire step or a via)
times (1 + history) times (1 + present-congestion factor x other nets crowding it): on the node
itself; on its neighbours along the track of layers 2 and up; on layer 1, on the neighbours along
its track (rows apart on a vertical layer, columns apart on a horizontal one, as the conflict check
counts them) when a via pad is involved (a via here, or another net's via there: plain line ends one
step apart keep their spacing); and, for a via between layers 0 and 1, on the vertically neighbouring
layer-0 nodes' vias.

Per-search state (best cost, parent, closed, target) lives in arrays tagged with a search ``stamp``,
so nothing is cleared between searches.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

FREE = -1


@njit(cache=True)
def astar(net_id, source, stamp, box, target_box, pres, weight, grid_shape, pitch_um, horizontal, stride, along,
          step_cost, via_cost, wblk, vblk, eblk, valid, occ, vocc, vocc2, hist, target, best, best_stamp, parent,
          closed, corridor, lane):
    """Cheapest path from ``source`` to a node whose ``target`` entry equals ``stamp``;
    returns the node indices from the target back to the source (empty if none). ``pitch_um`` is the
    grid's (column, row) pitch, ``horizontal[l]`` and ``stride[l]`` (columns, rows) each layer's
    direction and node spacing. ``lane`` (gcell size, gcell rows, stamp), when its stamp is not 0,
    keeps the search to the gcells whose ``corridor`` entry is that stamp (a net's global route)."""
    nxy, ny, size = grid_shape[0], grid_shape[1], grid_shape[2]
    top = size // nxy - 1
    i_lo, i_hi, j_lo, j_hi = box[0], box[1], box[2], box[3]
    tx0, tx1, ty0, ty1 = target_box[0], target_box[1], target_box[2], target_box[3]
    hx, hy = pitch_um[0] * weight, pitch_um[1] * weight
    best[source] = 0.0
    best_stamp[source] = stamp
    parent[source] = -1
    heap = [(0.0, source)]
    moves = np.empty((4, 4), dtype=np.int64)
    #: the node-index step to the neighbours along layer 1's track (rows on a vertical layer,
    #: columns on a horizontal one)
    s1 = along[1] if top >= 1 else 1
    gsize, gny, gstamp = lane[0], lane[1], lane[2]
    while len(heap) > 0:
        _, n = heapq.heappop(heap)
        if closed[n] == stamp:
            continue
        closed[n] = stamp
        if target[n] == stamp:
            return traced_back(n, parent)
        cost = best[n]
        layer = n // nxy
        rest = n - layer * nxy
        i = rest // ny
        j = rest - i * ny
        next_node = along[layer]
        count = 0
        if horizontal[layer]:
            step = stride[layer, 0]
            if i - step >= i_lo:
                moves[count, 0], moves[count, 1], moves[count, 2], moves[count, 3] = n - next_node, i - step, j, 0
                count += 1
            if i + step <= i_hi:
                moves[count, 0], moves[count, 1], moves[count, 2], moves[count, 3] = n + next_node, i + step, j, 0
                count += 1
        else:
            step = stride[layer, 1]
            if j - step >= j_lo:
                moves[count, 0], moves[count, 1], moves[count, 2], moves[count, 3] = n - next_node, i, j - step, 0
                count += 1
            if j + step <= j_hi:
                moves[count, 0], moves[count, 1], moves[count, 2], moves[count, 3] = n + next_node, i, j + step, 0
                count += 1
        came_from = parent[n]
        stacked = layer == 2 and (came_from == n - nxy or came_from == n + nxy)
        if layer < top and valid[n + nxy] and not stacked:
            moves[count, 0], moves[count, 1], moves[count, 2], moves[count, 3] = n + nxy, i, j, 1
            count += 1
        if layer > 0 and valid[n - nxy] and not stacked:
            moves[count, 0], moves[count, 1], moves[count, 2], moves[count, 3] = n - nxy, i, j, 1
            count += 1
        for k in range(count):
            m, mi, mj, is_via = moves[k, 0], moves[k, 1], moves[k, 2], moves[k, 3]
            if gstamp != 0 and not is_via and corridor[(mi // gsize) * gny + mj // gsize] != gstamp:
                continue
            block = wblk[m]
            if block != FREE and block != net_id:
                continue
            if is_via:
                if (vblk[m] != FREE and vblk[m] != net_id) or (vblk[n] != FREE and vblk[n] != net_id):
                    continue
            else:
                e = eblk[n if n < m else m]
                if e != FREE and e != net_id:
                    continue
            m_layer = m // nxy
            crowd = occ[m]
            if m_layer == 1:
                if _inside_track(m - nxy, s1, ny, nxy):
                    if is_via:
                        crowd += occ[m - s1] + occ[m + s1]
                    else:
                        crowd += vocc2[m - nxy - s1] + vocc2[m - nxy + s1]
            elif m_layer > 1:
                s = along[m_layer]
                if m - s >= 0:
                    crowd += occ[m - s]
                if m + s < size:
                    crowd += occ[m + s]
            if is_via and layer == 1 and _inside_track(n - nxy, s1, ny, nxy):
                crowd += occ[n - s1] + occ[n + s1]
            if is_via and layer == 0 and 0 < n % ny < ny - 1:
                crowd += vocc[n - 1] + vocc[n + 1]
            elif is_via and m_layer == 0 and 0 < m % ny < ny - 1:
                crowd += vocc[m - 1] + vocc[m + 1]
            unit = via_cost if is_via else step_cost[m_layer]
            new = cost + unit * (1.0 + hist[m]) * (1.0 + pres * crowd)
            if best_stamp[m] != stamp or new < best[m]:
                best[m] = new
                best_stamp[m] = stamp
                parent[m] = n
                dx = tx0 - mi if mi < tx0 else (mi - tx1 if mi > tx1 else 0)
                dy = ty0 - mj if mj < ty0 else (mj - ty1 if mj > ty1 else 0)
                heapq.heappush(heap, (new + dx * hx + dy * hy, m))
    return np.empty(0, dtype=np.int64)


@njit(cache=True)
def traced_back(n, parent):
    """The path from node ``n`` back along ``parent`` links to the search's source (parent -1)."""
    length = 0
    m = n
    while m != -1:
        length += 1
        m = parent[m]
    path = np.empty(length, dtype=np.int64)
    m = n
    for k in range(length):
        path[k] = m
        m = parent[m]
    return path


@njit(cache=True)
def _inside_track(rest, step, ny, nxy):
    """Whether the node at layer-local index ``rest`` has a neighbour on both sides along its track,
    whose neighbours are ``step`` indices apart (below ``ny``: rows on a vertical track; a multiple
    of ``ny``: columns on a horizontal one)."""
    if step < ny:
        return step <= rest % ny < ny - step
    return step <= rest < nxy - step


class SearchState:
    """The arrays a search needs, allocated once per router."""

    def __init__(self, size: int):
        self.target = np.zeros(size, dtype=np.int32)
        self.best = np.zeros(size, dtype=np.float64)
        self.best_stamp = np.zeros(size, dtype=np.int32)
        self.parent = np.full(size, -1, dtype=np.int64)
        self.closed = np.zeros(size, dtype=np.int32)
        self.stamp = 0

    def next_stamp(self) -> int:
        self.stamp += 1
        return self.stamp
