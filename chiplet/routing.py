"""Route every demand at once within the link capacities: a multi-commodity flow, solved exactly.

The network is directed: each link is two *arcs* (one per direction). A full-duplex link has one
capacity row per arc; a half-duplex link (HBM3's shared data bus) has one row for both. A die that
does not forward traffic (a memory stack) is split into an entry node and an exit node, so paths may
start or end there but never pass through.

Method (path formulation with column generation, exact for the linear relaxation):

1. Each demand takes its lowest-latency path (Dijkstra from every source). If the summed loads fit
   every row, that routing *is* the proof of feasibility, and it is latency-optimal per demand.
2. Otherwise a linear program over path flows minimises the total overflow
   ``sum(s_r)`` with ``sum(flow of demand d) = demand d`` and ``load_r - s_r <= capacity_r``.
   New paths are priced with the LP duals: a path for demand ``d`` improves the LP only when its
   length under the row duals is shorter than the dual of ``d``; one Dijkstra per source finds the
   best such path for every demand. When no demand has an improving path, the LP optimum is the
   optimum over *all* paths, so a positive overflow proves that no routing fits (the duals are the
   certificate); zero overflow gives explicit paths that fit.
3. When the demands fit, a second LP of the same shape minimises the flow-weighted latency with hard
   capacities, so that latency and deadlock are judged on the fastest routing that fits.

Limits: flows may split across paths (fractional routing, as flit-interleaved links allow); the
latency objective is a sum, so one demand may be given a slower path to let others fit and a latency
budget miss is then reported although another split might meet every budget (constrained routing is
NP-hard). Step 2 gives up after ``max_rounds`` LP solves and then reports the routing as not
proven (a capacity violation says so); step 3 stops after ``latency_rounds`` solves and keeps its
last routing, which fits but may be slower than the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from kchip.chiplet.model import System

#: Relative tolerance for "fits": loads may exceed a capacity by this fraction of the total demand.
TOLERANCE = 1e-7


@dataclass
class Network:
    """The system's dies and links as arrays: nodes, arcs, capacity rows."""

    die_names: list[str]
    entry: np.ndarray          # node a path ends at, per die
    exit: np.ndarray           # node a path starts from, per die
    tail: np.ndarray           # per arc
    head: np.ndarray
    link_of_arc: np.ndarray
    latency: np.ndarray        # per arc: link latency + forwarding latency of the die it enters
    row_of_arc: np.ndarray
    capacity: np.ndarray       # per row, GB/s
    forward_latency: np.ndarray  # per die

    @property
    def nodes(self) -> int:
        return 2 * len(self.die_names)

    @classmethod
    def of(cls, system: System) -> Network:
        names = list(system.dies)
        index = {name: i for i, name in enumerate(names)}
        n = len(names)
        forwards = np.array([system.dies[d].forwards for d in names])
        entry = np.arange(n)
        exit_ = np.where(forwards, entry, entry + n)
        fwd = np.array([system.dies[d].forward_latency_ns for d in names], dtype=float)
        a = np.array([index[link.a.die] for link in system.links], dtype=np.int64)
        b = np.array([index[link.b.die] for link in system.links], dtype=np.int64)
        tail = np.empty(2 * len(a), dtype=np.int64)
        head = np.empty_like(tail)
        tail[0::2], head[0::2] = exit_[a], entry[b]
        tail[1::2], head[1::2] = exit_[b], entry[a]
        link_of_arc = np.repeat(np.arange(len(a)), 2)
        link_latency = np.array([link.standard.latency_ns for link in system.links], dtype=float)
        entered = np.empty_like(tail)
        entered[0::2], entered[1::2] = b, a
        half = np.array([link.standard.duplex == "half" for link in system.links], dtype=bool)
        rows_per_link = np.where(half, 1, 2)
        first_row = (np.cumsum(rows_per_link) - rows_per_link).astype(np.int64)
        row_of_arc = np.repeat(first_row, 2) + np.tile([0, 1], len(a)) * np.repeat(~half, 2)
        link_cap = np.array([link.capacity_gbyte_s for link in system.links], dtype=float)
        capacity = np.repeat(link_cap, rows_per_link)
        return cls(names, entry, exit_, tail, head, link_of_arc,
                   link_latency[link_of_arc] + fwd[entered], row_of_arc, capacity, fwd)


@dataclass
class Routing:
    """Where every demand's traffic goes, and whether it fits."""

    network: Network
    paths: list[tuple[int, np.ndarray, float]]   # (demand index, arcs in order, GB/s)
    row_load: np.ndarray
    feasible: bool
    proven: bool                                 # False only if the LP stopped before its optimum
    method: str                                  # "shortest-path" or "lp"
    overflow: np.ndarray                         # per row, GB/s over capacity in the LP optimum
    unroutable: list[int] = field(default_factory=list)
    rounds: int = 0

    def arc_load(self) -> np.ndarray:
        load = np.zeros(len(self.network.tail))
        for _, arcs, flow in self.paths:
            load[arcs] += flow
        return load

    def path_latency(self, arcs: np.ndarray, target_die: int) -> float:
        """Link latencies plus forwarding latencies of the dies passed through."""
        return float(self.network.latency[arcs].sum() - self.network.forward_latency[target_die])


class _PathFinder:
    """Shortest paths on the arc graph under given arc weights (parallel arcs: the lightest wins)."""

    def __init__(self, net: Network, weights: np.ndarray):
        order = np.lexsort((weights, net.head, net.tail))
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = (net.tail[order][1:] != net.tail[order][:-1]) | \
                   (net.head[order][1:] != net.head[order][:-1])
        arcs = order[keep]
        self.net = net
        self.graph = csr_matrix((weights[arcs], (net.tail[arcs], net.head[arcs])),
                                shape=(net.nodes, net.nodes))
        self.arc_between = dict(zip((net.tail[arcs] * net.nodes + net.head[arcs]).tolist(),
                                    arcs.tolist()))

    def run(self, sources: np.ndarray):
        """Distances and predecessor rows from every source node (one Dijkstra each)."""
        return dijkstra(self.graph, directed=True, indices=sources, return_predecessors=True)

    def path(self, predecessors: np.ndarray, source: int, target: int) -> np.ndarray:
        arcs, node = [], target
        while node != source:
            previous = predecessors[node]
            arcs.append(self.arc_between[previous * self.net.nodes + node])
            node = previous
        return np.array(arcs[::-1], dtype=np.int64)


def _pinned_arcs(system: System, net: Network, route: tuple[str, ...], source: str) -> np.ndarray:
    index = {link.name: i for i, link in enumerate(system.links)}
    arcs, at = [], source
    for name in route:
        i = index[name]
        link = system.links[i]
        forward = link.a.die == at
        arcs.append(2 * i + (0 if forward else 1))
        at = link.b.die if forward else link.a.die
    return np.array(arcs, dtype=np.int64)


class _PathLP:
    """The path-flow LP and its column generation.

    The solver sees GB/s divided by the largest demand, so that every finite demand stays below
    HiGHS's infinity (1e20, at and above which an equality row is a model error); the duals do not
    change, and :meth:`solve` gives flows and the objective back in GB/s.
    """

    def __init__(self, net: Network, amount: np.ndarray, pinned: np.ndarray, slack: float):
        self.net, self.amount, self.pinned, self.slack = net, amount, pinned, slack
        self.unit = max(1.0, float(amount.max(initial=0.0)))
        self.columns: list[tuple[int, np.ndarray]] = []
        self.known: set[tuple[int, bytes]] = set()
        self.solved = 0   # columns in the last solved LP (its solution vector starts with them)

    def add(self, demand: int, arcs: np.ndarray) -> bool:
        key = (demand, arcs.tobytes())
        if key in self.known:
            return False
        self.known.add(key)
        self.columns.append((demand, arcs))
        return True

    def solve(self, *, with_overflow: bool):
        net, rows = self.net, len(self.net.capacity)
        lengths = [len(arcs) for _, arcs in self.columns]
        col_index = np.repeat(np.arange(len(self.columns)), lengths)
        row_index = net.row_of_arc[np.concatenate([arcs for _, arcs in self.columns])]
        paths = len(self.columns)
        if with_overflow:
            a_ub = coo_matrix((np.concatenate([np.ones(len(col_index)), -np.ones(rows)]),
                               (np.concatenate([row_index, np.arange(rows)]),
                                np.concatenate([col_index, paths + np.arange(rows)]))),
                              shape=(rows, paths + rows)).tocsr()
            cost = np.concatenate([np.zeros(paths), np.ones(rows)])
        else:
            a_ub = coo_matrix((np.ones(len(col_index)), (row_index, col_index)),
                              shape=(rows, paths)).tocsr()
            cost = np.array([net.latency[arcs].sum() for _, arcs in self.columns])
        demands = np.array([d for d, _ in self.columns])
        a_eq = coo_matrix((np.ones(paths), (demands, np.arange(paths))),
                          shape=(len(self.amount), a_ub.shape[1])).tocsr()
        capacity = net.capacity if with_overflow else net.capacity + self.slack
        result = linprog(cost, A_ub=a_ub, b_ub=capacity / self.unit, A_eq=a_eq,
                         b_eq=self.amount / self.unit, bounds=(0, None), method="highs")
        if result.status != 0:
            raise RuntimeError(f"path LP failed: {result.message}")
        result.x, result.fun = result.x * self.unit, result.fun * self.unit
        self.solved = paths
        return result

    def price(self, result, *, with_latency: bool, sources: np.ndarray, targets: np.ndarray,
              fastest: np.ndarray) -> int:
        """Add every demand's best path under the duals if it improves the LP; return how many.

        A path's reduced cost is its dual length (plus its latency in the latency LP) minus the
        demand's dual. Dual lengths are never negative, so a demand whose dual does not exceed the
        length of its ``fastest`` path (0 in the overflow LP) cannot improve and is not searched.
        """
        net = self.net
        row_price = np.maximum(-result.ineqlin.marginals, 0.0)
        demand_price = result.eqlin.marginals
        arc_price = row_price[net.row_of_arc]
        weights = arc_price + (net.latency if with_latency else 1e-9 * net.latency)
        scale = max(1.0, float(np.abs(demand_price).max(initial=0.0)))
        bound = fastest if with_latency else 0.0
        free = np.flatnonzero(~self.pinned & (demand_price > bound + 1e-9 * scale))
        if len(free) == 0:
            return 0
        finder = _PathFinder(net, weights)
        unique_sources, which = np.unique(sources[free], return_inverse=True)
        _, predecessors = finder.run(unique_sources)
        added = 0
        for k, d in enumerate(free):
            arcs = finder.path(predecessors[which[k]], sources[d], targets[d])
            reduced = arc_price[arcs].sum() - demand_price[d]
            if with_latency:
                reduced += net.latency[arcs].sum()
            if reduced < -1e-9 * scale and self.add(int(d), arcs):
                added += 1
        return added


def _fastest_paths(system: System, net: Network, sources: np.ndarray, targets: np.ndarray):
    """Each demand's lowest-latency path (or its pinned route); demands without any path apart."""
    finder = _PathFinder(net, net.latency)
    free = [i for i, d in enumerate(system.demands) if d.route is None]
    paths: dict[int, np.ndarray] = {}
    unroutable = []
    if free:
        unique_sources, which = np.unique(sources[free], return_inverse=True)
        distance, predecessors = finder.run(unique_sources)
        for k, i in enumerate(free):
            if np.isinf(distance[which[k], targets[i]]):
                unroutable.append(i)
            else:
                paths[i] = finder.path(predecessors[which[k]], sources[i], targets[i])
    for i, d in enumerate(system.demands):
        if d.route is not None:
            paths[i] = _pinned_arcs(system, net, d.route, d.source)
    return paths, unroutable


def route(system: System, *, max_rounds: int = 200, latency_rounds: int = 30) -> Routing:
    """Route all demands of ``system`` at once (see the module docstring for the method)."""
    net = Network.of(system)
    die_index = {name: i for i, name in enumerate(net.die_names)}
    demands = system.demands
    sources = np.array([net.exit[die_index[d.source]] for d in demands], dtype=np.int64)
    targets = np.array([net.entry[die_index[d.target]] for d in demands], dtype=np.int64)
    first, unroutable = _fastest_paths(system, net, sources, targets)
    routed = sorted(first)
    amount = np.array([demands[i].gbyte_per_s for i in routed])
    row_load = np.zeros(len(net.capacity))
    for i in routed:
        np.add.at(row_load, net.row_of_arc[first[i]], demands[i].gbyte_per_s)
    slack = TOLERANCE * max(1.0, float(amount.sum()))
    if bool(np.all(row_load <= net.capacity + slack)):
        paths = [(i, first[i], demands[i].gbyte_per_s) for i in routed]
        return Routing(net, paths, row_load, True, True, "shortest-path",
                       np.zeros(len(net.capacity)), unroutable)

    pinned = np.array([demands[i].route is not None for i in routed])
    lp = _PathLP(net, amount, pinned, slack)
    for k, i in enumerate(routed):
        lp.add(k, first[i])
    lp_sources, lp_targets = sources[routed], targets[routed]
    fastest = np.array([net.latency[first[i]].sum() for i in routed])
    rounds, proven = 0, False
    while rounds < max_rounds and not proven:
        rounds += 1
        result = lp.solve(with_overflow=True)
        proven = result.fun <= slack or lp.price(result, with_latency=False, sources=lp_sources,
                                                 targets=lp_targets, fastest=fastest) == 0
    feasible = bool(result.fun <= slack)
    if feasible:
        for _ in range(latency_rounds):
            rounds += 1
            result = lp.solve(with_overflow=False)
            if lp.price(result, with_latency=True, sources=lp_sources, targets=lp_targets,
                        fastest=fastest) == 0:
                break
    flows = result.x[:lp.solved]
    paths = [(routed[d], arcs, float(f)) for (d, arcs), f in zip(lp.columns, flows) if f > slack]
    row_load = np.zeros(len(net.capacity))
    for _, arcs, flow in paths:
        np.add.at(row_load, net.row_of_arc[arcs], flow)
    overflow = np.zeros(len(net.capacity)) if feasible else result.x[lp.solved:]
    return Routing(net, paths, row_load, feasible, bool(proven), "lp", overflow, unroutable, rounds)
