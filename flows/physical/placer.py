"""Global placement by quadratic wirelength with area-balanced spreading, then row legalisation.

Global placement follows the SimPL idea in a small form: solve the quadratic wirelength problem
(cliques for small nets, a star node for large ones, I/O pins fixed), spread the solution by
recursive area-balanced bisection (a cell counts at least ``space_per_pin`` sites per pin, so
pin-dense logic is spread more) into a region no larger than ``target_density`` needs (a die much
larger than its cells keeps them together at its centre instead of strewing them over all of
it, which only lengthens wires), pull each cell towards its spread position with an anchor whose
weight grows every round, and solve again. Legalisation then puts each cell on the nearest free run
of sites in the nearest rows (taps are already fixed), and :class:`RowOccupancy` stays available so
later stages (clock buffers) can insert cells the same way.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from kchip.flows.physical.congestion import CongestionOptions, NetBoxes, relieve_congestion
from kchip.flows.physical.detailed_placement import refine
from kchip.flows.physical.layout import Instance, Layout
from kchip.formats.lef import Macro

STAR_THRESHOLD = 8


class PlacementError(RuntimeError):
    """The cells do not fit into the rows."""


class RowOccupancy:
    """Which sites of every row are taken; finds the nearest free run of sites for a cell."""

    def __init__(self, layout: Layout, macros: dict[str, Macro]):
        self.layout = layout
        self.site_w, self.row_h = layout.site
        self.x0, self.y0, x1, _ = layout.core
        self.sites = (x1 - self.x0) // self.site_w
        self.used = np.zeros((len(layout.rows), self.sites), dtype=bool)
        for inst in layout.instances.values():
            if inst.x is not None:
                self.mark(inst.x, inst.y, macros[inst.cell].width)

    def mark(self, x: int, y: int, width: int) -> None:
        row = (y - self.y0) // self.row_h
        start = (x - self.x0) // self.site_w
        self.used[row, start:start + width // self.site_w] = True

    def free(self, x: int, y: int, width: int) -> None:
        """Give the sites of a cell taken out of the rows back."""
        row = (y - self.y0) // self.row_h
        start = (x - self.x0) // self.site_w
        self.used[row, start:start + width // self.site_w] = False

    def longest_free_run(self) -> int:
        """The most free sites side by side in any row."""
        longest = 0
        for row in self.used:
            edges = np.flatnonzero(np.diff(np.concatenate(([True], row, [True])).astype(np.int8)))
            if edges.size:
                longest = max(longest, int((edges[1::2] - edges[::2]).max()))
        return longest

    def closest_free(self, x: float, y: float, width: int, rows: int, sites: int) -> tuple[int, int] | None:
        """Lower-left corner of the place for a cell of ``width`` closest to (x, y) (its lower-left
        corner) within ``rows`` rows and ``sites`` sites of it, or None; nothing is marked. The
        place is at one end of a free run, against its neighbour, so that free sites stay together."""
        n = width // self.site_w
        want_row = int(np.clip(round((y - self.y0) / self.row_h), 0, len(self.layout.rows) - 1))
        want_site = int(round((x - self.x0) / self.site_w))
        lo, hi = max(0, want_site - sites), min(self.sites, want_site + sites + n)
        best = None
        for row in range(max(0, want_row - rows), min(len(self.layout.rows), want_row + rows + 1)):
            free = ~self.used[row, lo:hi]
            if free.sum() < n:
                continue
            edges = np.flatnonzero(np.diff(np.concatenate(([0], free.astype(np.int8), [0]))))
            run_lo, run_hi = edges[::2], edges[1::2]
            fits = run_hi - run_lo >= n
            if not fits.any():
                continue
            ends = np.concatenate([run_lo[fits], run_hi[fits] - n])
            site = lo + ends[np.argmin(np.abs(lo + ends - want_site))]
            cost = abs(site - want_site) * self.site_w + abs(row - want_row) * self.row_h
            if best is None or cost < best[0]:
                best = (cost, row, int(site))
        if best is None:
            return None
        return self.x0 + best[2] * self.site_w, self.y0 + best[1] * self.row_h

    def nearest(self, x: float, y: float, width: int, search_rows: int = 4, *,
                what: str = "a cell") -> tuple[int, int]:
        """Lower-left corner of the free run closest to (x, y) that fits ``width``; marks it used.
        :class:`PlacementError` (naming ``what``) when no row has such a run left."""
        n = width // self.site_w
        want_row = int(np.clip(round((y - self.y0) / self.row_h), 0, len(self.layout.rows) - 1))
        want_site = (x - self.x0) / self.site_w
        best = None
        for reach in (search_rows, len(self.layout.rows)):
            for row in range(max(0, want_row - reach), min(len(self.layout.rows), want_row + reach + 1)):
                free = ~self.used[row]
                if free.sum() < n:
                    continue
                runs = np.convolve(free.astype(np.int32), np.ones(n, dtype=np.int32), "valid") == n
                starts = np.flatnonzero(runs)
                if starts.size == 0:
                    continue
                site = starts[np.argmin(np.abs(starts - want_site))]
                cost = abs(site - want_site) * self.site_w + abs(row - want_row) * self.row_h
                if best is None or cost < best[0]:
                    best = (cost, row, int(site))
            if best is not None:
                break
        if best is None:
            raise PlacementError(
                f"no free run of {n} sites ({width / 1000:g} um) is left for {what} in the core's "
                f"{len(self.layout.rows)} rows of {self.sites} sites: {int(self.used.sum())} of "
                f"{self.used.size} sites are taken and the longest free run is {self.longest_free_run()} "
                f"sites, so the core is too small or too full for the cells; lower [floorplan] "
                f"utilization or enlarge die_size_um in the design file")
        _, row, site = best
        self.used[row, site:site + n] = True
        return self.x0 + site * self.site_w, self.y0 + row * self.row_h


def _spread(order_x: np.ndarray, xs, ys, areas, region, out_x, out_y) -> None:
    """Recursive area-balanced bisection: cells keep their relative order, density becomes even."""
    stack = [(order_x, region)]
    while stack:
        idx, (rx0, ry0, rx1, ry1) = stack.pop()
        if idx.size == 0:
            continue
        if idx.size <= 2 or (rx1 - rx0 < 4000 and ry1 - ry0 < 6000):
            out_x[idx] = np.clip(xs[idx], rx0, rx1) if idx.size == 1 else np.linspace(rx0, rx1, idx.size + 2)[1:-1][np.argsort(np.argsort(xs[idx]))]
            out_y[idx] = (ry0 + ry1) / 2
            continue
        horizontal = (rx1 - rx0) >= (ry1 - ry0)
        key = xs[idx] if horizontal else ys[idx]
        idx = idx[np.argsort(key, kind="stable")]
        cumulative = np.cumsum(areas[idx])
        half = int(np.clip(np.searchsorted(cumulative, cumulative[-1] / 2) + 1, 1, idx.size - 1))
        left, right = idx[:half], idx[half:]
        fraction = cumulative[half - 1] / cumulative[-1]
        if horizontal:
            cut = rx0 + (rx1 - rx0) * fraction
            stack += [(left, (rx0, ry0, cut, ry1)), (right, (cut, ry0, rx1, ry1))]
        else:
            cut = ry0 + (ry1 - ry0) * fraction
            stack += [(left, (rx0, ry0, rx1, cut)), (right, (rx0, cut, rx1, ry1))]


def _system(n_vars: int, nets, fixed_pos, anchors_w, anchors_pos):
    """Quadratic system A x = b for one axis."""
    rows, cols, vals = [], [], []
    b = np.zeros(n_vars)
    diag = np.zeros(n_vars)

    def connect(a, b_, w):
        # a, b_ are ('v', index) movable/star variables or ('f', position)
        (ka, va), (kb, vb) = a, b_
        if ka == "v" and kb == "v":
            diag[va] += w
            diag[vb] += w
            rows.extend((va, vb))
            cols.extend((vb, va))
            vals.extend((-w, -w))
        elif ka == "v":
            diag[va] += w
            b[va] += w * vb
        elif kb == "v":
            diag[vb] += w
            b[vb] += w * va

    for terminals, star, weight in nets:
        resolved = [("v", t) if isinstance(t, (int, np.integer)) else ("f", fixed_pos(t)) for t in terminals]
        if star is None:
            for i in range(len(resolved)):
                for j in range(i + 1, len(resolved)):
                    connect(resolved[i], resolved[j], weight)
        else:
            for r in resolved:
                connect(("v", star), r, weight)
    diag += anchors_w
    b += anchors_w * anchors_pos
    A = sp.coo_matrix((vals, (rows, cols)), shape=(n_vars, n_vars)).tocsr() + sp.diags(diag + 1e-9)
    return A, b


def spreading_region(core: tuple[int, int, int, int], cell_area: float,
                     target_density: float | None) -> tuple[float, float, float, float]:
    """The part of ``core`` that cells of ``cell_area`` (nm2) spread over: all of it without a
    target or when they fill it to ``target_density`` or more, else a rectangle of the core's
    shape at its centre that they fill to exactly ``target_density``."""
    x0, y0, x1, y1 = core
    if target_density is None:
        return float(x0), float(y0), float(x1), float(y1)
    if not 0 < target_density <= 1:
        raise ValueError(f"target_density = {target_density!r} must be above 0 and at most 1")
    core_area = (x1 - x0) * (y1 - y0)
    if core_area <= 0 or cell_area >= target_density * core_area:
        return float(x0), float(y0), float(x1), float(y1)
    half = np.sqrt(cell_area / (target_density * core_area)) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - (x1 - x0) * half, cy - (y1 - y0) * half, cx + (x1 - x0) * half, cy + (y1 - y0) * half


def place(layout: Layout, macros: dict[str, Macro], *, rounds: int = 8, seed: int = 1,
          space_per_pin: float = 2.0, target_density: float | None = None,
          net_weights: dict[str, float] | None = None,
          congestion: CongestionOptions | None = None, refine_passes: int = 4,
          refine_density: float = 0.6) -> dict[str, float]:
    """Place every unplaced instance legally in the rows; returns placement metrics.

    Spreading counts a cell at least ``space_per_pin`` sites wide per connected pin, so that
    pin-dense logic (small NAND/AOI gates) gets the routing room its pins need, and keeps the
    cells within :func:`spreading_region` for ``target_density``. ``net_weights`` multiplies the
    pull of the nets it names (timing-critical ones). With ``congestion``, further rounds inflate
    the cells where the estimated routing demand exceeds its target (:mod:`.congestion`). After
    legalisation, ``refine_passes`` passes of :func:`~.detailed_placement.refine` shorten the nets."""
    net_weights = net_weights or {}
    movable = [n for n, i in layout.instances.items() if i.x is None]
    index = {name: k for k, name in enumerate(movable)}
    x0, y0, x1, y1 = layout.core
    port_pos = {p.name: ((p.rect[0] + p.rect[2]) / 2, (p.rect[1] + p.rect[3]) / 2) for p in layout.ports}
    fixed_xy = {}
    for name, inst in layout.instances.items():
        if inst.x is not None:
            m = macros[inst.cell]
            fixed_xy[name] = (inst.x + m.width / 2, inst.y + m.height / 2)
    nets = []
    n_vars = len(movable)
    for net, terminals in layout.nets().items():
        if net == layout.clock_net:
            continue
        ts = []
        for inst, pin in terminals:
            if inst == "":
                ts.append(("port", pin))
            elif inst in index:
                ts.append(index[inst])
            elif inst in fixed_xy:
                ts.append(("inst", inst))
        ts = list(dict.fromkeys(ts))
        if len(ts) < 2:
            continue
        weight = net_weights.get(net, 1.0)
        if len(ts) > STAR_THRESHOLD:
            nets.append((ts, n_vars, weight))
            n_vars += 1
        else:
            nets.append((ts, None, weight / (len(ts) - 1)))
    widths = np.array([macros[layout.instances[n].cell].width for n in movable], dtype=float)
    pins = np.array([len(layout.instances[n].conns) for n in movable], dtype=float)
    areas = np.maximum(widths, pins * space_per_pin * layout.site[0]) * layout.site[1]
    region = spreading_region(layout.core, float(widths.sum()) * layout.site[1], target_density)
    rng = np.random.default_rng(seed)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    pos = np.zeros((n_vars, 2))
    pos[:, 0] = cx + rng.normal(0, (x1 - x0) / 20, n_vars)
    pos[:, 1] = cy + rng.normal(0, (y1 - y0) / 20, n_vars)
    anchor_w = np.zeros(n_vars)
    anchor_pos = pos.copy()
    spread = pos[: len(movable)].copy()

    def placement_round(r: int, spreading_areas: np.ndarray, region) -> np.ndarray:
        for axis in (0, 1):
            def fixed(t, axis=axis):
                kind, name = t
                return (port_pos[name] if kind == "port" else fixed_xy[name])[axis]
            A, b = _system(n_vars, nets, fixed, anchor_w, anchor_pos[:, axis])
            solution, _ = spla.cg(A, b, x0=pos[:, axis], rtol=1e-6, maxiter=1000)
            pos[:, axis] = solution
        out_x = np.empty(len(movable))
        out_y = np.empty(len(movable))
        _spread(np.arange(len(movable)), pos[: len(movable), 0], pos[: len(movable), 1], spreading_areas,
                region, out_x, out_y)
        anchor_w[: len(movable)] = 0.02 * (2 ** r)
        anchor_pos[: len(movable)] = np.stack([out_x, out_y], axis=1)
        return anchor_pos[: len(movable)].copy()

    for r in range(rounds if movable else 0):
        spread = placement_round(r, areas, region)
    relief = {}
    if congestion is not None and movable:
        terminals = [[t if isinstance(t, (int, np.integer)) else (port_pos if t[0] == "port" else fixed_xy)[t[1]]
                      for t in ts] for ts, _, _ in nets]

        def inflated_round(r: int, inflated_areas: np.ndarray, inflated_cell_area: float) -> np.ndarray:
            nonlocal region
            region = spreading_region(layout.core, inflated_cell_area, target_density)
            return placement_round(rounds + r, inflated_areas, region)

        spread, relief = relieve_congestion(NetBoxes(terminals), spread, layout.core, widths * layout.site[1],
                                            areas, congestion, inflated_round)
    occupancy = RowOccupancy(layout, macros)
    order = np.argsort(spread[:, 0] - widths / 2) if movable else []
    displacement = 0.0
    for k in order:
        inst = layout.instances[movable[k]]
        want_x = spread[k, 0] - widths[k] / 2
        want_y = spread[k, 1] - layout.site[1] / 2
        x, y = occupancy.nearest(want_x, want_y, int(widths[k]), what=f"{movable[k]} ({inst.cell})")
        displacement += abs(x - want_x) + abs(y - want_y)
        inst.x, inst.y = x, y
        inst.orient = dict(layout.rows)[y]
    if movable and refine_passes:
        relief.update(refine(layout, macros, movable, occupancy, passes=refine_passes,
                             areas=dict(zip(movable, areas.tolist())), max_density=refine_density))
    return {
        **relief,
        "place__region__fraction": (region[2] - region[0]) * (region[3] - region[1]) / max(1, (x1 - x0) * (y1 - y0)),
        "place__displacement__mean_um": displacement / max(1, len(movable)) / 1000,
        "place__hpwl__um": hpwl(layout, macros),
    }


def hpwl(layout: Layout, macros: dict[str, Macro]) -> float:
    """Half-perimeter wirelength over all nets, from cell centres and pin centres, in um."""
    points: dict[str, list[tuple[float, float]]] = {}
    for port in layout.ports:
        if port.rect:
            points.setdefault(port.net, []).append(((port.rect[0] + port.rect[2]) / 2, (port.rect[1] + port.rect[3]) / 2))
    for inst in layout.instances.values():
        if inst.x is None:
            continue
        m = macros[inst.cell]
        for net in inst.conns.values():
            points.setdefault(net, []).append((inst.x + m.width / 2, inst.y + m.height / 2))
    total = 0.0
    for pts in points.values():
        if len(pts) > 1:
            xs, ys = zip(*pts)
            total += max(xs) - min(xs) + max(ys) - min(ys)
    return total / 1000


def fill_rows(layout: Layout, macros: dict[str, Macro], fill_cells: list[str]) -> int:
    """Fill every free site with filler cells (widest first) so the power rails run unbroken."""
    occupancy = RowOccupancy(layout, macros)
    widths = sorted(((macros[c].width // occupancy.site_w, c) for c in fill_cells), reverse=True)
    added = 0
    for row, (y, orient) in enumerate(layout.rows):
        free = ~occupancy.used[row]
        site = 0
        while site < occupancy.sites:
            if not free[site]:
                site += 1
                continue
            run = site
            while run < occupancy.sites and free[run]:
                run += 1
            while site < run:
                n, cell = next((n, c) for n, c in widths if n <= run - site)
                layout.instances[f"fill_{row}_{site}"] = Instance(
                    cell, {}, "fill", occupancy.x0 + site * occupancy.site_w, y, orient, True)
                site += n
                added += 1
    return added
