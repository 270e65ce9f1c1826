"""Routing congestion estimated from a placement (RUDY), and the cell inflation that relieves it.

RUDY (rectangular uniform wire density, Spindler and Johannes, 2007): a net whose terminals span a
``w`` x ``h`` box needs about ``w + h`` of wire, spread evenly over the box, so it adds
``(w + h) / (w h)`` of wire per unit area to every point of it. Summed over the nets into bins and
divided by the wire per unit area that the routing layers' tracks offer (``supply``), a bin's ratio
says how full its routing would be: at 1 every track is taken. A box is at least ``min_extent``
on each side, so that a net inside one cell row does not count as infinitely dense.

Placement uses the map to inflate the cells of the bins above a target ratio (each by the bin's
ratio over the target, cumulatively, up to a limit) and spreads again, so that cells of a
congested region take more room and their nets' wire spreads over more tracks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: share of the lowest routing layer's tracks counted as capacity (pin accesses and their vias
#: take much of it), here and by the global router
LOWEST_LAYER_SHARE = 0.5


@dataclass(frozen=True)
class CongestionOptions:
    """How placement relieves congestion: ``supply`` is the routing tracks' wire per area (um per
    um2, :func:`track_supply`), ``target`` the demand ratio above which cells are inflated, at most
    ``rounds`` times and up to ``limit`` times their area; bins of side ``bin_size`` (nm), boxes at
    least ``min_extent`` (nm) on a side."""

    supply: float
    bin_size: float
    min_extent: float
    target: float = 0.7
    rounds: int = 3
    limit: float = 2.5


class NetBoxes:
    """Every net's terminals as index arrays, to compute bounding boxes from positions quickly.

    ``terminals[k]`` lists net ``k``'s terminals: ints index the movable positions, anything else
    is a fixed point ``(x, y)`` in nm."""

    def __init__(self, terminals: list[list]):
        movable, fixed, owner_m, owner_f = [], [], [], []
        for k, ts in enumerate(terminals):
            for t in ts:
                if isinstance(t, (int, np.integer)):
                    movable.append(int(t))
                    owner_m.append(k)
                else:
                    fixed.append(t)
                    owner_f.append(k)
        self.count = len(terminals)
        self.movable = np.array(movable, dtype=np.int64)
        self.owner_m = np.array(owner_m, dtype=np.int64)
        self.fixed = np.array(fixed, dtype=np.float64).reshape(-1, 2)
        self.owner_f = np.array(owner_f, dtype=np.int64)

    def boxes(self, positions: np.ndarray) -> np.ndarray:
        """``(count, 4)`` boxes ``x0, y0, x1, y1`` (nm) of the nets at ``positions`` (``(n, 2)``)."""
        lo = np.full((self.count, 2), np.inf)
        hi = np.full((self.count, 2), -np.inf)
        for owner, points in ((self.owner_m, positions[self.movable]), (self.owner_f, self.fixed)):
            for axis in (0, 1):
                np.minimum.at(lo[:, axis], owner, points[:, axis])
                np.maximum.at(hi[:, axis], owner, points[:, axis])
        return np.concatenate([lo, hi], axis=1)


def rudy_ratio(boxes: np.ndarray, region: tuple[float, float, float, float], bin_size: float,
               supply: float, min_extent: float) -> np.ndarray:
    """Wire demand over ``supply`` per bin of side about ``bin_size`` (nm) covering ``region``;
    ``supply`` is wire length per area (um per um2) of the routing tracks; returns ``(nx, ny)``."""
    if supply <= 0:
        raise ValueError(f"routing supply = {supply!r} um/um2 must be above 0")
    x0, y0, x1, y1 = region
    nx = max(1, int(round((x1 - x0) / bin_size)))
    ny = max(1, int(round((y1 - y0) / bin_size)))
    edges_x, edges_y = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    w = np.maximum(boxes[:, 2] - boxes[:, 0], min_extent)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], min_extent)
    density = (w + h) / (w * h) * 1000.0  # um of wire per um2 of box
    over_x = np.clip(np.minimum(cx[:, None] + w[:, None] / 2, edges_x[None, 1:])
                     - np.maximum(cx[:, None] - w[:, None] / 2, edges_x[None, :-1]), 0, None)
    over_y = np.clip(np.minimum(cy[:, None] + h[:, None] / 2, edges_y[None, 1:])
                     - np.maximum(cy[:, None] - h[:, None] / 2, edges_y[None, :-1]), 0, None)
    bin_area = np.outer(np.diff(edges_x), np.diff(edges_y))
    demand = (over_x * density[:, None]).T @ over_y / bin_area
    return demand / supply


def bins_of(positions: np.ndarray, region: tuple[float, float, float, float], shape: tuple[int, int]) -> tuple:
    """The bin index ``(ix, iy)`` of each position in a ``shape`` grid of bins over ``region``."""
    x0, y0, x1, y1 = region
    ix = np.clip(((positions[:, 0] - x0) / max(x1 - x0, 1e-9) * shape[0]).astype(np.int64), 0, shape[0] - 1)
    iy = np.clip(((positions[:, 1] - y0) / max(y1 - y0, 1e-9) * shape[1]).astype(np.int64), 0, shape[1] - 1)
    return ix, iy


def inflated(inflation: np.ndarray, ratio_at_cell: np.ndarray, target: float, limit: float) -> np.ndarray:
    """``inflation`` grown by each cell's bin ratio over ``target`` where that is above 1, and
    capped at ``limit``."""
    return np.minimum(inflation * np.maximum(ratio_at_cell / target, 1.0), limit)


def track_supply(pitches_nm: list[int], lowest_share: float) -> float:
    """Wire per area (um per um2) that routing layers of these pitches offer, the lowest one
    counting only ``lowest_share`` of its tracks (the cells' pin accesses crowd it)."""
    return sum((lowest_share if k == 0 else 1.0) * 1000.0 / pitch for k, pitch in enumerate(pitches_nm))


def relieve_congestion(nets: NetBoxes, spread: np.ndarray, core, cell_areas: np.ndarray, areas: np.ndarray,
                       options: CongestionOptions,
                       placement_round: Callable[[int, np.ndarray, float], np.ndarray]) -> tuple[np.ndarray, dict]:
    """Inflate the cells of bins over ``options.target`` and place again, up to ``options.rounds``
    times. ``placement_round(r, spreading_areas, inflated_cell_area)`` solves and spreads once
    and returns the new positions. Returns the positions and the metrics."""
    inflation = np.ones(len(spread))

    def ratio_map(positions):
        return rudy_ratio(nets.boxes(positions), core, options.bin_size, options.supply, options.min_extent)

    first = ratio = ratio_map(spread)
    done = 0
    for done in range(options.rounds):
        if ratio.max() <= options.target:
            break
        ix, iy = bins_of(spread, core, ratio.shape)
        inflation = inflated(inflation, ratio[ix, iy], options.target, options.limit)
        spread = placement_round(done, areas * inflation, float((cell_areas * inflation).sum()))
        ratio = ratio_map(spread)
    else:
        done = options.rounds
    def excess(r) -> float:
        return float(np.maximum(r - options.target, 0).sum())

    return spread, {"place__congestion_first__max": float(first.max()),
                    "place__congestion__max": float(ratio.max()),
                    "place__congestion_first__excess": excess(first),
                    "place__congestion__excess": excess(ratio),
                    "place__congestion_over_target__fraction": float((ratio > options.target).mean()),
                    "place__congestion_rounds__count": done,
                    "place__inflation__mean": float(inflation.mean())}
