"""kchip.chiplet.checks: the reference K-AP passes every check; one broken variant per check fails it
with a message naming the die or link and the figure."""

import copy

import networkx as nx
import yaml

from kchip.chiplet import REFERENCE_SYSTEM
from kchip.chiplet.model import system_from_dict
from kchip.chiplet.report import CHECKS, run_checks

REFERENCE = yaml.safe_load(REFERENCE_SYSTEM.read_text())


def _die(data, name):
    return next(d for d in data["dies"] if d["name"] == name)


def _iface(data, die, name):
    return next(i for i in _die(data, die)["interfaces"] if i["name"] == name)


def _demand(data, name):
    return next(d for d in data["demands"] if d["name"] == name)


def _report(data):
    return run_checks(system_from_dict(data, base=REFERENCE_SYSTEM.parent), rtl=False)


def _failures(mutate):
    data = copy.deepcopy(REFERENCE)
    mutate(data)
    report = _report(data)
    return {name: [v.message for v in found] for name, found in report.violations.items() if found}


def test_reference_system_passes_every_check():
    report = _report(copy.deepcopy(REFERENCE))
    assert report.passed, report.violations
    assert [report.status(name) for name in CHECKS if name != "rtl_ports"] == ["pass"] * 8
    assert report.status("rtl_ports") == "skipped"
    assert report.routing.method == "shortest-path" and report.routing.feasible


def test_link_with_different_standards_at_its_ends():
    failed = _failures(lambda d: _iface(d, "npu1", "d2d_ap").update(standard="bow", modules=4,
                                                                     module_width=16))
    assert list(failed) == ["link"]
    assert failed["link"] == ["link ap-npu1: ends use different standards: ap.d2d_npu1 is "
                              "'ucie-advanced', npu1.d2d_ap is 'bow'"]


def test_link_rate_width_and_reach_outside_the_standard():
    def mutate(data):
        _iface(data, "npu0", "d2d_ap")["rate_gtps"] = 20
        _iface(data, "io", "d2d_ap")["module_width"] = 48
        data["links"][2]["length_mm"] = 5
    messages = _failures(mutate)["link"]
    assert any("link ap-npu0: die npu0 interface d2d_ap runs at 20 GT/s; ucie-advanced allows 4, 8, "
               "12, 16, 24, 32 GT/s" == m for m in messages)
    assert any("link ap-io: die io interface d2d_ap has x48 modules" in m and "x64, x32" in m
               for m in messages)
    assert any("link npu0-npu1 (npu0-npu1): length 5 mm exceeds the ucie-advanced reach of 2 mm" == m
               for m in messages)


def test_bump_pitch_the_package_cannot_land():
    failed = _failures(lambda d: _die(d, "npu0").update(package="organic-substrate"))
    assert list(failed) == ["bump_pitch"]
    assert ("die npu0 interface d2d_ap (link ap-npu0): bump pitch 45 um is finer than package "
            "'organic-substrate' supports (minimum 100 um)") in failed["bump_pitch"]


def test_bump_pitch_outside_the_standard_range():
    failed = _failures(lambda d: _iface(d, "io", "d2d_ap").update(bump_pitch_um=60))
    assert any("die io interface d2d_ap (link ap-io): bump pitch 60 um is outside the ucie-advanced "
               "range 25-55 um" == m for m in failed["bump_pitch"])


def test_phys_longer_than_the_die_edge():
    failed = _failures(lambda d: _die(d, "npu0").update(height_mm=0.3))
    assert "die npu0 west edge: PHYs need 0.389 mm of shoreline (d2d_ap (link ap-npu0) 0.389 mm), " \
           "the edge is 0.3 mm" in failed["shoreline"]


def test_opposite_phys_deeper_than_the_die():
    failed = _failures(lambda d: (_die(d, "npu0").update(height_mm=1.9),
                                  _iface(d, "npu0", "d2d_ap").update(edge="north")))
    assert failed == {"shoreline": ["die npu0: PHY depth north 0.974 mm + south 0.974 mm exceeds its "
                                    "height 1.9 mm"]}


def _max_flow_alone(data, demand):
    """Golden model: the most one demand could get with the whole network to itself."""
    system = system_from_dict(data)
    graph = nx.DiGraph()
    for link in system.links:
        for u, v in ((link.a.die, link.b.die), (link.b.die, link.a.die)):
            if u == demand["from"] or system.dies[u].forwards:
                old = graph.get_edge_data(u, v, {"capacity": 0})["capacity"]
                graph.add_edge(u, v, capacity=old + link.capacity_gbyte_s)
    return nx.maximum_flow_value(graph, demand["from"], demand["to"])


def test_capacity_fails_jointly_although_each_demand_fits_alone():
    def mutate(data):
        _demand(data, "npu0-weights")["gbyte_per_s"] = 310
        _demand(data, "cpu-reads")["gbyte_per_s"] = 20
    data = copy.deepcopy(REFERENCE)
    mutate(data)
    for demand in data["demands"]:
        assert _max_flow_alone(data, demand) >= demand["gbyte_per_s"]
    failed = _failures(mutate)
    assert list(failed) == ["capacity"]
    summary, *links = failed["capacity"]
    assert "cannot all be routed at once" in summary and "10.0 GB/s over capacity" in summary
    assert any("link ap-" in m and "capacity 256.0 GB/s (ucie-advanced x64 @ 32 GT/s)" in m
               and "npu0-weights" in m for m in links)


def test_path_over_its_latency_budget():
    failed = _failures(lambda d: _demand(d, "npu-pipeline").update(latency_budget_ns=1.5))
    assert failed == {"latency": ["demand npu-pipeline (npu0->npu1): path npu0->npu1 (links "
                                  "npu0-npu1) takes 2.00 ns, budget 1.5 ns"]}


def test_forwarding_latency_counts_for_dies_passed_through():
    failed = _failures(lambda d: _demand(d, "npu0-weights").update(latency_budget_ns=6.9))
    assert failed == {"latency": ["demand npu0-weights (pim0->npu0): path pim0->ap->npu0 (links "
                                  "ap-pim0, ap-npu0) takes 7.00 ns, budget 6.9 ns"]}


def test_cyclic_channel_dependencies_deadlock():
    def mutate(data):
        data["demands"] += [
            {"name": "loop-a", "from": "ap", "to": "npu1", "gbyte_per_s": 1,
             "route": ["ap-npu0", "npu0-npu1"]},
            {"name": "loop-b", "from": "npu0", "to": "ap", "gbyte_per_s": 1,
             "route": ["npu0-npu1", "ap-npu1"]},
            {"name": "loop-c", "from": "npu1", "to": "npu0", "gbyte_per_s": 1,
             "route": ["ap-npu1", "ap-npu0"]},
        ]
    failed = _failures(mutate)
    assert list(failed) == ["deadlock"]
    (message,) = failed["deadlock"]
    for channel in ("ap->npu0 (link ap-npu0)", "npu0->npu1 (link npu0-npu1)", "npu1->ap (link ap-npu1)"):
        assert channel in message
    assert "loop-a, loop-b, loop-c" in message


def test_die_unreachable_from_the_ap():
    def mutate(data):
        data["links"] = [l for l in data["links"] if l["name"] != "ap-io"]
        data["demands"] = [d for d in data["demands"] if "io" not in (d["from"], d["to"])]
    failed = _failures(mutate)
    assert failed == {"reachability": ["die io (io) is unreachable from the AP die ap (links: none)"]}


def test_missing_redundant_path():
    failed = _failures(lambda d: d.update(links=[l for l in d["links"] if l["name"] != "npu0-npu1"]))
    assert failed["reachability"] == [
        "die npu0 has 1 edge-disjoint path(s) from the AP die ap, needs 2; cutting link(s) ap-npu0 "
        "isolates it",
        "die npu1 has 1 edge-disjoint path(s) from the AP die ap, needs 2; cutting link(s) ap-npu1 "
        "isolates it"]


def test_interconnect_power_over_die_and_system_budgets():
    def mutate(data):
        _die(data, "ap")["interconnect_power_budget_w"] = 3
        data["interconnect_power_budget_w"] = 8
    failed = _failures(mutate)
    assert list(failed) == ["power"]
    die_message, system_message = failed["power"]
    # ap carries half of ap-pim0 (730 GB/s x 1.2 pJ/bit), ap-npu0/1 (264 GB/s x 0.3), ap-io (70 x 0.25)
    expected = (730 * 1.2 + 2 * 264 * 0.3 + 70 * 0.25) * 8e-3 / 2
    assert die_message.startswith(f"die ap: interconnect power {expected:.2f} W at the demanded "
                                  f"bandwidth exceeds its budget 3 W")
    assert "link ap-pim0 7.01 W = 730 GB/s at 1.2 pJ/bit" in die_message
    total = (730 * 1.2 + 2 * 264 * 0.3 + 64 * 0.25 + 70 * 0.25) * 8e-3
    assert system_message.startswith(f"system K-AP reference: interconnect power {total:.2f} W")
