"""The router's A* (kchip.flows.physical.search) on a tiny hand-made grid: the crowding it charges on
layer 1 is along that layer's own track, whichever way the layer runs (SKY130's met2 is vertical,
IHP's Metal3 horizontal), as the router's conflict check counts it."""

import numpy as np
import pytest

from kchip.flows.physical.search import FREE, SearchState, astar


def _search(horizontal, foreign, corridor=None):
    """Two layers of 5 x 5 nodes; the source on layer 0 at (2, 2), the targets on layer 1 at (1, 0)
    and (3, 0) when layer 1 is vertical, at (0, 1) and (0, 3) when horizontal, so that the via up
    lands at (1, 2) or (3, 2), or at (2, 1) or (2, 3); another net occupies the layer-1 nodes
    ``foreign``; the search keeps to the (i, j) of ``corridor`` when given. Returns the (i, j) on
    layer 1 where the path's via lands (None: no path)."""
    nx = ny = 5
    nxy, size = nx * ny, 2 * nx * ny
    index = lambda layer, i, j: layer * nxy + i * ny + j  # noqa: E731
    layer_dirs = np.array([not horizontal, horizontal], dtype=np.bool_)
    stride = np.ones((2, 2), dtype=np.int64)
    along = np.array([ny if h else 1 for h in layer_dirs], dtype=np.int64)
    occ = np.zeros(size, dtype=np.int32)
    for i, j in foreign:
        occ[index(1, i, j)] = 1
    state = SearchState(size)
    stamp = state.next_stamp()
    targets = [index(1, 0, 1), index(1, 0, 3)] if horizontal else [index(1, 1, 0), index(1, 3, 0)]
    state.target[targets] = stamp
    box = np.array([0, nx - 1, 0, ny - 1], dtype=np.int64)
    target_box = np.array([0, 0, 1, 3] if horizontal else [1, 3, 0, 0], dtype=np.int64)
    free = np.full(size, FREE, dtype=np.int32)
    path = astar(0, index(0, 2, 2), stamp, box, target_box, 10.0, 1.0,
                 np.array([nxy, ny, size], dtype=np.int64), np.array([1.0, 1.0]), layer_dirs, stride, along,
                 np.array([1.0, 1.0]), 1.5, free, free.copy(), free.copy(), np.ones(size, dtype=np.bool_), occ,
                 np.zeros(nxy, dtype=np.int32), np.zeros(nxy, dtype=np.int32), np.zeros(size), state.target,
                 state.best, state.best_stamp, state.parent, state.closed, *_lane(corridor, nx, ny))
    path = path.tolist()
    if not path:
        return None
    (landing,) = [b for a, b in zip(path[1:], path) if a < nxy <= b]
    return divmod(landing - nxy, ny)


@pytest.mark.parametrize("horizontal", [False, True])
def test_a_via_onto_layer_1_avoids_another_net_beside_it_along_the_track(horizontal):
    # the via can land on layer 1 in two places alike; another net sits on layer 1 next to one landing
    # along the layer's track (a via pad there is too close), and next to the other across the track
    # (a neighbouring track: no conflict); the path takes the landing with nobody along its track
    if horizontal:
        assert _search(True, [(3, 1), (2, 4)]) == (2, 3)
        assert _search(True, [(3, 3), (2, 0)]) == (2, 1)
    else:
        assert _search(False, [(1, 3), (4, 2)]) == (3, 2)
        assert _search(False, [(3, 3), (0, 2)]) == (1, 2)


def _lane(cells, nx, ny):
    """A corridor of single-node gcells: the (i, j) ``cells`` (none: no corridor)."""
    corridor = np.zeros(nx * ny, dtype=np.int32)
    if cells is None:
        return corridor, np.array([1, ny, 0], dtype=np.int64)
    for i, j in cells:
        corridor[i * ny + j] = 7
    return corridor, np.array([1, ny, 7], dtype=np.int64)


def test_a_corridor_keeps_the_search_inside_it():
    # vertical layer 1: the via from (2, 2) lands at (1, 2) or (3, 2), then runs down to the target at
    # row 0. Without a corridor a blocked landing is avoided by crowding alone; a corridor that holds
    # only column 3 (and the source) forces the landing there even though a crowded node is beside it,
    # and a corridor joining neither target leaves no path at all
    column_1 = [(2, 2), (1, 2), (1, 1), (1, 0)]
    column_3 = [(2, 2), (3, 2), (3, 1), (3, 0)]
    assert _search(False, [(3, 3)]) == (1, 2)
    assert _search(False, [(3, 3)], corridor=column_3) == (3, 2)
    assert _search(False, [(1, 3)], corridor=column_1) == (1, 2)
    assert _search(False, [], corridor=[(2, 2), (2, 1), (2, 0)]) is None
