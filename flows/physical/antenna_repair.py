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
time: pim_ctrl 27 violations, then 6, 4 and 7 on other nets.) A net the re-route cannot route is
left out and the rest tried again. The re-routed nets are checked, and this repeats for a bounded
number of rounds, keeping the diodes of earlier rounds. A design without violations is left
unchanged. Whatever is left after the last round stays for the antenna stage to report.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kchip.flows.physical.layout import Instance, Layout, Shape, plain_name
from kchip.flows.physical.lef import Macro, Rect
from kchip.flows.physical.placer import PlacementError, RowOccupancy, fill_rows
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


def reroute_view(routed: Layout, instances: dict[str, Instance], nets: set[str]) -> Layout:
    """The layout a router sees to route ``nets`` again: ``instances`` with only the pins on those
    nets connected, their ports, and as fixed shapes every other net's routed metal and port."""
    kept = [shape for shape in routed.shapes if shape.net not in nets]
    ports = [Shape(port.net, port.layer, port.rect) for port in routed.ports
             if port.net not in nets and port.rect is not None]
    return dataclasses.replace(
        routed, ports=[port for port in routed.ports if port.net in nets],
        instances={name: dataclasses.replace(inst, conns={pin: net for pin, net in inst.conns.items() if net in nets})
                   for name, inst in instances.items()},
        shapes=kept + ports, vias=[via for via in routed.vias if via.net not in nets])


def nets_near(routed: Layout, rules, boxes: list[Rect], margin: int) -> set[str]:
    """Signal nets with routed metal on the lowest :data:`ACCESS_LAYERS` routing layers (a wire, or
    a via's pad) within ``margin`` of one of ``boxes``."""
    signal = routed.nets()
    access = rules.routing_layers[:ACCESS_LAYERS]
    items = [(shape.net, shape.rect) for shape in routed.shapes
             if shape.net in signal and shape.layer in access]
    items += [(via.net, (via.x + x0, via.y + y0, via.x + x1, via.y + y1)) for via in routed.vias if via.net in signal
              for layer, (x0, y0, x1, y1) in rules.vias[via.via].rects.items() if layer in access]
    if not items or not boxes:
        return set()
    rects = np.array([rect for _, rect in items])
    near = np.zeros(len(items), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        near |= ((rects[:, 0] < x1 + margin) & (rects[:, 2] > x0 - margin)
                 & (rects[:, 1] < y1 + margin) & (rects[:, 3] > y0 - margin))
    return {items[k][0] for k in np.flatnonzero(near)}


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
    """One round's accepted re-route: the instances with the new diodes, the nets routed again and
    their routing, and the layout view holding their new geometry after ``fixed`` shapes and vias."""

    instances: dict[str, Instance]
    added: list[str]
    rerouted: set[str]
    neighbours: set[str]
    view: Layout
    fixed: tuple[int, int]
    result: Routing


def _reroute_round(routed: Layout, targets: list[tuple[str, str]], macros: dict[str, Macro], rules,
                   route: Callable[[Layout], Routing], diode: DiodeCell, fill_cells: list[str],
                   log: list[str]) -> _Round | None:
    """Diodes for ``targets``, then a re-route of their nets and their neighbours; when the re-route
    leaves problems, the nets it names are left out (a target loses its diode, a neighbour keeps its
    routing) and the rest is tried again, up to :data:`ATTEMPTS` times. None when nothing could be
    re-routed (the reason is appended to ``log``)."""
    keep: set[str] = set()
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
        neighbours = nets_near(routed, rules, boxes, CLEARANCE) - nets - keep
        view = reroute_view(routed, instances, nets | neighbours)
        fixed = (len(view.shapes), len(view.vias))
        result = route(view)
        if not result.problems:
            return _Round(instances, added, nets | neighbours, neighbours, view, fixed, result)
        failed = problem_nets(result.problems, nets | neighbours)
        log.append(f"re-routing {len(nets)} nets with diodes and {len(neighbours)} neighbours left "
                   f"{len(result.problems)} problems, e.g. {list(result.problems[:3])}")
        targets = [target for target in targets if target[0] not in failed]
        keep |= failed & neighbours
        if not failed or not targets:
            return None
    return None


def repair_antennas(routed: Layout, nets: list[RoutedNet], macros: dict[str, Macro], rules,
                    route: Callable[[Layout], Routing], diode: DiodeCell, fill_cells: list[str], *,
                    max_rounds: int = 5) -> Repair:
    """Check ``routed`` (a routed layout, ``nets`` its routed nets), insert diodes and route the nets
    that got one again, until no antenna violation is left or ``max_rounds`` rounds are done.

    The nets with metal on the lowest :data:`ACCESS_LAYERS` routing layers within :data:`CLEARANCE`
    of a new diode are routed again too, so that the diode's pin can be reached (other nets' fixed metal may cover the sites
    the fillers left). ``route(view)`` routes the :func:`reroute_view` it is given and appends the new
    geometry to it. ``routed`` is not changed: the result is a new layout. A round that can place no
    diode or re-route nothing is discarded, and the repair stops there."""
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
        shapes, vias = done.fixed
        routed = dataclasses.replace(
            routed, instances=done.instances,
            shapes=[shape for shape in routed.shapes if shape.net not in done.rerouted] + done.view.shapes[shapes:],
            vias=[via for via in routed.vias if via.net not in done.rerouted] + done.view.vias[vias:])
        old_wire, old_vias = _length_and_vias([by_name[net] for net in done.rerouted])
        new_wire, new_vias = _length_and_vias(list(done.result.nets))
        wire_change, via_change = wire_change + new_wire - old_wire, via_change + new_vias - old_vias
        by_name.update((net.name, net) for net in done.result.nets)
        diodes, islands = diodes + done.added, islands + done.result.islands_left
        left = (tuple(v for v in left if v.net not in done.rerouted)
                + check_antenna(routed, macros, rules, nets=sorted(done.rerouted)).violations)
        log.append(f"antenna round {rounds}: {len(done.added)} diodes added ({', '.join(done.added)}), "
                   f"{len(done.rerouted)} nets re-routed ({len(done.neighbours)} of them near a new diode), "
                   f"{len(left)} violations left")
    return Repair(routed, [by_name[net.name] for net in nets], before, left, diodes, rounds,
                  time.perf_counter() - started, log, wire_change, via_change, islands)
