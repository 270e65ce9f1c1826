"""The integration checks. Each takes the system (and, where traffic matters, its routing) and
returns a list of :class:`Violation`; an empty list means the check passed. Every message names the
die or link at fault and the figures that disagree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from kchip.chiplet.model import EDGES, Interface, System
from kchip.chiplet.routing import TOLERANCE, Routing

#: Watts per (GB/s x pJ/bit): 1 GB/s = 8e9 bit/s, 1 pJ = 1e-12 J.
WATTS_PER_GBYTE_S_PJ = 8e-3
#: Most demands or links a message lists by name before "and N more".
LISTED = 4


@dataclass(frozen=True)
class Violation:
    """One way the system fails a check."""

    check: str
    subject: str
    message: str


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _link_of(system: System) -> dict[str, str]:
    return {end.key: link.name for link in system.links for end in (link.a, link.b)}


def _arc_text(system: System, routing: Routing, arc: int) -> str:
    link = system.links[routing.network.link_of_arc[arc]]
    ends = (link.a.die, link.b.die) if arc % 2 == 0 else (link.b.die, link.a.die)
    return f"{ends[0]}->{ends[1]} (link {link.name})"


def check_links(system: System) -> list[Violation]:
    """Both ends use the same standard, widths and rates that standard allows, within its reach."""
    found = []
    for link in system.links:
        a, b = link.a, link.b
        if a.standard is not b.standard:
            found.append(Violation("link", f"link {link.name}",
                                   f"link {link.name}: ends use different standards: {a.key} is "
                                   f"{a.standard.name!r}, {b.key} is {b.standard.name!r}"))
            continue
        std = a.standard
        for end in (a, b):
            if end.module_width not in std.module_widths:
                found.append(Violation("link", f"link {link.name}",
                                       f"link {link.name}: die {end.die} interface {end.name} has "
                                       f"x{end.module_width} modules; {std.name} allows "
                                       f"{', '.join(f'x{w}' for w in std.module_widths)}"))
            if end.rate_gtps not in std.rates_gtps:
                found.append(Violation("link", f"link {link.name}",
                                       f"link {link.name}: die {end.die} interface {end.name} runs at "
                                       f"{end.rate_gtps:g} GT/s; {std.name} allows "
                                       f"{', '.join(f'{r:g}' for r in std.rates_gtps)} GT/s"))
        if link.length_mm is not None and link.length_mm > std.reach_mm:
            found.append(Violation("link", f"link {link.name}",
                                   f"link {link.name} ({a.die}-{b.die}): length {link.length_mm:g} mm "
                                   f"exceeds the {std.name} reach of {std.reach_mm:g} mm"))
    return found


def check_bump_pitch(system: System) -> list[Violation]:
    """Each PHY's bump pitch is within its standard's range and the die's package can land it."""
    found, link_of = [], _link_of(system)
    for die in system.dies.values():
        for iface in die.interfaces.values():
            where = f"die {die.name} interface {iface.name} (link {link_of.get(iface.key, 'none')})"
            low, high = iface.standard.bump_pitch_um
            if not low <= iface.bump_pitch_um <= high:
                found.append(Violation("bump_pitch", f"die {die.name}",
                                       f"{where}: bump pitch {iface.bump_pitch_um:g} um is outside the "
                                       f"{iface.standard.name} range {low:g}-{high:g} um"))
            if iface.bump_pitch_um < die.package.min_bump_pitch_um:
                found.append(Violation("bump_pitch", f"die {die.name}",
                                       f"{where}: bump pitch {iface.bump_pitch_um:g} um is finer than "
                                       f"package {die.package.name!r} supports "
                                       f"(minimum {die.package.min_bump_pitch_um:g} um)"))
    return found


def check_shoreline(system: System) -> list[Violation]:
    """The PHYs on each edge fit its length, opposite PHYs do not overlap, bumps fit the die."""
    found, link_of = [], _link_of(system)
    for die in system.dies.values():
        on_edge: dict[str, list[Interface]] = defaultdict(list)
        for iface in die.interfaces.values():
            on_edge[iface.edge].append(iface)
        depth = {}
        total_area = 0.0
        for edge in EDGES:
            ifaces = on_edge.get(edge, [])
            sizes = [iface.footprint() for iface in ifaces]
            shoreline = sum(width for width, _ in sizes)
            total_area += sum(area for _, area in sizes)
            depth[edge] = max((area / width for width, area in sizes), default=0.0)
            if shoreline > die.edge_length(edge) * (1 + 1e-9):
                names = ", ".join(f"{i.name} (link {link_of.get(i.key, 'none')}) {w:.3g} mm"
                                  for i, (w, _) in zip(ifaces, sizes))
                found.append(Violation("shoreline", f"die {die.name}",
                                       f"die {die.name} {edge} edge: PHYs need {shoreline:.3g} mm of "
                                       f"shoreline ({names}), the edge is {die.edge_length(edge):g} mm"))
        for first, second, span, across in (("north", "south", die.height_mm, "height"),
                                            ("east", "west", die.width_mm, "width")):
            if depth[first] + depth[second] > span * (1 + 1e-9):
                found.append(Violation("shoreline", f"die {die.name}",
                                       f"die {die.name}: PHY depth {first} {depth[first]:.3g} mm + "
                                       f"{second} {depth[second]:.3g} mm exceeds its {across} "
                                       f"{span:g} mm"))
        if total_area > die.area_mm2 * (1 + 1e-9):
            found.append(Violation("shoreline", f"die {die.name}",
                                   f"die {die.name}: PHY bump area {total_area:.3g} mm2 exceeds the die "
                                   f"area {die.area_mm2:.3g} mm2"))
    return found


def _row_text(system: System, routing: Routing, row: int) -> str:
    arcs = np.flatnonzero(routing.network.row_of_arc == row)
    if len(arcs) == 2:
        link = system.links[routing.network.link_of_arc[arcs[0]]]
        return f"link {link.name} ({link.a.die}<->{link.b.die}, half duplex)"
    return _arc_text(system, routing, int(arcs[0]))


def check_capacity(system: System, routing: Routing) -> list[Violation]:
    """All demands routed at once (multi-commodity flow) fit the link capacities."""
    found = []
    for i in routing.unroutable:
        d = system.demands[i]
        found.append(Violation("capacity", f"demand {d.name}",
                               f"demand {d.name} ({d.gbyte_per_s:g} GB/s): no path from die {d.source} "
                               f"to die {d.target} through forwarding dies"))
    if not routing.proven:
        found.append(Violation("capacity", "system",
                               f"routing undecided: the path LP did not reach its optimum in "
                               f"{routing.rounds} rounds"))
    if routing.feasible:
        return found
    net = routing.network
    users: dict[int, list[str]] = defaultdict(list)
    for i, arcs, _ in routing.paths:
        for row in set(net.row_of_arc[arcs].tolist()):
            users[row].append(system.demands[i].name)
    slack = TOLERANCE * max(1.0, sum(d.gbyte_per_s for d in system.demands))
    over_rows = np.flatnonzero(routing.overflow > slack)
    found.append(Violation("capacity", "system",
                           f"the {len(system.demands)} demands cannot all be routed at once: every "
                           f"routing leaves at least {routing.overflow.sum():.1f} GB/s over capacity "
                           f"(path LP optimum, proved over all paths) on {len(over_rows)} "
                           f"link direction(s)"))
    for row in over_rows:
        link = system.links[net.link_of_arc[np.flatnonzero(net.row_of_arc == row)[0]]]
        found.append(Violation("capacity", f"link {link.name}",
                               f"{_row_text(system, routing, row)}: needs {routing.row_load[row]:.1f} "
                               f"GB/s, capacity {net.capacity[row]:.1f} GB/s ({link.describe()}), over "
                               f"by {routing.overflow[row]:.1f} GB/s; demands on it: "
                               f"{_listing(users[row])}"))
    return found


def _path_text(system: System, routing: Routing, arcs: np.ndarray) -> str:
    net = routing.network
    dies = [system.links[net.link_of_arc[arcs[0]]].a.die if arcs[0] % 2 == 0
            else system.links[net.link_of_arc[arcs[0]]].b.die]
    for arc in arcs:
        link = system.links[net.link_of_arc[arc]]
        dies.append(link.b.die if arc % 2 == 0 else link.a.die)
    names = ", ".join(system.links[net.link_of_arc[arc]].name for arc in arcs)
    return f"{'->'.join(dies)} (links {names})"


def check_latency(system: System, routing: Routing) -> list[Violation]:
    """Every path a demand's traffic takes is within the demand's latency budget."""
    index = {name: i for i, name in enumerate(routing.network.die_names)}
    worst: dict[int, tuple[float, np.ndarray]] = {}
    for i, arcs, _ in routing.paths:
        budget = system.demands[i].latency_budget_ns
        if budget is None:
            continue
        latency = routing.path_latency(arcs, index[system.demands[i].target])
        if latency > budget * (1 + 1e-9) and latency > worst.get(i, (0.0, None))[0]:
            worst[i] = (latency, arcs)
    found = []
    for i, (latency, arcs) in sorted(worst.items()):
        d = system.demands[i]
        found.append(Violation("latency", f"demand {d.name}",
                               f"demand {d.name} ({d.source}->{d.target}): path "
                               f"{_path_text(system, routing, arcs)} takes {latency:.2f} ns, budget "
                               f"{d.latency_budget_ns:g} ns"))
    return found


def check_deadlock(system: System, routing: Routing) -> list[Violation]:
    """The channel dependency graph of the routing (link direction -> next link direction) is acyclic."""
    dependencies = nx.DiGraph()
    cause: dict[tuple[int, int], str] = {}
    for i, arcs, _ in routing.paths:
        for pair in zip(arcs[:-1].tolist(), arcs[1:].tolist()):
            if pair not in cause:
                cause[pair] = system.demands[i].name
                dependencies.add_edge(*pair)
    try:
        cycle = nx.find_cycle(dependencies)
    except nx.NetworkXNoCycle:
        return []
    groups = sum(1 for c in nx.strongly_connected_components(dependencies) if len(c) > 1)
    channels = " -> ".join(_arc_text(system, routing, u) for u, _ in cycle)
    demands = sorted({cause[(u, v)] for u, v in cycle})
    link = system.links[routing.network.link_of_arc[cycle[0][0]]]
    return [Violation("deadlock", f"link {link.name}",
                      f"routing can deadlock: channel dependency cycle {channels} -> back to the start, "
                      f"created by demands {_listing(demands)}; {groups} cyclic group(s) of channels "
                      f"in all")]


def _arc_capacities(routing: Routing) -> csr_matrix:
    net = routing.network
    return csr_matrix((np.ones(len(net.tail), dtype=np.int32), (net.tail, net.head)),
                      shape=(net.nodes, net.nodes))


def check_reachability(system: System, routing: Routing) -> list[Violation]:
    """Every die is reachable from the AP, through at least ``redundancy`` edge-disjoint paths."""
    net = routing.network
    index = {name: i for i, name in enumerate(net.die_names)}
    graph = _arc_capacities(routing)
    start = int(net.exit[index[system.ap]])
    reached = set(breadth_first_order(graph, start, directed=True, return_predecessors=False).tolist())
    found = []
    for die in system.dies.values():
        if die.name == system.ap:
            continue
        entry = int(net.entry[index[die.name]])
        if entry not in reached:
            found.append(Violation("reachability", f"die {die.name}",
                                   f"die {die.name} ({die.role}) is unreachable from the AP die "
                                   f"{system.ap} (links: "
                                   f"{_listing([l.name for l in system.links if die.name in (l.a.die, l.b.die)]) or 'none'})"))
            continue
        if die.redundancy < 2:
            continue
        flow = maximum_flow(graph, start, entry, method="dinic")
        if flow.flow_value >= die.redundancy:
            continue
        residual = graph - flow.flow
        residual.data = np.where(residual.data > 0, 1, 0).astype(np.int32)
        residual.eliminate_zeros()
        side = np.zeros(net.nodes, dtype=bool)
        side[breadth_first_order(residual, start, return_predecessors=False)] = True
        crossing = np.flatnonzero(side[net.tail] & ~side[net.head])
        cut = sorted({system.links[net.link_of_arc[a]].name for a in crossing})
        found.append(Violation("reachability", f"die {die.name}",
                               f"die {die.name} has {flow.flow_value} edge-disjoint path(s) from the AP "
                               f"die {system.ap}, needs {die.redundancy}; cutting link(s) "
                               f"{_listing(cut)} isolates it"))
    return found


def link_power_w(system: System, routing: Routing) -> np.ndarray:
    """Interconnect power of each link at the routed bandwidth, in watts."""
    arc_load = routing.arc_load()
    link_load = arc_load[0::2] + arc_load[1::2]
    energy = np.array([link.energy_pj_per_bit for link in system.links])
    return link_load * energy * WATTS_PER_GBYTE_S_PJ


def check_power(system: System, routing: Routing) -> list[Violation]:
    """Interconnect power at the demanded bandwidth is within each die's and the system's budget
    (each die carries half of the energy of every link it terminates)."""
    power = link_power_w(system, routing)
    arc_load = routing.arc_load()
    load = arc_load[0::2] + arc_load[1::2]

    def largest(link_ids: list[int]) -> str:
        top = sorted(link_ids, key=lambda i: -power[i])[:2]
        return "; ".join(f"link {system.links[i].name} {power[i]:.2f} W = {load[i]:.0f} GB/s at "
                         f"{system.links[i].energy_pj_per_bit:g} pJ/bit" for i in top)

    per_die: dict[str, list[int]] = defaultdict(list)
    for i, link in enumerate(system.links):
        per_die[link.a.die].append(i)
        per_die[link.b.die].append(i)
    found = []
    for die in system.dies.values():
        budget = die.interconnect_power_budget_w
        share = sum(power[i] for i in per_die[die.name]) / 2
        if budget is not None and share > budget * (1 + 1e-9):
            found.append(Violation("power", f"die {die.name}",
                                   f"die {die.name}: interconnect power {share:.2f} W at the demanded "
                                   f"bandwidth exceeds its budget {budget:g} W (half of each link; "
                                   f"largest: {largest(per_die[die.name])})"))
    total = float(power.sum())
    budget = system.interconnect_power_budget_w
    if budget is not None and total > budget * (1 + 1e-9):
        found.append(Violation("power", "system",
                               f"system {system.name}: interconnect power {total:.2f} W at the demanded "
                               f"bandwidth exceeds the budget {budget:g} W (largest: "
                               f"{largest(list(range(len(system.links))))})"))
    return found
