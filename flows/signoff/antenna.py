"""Process-antenna check of a routed layout, in the manner of OpenROAD's ``check_antennas``.

While a metal layer is etched, the metal it leaves connected to a transistor gate collects charge that
can break the gate oxide, unless that metal also reaches diffusion (a driver's output or a diode),
which drains it. Each layer is judged at the time it is etched: only the layers up to it exist, so
the metal that counts is the connected component through those layers alone. A wire that climbs to
a higher layer near the gate ("layer hopping") splits the lower layer's metal into pieces that each
reach the gate only later, when they no longer collect charge.

The geometry is the layout view of the route stage (:class:`~kchip.flows.physical.layout.Layout`):
every routed wire, via pad and port shape there carries its net, vias their cut from the tech LEF, and
cell pins come from the cell LEF at the instance's placement. Connectivity per net is therefore exact
without extracting the GDS, and cell-internal metal is left out, as OpenROAD leaves it out.

For each net, going up the tech LEF's layer stack (li1, mcon, met1, via, met2, ...), shapes of a layer
are merged into polygons and joined to what they overlap on the layer just below; a cell pin joins the
polygons its shapes touch. A top-level port's shape counts as metal but brings neither gate nor
diffusion area (as in OpenROAD without DEF antenna data), so a net driven from a port gets no relief
from diffusion inside the block. After adding layer L, every component that holds a gate pin (direction
INPUT with ANTENNAGATEAREA > 0) is checked with the layer's OXIDE1 rule:

- ``gate`` = sum of ANTENNAGATEAREA and ``diff`` = sum of ANTENNADIFFAREA of the pins in the component
  (um2; a diode cell's pin brings diffusion area, a driver's output too once it is connected);
- PAR = f_area x (area of L's polygons in the component) / gate, for routing and cut layers;
- PSR = f_side x (perimeter x THICKNESS of those polygons) / gate, for routing layers;
- CAR and CSR, per gate: the sum of its PAR (PSR) on every layer of the same kind (routing or cut)
  up to L;
- the allowed ratio: when ``diff`` > 0 or the plain ratio (ANTENNAAREARATIO, ANTENNASIDEAREARATIO,
  ANTENNACUMAREARATIO, ANTENNACUMSIDEAREARATIO) is not given, the DIFF variant looked up at ``diff``
  in its piecewise-linear table (extended past the last point along the last segment, as OpenROAD
  does); otherwise the plain ratio. A ratio with no applicable limit is not checked. The factors
  (ANTENNAAREAFACTOR, ANTENNASIDEAREAFACTOR) apply to diffusion-connected metal only when marked
  DIFFUSEONLY.

SKY130's tech LEF gives only DIFF ratios: side area on li1 (75 at no diffusion) and met1-met5 (400),
area on the cuts (mcon 3, via-via4 6), rising to 2609 (met) once 0.0225 um2 of diffusion is connected.
It gives no cumulative ratios, so CAR and CSR are computed but never limited there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import klayout.db as kdb
import numpy as np

from kchip.flows.physical.layout import Layout, Rect
from kchip.formats.lef import AntennaRule, Macro, Pwl, Technology

METRIC_UNITS = {"antenna__violations__count": "violations", "antenna__nets__count": "nets"}


@dataclass(frozen=True)
class Violation:
    """One ratio over its limit: on ``layer`` of ``net``, for the gate pins (``inst/pin``) listed."""

    net: str
    layer: str
    rule: str
    gates: tuple[str, ...]
    ratio: float
    allowed: float
    gate_area_um2: float
    diff_area_um2: float


@dataclass(frozen=True)
class AntennaResult:
    """Every violation, how many nets had a gate to check, and the largest ratio / allowed seen."""

    violations: tuple[Violation, ...]
    nets_checked: int
    worst_fraction: float
    seconds: float

    @property
    def nets(self) -> tuple[str, ...]:
        """The nets with at least one violation."""
        return tuple(sorted({v.net for v in self.violations}))

    def metrics(self) -> dict[str, int]:
        """Flat metrics (units in :data:`METRIC_UNITS`): violations, and nets with a violation."""
        return {"antenna__violations__count": len(self.violations), "antenna__nets__count": len(self.nets)}


#: a merged polygon with its bounding box (left, bottom, right, top) and whether it is that box
_Piece = tuple[kdb.Polygon, Rect, bool]


@dataclass(frozen=True)
class _Terminal:
    """A cell pin on the net: its name, antenna areas and placed shapes per layer, merged."""

    ref: str
    gate_area: float
    diff_area: float
    is_gate: bool
    pieces: dict[str, list[_Piece]]


def pwl_value(table: Pwl, x: float) -> float:
    """The table's ratio at diffusion area ``x``: linear between points, along the last segment beyond."""
    if len(table) == 1:
        return table[0][1]
    for (x0, y0), (x1, y1) in zip(table, table[1:]):
        if x < x1:
            break
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


def _limit(plain: float | None, table: Pwl | None, diff: float) -> float | None:
    if diff > 0 or plain is None:
        return pwl_value(table, diff) if table else None
    return plain


def _placed(inst, macro: Macro, rect: Rect) -> Rect:
    x0, y0, x1, y1 = rect
    if inst.orient == "FS":
        y0, y1 = macro.height - y1, macro.height - y0
    elif inst.orient != "N":
        raise ValueError(f"orientation {inst.orient!r} of a {macro.name} is not supported (N or FS)")
    return (inst.x + x0, inst.y + y0, inst.x + x1, inst.y + y1)


def _merged(rects) -> list[kdb.Polygon]:
    if not rects:
        return []
    region = kdb.Region()
    for rect in rects:
        region.insert(kdb.Box(*rect))
    return list(region.merged().each())


def _pieces(rects) -> list[_Piece]:
    """The merged polygons of ``rects`` with their bounding boxes."""
    found = []
    for polygon in _merged(rects):
        box = polygon.bbox()
        found.append((polygon, (box.left, box.bottom, box.right, box.top), polygon.is_box()))
    return found


def _box_pairs(first: list, second: list, *, touching: bool):
    """Index pairs (a, b) of items of ``first`` and ``second`` (tuples with the bounding box third)
    whose boxes overlap with positive area, or also only touch when ``touching``; in the order of
    a loop over ``first`` then ``second``."""
    if not first or not second:
        return []
    if len(first) * len(second) <= 64:
        found = []
        for a, (_, _, (l0, b0, r0, t0), _) in enumerate(first):
            for b, (_, _, (l1, b1, r1, t1), _) in enumerate(second):
                if ((l0 <= r1 and l1 <= r0 and b0 <= t1 and b1 <= t0) if touching
                        else (l0 < r1 and l1 < r0 and b0 < t1 and b1 < t0)):
                    found.append((a, b))
        return found
    p = np.array([item[2] for item in first], dtype=np.int64)
    q = np.array([item[2] for item in second], dtype=np.int64)
    if touching:
        hit = ((p[:, None, 0] <= q[None, :, 2]) & (q[None, :, 0] <= p[:, None, 2])
               & (p[:, None, 1] <= q[None, :, 3]) & (q[None, :, 1] <= p[:, None, 3]))
    else:
        hit = ((p[:, None, 0] < q[None, :, 2]) & (q[None, :, 0] < p[:, None, 2])
               & (p[:, None, 1] < q[None, :, 3]) & (q[None, :, 1] < p[:, None, 3]))
    return list(zip(*(axis.tolist() for axis in np.nonzero(hit))))


class _Components:
    """Union-find over the net's polygons and pins, grown one layer at a time from the bottom."""

    def __init__(self, count: int):
        self.parent = list(range(count))

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


class _NetCheck:
    """The bottom-up check of one net."""

    def __init__(self, net: str, shapes: dict[str, list[Rect]], terminals: list[_Terminal], tech: Technology):
        self.net, self.shapes, self.terminals, self.tech = net, shapes, terminals, tech
        self.components = _Components(len(terminals))
        #: per (gate index, rule) the running sum of partial ratios, for CAR and CSR
        self.cumulative: dict[tuple[int, str], float] = {}
        self.violations: list[Violation] = []
        self.worst = 0.0

    def run(self) -> None:
        """Layer by layer, bottom up: join the new polygons to what they overlap below with
        positive area (shapes on adjacent layers) and to the pins they overlap or abut on their own
        layer, then check. Only pairs whose bounding boxes meet (:func:`_box_pairs`) are looked at
        as polygons, and two boxes meet as their bounding boxes do."""
        below: list[tuple[int, kdb.Polygon, Rect, bool]] = []
        union = self.components.union
        for layer in self.tech.layer_order:
            nodes = [(self.components.add(), *piece) for piece in _pieces(self.shapes.get(layer, ()))]
            pins = [(k, *piece) for k, t in enumerate(self.terminals) for piece in t.pieces.get(layer, ())]
            pieces = nodes + pins
            for a, b in _box_pairs(pieces, below, touching=False):
                element, polygon, _, box = pieces[a]
                other, lower, _, lower_box = below[b]
                if (box and lower_box) or not (kdb.Region(polygon) & kdb.Region(lower)).is_empty():
                    union(element, other)
            for a, b in _box_pairs(nodes, pins, touching=True):
                element, polygon, _, box = nodes[a]
                k, pin, _, pin_box = pins[b]
                if (box and pin_box) or not kdb.Region(polygon).interacting(kdb.Region(pin)).is_empty():
                    union(element, k)
            below = pieces
            if nodes and layer in self.tech.antenna:
                self._check_layer(layer, self.tech.antenna[layer],
                                  [(element, polygon) for element, polygon, _, _ in nodes])

    def _check_layer(self, layer: str, rule: AntennaRule, nodes: list[tuple[int, kdb.Polygon]]) -> None:
        find = self.components.find
        groups: dict[int, list[kdb.Polygon]] = {}
        for element, polygon in nodes:
            groups.setdefault(find(element), []).append(polygon)
        members: dict[int, list[int]] = {}
        for k in range(len(self.terminals)):
            members.setdefault(find(k), []).append(k)
        routing = self.tech.layers.get(layer)
        for root, polygons in groups.items():
            pins = members.get(root, [])
            gates = [k for k in pins if self.terminals[k].is_gate]
            if not gates:
                continue
            gate = sum(self.terminals[k].gate_area for k in pins)
            diff = sum(self.terminals[k].diff_area for k in pins)
            area_factor = rule.area_factor if diff > 0 or not rule.area_factor_diff_only else 1.0
            side_factor = rule.side_area_factor if diff > 0 or not rule.side_area_factor_diff_only else 1.0
            area = sum(p.area() for p in polygons) / 1e6
            checks = [("PAR", "CAR", area_factor * area / gate, rule.area_ratio, rule.diff_area_ratio,
                       rule.cum_area_ratio, rule.cum_diff_area_ratio)]
            if routing is not None:
                side = sum(p.perimeter() for p in polygons) / 1e3 * routing.thickness / 1e3
                checks.append(("PSR", "CSR", side_factor * side / gate, rule.side_area_ratio,
                               rule.diff_side_area_ratio, rule.cum_side_area_ratio, rule.cum_diff_side_area_ratio))
            for partial, cumulative, ratio, plain, table, cum_plain, cum_table in checks:
                kind = f"{cumulative}:{'wire' if routing is not None else 'cut'}"
                for k in gates:
                    self.cumulative[(k, kind)] = self.cumulative.get((k, kind), 0.0) + ratio
                self._judge(layer, partial, {k: ratio for k in gates}, _limit(plain, table, diff), gate, diff)
                self._judge(layer, cumulative, {k: self.cumulative[(k, kind)] for k in gates},
                            _limit(cum_plain, cum_table, diff), gate, diff)

    def _judge(self, layer: str, rule: str, ratios: dict[int, float], allowed: float | None,
               gate: float, diff: float) -> None:
        if not allowed:
            return
        self.worst = max(self.worst, max(ratios.values()) / allowed)
        over = sorted(self.terminals[k].ref for k, ratio in ratios.items() if ratio > allowed)
        if over:
            self.violations.append(Violation(self.net, layer, rule, tuple(over), round(max(ratios.values()), 4),
                                             round(allowed, 4), round(gate, 4), round(diff, 4)))


def _net_shapes(layout: Layout, tech: Technology, nets: set[str] | None = None) -> dict[str, dict[str, list[Rect]]]:
    """Every net's (or only ``nets``') drawn rectangles per layer: routed wires, via pads and cuts,
    port shapes."""
    shapes: dict[str, dict[str, list[Rect]]] = {}
    for shape in layout.shapes:
        if nets is None or shape.net in nets:
            shapes.setdefault(shape.net, {}).setdefault(shape.layer, []).append(tuple(shape.rect))
    for via in layout.vias:
        if nets is not None and via.net not in nets:
            continue
        for layer, (x0, y0, x1, y1) in tech.vias[via.via].rects.items():
            shapes.setdefault(via.net, {}).setdefault(layer, []).append((via.x + x0, via.y + y0, via.x + x1, via.y + y1))
    for port in layout.ports:
        if port.rect is not None and (nets is None or port.net in nets):
            shapes.setdefault(port.net, {}).setdefault(port.layer, []).append(tuple(port.rect))
    return shapes


def _terminals(layout: Layout, macros: dict[str, Macro], refs: list[tuple[str, str]],
               cache: dict | None = None) -> list[_Terminal]:
    """The cell pins among a net's (instance, pin) terminals; top-level ports are left out.
    ``cache`` keeps each cell pin's merged shapes per orientation, placed at the origin."""
    cache = {} if cache is None else cache
    found = []
    for inst_name, pin_name in refs:
        if not inst_name:
            continue
        inst = layout.instances[inst_name]
        macro = macros[inst.cell]
        pin = macro.pins[pin_name]
        key = (inst.cell, pin_name, inst.orient)
        if key not in cache:
            at_origin = dataclasses.replace(inst, x=0, y=0)
            shapes: dict[str, list[Rect]] = {}
            for layer, rect in pin.shapes:
                shapes.setdefault(layer, []).append(_placed(at_origin, macro, rect))
            cache[key] = {layer: _pieces(rects) for layer, rects in shapes.items()}
        x, y = inst.x, inst.y
        pieces = {layer: [(polygon.moved(x, y), (l + x, b + y, r + x, t + y), box)
                          for polygon, (l, b, r, t), box in found_here]
                  for layer, found_here in cache[key].items()}
        found.append(_Terminal(f"{inst_name}/{pin_name}", pin.gate_area, pin.diff_area,
                               pin.direction == "INPUT" and pin.gate_area > 0, pieces))
    return found


def check_antenna(layout: Layout, macros: dict[str, Macro], tech: Technology, *,
                  nets: list[str] | None = None) -> AntennaResult:
    """Check every net of a routed ``layout`` (or only ``nets``) against the tech LEF's antenna rules."""
    started = time.perf_counter()
    unsupported = {f"{layer}: {', '.join(rule.unsupported)}" for layer, rule in tech.antenna.items() if rule.unsupported}
    if unsupported:
        raise ValueError(f"antenna statements not modelled by this check: {'; '.join(sorted(unsupported))}")
    shapes = _net_shapes(layout, tech, None if nets is None else set(nets))
    all_nets = layout.nets()
    unknown = sorted(set(nets or ()) - set(all_nets))
    if unknown:
        raise ValueError(f"nets not in the layout: {unknown[:5]!r}")
    violations, checked, worst, pins = [], 0, 0.0, {}
    for net in sorted(nets if nets is not None else all_nets):
        terminals = _terminals(layout, macros, all_nets[net], pins)
        if not any(t.is_gate for t in terminals):
            continue
        checked += 1
        check = _NetCheck(net, shapes.get(net, {}), terminals, tech)
        check.run()
        violations += check.violations
        worst = max(worst, check.worst)
    return AntennaResult(tuple(violations), checked, round(worst, 4), round(time.perf_counter() - started, 3))


def write_report(result: AntennaResult, path: Path) -> Path:
    """The result as JSON (metrics, nets checked, worst ratio / allowed, every violation), written atomically."""
    path = Path(path)
    data = {"metrics": result.metrics(), "units": METRIC_UNITS, "nets_checked": result.nets_checked,
            "worst_fraction": result.worst_fraction, "seconds": result.seconds,
            "violations": [asdict(v) for v in result.violations]}
    tmp = Path(f"{path}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path
