"""The global router (kchip.flows.physical.global_route) on SKY130's routing grid: gcell boundary
capacities counted node by node, negotiation that spreads nets over a boundary they would overflow,
and corridors that hold each net's route."""

import numpy as np
import pytest

from kchip.flows.physical import global_route
from kchip.flows.physical.global_route import GlobalRoute
from kchip.flows.physical.grid import BLOCKED, RouteGrid

SIZE = 6


@pytest.fixture
def grid(tech_and_macros):
    tech, _ = tech_and_macros
    return RouteGrid((0, 0, 30_000, 20_000), tech)


def _tracks_across(grid, boundary_i=None, boundary_j=None, rows=(), columns=()):
    """Free tracks crossing one gcell boundary, counted one node at a time: for a boundary at column
    ``boundary_i``, the horizontal layers' nodes there in ``rows``; at row ``boundary_j``, the
    vertical layers' nodes in ``columns``; the lowest layer counting half."""
    total = 0.0
    for layer, horizontal in enumerate(grid.horizontal):
        if horizontal != (boundary_i is not None):
            continue
        for k in (rows if horizontal else columns):
            i, j = (boundary_i, k) if horizontal else (k, boundary_j)
            free = (grid.valid[layer, i, j] and grid.wire_block[layer, i, j] != BLOCKED
                    and grid.edge_block[layer, i, j] != BLOCKED)
            total += (0.5 if layer == 0 else 1.0) * free
    return total


def test_capacity_counts_the_free_tracks_across_each_boundary(grid, tech_and_macros):
    # a cell obstruction-like block on the second routing layer and the third over part of the die
    grid.block(grid.layers[2], [(4_000, 3_000, 9_000, 6_000)])
    grid.block(grid.layers[1], [(2_000, 2_000, 5_000, 9_000)])
    route = GlobalRoute(grid, SIZE)
    for gi in range(route.ngx - 1):
        for gj in range(route.ngy):
            rows = range(gj * SIZE, min(grid.ny, (gj + 1) * SIZE))
            expected = _tracks_across(grid, boundary_i=(gi + 1) * SIZE, rows=rows)
            assert route.cap_h[gi * route.ngy + gj] == pytest.approx(expected), (gi, gj)
    for gi in range(route.ngx):
        for gj in range(route.ngy - 1):
            columns = range(gi * SIZE, min(grid.nx, (gi + 1) * SIZE))
            expected = _tracks_across(grid, boundary_j=(gj + 1) * SIZE, columns=columns)
            assert route.cap_v[gi * route.ngy + gj] == pytest.approx(expected), (gi, gj)
    # the blocks took tracks: some boundary near them has fewer than the open die's
    open_route = GlobalRoute(RouteGrid((0, 0, 30_000, 20_000), tech_and_macros[0]), SIZE)
    assert (route.cap_h < open_route.cap_h).any() and (route.cap_v < open_route.cap_v).any()


def _nets_across(grid, row_gcell, count):
    """``count`` nets from the leftmost gcell column to the rightmost, all in gcell row ``row_gcell``."""
    j = row_gcell * SIZE + 1
    return [[grid.index(1, 0, j), grid.index(1, grid.nx - 1, j)] for _ in range(count)]


@pytest.mark.parametrize("rounds, present, spread", [(1, 0.0, False), (10, 0.5, True)])
def test_negotiation_spreads_nets_over_a_boundary_they_would_overflow(grid, monkeypatch, rounds, present, spread):
    monkeypatch.setattr(global_route, "PRESENT_START", present)
    route = GlobalRoute(grid, SIZE)
    route.cap_h[:] = 2.0
    route.cap_v[:] = 8.0
    middle = route.ngy // 2
    metrics = route.route(grid, _nets_across(grid, middle, 6), max_rounds=rounds)
    # one round that charges nothing for crowding (the fault) routes every net straight along its
    # row: 6 nets on boundaries of 2 tracks; with negotiation they spread over neighbouring rows and
    # nothing is over capacity
    assert (metrics["groute__overflow__tracks"] == 0) == spread
    assert (route.use_h <= route.cap_h).all() == spread
    rows_used = {int(c % route.ngy) for guide in route.guides for c in guide}
    assert (len(rows_used) >= 3) == spread
    for guide in route.guides:
        columns = {int(c // route.ngy) for c in guide}
        assert columns == set(range(route.ngx)), "a guide must join both ends"


def test_a_corridor_holds_the_guide_and_its_neighbours(grid):
    route = GlobalRoute(grid, SIZE)
    route.route(grid, [[grid.index(1, 0, 1), grid.index(1, grid.nx - 1, grid.ny - 1)]])
    guide = set(route.guides[0].tolist())
    assert route.cell(grid, grid.index(1, 0, 1)) in guide
    assert route.cell(grid, grid.index(1, grid.nx - 1, grid.ny - 1)) in guide
    assert set(route.corridor(0, 0).tolist()) == guide
    wide = set(route.corridor(0, 1).tolist())
    for cell in guide:
        gi, gj = divmod(cell, route.ngy)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if 0 <= gi + di < route.ngx and 0 <= gj + dj < route.ngy:
                    assert (gi + di) * route.ngy + gj + dj in wide
    for cell in wide:
        gi, gj = divmod(cell, route.ngy)
        assert min(max(abs(gi - c // route.ngy), abs(gj - c % route.ngy)) for c in guide) <= 1
