"""Antenna repair after routing: diode cells beside the gates that collect too much charge.

A gate violates a process-antenna rule (:mod:`kchip.flows.signoff.antenna`) when the metal connected
to it while a layer is etched reaches no diffusion. SKY130's tech LEF gives only DIFF ratio tables:
with no diffusion a gate may carry 400 times its area in metal side area, with 0.0225 um2 of
diffusion connected 2609 times. A diode cell on the net next to the gate (the PDK's ``diode_cell``,
for SKY130 ``sky130_fd_sc_hd__diode_2`` with 0.43 um2 of diffusion on its pin) drains the charge, as
OpenROAD's ``repair_antennas`` does. Layer hopping, the other cure, would need the router to take a
net's last stretch to the gate on a higher layer, which its interface does not offer per net.

:func:`repair_antennas` checks the routed layout and, for every violation, puts a diode on the net
beside the first gate pin the violation names: on the run of free sites nearest to the pin, in its
own row or an adjacent one if any is free there, where a site is free when only a filler cell
(:func:`~kchip.flows.physical.placer.fill_rows`) holds it. The fillers under the diode are removed
and the sites they leave over filled again. Then only the nets that got a diode, and the nets whose
met1/met2 metal lies close to a new diode (it can wall in the diode pin's access point), are
routed again, as a detailed router's ECO mode does: the router sees a view of the layout with only
those nets' connections and every other net's routed metal as fixed obstacles, so nothing else
moves. (Routing the whole layout again instead gave a different routing with new violations each
time: pim_ctrl 27 violations, then 6, 4 and 7 on other nets.) So that a re-route costs in proportion
to the nets it routes, not to the die, the nets are routed in windows (:func:`route_groups`): the
bounding box of a net's cells and ports grown by :data:`MARGIN`, nets whose windows overlap routed
together, and the router sees only the cells and metal near its window. A group with a net the
router cannot finish in its window is routed again on the whole die before its problems count. A
net the re-route cannot route is left out and the rest tried again. The re-routed nets are
checked, and this repeats for a bounded number of rounds, keeping the diodes of earlier rounds. A
design without violations is left unchanged. Whatever is left after the last round stays for the
antenna stage to report.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kchip.flows.physical.layout import Instance, Layout, Shape, Via, grown, overlaps, plain_name
from kchip.formats.lef import Macro, Rect
from kchip.flows.physical.placer import PlacementError, RowOccupancy, fill_rows
from kchip.flows.physical.router import WINDOW_HALO
from kchip.flows.signoff.antenna import AntennaResult, Violation, check_antenna
from kchip.flows.timing.spef import RoutedNet

#: the role of the diode instances in the layout (written to the netlist with the logic)
DIODE_ROLE = "antenna"
#: diode instances are named ``ANTENNA_<net>_<k>`` (the net as a plain identifier, k from 0)
DIODE_PREFIX = "ANTENNA_"
#: rows above and below the gate's own row searched first for free sites
NEAR_ROWS = 1
#: nets with routed metal on this many of the lowest routing layers within CLEARANCE (nm) of a new
#: diode are routed again with the diode's net: their wires and via pads can wall in the diode pin's
#: access point
ACCESS_LAYERS = 2
CLEARANCE = 500
#: re-routes tried per round, each without the nets the previous one could not route
ATTEMPTS = 3
#: a re-routed net is routed inside the bounding box of its cells and ports grown by this much (nm):
#: room for the detours the router takes on the whole die (its first searches stay within 30 grid
#: steps of a connection's terminals)
MARGIN = 20000
#: the metal and cells a windowed re-route sees: those within this much (nm) of its window, more
#: than the router looks at past the window's outermost nodes
VIEW_HALO = 2 * WINDOW_HALO


@dataclass(frozen=True)
class DiodeCell:
    """The library's antenna diode: its cell name and the pin that joins the net."""

    cell: str
    pin: str


@dataclass(frozen=True)
class Routing:
    """What one routing run gives the repair: its problems (unrouted nets or unreachable pins, in
    which case nothing was written), else the routed nets (as the SPEF writer takes them) and how
    many small islands it could not mend; the geometry is appended to the layout it routed."""

    problems: tuple[str, ...]
    nets: tuple[RoutedNet, ...] = ()
    islands_left: int = 0


@dataclass
class Repair:
    """The outcome: the routed layout and nets (every net, in the first routing's order), the check
    before and the violations left, and what it cost.

    ``rounds`` counts the rounds of diodes and re-routing, a discarded one too (0 when the first
    routing was clean); ``seconds`` is the time spent after the first routing (checks and
    re-routes); ``log`` says what each round did; ``wire_change_um``, ``via_change`` and
    ``islands_left`` are the re-routes' effect on the routing metrics."""

    layout: Layout
    nets: list[RoutedNet]
    before: AntennaResult
    after: tuple[Violation, ...]
    diodes: list[str]
    rounds: int
    seconds: float
    log: list[str]
    wire_change_um: float
    via_change: int
    islands_left: int

    def metrics(self, routing: dict) -> dict:
        """The first routing's metrics (``routing``) updated for the re-routed nets, and the
        repair's own: violations before and after, diodes inserted, rounds and time."""
        updated = {**routing, "route__antenna_violations_before__count": len(self.before.violations),
                   "route__antenna_violations_after__count": len(self.after),
                   "antenna__diodes__count": len(self.diodes), "route__antenna_rounds__count": self.rounds,
                   "route__antenna_repair__s": round(self.seconds, 2)}
        if self.rounds:
            updated["route__wirelength__um"] = round(routing["route__wirelength__um"] + self.wire_change_um, 1)
            updated["route__vias__count"] = routing["route__vias__count"] + self.via_change
        return updated


#: diodes named in the route log per round (the layout lists them all)
LOGGED_DIODES = 20


def diode_targets(violations: tuple[Violation, ...] | list[Violation]) -> list[tuple[str, str]]:
    """``(net, gate pin)`` pairs that get a diode: for each violation whose gates no earlier pair
    covers, its first gate. One diode serves all gates a violation lists, since they share the metal
    piece the diode joins."""
    targets, covered = [], set()
    for violation in violations:
        gates = {(violation.net, gate) for gate in violation.gates}
        if gates & covered:
            continue
        targets.append((violation.net, violation.gates[0]))
        covered |= gates
    return targets


def pin_centre(layout: Layout, macros: dict[str, Macro], ref: str) -> tuple[float, float]:
    """The centre of the bounding box of pin ``inst/pin`` as placed (orientation N or FS)."""
    inst_name, pin_name = ref.split("/")
    inst = layout.instances[inst_name]
    macro = macros[inst.cell]
    rects = [rect for _, rect in macro.pins[pin_name].shapes]
    x0, x1 = min(r[0] for r in rects), max(r[2] for r in rects)
    y0, y1 = min(r[1] for r in rects), max(r[3] for r in rects)
    if inst.orient == "FS":
        y0, y1 = macro.height - y1, macro.height - y0
    elif inst.orient != "N":
        raise ValueError(f"orientation {inst.orient!r} of {inst_name} is not supported (N or FS)")
    return inst.x + (x0 + x1) / 2, inst.y + (y0 + y1) / 2


def _diode_name(layout: Layout, net: str) -> str:
    k = 0
    while f"{DIODE_PREFIX}{plain_name(net)}_{k}" in layout.instances:
        k += 1
    return f"{DIODE_PREFIX}{plain_name(net)}_{k}"


def insert_diodes(layout: Layout, macros: dict[str, Macro], targets: list[tuple[str, str]],
                  diode: DiodeCell, fill_cells: list[str]) -> list[str]:
    """Put a ``diode`` on each target's net, on the free sites (sites holding only filler cells)
    nearest to its gate pin; remove the fillers it covers and fill their leftover sites again.
    Returns the new instance names; :class:`~kchip.flows.physical.placer.PlacementError` when no
    row has room for a diode."""
    width = macros[diode.cell].width
    fillers: dict[int, dict[str, Instance]] = {}
    for name, inst in layout.instances.items():
        if inst.role == "fill":
            fillers.setdefault(inst.y, {})[name] = inst
    occupancy = RowOccupancy(dataclasses.replace(
        layout, instances={n: i for n, i in layout.instances.items() if i.role != "fill"}), macros)
    orient = dict(layout.rows)
    added = []
    for net, gate in targets:
        cx, cy = pin_centre(layout, macros, gate)
        name = _diode_name(layout, net)
        x, y = occupancy.nearest(cx - width / 2, cy - layout.site[1] / 2, width, NEAR_ROWS,
                                 what=f"antenna diode {name} beside {gate}")
        row = fillers.get(y, {})
        for filler, inst in list(row.items()):
            if inst.x < x + width and x < inst.x + macros[inst.cell].width:
                del layout.instances[filler], row[filler]
        layout.instances[name] = Instance(diode.cell, {diode.pin: net}, DIODE_ROLE, x, y, orient[y], True)
        added.append(name)
    if added:
        fill_rows(layout, macros, fill_cells)
    return added


def route_groups(layout: Layout, macros: dict[str, Macro], nets: set[str]) -> list[tuple[Rect, list[str]]]:
    """The windows ``nets`` are routed in and the nets routed together in each: a net's window is
    the bounding box of its cells and ports grown by :data:`MARGIN` (within the die), and
    overlapping windows are joined (with their nets) until none overlap. A group's routes then stay
    :data:`MARGIN` away from any other group's cells, farther than its router looks past its window.
    Ordered by window."""
    boxes: dict[str, list[int]] = {}

    def extend(net: str, rect) -> None:
        box = boxes.setdefault(net, list(rect))
        box[:] = min(box[0], rect[0]), min(box[1], rect[1]), max(box[2], rect[2]), max(box[3], rect[3])

    for inst in layout.instances.values():
        for net in inst.conns.values():
            if net in nets:
                macro = macros[inst.cell]
                extend(net, (inst.x, inst.y, inst.x + macro.width, inst.y + macro.height))
    for port in layout.ports:
        if port.net in nets and port.rect is not None:
            extend(port.net, port.rect)
    dx0, dy0, dx1, dy1 = layout.die
    groups = []
    for net, box in sorted(boxes.items()):
        x0, y0, x1, y1 = grown(box, MARGIN)
        groups.append(((max(dx0, x0), max(dy0, y0), min(dx1, x1), min(dy1, y1)), [net]))
    joined = True
    while joined:
        joined, out = False, []
        for window, members in groups:
            for k, (other, others) in enumerate(out):
                if overlaps(window, other):
                    out[k] = ((min(window[0], other[0]), min(window[1], other[1]), max(window[2], other[2]),
                               max(window[3], other[3])), others + members)
                    joined = True
                    break
            else:
                out.append((window, members))
        groups = out
    return sorted((window, sorted(members)) for window, members in groups)


def _array(rows, count: int) -> np.ndarray:
    """``count`` rectangles (4-tuples of ints) as an n x 4 array."""
    return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=4 * count).reshape(-1, 4)


class _Metal:
    """The routed metal of a layout as arrays, made once a round: every shape's and via's bounding
    box and net (as a number), and the wires and via pads on the lowest :data:`ACCESS_LAYERS`
    routing layers of the signal nets."""

    def __init__(self, routed: Layout, rules):
        self.routed = routed
        codes: dict[str, int] = {}
        shapes, vias = routed.shapes, routed.vias
        self.shape_boxes = _array((shape.rect for shape in shapes), len(shapes))
        self.shape_nets = np.fromiter((codes.setdefault(s.net, len(codes)) for s in shapes), np.int64, len(shapes))
        kinds = {name: k for k, name in enumerate(rules.vias)}
        kind = np.fromiter((kinds[via.via] for via in vias), np.int64, len(vias))
        self.via_nets = np.fromiter((codes.setdefault(v.net, len(codes)) for v in vias), np.int64, len(vias))
        xy = _array(((via.x, via.y, via.x, via.y) for via in vias), len(vias))
        rects = [via.rects for via in rules.vias.values()]
        extent = np.array([[f(r[k] for r in found.values()) for k, f in enumerate((min, min, max, max))]
                           for found in rects], dtype=np.int64).reshape(-1, 4)
        self.via_boxes = xy + extent[kind]
        self.codes, self.names = codes, list(codes)
        signal = np.zeros(len(codes), dtype=bool)
        signal[[codes[net] for net in routed.nets() if net in codes]] = True
        access = rules.routing_layers[:ACCESS_LAYERS]
        on_access = np.fromiter((shape.layer in access for shape in shapes), bool, len(shapes))
        keep = on_access & signal[self.shape_nets]
        boxes, nets = [self.shape_boxes[keep]], [self.shape_nets[keep]]
        for layer in access:
            has = np.array([layer in found for found in rects], dtype=bool)
            pad = np.array([found.get(layer, (0, 0, 0, 0)) for found in rects], dtype=np.int64).reshape(-1, 4)
            keep = has[kind] & signal[self.via_nets]
            boxes.append(xy[keep] + pad[kind[keep]])
            nets.append(self.via_nets[keep])
        self.access_boxes, self.access_nets = np.concatenate(boxes), np.concatenate(nets)

    def numbers(self, nets: set[str]) -> np.ndarray:
        return np.array(sorted(self.codes[net] for net in nets if net in self.codes), dtype=np.int64)

    def nets_near(self, boxes: list[Rect], margin: int) -> set[str]:
        """Signal nets with a wire or via pad on the access layers within ``margin`` of ``boxes``."""
        near = np.zeros(len(self.access_nets), dtype=bool)
        for box in boxes:
            near |= _inside(self.access_boxes, grown(box, margin))
        return {self.names[code] for code in np.unique(self.access_nets[near])}


class _FixedMetal:
    """What stays fixed while ``nets`` are routed again: every other net's routed metal, the port
    shapes, and the metal of the nets routed again so far; with the instances, found by area."""

    def __init__(self, metal: _Metal, instances: dict[str, Instance], nets: set[str], macros: dict[str, Macro],
                 rules):
        self.routed, self.instances = metal.routed, instances
        self.metal = metal
        codes = metal.numbers(nets)
        self.keep_shapes = ~np.isin(metal.shape_nets, codes)
        self.keep_vias = ~np.isin(metal.via_nets, codes)
        #: geometry routed again so far (after the fixed shapes and vias in every view)
        self.new_shapes: list[Shape] = []
        self.new_vias: list[Via] = []
        self.extent = {name: tuple(f(r[k] for r in via.rects.values()) for k, f in enumerate((min, min, max, max)))
                       for name, via in rules.vias.items()}
        self.names = list(instances)
        self.inst_boxes = _array(((inst.x, inst.y, inst.x + macros[inst.cell].width, inst.y + macros[inst.cell].height)
                                  for inst in instances.values()), len(instances))

    def _via_box(self, via: Via) -> Rect:
        x0, y0, x1, y1 = self.extent[via.via]
        return via.x + x0, via.y + y0, via.x + x1, via.y + y1

    def add(self, shapes: list[Shape], vias: list[Via]) -> None:
        """Metal routed again, fixed for the nets routed after it."""
        self.new_shapes += shapes
        self.new_vias += vias

    def view(self, nets: set[str], area: Rect | None = None) -> Layout:
        """The layout a router sees to route ``nets`` (all or some of the re-routed nets) again: the
        instances with only the pins on ``nets`` connected, the ports of ``nets``, and as fixed
        shapes and vias the rest; when ``area`` is given, only what reaches into it."""
        routed, metal = self.routed, self.metal
        keep_shapes, keep_vias, instances = self.keep_shapes, self.keep_vias, self.instances
        ports = [Shape(port.net, port.layer, port.rect) for port in routed.ports
                 if port.net not in nets and port.rect is not None]
        new_shapes, new_vias = self.new_shapes, self.new_vias
        if area is not None:
            keep_shapes = keep_shapes & _inside(metal.shape_boxes, area)
            keep_vias = keep_vias & _inside(metal.via_boxes, area)
            instances = {self.names[k]: instances[self.names[k]]
                         for k in np.flatnonzero(_inside(self.inst_boxes, area))}
            ports = [port for port in ports if overlaps(port.rect, area)]
            new_shapes = [shape for shape in new_shapes if overlaps(shape.rect, area)]
            new_vias = [via for via in new_vias if overlaps(self._via_box(via), area)]
        shapes = [routed.shapes[k] for k in np.flatnonzero(keep_shapes)]
        vias = [routed.vias[k] for k in np.flatnonzero(keep_vias)]
        return dataclasses.replace(
            routed, ports=[port for port in routed.ports if port.net in nets],
            instances={name: Instance(inst.cell, {pin: net for pin, net in inst.conns.items() if net in nets},
                                      inst.role, inst.x, inst.y, inst.orient, inst.fixed)
                       for name, inst in instances.items()},
            shapes=shapes + ports + new_shapes, vias=vias + new_vias)


def _inside(boxes: np.ndarray, area: Rect) -> np.ndarray:
    """Which of ``boxes`` (n x 4) overlap ``area``."""
    return ((boxes[:, 0] < area[2]) & (boxes[:, 2] > area[0]) & (boxes[:, 1] < area[3]) & (boxes[:, 3] > area[1]))


def nets_near(routed: Layout, rules, boxes: list[Rect], margin: int) -> set[str]:
    """Signal nets with routed metal on the lowest :data:`ACCESS_LAYERS` routing layers (a wire, or
    a via's pad) within ``margin`` of one of ``boxes``."""
    return _Metal(routed, rules).nets_near(boxes, margin)


def problem_nets(problems: tuple[str, ...], nets: set[str]) -> set[str]:
    """The nets among ``nets`` that routing problems name, worded as
    :attr:`~kchip.flows.physical.router.Router.problems` words them: a net's name, or an unreachable
    pin ending in ``net <name>)``."""
    return {net for net in nets for problem in problems if problem == net or problem.endswith(f"net {net})")}


def _length_and_vias(nets: list[RoutedNet]) -> tuple[float, int]:
    """Wire length (um) and vias of routed nets, summed."""
    return sum(s.length_um for net in nets for s in net.segments), sum(len(net.vias) for net in nets)


@dataclass
class _Round:
    """One round's accepted re-route: the instances with the new diodes, the nets routed again,
    their routing and their new geometry."""

    instances: dict[str, Instance]
    added: list[str]
    rerouted: set[str]
    neighbours: set[str]
    shapes: list[Shape]
    vias: list[Via]
    result: Routing


def _reroute(metal: _Metal, instances: dict[str, Instance], nets: set[str], macros: dict[str, Macro], rules,
             route: Callable[[Layout, Rect | None], Routing]) -> tuple[Routing, list[Shape], list[Via]]:
    """Route ``nets`` again, group by group of :func:`route_groups`, each in its window, with
    every other net's metal and the groups routed before fixed; a group with a net left unrouted
    is routed again on the whole die, whose problems then count. The routing (the problems of every
    group, or the nets) and the new geometry."""
    routed = metal.routed
    fixed = _FixedMetal(metal, instances, nets, macros, rules)
    problems: list[str] = []
    done: list[RoutedNet] = []
    islands = 0
    for window, group in route_groups(dataclasses.replace(routed, instances=instances), macros, nets):
        members = set(group)
        for area in (window,) if window == tuple(routed.die) else (window, None):
            view = fixed.view(members, None if area is None else grown(area, VIEW_HALO))
            shapes, vias = len(view.shapes), len(view.vias)
            result = route(view, area)
            if not members & set(result.problems):
                break  # routed, or only pins without access, which more room does not change
        if result.problems:
            problems += result.problems
            continue
        fixed.add(view.shapes[shapes:], view.vias[vias:])
        done += result.nets
        islands += result.islands_left
    if problems:
        return Routing(tuple(problems)), [], []
    return Routing((), tuple(done), islands), fixed.new_shapes, fixed.new_vias


def _reroute_round(routed: Layout, targets: list[tuple[str, str]], macros: dict[str, Macro], rules,
                   route: Callable[[Layout, Rect | None], Routing], diode: DiodeCell, fill_cells: list[str],
                   log: list[str]) -> _Round | None:
    """Diodes for ``targets``, then a re-route of their nets and their neighbours; when the re-route
    leaves problems, the nets it names are left out (a target loses its diode, a neighbour keeps its
    routing) and the rest is tried again, up to :data:`ATTEMPTS` times. None when nothing could be
    re-routed (the reason is appended to ``log``)."""
    keep: set[str] = set()
    metal = _Metal(routed, rules)
    for _ in range(ATTEMPTS):
        instances = dict(routed.instances)
        try:
            added = insert_diodes(dataclasses.replace(routed, instances=instances), macros, targets, diode,
                                  fill_cells)
        except PlacementError as exc:
            log.append(f"no room for a diode ({exc})")
            return None
        nets = {net for net, _ in targets}
        width, height = macros[diode.cell].width, macros[diode.cell].height
        boxes = [(instances[name].x, instances[name].y, instances[name].x + width, instances[name].y + height)
                 for name in added]
        neighbours = metal.nets_near(boxes, CLEARANCE) - nets - keep
        result, shapes, vias = _reroute(metal, instances, nets | neighbours, macros, rules, route)
        if not result.problems:
            return _Round(instances, added, nets | neighbours, neighbours, shapes, vias, result)
        failed = problem_nets(result.problems, nets | neighbours)
        log.append(f"re-routing {len(nets)} nets with diodes and {len(neighbours)} neighbours left "
                   f"{len(result.problems)} problems, e.g. {list(result.problems[:3])}")
        targets = [target for target in targets if target[0] not in failed]
        keep |= failed & neighbours
        if not failed or not targets:
            return None
    return None


def repair_antennas(routed: Layout, nets: list[RoutedNet], macros: dict[str, Macro], rules,
                    route: Callable[[Layout, Rect | None], Routing], diode: DiodeCell, fill_cells: list[str], *,
                    max_rounds: int = 10) -> Repair:
    """Check ``routed`` (a routed layout, ``nets`` its routed nets), insert diodes and route the nets
    that got one again, until no antenna violation is left or ``max_rounds`` rounds are done.

    The nets with metal on the lowest :data:`ACCESS_LAYERS` routing layers within :data:`CLEARANCE`
    of a new diode are routed again too, so that the diode's pin can be reached (other nets' fixed metal may cover the sites
    the fillers left). ``route(view, window)`` routes the nets of the view it is given (the
    instances with only those nets' pins connected, their ports, and every other net's metal and
    port as fixed shapes, all cut to the part near ``window``) inside ``window`` (the whole die when
    None) and appends the new geometry to the view. ``routed`` is not changed: the result is a new
    layout. A round that can place no diode or re-route nothing is discarded, and the repair stops
    there."""
    started = time.perf_counter()
    before = check_antenna(routed, macros, rules)
    left, diodes, rounds, islands = before.violations, [], 0, 0
    by_name = {net.name: net for net in nets}
    wire_change, via_change = 0.0, 0
    log = [f"antenna: {len(left)} violations on {len(before.nets)} nets"]
    while left and rounds < max_rounds:
        rounds += 1
        notes: list[str] = []
        done = _reroute_round(routed, diode_targets(left), macros, rules, route, diode, fill_cells, notes)
        log += [f"antenna round {rounds}: {note}" for note in notes]
        if done is None:
            log.append(f"antenna round {rounds}: nothing re-routed; previous routing kept")
            break
        routed = dataclasses.replace(
            routed, instances=done.instances,
            shapes=[shape for shape in routed.shapes if shape.net not in done.rerouted] + done.shapes,
            vias=[via for via in routed.vias if via.net not in done.rerouted] + done.vias)
        old_wire, old_vias = _length_and_vias([by_name[net] for net in done.rerouted])
        new_wire, new_vias = _length_and_vias(list(done.result.nets))
        wire_change, via_change = wire_change + new_wire - old_wire, via_change + new_vias - old_vias
        by_name.update((net.name, net) for net in done.result.nets)
        diodes, islands = diodes + done.added, islands + done.result.islands_left
        left = (tuple(v for v in left if v.net not in done.rerouted)
                + check_antenna(routed, macros, rules, nets=sorted(done.rerouted)).violations)
        shown = ", ".join(done.added[:LOGGED_DIODES]) + (", ..." if len(done.added) > LOGGED_DIODES else "")
        log.append(f"antenna round {rounds}: {len(done.added)} diodes added ({shown}), "
                   f"{len(done.rerouted)} nets re-routed ({len(done.neighbours)} of them near a new diode), "
                   f"{len(left)} violations left")
    return Repair(routed, [by_name[net.name] for net in nets], before, left, diodes, rounds,
                  time.perf_counter() - started, log, wire_change, via_change, islands)
