"""Tests for kchip.flows.physical.antenna_repair: diodes in place of fillers, the repair rounds, and
the route stage repairing a real violation end to end.

The hand-built layouts have three rows of 20 sites (0.46 um) with an inverter (3 sites) in the bottom
row at site 9; fill_rows fills the rest. The inverter's input pin is li1 0.32-0.65 x 1.075-1.315 um,
so a diode (2 sites) centred on it would start at site 9.05: the nearest free run in the same row
starts at site 7, where it covers a fill_8 (sites 0-7) and a fill_1 (site 8).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from kchip.design import load_design
from kchip.flows.physical.antenna_repair import (DIODE_PREFIX, DIODE_ROLE, MARGIN, DiodeCell, Routing,
                                                 diode_targets, insert_diodes, nets_near, problem_nets,
                                                 repair_antennas, route_groups)
from kchip.flows.physical.grid import BLOCKED, FREE, RouteGrid
from kchip.flows.physical.layout import Instance, Layout, Port, Shape, Via
from kchip.flows.physical.placer import PlacementError, fill_rows
from kchip.flows.physical.router import Router
from kchip.flows.runner import run_flow
from kchip.flows.signoff.antenna import Violation, check_antenna
from kchip.flows.timing.spef import RoutedNet, Segment, ViaHop

SITE, ROW, SITES = 460, 2720, 20
GATE_CELL = "sky130_fd_sc_hd__inv_1"
DIODE_CELL = "sky130_fd_sc_hd__diode_2"
GATE_SITE = 9
#: the input pin's centre, in cell coordinates
PIN_X, PIN_Y = 485, 1195


@pytest.fixture(scope="module")
def cells(pdk, tech_and_macros):
    tech, macros = tech_and_macros
    return tech, macros, DiodeCell(pdk.stdcell["diode_cell"], pdk.stdcell["diode_pin"]), pdk.stdcell["fill_cells"]


@pytest.fixture(scope="module")
def tap_cell(pdk):
    return pdk.stdcell["tap_cell"]


def rows_layout(macros, fill_cells, net: str = "n", full_rows: tuple[int, ...] = (),
                tap_cell: str | None = None, more: dict[str, Instance] | None = None) -> Layout:
    """Three rows with the inverter ``g`` (input on ``net``) in the bottom row and the ``more``
    instances; in the rows of ``full_rows`` every site the inverter leaves holds a ``tap_cell``, the
    other rows get fillers."""
    layout = Layout("t", [], {}, die=(0, 0, SITES * SITE, 3 * ROW), core=(0, 0, SITES * SITE, 3 * ROW), site=(SITE, ROW),
                    rows=[(0, "N"), (ROW, "FS"), (2 * ROW, "N")])
    layout.instances["g"] = Instance(GATE_CELL, {"A": net, "Y": "y"}, x=GATE_SITE * SITE, y=0, fixed=True)
    layout.instances.update(more or {})
    for row in full_rows:
        for site in range(SITES):
            if row or not GATE_SITE <= site < GATE_SITE + 3:
                layout.instances[f"tap_{row}_{site}"] = Instance(tap_cell, {}, "tap", site * SITE, row * ROW,
                                                                 dict(layout.rows)[row * ROW], True)
    fill_rows(layout, macros, fill_cells)
    return layout


def site_cover(layout: Layout, macros) -> list[list[int]]:
    """How many instances cover each site of each row."""
    cover = [[0] * SITES for _ in layout.rows]
    for inst in layout.instances.values():
        for site in range(inst.x // SITE, (inst.x + macros[inst.cell].width) // SITE):
            cover[inst.y // ROW][site] += 1
    return cover


def fillers_in_row(layout: Layout, macros, row: int) -> list[tuple[int, int]]:
    return sorted((i.x // SITE, macros[i.cell].width // SITE) for i in layout.instances.values()
                  if i.role == "fill" and i.y == row * ROW)


def test_a_diode_replaces_fillers_beside_the_gate_and_the_leftover_is_filled_again(cells):
    tech, macros, diode, fill_cells = cells
    layout = rows_layout(macros, fill_cells, net="acc[3]")
    assert fillers_in_row(layout, macros, 0) == [(0, 8), (8, 1), (12, 8)]
    other_rows = [fillers_in_row(layout, macros, row) for row in (1, 2)]

    added = insert_diodes(layout, macros, [("acc[3]", "g/A")], diode, fill_cells)

    assert added == ["ANTENNA_acc_3__0"]
    inst = layout.instances["ANTENNA_acc_3__0"]
    assert (inst.cell, inst.conns, inst.role, inst.fixed) == (diode.cell, {diode.pin: "acc[3]"}, DIODE_ROLE, True)
    assert (inst.x, inst.y, inst.orient) == ((GATE_SITE - 2) * SITE, 0, "N")
    assert inst.x + macros[diode.cell].width == layout.instances["g"].x, "the diode abuts the gate's input side"
    assert fillers_in_row(layout, macros, 0) == [(0, 4), (4, 2), (6, 1), (12, 8)]
    assert [fillers_in_row(layout, macros, row) for row in (1, 2)] == other_rows
    assert site_cover(layout, macros) == [[1] * SITES] * 3, "every site is covered exactly once"


def test_diodes_on_one_net_get_numbered_names(cells):
    tech, macros, diode, fill_cells = cells
    layout = rows_layout(macros, fill_cells)
    added = insert_diodes(layout, macros, [("n", "g/A"), ("n", "g/A")], diode, fill_cells)
    assert added == ["ANTENNA_n_0", "ANTENNA_n_1"]
    assert site_cover(layout, macros) == [[1] * SITES] * 3


def test_a_diode_goes_to_the_adjacent_row_when_the_gate_row_is_full(cells, tap_cell):
    tech, macros, diode, fill_cells = cells
    layout = rows_layout(macros, fill_cells, full_rows=(0,), tap_cell=tap_cell)

    [name] = insert_diodes(layout, macros, [("n", "g/A")], diode, fill_cells)

    inst = layout.instances[name]
    assert (inst.x, inst.y, inst.orient) == (GATE_SITE * SITE, ROW, "FS"), "straight above the pin"
    assert site_cover(layout, macros) == [[1] * SITES] * 3


def test_no_free_site_anywhere_is_a_placement_error(cells, tap_cell):
    tech, macros, diode, fill_cells = cells
    layout = rows_layout(macros, fill_cells, full_rows=(0, 1, 2), tap_cell=tap_cell)
    with pytest.raises(PlacementError, match="antenna diode ANTENNA_n_0 beside g/A"):
        insert_diodes(layout, macros, [("n", "g/A")], diode, fill_cells)


def test_one_diode_serves_the_gates_that_share_a_violation():
    def violation(net, layer, *gates):
        return Violation(net, layer, "PSR", gates, 500.0, 400.0, 0.25, 0.0)

    found = [violation("a", "met2", "u1/A", "u2/A"), violation("a", "met3", "u2/A", "u3/B"),
             violation("a", "met4", "u4/A"), violation("b", "met3", "u1/B")]
    assert diode_targets(found) == [("a", "u1/A"), ("a", "u4/A"), ("b", "u1/B")]


# -- the repair rounds, with the router replaced by drawn geometry -------------------------------

#: another net's wire, which a re-route of ``n`` must see as a fixed shape and leave in place
OTHER = Shape("other", "met2", (0, 0, 140, 8000))


def draw(layout: Layout, net: str, length_um: float, gate_site: int = GATE_SITE, row: int = 0) -> None:
    """Route ``net`` by hand: a via stack on the input pin of the inverter at ``gate_site`` in
    ``row`` (orientation N), and a met3 wire from it."""
    x, y = gate_site * SITE + PIN_X, row * ROW + PIN_Y
    layout.vias += [Via(net, name, x, y) for name in ("L1M1_PR", "M1M2_PR", "M2M3_PR")]
    layout.shapes.append(Shape(net, "met3", (x - 150, y - 150, x + int(length_um * 1000) + 150, y + 150)))


def routed_layout(macros, fill_cells, length_um: float, more: dict[str, Instance] | None = None) -> Layout:
    """:func:`rows_layout` (and the ``more`` instances) with ports n and y, another net's wire, and
    net ``n`` drawn with a met3 wire of ``length_um``."""
    layout = rows_layout(macros, fill_cells, more=more)
    layout.ports = [Port("n", "input", "n", "met3", (0, 1045, 300, 1345), "left"),
                    Port("y", "output", "y", "met3", (9000, 1045, 9200, 1345), "right")]
    layout.shapes.append(OTHER)
    draw(layout, "n", length_um)
    return layout


def test_a_clean_routing_is_kept_without_a_reroute(cells):
    tech, macros, diode, fill_cells = cells
    routed = routed_layout(macros, fill_cells, 40)
    nets = [RoutedNet("n"), RoutedNet("y")]

    def route(_, window):
        raise AssertionError("no violation, so no re-route")

    repair = repair_antennas(routed, nets, macros, tech, route, diode, fill_cells)
    assert repair.layout is routed and repair.nets == nets and repair.after == ()
    assert repair.metrics({"route__wirelength__um": 1.0, "route__vias__count": 2}) == {
        "route__wirelength__um": 1.0, "route__vias__count": 2, "route__antenna_violations_before__count": 0,
        "route__antenna_violations_after__count": 0, "antenna__diodes__count": 0, "route__antenna_rounds__count": 0,
        "route__antenna_repair__s": pytest.approx(0, abs=0.5)}


def test_only_the_repaired_net_is_rerouted_and_rounds_keep_their_diodes(cells):
    """The drawn wire never reaches the diodes, so every round sees the violation again."""
    tech, macros, diode, fill_cells = cells
    routed = routed_layout(macros, fill_cells, 100)
    before = copy.deepcopy(routed)
    views = []

    def route(view, window):
        views.append(view)
        draw(view, "n", 100)
        return Routing((), (RoutedNet("n", [Segment(0, 1, "met3", 100.0, 0.3)], [ViaHop(0, 1, "via2")] * 4),))

    repair = repair_antennas(routed, [RoutedNet("n"), RoutedNet("y")], macros, tech, route, diode, fill_cells,
                             max_rounds=2)
    assert repair.diodes == ["ANTENNA_n_0", "ANTENNA_n_1"] and repair.rounds == 2
    assert len(repair.before.violations) == len(repair.after) == 1
    for view, diodes in zip(views, (["ANTENNA_n_0"], ["ANTENNA_n_0", "ANTENNA_n_1"])):
        connected = {name: inst.conns for name, inst in view.instances.items() if inst.conns}
        assert connected == {"g": {"A": "n"}, **{name: {diode.pin: "n"} for name in diodes}}
        assert [port.name for port in view.ports] == ["n"]
        assert view.shapes[:2] == [OTHER, Shape("y", "met3", (9000, 1045, 9200, 1345))], "fixed: other net, port y"
        assert not [via for via in view.vias[:len(view.vias) - 3] if via.net == "n"], "n's old route is gone"
    final = repair.layout
    assert final.shapes.count(OTHER) == 1 and [s for s in final.shapes if s.net == "y"] == []
    assert len([v for v in final.vias if v.net == "n"]) == 3 and final.ports == before.ports
    assert {name: inst.conns for name, inst in final.instances.items() if inst.conns} == {
        "g": {"A": "n", "Y": "y"}, "ANTENNA_n_0": {diode.pin: "n"}, "ANTENNA_n_1": {diode.pin: "n"}}
    assert site_cover(final, macros) == [[1] * SITES] * 3
    assert routed.instances == before.instances and routed.shapes == before.shapes, "the input is not changed"
    assert [net.name for net in repair.nets] == ["n", "y"]
    metrics = repair.metrics({"route__wirelength__um": 10.0, "route__vias__count": 5})
    assert (metrics["route__wirelength__um"], metrics["route__vias__count"]) == (110.0, 9)


def test_a_reroute_that_fails_is_discarded(cells):
    tech, macros, diode, fill_cells = cells
    routed = routed_layout(macros, fill_cells, 100)
    nets = [RoutedNet("n"), RoutedNet("y")]
    repair = repair_antennas(routed, nets, macros, tech, lambda view, window: Routing(("n",)), diode, fill_cells)
    assert repair.layout is routed and repair.nets == nets and repair.diodes == [] and repair.rounds == 1
    assert len(repair.after) == 1 and "previous routing kept" in repair.log[-1]


def test_a_net_the_reroute_cannot_route_loses_its_diode_and_keeps_its_violation(cells):
    """Net ``m`` (a second inverter's input, also on a long wire) cannot be routed again: the
    second attempt leaves it out, ``n`` gets its diode, and ``m``'s violation stays reported."""
    tech, macros, diode, fill_cells = cells
    second = {"h": Instance(GATE_CELL, {"A": "m", "Y": "z"}, x=2 * SITE, y=2 * ROW, orient="N", fixed=True)}
    routed = routed_layout(macros, fill_cells, 100, more=second)
    draw(routed, "m", 100, gate_site=2, row=2)
    attempts = []

    def route(view, window):
        attempts.append({net for inst in view.instances.values() for net in inst.conns.values()})
        if "m" in attempts[-1]:
            return Routing(("h/A (sky130_fd_sc_hd__inv_1, net m)",))
        draw(view, "n", 100)
        return Routing((), (RoutedNet("n"),))

    repair = repair_antennas(routed, [RoutedNet("m"), RoutedNet("n"), RoutedNet("y"), RoutedNet("z")], macros, tech,
                             route, diode, fill_cells, max_rounds=1)
    assert attempts == [{"m", "n"}, {"n"}]
    assert repair.diodes == ["ANTENNA_n_0"] and "ANTENNA_m_0" not in repair.layout.instances
    assert sorted(v.net for v in repair.after) == ["m", "n"]
    assert any("left 1 problems" in line for line in repair.log)


def test_nets_with_met1_or_met2_close_to_a_diode_are_its_neighbours(cells):
    tech, macros, diode, fill_cells = cells
    layout = rows_layout(macros, fill_cells, more={"h": Instance(GATE_CELL, {"A": "m", "Y": "z"}, x=0, y=2 * ROW)})
    box = (1000, 0, 1920, ROW)
    layout.shapes += [Shape("n", "met1", (box[2] + 400, 100, 5000, 240)),
                      Shape("y", "met3", (1000, 1000, 2000, 1300)),
                      Shape("m", "met2", (box[2] + 600, 0, box[2] + 740, 3000)),
                      Shape("VPWR", "met1", (0, -240, SITES * SITE, 240))]
    layout.vias.append(Via("z", "M2M3_PR", 700, 1500))
    assert nets_near(layout, tech, [box], 500) == {"n", "z"}, "y: met3 only; m: 600 nm away; VPWR: no signal"
    assert nets_near(layout, tech, [box], 700) == {"n", "m", "z"}


def test_routing_problems_name_their_nets():
    problems = ("n", "g/A (sky130_fd_sc_hd__inv_1, net m)", "q")
    assert problem_nets(problems, {"n", "m", "p"}) == {"n", "m"}


# -- re-routes in windows -------------------------------------------------------------------------

def test_nets_whose_windows_overlap_are_routed_together(cells):
    """A net's window is its cells' bounding box grown by MARGIN; a, b and c chain by overlap (c's
    window reaches b's but not a's), d is far away and alone."""
    tech, macros, diode, fill_cells = cells
    width = 600_000
    layout = Layout("t", [], {}, die=(0, 0, width, 20 * ROW), core=(0, 0, width, 20 * ROW), site=(SITE, ROW))
    sites = {"a": (10, 40), "b": (40 + 2 * MARGIN // SITE, 140), "c": (140 + 2 * MARGIN // SITE, 200),
             "d": (1000, 1010)}
    for net, (first, last) in sites.items():
        for k, site in enumerate((first, last)):
            layout.instances[f"{net}{k}"] = Instance(GATE_CELL, {"A": net}, x=site * SITE, y=2 * ROW)
    layout.instances["x"] = Instance(GATE_CELL, {"A": "x"}, x=500 * SITE, y=2 * ROW)
    groups = route_groups(layout, macros, {"a", "b", "c", "d"})
    assert [nets for _, nets in groups] == [["a", "b", "c"], ["d"]]
    inv_w = macros[GATE_CELL].width
    assert groups[1][0] == (1000 * SITE - MARGIN, 0, 1010 * SITE + inv_w + MARGIN, 3 * ROW + MARGIN)
    assert groups[0][0][0] == 0, "cut at the die"


def test_a_group_the_window_cannot_route_is_routed_on_the_whole_die(cells):
    """The windowed view holds only the metal near the window; when the router cannot finish there,
    the group is routed again on the whole die, with every other net's metal."""
    tech, macros, diode, fill_cells = cells
    routed = routed_layout(macros, fill_cells, 100)
    routed.die = (0, 0, 200_000, 3 * ROW)
    far = Shape("other", "met2", (150_000, 0, 150_140, 3 * ROW))
    routed.shapes.append(far)
    calls = []

    def route(view, window):
        calls.append((window, far in view.shapes))
        if window is not None:
            return Routing(("n",))
        draw(view, "n", 100)
        return Routing((), (RoutedNet("n"),))

    repair = repair_antennas(routed, [RoutedNet("n"), RoutedNet("y")], macros, tech, route, diode, fill_cells,
                             max_rounds=1)
    window = calls[0][0]
    assert window[0] == 0 and window[2] < 150_000, "the port on the left edge, the gate and the diode"
    assert calls == [(window, False), (None, True)]
    assert repair.diodes == ["ANTENNA_n_0"] and far in repair.layout.shapes

    calls.clear()
    unreachable = ("g/A (sky130_fd_sc_hd__inv_1, net n)",)
    repair = repair_antennas(routed, [RoutedNet("n"), RoutedNet("y")], macros, tech,
                             lambda view, window: calls.append(window) or Routing(unreachable), diode, fill_cells,
                             max_rounds=1)
    assert calls == [window], "a pin without access stays so on the whole die: not routed again"
    assert repair.diodes == [] and any("left 1 problems" in line for line in repair.log)


def test_obstacles_marked_at_once_block_as_one_by_one(tech_and_macros):
    tech, _ = tech_and_macros
    rng = np.random.default_rng(1)
    for window in (None, (3000, 2000, 40000, 30000)):
        one, bulk = (RouteGrid((0, 0, 50000, 40000), tech, window) for _ in range(2))
        for layer in [*one.layers, "li1"]:
            x, y = rng.integers(-2000, 52000, 200), rng.integers(-2000, 42000, 200)
            rects = np.column_stack((x, y, x + rng.integers(1, 3000, 200), y + rng.integers(1, 3000, 200)))
            for rect in rects.tolist():
                one.add_obstacle(layer, tuple(rect))
            bulk.block(layer, rects[:100])
            bulk.block(layer, [tuple(rect) for rect in rects[100:].tolist()])
        for name in ("wire_block", "via_block", "edge_block"):
            assert np.array_equal(getattr(one, name), getattr(bulk, name)), (window, name)
        assert 0.1 < (one.wire_block == BLOCKED).mean() < 0.9


def _two_rows(macros) -> Layout:
    """A driver and two loads of net n, with another net's metal just outside the window the
    windowed router gets in test_a_windowed_router_sees_the_metal_beside_its_window."""
    instances = {"drv": Instance("sky130_fd_sc_hd__buf_1", {"X": "n"}, x=30 * SITE, y=ROW, orient="FS"),
                 "g1": Instance(GATE_CELL, {"A": "n"}, x=40 * SITE, y=2 * ROW),
                 "g2": Instance(GATE_CELL, {"A": "n"}, x=36 * SITE, y=0)}
    die = (0, 0, 120 * SITE, 6 * ROW)
    return Layout("t", [], instances, die=die, core=die, site=(SITE, ROW))


def test_a_windowed_router_sees_the_metal_beside_its_window(tech_and_macros):
    """Confined to a window, the router blocks every node exactly as on the whole die, also where
    another net's metal just outside the window keeps wires and vias at the window's edge away;
    and it routes the net the same way."""
    tech, macros = tech_and_macros
    layout = _two_rows(macros)
    window = (25 * SITE, 0, 50 * SITE, 4 * ROW)
    outside = [Shape("other", "met2", (window[2] + 150, 0, window[2] + 290, 4 * ROW)),
               Shape("other", "met1", (window[0], window[3] + 100, window[2], window[3] + 240)),
               Shape("other", "met3", (window[0] - 400, 0, window[0] - 100, 4 * ROW))]
    layout.shapes += outside
    full, cut = Router(layout, macros, tech), Router(layout, macros, tech, window)
    grid = cut.grid
    i0, j0 = (grid.x0 - full.grid.x0) // grid.dx, (grid.y0 - full.grid.y0) // grid.dy
    assert (grid.x(0), grid.y(0)) == (full.grid.x(i0), full.grid.y(j0))
    assert grid.x(0) <= window[0] and grid.x(grid.nx - 1) >= window[2] and grid.y(grid.ny - 1) >= window[3]
    part = (slice(None), slice(i0, i0 + grid.nx), slice(j0, j0 + grid.ny))
    for name in ("wire_block", "via_block", "edge_block", "valid"):
        assert np.array_equal(getattr(grid, name), getattr(full.grid, name)[part]), name
    bare = Router(dataclasses.replace(layout, shapes=[]), macros, tech, window).grid
    blocked = (grid.wire_block == BLOCKED) & (bare.wire_block == FREE)
    assert blocked[0, :, -1].any() and blocked[1, -1, :].any() and blocked[2, 0, :].any(), \
        "the metal outside blocks the window's top row on met1, its last column on met2, its first on met3"
    assert full.run()["route__unrouted__count"] == cut.run()["route__unrouted__count"] == 0

    def placed(router):
        g = router.grid
        return sorted(tuple((g.decode(n)[0], g.x(g.decode(n)[1]), g.y(g.decode(n)[2])) for n in edge)
                      for edge in router.nets[0].edges)

    assert placed(cut) == placed(full)
    full.write_geometry()
    shapes = len(layout.shapes)
    cut.layout = copy.deepcopy(dataclasses.replace(layout, shapes=layout.shapes[:len(outside)], vias=[]))
    cut.write_geometry()
    assert cut.layout.shapes[len(outside):] == layout.shapes[len(outside):shapes]


# -- end to end: an input port far from the gate it drives ---------------------------------------

FAR_VERILOG = """\
module far(input clk, input a, input b, output y);
  reg q;
  always @(posedge clk) q <= a & b;
  assign y = q;
endmodule
"""
#: ``a`` enters on the left of a 160 um wide die, everything else on the right: the and2 gate sits
#: far from ``a``'s pin, and the long met3 wire from the port reaches it with no diffusion
FAR_DESIGN = """\
[design]
name = "far"
top = "far"
[source]
verilog = ["far.v"]
[clock]
port = "clk"
period_ns = 10.0
[floorplan]
die_size_um = [160.0, 30.0]
[pins]
left = ["a"]
right = ["clk", "b", "y"]
"""


@pytest.fixture(scope="module")
def far_run(pdk, tmp_path_factory):
    folder = tmp_path_factory.mktemp("far")
    (folder / "far.v").write_text(FAR_VERILOG)
    (folder / "far.toml").write_text(FAR_DESIGN)
    result = run_flow(load_design(folder / "far.toml"), "sky130A", pdk.root, folder / "run")
    assert not [(s.name, s.error) for s in result.stages if s.state == "failed"]
    return result


def test_a_far_input_port_violates_and_the_route_stage_repairs_it(far_run, tech_and_macros):
    tech, macros = tech_and_macros
    metrics = far_run.final_metrics
    assert metrics["route__antenna_violations_before__count"] >= 1
    [routed] = (far_run.run_dir / "stages").glob("*-route/*/far.routed.json")
    assert check_antenna(Layout.load(routed), macros, tech).violations == ()
    assert metrics["antenna__diodes__count"] >= 1 and metrics["route__antenna_rounds__count"] >= 1
    netlist = (far_run.run_dir / "final" / "far.nl.v").read_text()
    assert netlist.count(f"{DIODE_CELL} {DIODE_PREFIX}") == metrics["antenna__diodes__count"]
    clean = ("antenna__violations__count", "route__unrouted__count", "drc__errors__count",
             "drc__gds_rules__errors__count", "equiv__unproven__count")
    assert {name: metrics[name] for name in clean} == dict.fromkeys(clean, 0)


def test_lvs_matches_with_the_diodes(far_run):
    assert far_run.final_metrics["lvs__mismatch__count"] == 0
