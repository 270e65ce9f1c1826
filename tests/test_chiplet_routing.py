"""kchip.chiplet.routing: all demands routed at once, checked against an independent arc-flow LP."""

import random

import numpy as np
import pytest
from scipy.optimize import linprog

from kchip.chiplet.checks import check_capacity
from kchip.chiplet.model import system_from_dict
from kchip.chiplet.routing import route


def _system(dies: dict[str, str], links: list[tuple], demands: list[tuple]):
    """dies: name -> role; links: (a, b, standard, lanes, rate); demands: (from, to, GB/s[, route])."""
    entries = {n: {"name": n, "role": r, "package": "silicon-interposer", "width_mm": 10,
                   "height_mm": 10, "interfaces": []} for n, r in dies.items()}
    link_entries = []
    for j, (a, b, standard, lanes, rate) in enumerate(links):
        for die in (a, b):
            entries[die]["interfaces"].append({"name": f"p{j}", "standard": standard,
                                               "module_width": lanes, "rate_gtps": rate,
                                               "bump_pitch_um": 45, "edge": "north"})
        link_entries.append({"name": f"{a}-{b}-{j}", "ends": [f"{a}.p{j}", f"{b}.p{j}"]})
    demand_entries = []
    for k, (s, t, rate, *pinned) in enumerate(demands):
        demand_entries.append({"name": f"t{k}", "from": s, "to": t, "gbyte_per_s": rate,
                               **({"route": pinned[0]} if pinned else {})})
    return system_from_dict({"dies": list(entries.values()), "links": link_entries,
                             "demands": demand_entries})


def arc_flow_min_overflow(system) -> float:
    """Golden model: minimum total overflow of the node-arc multi-commodity LP (one flow variable per
    demand and direction of each link), written without kchip.chiplet.routing."""
    dies = list(system.dies)
    arcs = [(link.a.die, link.b.die, i) for i, link in enumerate(system.links)] + \
           [(link.b.die, link.a.die, i) for i, link in enumerate(system.links)]
    rows = []   # (arc indices, capacity)
    for i, link in enumerate(system.links):
        both = [a for a, arc in enumerate(arcs) if arc[2] == i]
        if link.standard.duplex == "half":
            rows.append((both, link.capacity_gbyte_s))
        else:
            rows += [([a], link.capacity_gbyte_s) for a in both]
    k_count, a_count = len(system.demands), len(arcs)
    size = k_count * a_count + len(rows)
    a_eq, b_eq, bounds = [], [], []
    for k, demand in enumerate(system.demands):
        for die in dies:
            row = np.zeros(size)
            for a, (u, v, _) in enumerate(arcs):
                row[k * a_count + a] += (u == die) - (v == die)
            a_eq.append(row)
            b_eq.append(demand.gbyte_per_s * ((die == demand.source) - (die == demand.target)))
        for u, _, _ in arcs:
            transit_banned = not system.dies[u].forwards and u != demand.source
            bounds.append((0, 0) if transit_banned else (0, None))
    bounds += [(0, None)] * len(rows)
    a_ub = np.zeros((len(rows), size))
    for r, (members, _) in enumerate(rows):
        for k in range(k_count):
            a_ub[r, [k * a_count + a for a in members]] = 1
        a_ub[r, k_count * a_count + r] = -1
    cost = np.concatenate([np.zeros(k_count * a_count), np.ones(len(rows))])
    result = linprog(cost, A_ub=a_ub, b_ub=[c for _, c in rows], A_eq=np.array(a_eq), b_eq=b_eq,
                     bounds=bounds, method="highs")
    assert result.status == 0, result.message
    return result.fun


def _random_system(seed: int):
    rng = random.Random(seed)
    names = [f"d{i}" for i in range(6)]
    dies = {n: ("ap" if i == 0 else "memory" if i == 5 else "npu") for i, n in enumerate(names)}
    links = [(names[i], names[rng.randrange(i)], "ucie-standard", rng.choice((8, 16)),
              rng.choice((8, 16, 32))) for i in range(1, 5)]
    links += [tuple(rng.sample(names[:5], 2)) + ("ucie-standard", 16, rng.choice((8, 16)))
              for _ in range(3)]
    links.append((names[5], rng.choice(names[:5]), "hbm3", 64, 3.2))
    links.append((names[5], rng.choice(names[:5]), "ucie-standard", 16, 8))
    demands = [tuple(rng.sample(names, 2)) + (rng.choice((4, 8, 16, 24)),) for _ in range(7)]
    return _system(dies, links, demands)


def _assert_paths_are_a_valid_routing(system, routing):
    """Independent re-check: contiguous paths, no transit through non-forwarding dies, every demand
    fully carried, no row over capacity."""
    carried = np.zeros(len(system.demands))
    load = {}
    for i, arcs, flow in routing.paths:
        demand = system.demands[i]
        at = demand.source
        for step, arc in enumerate(arcs):
            link = system.links[arc // 2]
            ends = (link.a.die, link.b.die) if arc % 2 == 0 else (link.b.die, link.a.die)
            assert ends[0] == at and (step == 0 or system.dies[at].forwards)
            at = ends[1]
            key = (arc // 2,) if link.standard.duplex == "half" else (arc // 2, arc % 2)
            load[key] = load.get(key, 0.0) + flow
        assert at == demand.target
        carried[i] += flow
    assert carried == pytest.approx([d.gbyte_per_s for d in system.demands], rel=1e-6)
    for key, value in load.items():
        assert value <= system.links[key[0]].capacity_gbyte_s * (1 + 1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_routing_agrees_with_the_arc_flow_lp(seed):
    system = _random_system(seed)
    routing = route(system)
    golden = arc_flow_min_overflow(system)
    assert routing.proven
    assert routing.feasible == (golden <= 1e-6)
    if routing.feasible:
        _assert_paths_are_a_valid_routing(system, routing)
    else:
        assert routing.overflow.sum() == pytest.approx(golden, rel=1e-6)


def test_random_systems_cover_both_outcomes():
    outcomes = {route(_random_system(seed)).feasible for seed in range(12)}
    assert outcomes == {True, False}


def test_lp_reroutes_only_the_excess_over_the_fastest_path():
    system = _system({"a": "ap", "b": "npu", "c": "npu"},
                     [("a", "b", "ucie-standard", 16, 8), ("a", "c", "ucie-standard", 16, 32),
                      ("c", "b", "ucie-standard", 16, 32)],
                     [("a", "b", 20)])
    routing = route(system)
    assert routing.method == "lp" and routing.feasible
    by_hops = {len(arcs): flow for _, arcs, flow in routing.paths}
    assert by_hops == pytest.approx({1: 16.0, 2: 4.0})
    _assert_paths_are_a_valid_routing(system, routing)


def test_half_duplex_links_share_one_capacity_between_directions():
    dies = {"ap": "ap", "mem": "memory"}
    both_ways = [("ap", "mem", 15), ("mem", "ap", 15)]
    half = route(_system(dies, [("ap", "mem", "hbm3", 64, 3.2)], both_ways))
    full = route(_system(dies, [("ap", "mem", "ucie-standard", 16, 16)], both_ways))
    assert half.network.capacity.tolist() == [25.6] and not half.feasible
    assert full.network.capacity.tolist() == [32.0, 32.0] and full.feasible


def test_memory_dies_are_never_passed_through():
    system = _system({"a": "ap", "m": "memory", "b": "npu"},
                     [("a", "m", "ucie-standard", 16, 16), ("m", "b", "ucie-standard", 16, 16)],
                     [("a", "b", 1), ("a", "m", 1)])
    routing = route(system)
    assert routing.unroutable == [0]
    assert check_capacity(system, routing)[0].message == (
        "demand t0 (1 GB/s): no path from die a to die b through forwarding dies")


def test_pinned_route_is_kept_although_a_faster_one_exists():
    system = _system({"a": "ap", "b": "npu", "c": "npu"},
                     [("a", "b", "ucie-standard", 16, 16), ("a", "c", "ucie-standard", 16, 16),
                      ("c", "b", "ucie-standard", 16, 16)],
                     [("a", "b", 5, ["a-c-1", "c-b-2"])])
    (path,) = route(system).paths
    assert path[1].tolist() == [2, 4] and path[2] == 5


def test_lp_stopped_early_is_reported_as_undecided():
    system = _random_system(0)
    assert route(system).rounds > 1
    routing = route(system, max_rounds=1)
    assert not routing.proven and not routing.feasible
    assert any(v.message == "routing undecided: the path LP did not reach its optimum in 1 rounds"
               for v in check_capacity(system, routing))


def test_system_without_links_routes_nothing():
    routing = route(_system({"a": "ap", "b": "io"}, [], [("a", "b", 1)]))
    assert routing.unroutable == [0] and routing.paths == [] and routing.feasible


def test_huge_demands_beyond_the_solver_s_infinity_are_routed_and_overflow():
    system = _system({"a": "ap", "b": "npu", "c": "npu"},
                     [("a", "b", "ucie-standard", 16, 8), ("a", "c", "ucie-standard", 16, 32),
                      ("c", "b", "ucie-standard", 16, 32)],
                     [("a", "b", 1e300), ("a", "c", 1e21), ("c", "b", 2)])
    routing = route(system)
    assert routing.method == "lp" and routing.proven and not routing.feasible
    capacity = sum(system.links[i].capacity_gbyte_s for i in (0, 1))
    assert routing.overflow.sum() == pytest.approx(1e300 + 1e21 - capacity, rel=1e-9)
    assert np.isfinite(routing.row_load).all()
