"""Turning a net's routed wires into drawn metal that meets the layer rules: same-net gaps and
notches closed and small holes filled (:func:`mended`), islands below the minimum area stretched
along their track where no other net is near (:func:`grow_islands`, asking a :class:`ShapeIndex`)."""

from __future__ import annotations

import klayout.db as kdb
import numpy as np

from kchip.flows.physical.layout import grown, overlaps


class ShapeIndex:
    """Rectangles per layer in buckets, to ask which other net's shapes are near a rectangle; and
    the fixed metal, gathered per layer when first asked about (a re-route in a window has much
    of it and seldom asks)."""

    BUCKET = 5000

    def __init__(self):
        self.buckets: dict[tuple[str, int, int], list[tuple[str, tuple]]] = {}
        self._source = None
        self._fixed: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._codes: dict[str, int] = {}

    def add_fixed_later(self, source) -> None:
        """Fixed metal: ``source()`` gives per layer its rectangles and their nets."""
        self._source = source

    def _keys(self, layer, rect):
        b = self.BUCKET
        for bx in range(rect[0] // b, rect[2] // b + 1):
            for by in range(rect[1] // b, rect[3] // b + 1):
                yield layer, bx, by

    def add(self, layer: str, net: str, rect) -> None:
        for key in self._keys(layer, rect):
            self.buckets.setdefault(key, []).append((net, rect))

    def clear_of_others(self, layer: str, net: str, rect, spacing: int) -> bool:
        """True when no other net's shape on ``layer`` comes closer than ``spacing``."""
        probe = grown(rect, spacing)
        for key in self._keys(layer, probe):
            for other, r in self.buckets.get(key, ()):
                if other != net and overlaps(r, probe):
                    return False
        if self._source is not None:
            codes = self._codes
            for name, (rects, nets) in self._source().items():
                self._fixed[name] = (np.array(rects, dtype=np.int64).reshape(-1, 4),
                                     np.array([codes.setdefault(n, len(codes)) for n in nets], dtype=np.int64))
            self._source = None
        if layer in self._fixed:
            r, owners = self._fixed[layer]
            near = (r[:, 0] < probe[2]) & (probe[0] < r[:, 2]) & (r[:, 1] < probe[3]) & (probe[1] < r[:, 3])
            if (near & (owners != self._codes.get(net, -1))).any():
                return False
        return True


def _region(rects) -> kdb.Region:
    region = kdb.Region()
    for r in rects:
        region.insert(kdb.Box(*r))
    return region.merged()


def mended(rects, spacing: int, hole_nm2: int, fixed=()) -> list[tuple[int, int, int, int]]:
    """One net's shapes on one layer as rectangles, closed together with the net's ``fixed`` metal
    (pins, ports) so that no gap or notch narrower than the spacing is left between any of them
    (a morphological closing: grow by half the spacing, shrink), and with holes smaller than
    ``hole_nm2`` filled (no other net's metal fits in them). The fixed metal itself is drawn elsewhere and left out."""
    drawn, pins = _region(rects), _region(fixed)
    half = spacing // 2
    closed = (drawn + pins).merged().sized(half).sized(-half)
    closed = (closed + closed.holes().with_area(0, hole_nm2, False)).merged()
    closed = ((closed - pins) + drawn).merged()
    return [(b.left, b.bottom, b.right, b.top) for b in
            (p.bbox() for p in closed.decompose_trapezoids_to_region().each())]


def grow_islands(boxes, layer, horizontal: bool, net: str, neighbours: ShapeIndex, grid: int):
    """For each island of ``boxes`` below the layer's minimum area, a rectangle that stretches it
    along its track far enough (in whole steps of the manufacturing ``grid``), on whichever side
    keeps clear of other nets (None if neither)."""
    if not layer.min_area_nm2:
        return []
    grown = []
    for polygon in _region(boxes).each():
        area = polygon.area()
        if area >= layer.min_area_nm2:
            continue
        box = polygon.bbox()
        across = box.height() if horizontal else box.width()
        extra = (-(-(layer.min_area_nm2 - area) // max(1, across)) // grid + 2) * grid
        half = (extra // 2 // grid + 1) * grid
        lo, hi = (box.left, box.right) if horizontal else (box.bottom, box.top)
        choice = None
        starts = [lo - half] + list(range(lo - extra, lo + 1, 2 * grid))
        for start in starts:
            end = start + (hi - lo) + extra
            rect = ((start, box.bottom, end, box.top) if horizontal else (box.left, start, box.right, end))
            if neighbours.clear_of_others(layer.name, net, rect, layer.spacing):
                choice = rect
                break
        grown.append(choice)
    return grown
