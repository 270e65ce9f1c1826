"""The physical-design algorithms on the PDK's real cells: floorplan, placement, clock tree, routing.

The routed result is checked independently of the router's own rules: every layer's shapes of all
nets are merged and measured with KLayout (spacing, shorts between nets, minimum area).
"""

from __future__ import annotations

import copy

import klayout.db as kdb
import numpy as np
import pytest

from kchip.flows.physical.cts import ClockTreeConfig, buffer_high_fanout_nets, buffer_tree, build_clock_tree
from kchip.flows.physical.floorplan import FloorplanConfig, FloorplanError, floorplan
from kchip.flows.physical.grid import BLOCKED, FREE, RouteGrid
from kchip.flows.physical.layout import Layout, from_yosys_json, write_verilog
from kchip.flows.physical.pin_access import PinAccessPlanner
from kchip.flows.physical.placer import RowOccupancy, fill_rows, place
from kchip.flows.physical.router import CORRIDOR_PATIENCE, CORRIDOR_WIDEN, Router
from kchip.tools.base import Invocation
from kchip.tools.yosys import synthesize


@pytest.fixture(scope="module")
def counter_netlist(pdk, tmp_path_factory):
    from amaranth.back import verilog

    from kchip.rtl.examples.counter import Counter

    work = tmp_path_factory.mktemp("synth")
    (work / "counter.v").write_text(verilog.convert(Counter(width=6), name="counter", emit_src=False,
                                                    strip_internal_attrs=True))
    return synthesize([work / "counter.v"], "counter", pdk, work, Invocation(work)).netlist_json


def buffer_pins(pdk) -> tuple[str, str]:
    return pdk.stdcell["buffer_input_pin"], pdk.stdcell["buffer_output_pin"]


def fp_config(pdk, **changes):
    values = dict(utilization=0.35, die_size_um=None, aspect_ratio=1.0, core_margin_um=4.0,
                  pins={"left": ["clk", "rst"]}, tap_cell=pdk.stdcell["tap_cell"], tap_spacing_um=13.0,
                  strap_pitch_um=40.0, strap_width_um=1.6, power_net=pdk.stdcell["power_pin"],
                  ground_net=pdk.stdcell["ground_pin"])
    values.update(changes)
    return FloorplanConfig(**values)


#: gcells of 4 x 4 grid steps, so that the corridors bound the counter's searches
GCELL = 4


@pytest.fixture(scope="module")
def routed(pdk, tech_and_macros, counter_netlist):
    tech, macros = tech_and_macros
    layout = from_yosys_json(counter_netlist, "counter")
    layout.clock_net = "clk"
    floorplan(layout, macros, tech, fp_config(pdk), "unithd")
    place(layout, macros)
    before = _sinks_through_buffers(layout, macros, set())
    cts = build_clock_tree(layout, macros, ClockTreeConfig(3, *reversed(pdk.stdcell["clock_buffers"][:3]),
                                                           *buffer_pins(pdk)))
    cts.update(buffer_high_fanout_nets(layout, macros, 4, pdk.stdcell["fanout_buffer"], buffer_pins(pdk)))
    added = {n for n, i in layout.instances.items() if n.startswith(("clkbuf_", "fanout"))}
    cts["sinks_before"], cts["sinks_after"] = before, _sinks_through_buffers(layout, macros, added, before)
    fill_rows(layout, macros, pdk.stdcell["fill_cells"])
    router = Router(layout, macros, tech)
    metrics = router.run(gcell_size=GCELL)
    router.write_geometry()
    return layout, router, metrics, cts


def test_tech_lef_rules_and_vias_are_read_exactly(tech_and_macros):
    tech, macros = tech_and_macros
    assert (tech.layers["met1"].pitch, tech.layers["met1"].width, tech.layers["met1"].spacing) == (340, 140, 140)
    assert tech.layers["met3"].min_area_nm2 == 240000
    assert tech.via("met1", "met2").rects["met1"] == (-160, -130, 160, 130)
    assert tech.cut_spacing["via"] == 170
    dff = macros["sky130_fd_sc_hd__dfxtp_1"]
    assert (dff.width, dff.height) == (7360, 2720)
    assert dff.pins["D"].shapes == [("li1", (1370, 715, 1650, 1665))]


def test_off_grid_pins_get_an_access_via_inside_the_pin(pdk, tech_and_macros):
    tech, macros = tech_and_macros
    dff = macros["sky130_fd_sc_hd__dfxtp_1"]
    planner = PinAccessPlanner(tech, RouteGrid((0, 0, 20000, 20000), tech))
    candidates = planner._local_candidates(dff, "N")["D"]
    assert candidates and all(via_x != grid_x for via_x, _, grid_x, _ in candidates), "D has no on-grid point"
    for via_x, via_y, grid_x, via in candidates:
        assert 1370 + 85 <= via_x <= 1650 - 85 and 715 + 85 <= via_y <= 1665 - 85
        assert (grid_x - 230) % 460 == 0 and abs(grid_x - via_x) <= 230
        assert via.name == "L1M1_PR"


def test_a_pin_too_narrow_for_the_preferred_via_takes_another_orientation(pdk):
    """IHP's inv_1 output is a Metal1 bar 0.23 um wide (x 0.855-1.085, y 0.61-3.175 in its LEF); the
    preferred Metal1-Metal2 via has a 0.29 um wide Metal1 pad, its YX variant a 0.21 um one."""
    from kchip.formats.lef import read_macros
    from kchip.pdk import load_pdk
    from kchip.pdk.rules import load_rules

    if not (pdk.root / "ihp-sg13g2").is_dir():
        pytest.skip("no ihp-sg13g2 in the PDK root")
    ihp = load_pdk("ihp-sg13g2", pdk.root)
    rules = load_rules(ihp)
    inv = read_macros(ihp.lef)["sg13g2_inv_1"]
    planner = PinAccessPlanner(rules, RouteGrid((0, 0, 20000, 20000), rules))
    assert planner.vias[0].rects["Metal1"][2] * 2 > 1085 - 855
    candidates = planner._local_candidates(inv, "N")["Y"]
    assert candidates
    for via_x, via_y, _, via in candidates:
        x0, y0, x1, y1 = via.rects["Metal1"]
        assert 855 <= via_x + x0 and via_x + x1 <= 1085 and 610 <= via_y + y0 and via_y + y1 <= 3175, via.name


@pytest.mark.parametrize("pdk_name", ["sky130A", "ihp-sg13g2"])
def test_every_access_via_pad_lies_inside_its_pin(pdk, pdk_name):
    """Each candidate's pad on the pin layer lies wholly inside the pin, in both row orientations, for
    every cell of the library. IHP's a221oi_1 output has a bar 0.21 um tall 0.18 um below the
    rail, as tall as the Metal1 pad: a pad 5 nm over its top edge (the manufacturing grid) passed the
    band test and was 0.175 um from the rail (M1.b in the mac4 GDS); on SKY130 two o2bb2 cells had
    such a pad."""
    from kchip.formats.lef import read_macros
    from kchip.pdk import load_pdk
    from kchip.pdk.rules import load_rules

    if not (pdk.root / pdk_name).is_dir():
        pytest.skip(f"no {pdk_name} in the PDK root")
    lib = load_pdk(pdk_name, pdk.root)
    rules = load_rules(lib)
    planner = PinAccessPlanner(rules, RouteGrid((0, 0, 20000, 20000), rules))
    outside = []
    for name, macro in sorted(read_macros(lib.lef).items()):
        for orient in ("N", "FS"):
            flip = orient == "FS"
            for pin, candidates in planner._local_candidates(macro, orient).items():
                shapes = kdb.Region()
                for layer, (x0, y0, x1, y1) in macro.pins[pin].shapes:
                    if layer == rules.pin_layer:
                        shapes.insert(kdb.Box(x0, macro.height - y1, x1, macro.height - y0) if flip
                                      else kdb.Box(x0, y0, x1, y1))
                for via_x, via_y, _, via in candidates:
                    if via is None:
                        continue
                    x0, y0, x1, y1 = via.rects[rules.pin_layer]
                    if not (kdb.Region(kdb.Box(via_x + x0, via_y + y0, via_x + x1, via_y + y1)) - shapes).is_empty():
                        outside.append((name, orient, pin, via_x, via_y))
    assert not outside


def test_an_obstacle_blocks_exactly_the_nodes_within_spacing(tech_and_macros):
    tech, _ = tech_and_macros
    grid = RouteGrid((0, 0, 10000, 10000), tech)
    grid.add_obstacle("met1", (2000, 2000, 2400, 2400))
    blocked = {(i, j) for i, j in zip(*((grid.wire_block[0] == BLOCKED).nonzero()))}
    for i in range(grid.nx):
        for j in range(grid.ny):
            x, y = grid.x(i), grid.y(j)
            gap = max(2000 - (x + 70), x - 70 - 2400, 2000 - (y + 70), y - 70 - 2400)
            assert ((i, j) in blocked) == (gap < 140), (x, y, gap)
    grid.add_obstacle("met2", (0, 0, 100, 100), owner=7)
    assert grid.wire_block[1, 0, 0] == 7 and grid.wire_block[1, 5, 5] == FREE


def test_floorplan_sizes_the_core_and_rejects_unknown_pins(pdk, tech_and_macros, counter_netlist):
    tech, macros = tech_and_macros
    layout = from_yosys_json(counter_netlist, "counter")
    floorplan(layout, macros, tech, fp_config(pdk, utilization=0.3), "unithd")
    x0, y0, x1, y1 = layout.core
    cells = sum(macros[i.cell].width * macros[i.cell].height for i in layout.instances.values() if i.role == "logic")
    assert 0.15 < cells / ((x1 - x0) * (y1 - y0)) <= 0.3
    assert x0 % 460 == 0 and y0 % 340 == 0 and (y1 - y0) % 2720 == 0
    assert all(p.rect for p in layout.ports)
    sides = {p.side for p in layout.ports}
    assert {"left", "top"} <= sides, "pins on a met3 and on a met2 edge"
    for port in layout.ports:
        px0, py0, px1, py1 = port.rect
        assert (px1 - px0) * (py1 - py0) >= tech.layers[port.layer].min_area_nm2, f"{port.name} alone is below minimum area"
    with pytest.raises(FloorplanError, match="'nope' in \\[pins\\] is not a port"):
        floorplan(from_yosys_json(counter_netlist, "counter"), macros, tech,
                  fp_config(pdk, pins={"left": ["nope"]}), "unithd")


def test_placement_is_legal(routed, tech_and_macros):
    layout, *_ = routed
    _, macros = tech_and_macros
    rows = dict(layout.rows)
    taken = {}
    for name, inst in layout.instances.items():
        assert inst.y in rows and inst.orient == rows[inst.y], name
        assert (inst.x - layout.core[0]) % 460 == 0
        for site in range(inst.x, inst.x + macros[inst.cell].width, 460):
            assert (site, inst.y) not in taken, f"{name} overlaps {taken.get((site, inst.y))}"
            taken[(site, inst.y)] = name
    sites = (layout.core[2] - layout.core[0]) // 460 * len(layout.rows)
    assert len(taken) == sites, "filler cells leave no gap in any row"


@pytest.mark.parametrize("density", [None, 0.3])
def test_cells_on_a_large_die_keep_together_at_the_target_density(pdk, tech_and_macros, counter_netlist, density):
    tech, macros = tech_and_macros
    layout = from_yosys_json(counter_netlist, "counter")
    floorplan(layout, macros, tech, fp_config(pdk, die_size_um=(160.0, 160.0)), "unithd")
    place(layout, macros, target_density=density, refine_passes=0)  # global placement only
    logic = [i for i in layout.instances.values() if i.role == "logic"]
    x0, y0, x1, y1 = layout.core
    boxes = [(i.x, i.y, i.x + macros[i.cell].width, i.y + macros[i.cell].height) for i in logic]
    bx0, by0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    bx1, by1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    cell_area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes)
    spanned = (bx1 - bx0) * (by1 - by0)
    core_area = (x1 - x0) * (y1 - y0)
    assert cell_area / core_area < 0.1, "the die is much larger than the cells"
    if density is None:
        assert spanned > 0.6 * core_area, "without a target the cells spread over the whole core"
    else:
        # the spread region holds the cells at 0.3; legalisation may push a row or two out
        assert cell_area / spanned > 0.2, f"cells span {spanned / 1e6:.0f} um2 for {cell_area / 1e6:.0f} um2"
        centre = ((bx0 + bx1) / 2, (by0 + by1) / 2)
        assert abs(centre[0] - (x0 + x1) / 2) < 0.1 * (x1 - x0) and abs(centre[1] - (y0 + y1) / 2) < 0.1 * (y1 - y0)


def _sinks_through_buffers(layout, macros, buffers: set[str], nets=None) -> dict[str, set[tuple[str, str]]]:
    """Each net's input pins, following inserted buffers from their input A through output X."""
    driven: dict[str, list[tuple[str, str]]] = {}
    for name, inst in layout.instances.items():
        for pin, net in inst.conns.items():
            if macros[inst.cell].pins[pin].direction == "INPUT":
                driven.setdefault(net, []).append((name, pin))

    def reach(net):
        found = set()
        for name, pin in driven.get(net, []):
            found |= reach(layout.instances[name].conns["X"]) if name in buffers else {(name, pin)}
        return found

    return {net: reach(net) for net in (nets or driven)}


def test_buffer_trees_keep_every_sink_on_its_net_and_bound_the_fanout(routed, tech_and_macros):
    layout, _, _, cts = routed
    _, macros = tech_and_macros
    assert cts["repair__high_fanout_nets__count"] >= 1 and cts["repair__buffers__count"] >= 2
    assert cts["sinks_after"] == cts["sinks_before"]
    for net, terminals in layout.nets().items():
        inputs = [t for t in terminals if t[0] and macros[layout.instances[t[0]].cell].pins[t[1]].direction == "INPUT"]
        assert len(inputs) <= (3 if net.startswith(layout.clock_net) else 4), net


def test_clock_tree_drives_every_register_through_buffers(routed, tech_and_macros):
    layout, _, _, cts = routed
    _, macros = tech_and_macros
    buffers = {n: i for n, i in layout.instances.items() if i.role == "clock"}
    assert cts["cts__buffers__count"] == len(buffers) >= 3 and cts["cts__levels__count"] >= 2
    driven_by = {i.conns["X"]: n for n, i in buffers.items()}
    for name, inst in layout.instances.items():
        if "CLK" in inst.conns:
            assert inst.conns["CLK"] in driven_by, name
    fanout = {}
    for inst in layout.instances.values():
        for pin, net in inst.conns.items():
            if net in driven_by and macros[inst.cell].pins[pin].direction == "INPUT":
                fanout[net] = fanout.get(net, 0) + 1
    assert max(fanout.values()) <= 3
    roots = [n for n, i in buffers.items() if i.conns["A"] == layout.clock_net]
    assert len(roots) == 1


def _layer_region(layout, router, layer, nets=None):
    region = kdb.Region()
    for shape in layout.shapes:
        if shape.layer == layer and (nets is None or shape.net in nets):
            region.insert(kdb.Box(*shape.rect))
    for via in layout.vias:
        if nets is None or via.net in nets:
            rect = router.rules.vias[via.via].rects.get(layer)
            if rect:
                region.insert(kdb.Box(via.x + rect[0], via.y + rect[1], via.x + rect[2], via.y + rect[3]))
    return region.merged()


def test_every_net_is_routed_without_conflict(routed):
    _, router, metrics, _ = routed
    assert metrics["route__unrouted__count"] == 0 and metrics["route__conflicts__count"] == 0
    assert router.problems == []


def test_every_net_keeps_to_the_corridor_around_its_global_route(routed):
    _, router, metrics, _ = routed
    assert metrics["groute__gcell__size"] == GCELL and metrics["groute__overflow__tracks"] == 0
    global_route, grid = router.global_route, router.grid
    widest = CORRIDOR_WIDEN + (metrics["route__rounds__count"] - 1) // CORRIDOR_PATIENCE
    outside = {}
    for k, route in enumerate(router.nets):
        corridor = set(global_route.corridor(k, widest).tolist())
        cells = {global_route.cell(grid, node) for node in route.nodes}
        assert {global_route.cell(grid, t) for t in route.terminals} <= set(global_route.guides[k].tolist())
        if cells - corridor:
            outside[route.name] = sorted(cells - corridor)
    assert outside == {}
    # the corridors are narrower than the die: they do bound the searches
    assert max(len(global_route.corridor(k, widest)) for k in range(len(router.nets))) < \
        global_route.ngx * global_route.ngy


def test_end_game_rips_up_exactly_the_nets_near_a_conflict(routed):
    _, router, _, _ = routed
    grid = router.grid
    seeds = [max(router.nets[0].nodes), min(router.nets[-1].nodes)]
    for radius in (0, 2, 6):
        expected = []
        for k, route in enumerate(router.nets):
            for node in route.nodes:
                _, i, j = grid.decode(node)
                if any(abs(i - si) <= radius and abs(j - sj) <= radius
                       for si, sj in (grid.decode(seed)[1:] for seed in seeds)):
                    expected.append(k)
                    break
        found = router._nets_near(np.array(seeds, dtype=np.int64), radius)
        assert found == expected and {0, len(router.nets) - 1} <= set(found)
    assert len(router._nets_near(np.array(seeds, dtype=np.int64), 6)) < len(router.nets)


def test_every_round_is_recorded_with_its_overflow_per_layer(routed):
    _, router, metrics, _ = routed
    assert len(router.rounds) == metrics["route__rounds__count"]
    assert router.rounds[-1]["nets_in_conflict"] == 0
    first = router.rounds[0]
    assert set(first["nodes_in_conflict_by_layer"]) == set(router.grid.layers)
    assert sum(first["nodes_in_conflict_by_layer"].values()) == first["nodes_in_conflict"]
    for layer, count in first["nodes_in_conflict_by_layer"].items():
        assert metrics[f"route__first_round_overflow__{layer}__count"] == count
    times = [r["seconds"] for r in router.rounds]
    assert times == sorted(times) and metrics["route__round_time__max_s"] <= times[-1]


def test_conflicts_after_a_partial_round_are_those_of_a_full_check(routed):
    """The end game checks only the re-routed nets and their neighbours; a net moved onto another's
    track and next to a third must give the same conflicts as checking every net."""
    _, routed_router, _, _ = routed
    router = copy.deepcopy(routed_router)
    assert len(router._all_conflicts()[0]) == 0
    moved, victim = 0, len(router.nets) // 2
    router._commit(router.nets[moved], -1)
    grid = router.grid
    taken = sorted(router.nets[victim].nodes)[:3]
    beside = [n + grid.along[n // grid.nxy] for n in sorted(router.nets[victim].nodes)[-3:]]
    router.nets[moved].nodes |= set(taken) | set(beside)
    router._commit(router.nets[moved], +1)
    full_nets, full_nodes = router._all_conflicts()
    nets, nodes = router._conflicts_after([moved])
    assert {moved, victim} <= set(full_nets.tolist())
    assert nets.tolist() == full_nets.tolist() and nodes.tolist() == full_nodes.tolist()
    checked = []
    original = router._all_conflicts
    router._all_conflicts = lambda among=None: checked.append(among) or original(among)
    router._conflicts_after([moved])
    assert checked[0] is not None and len(checked[0]) < len(router.nets), "not a partial check"


@pytest.mark.parametrize("layer", ["met1", "met2", "met3", "met4"])
def test_routed_metal_keeps_spacing_and_area_and_nets_never_touch(routed, layer):
    layout, router, _, _ = routed
    rules = router.rules.layers[layer]
    everything = _layer_region(layout, router, layer)
    assert everything.space_check(rules.spacing).count() == 0
    small = [p for p in everything.each() if p.area() < rules.min_area_nm2]
    assert small == []
    signal = {r.name for r in router.nets}
    for net in signal:
        mine = _layer_region(layout, router, layer, {net})
        others = _layer_region(layout, router, layer, signal - {net})
        assert (mine & others).is_empty(), f"{net} shorts another net on {layer}"


def test_the_geometry_check_catches_a_short(routed):
    layout, router, _, _ = routed
    broken = copy.deepcopy(layout)
    wires = [s for s in broken.shapes if s.layer == "met2" and s.net not in ("VPWR", "VGND")]
    a = wires[0]
    b = next(s for s in wires if s.net != a.net)
    bridge = (min(a.rect[0], b.rect[0]), min(a.rect[1], b.rect[1]), max(a.rect[2], b.rect[2]), max(a.rect[3], b.rect[3]))
    broken.shapes.append(type(a)(a.net, "met2", bridge))
    mine = _layer_region(broken, router, "met2", {a.net})
    others = _layer_region(broken, router, "met2", {b.net})
    assert not (mine & others).is_empty()


def test_layout_view_round_trips_through_json(routed, tmp_path):
    layout, *_ = routed
    layout.save(tmp_path / "l.json")
    again = Layout.load(tmp_path / "l.json")
    assert again.instances.keys() == layout.instances.keys()
    assert again.shapes == layout.shapes and again.vias == layout.vias and again.die == layout.die


def test_buffering_a_bus_bit_net_writes_a_netlist_that_parses(routed, pdk, tech_and_macros, tmp_path):
    from pyverilog.vparser.parser import VerilogParser

    layout = copy.deepcopy(routed[0])
    layout.instances = {n: i for n, i in layout.instances.items() if i.role != "fill"}
    _, macros = tech_and_macros
    net, terminals = max(((n, t) for n, t in layout.nets().items() if "[" in n), key=lambda nt: len(nt[1]))
    sinks = [(inst, pin) for inst, pin in terminals if inst and macros[layout.instances[inst].cell].pins[pin].direction == "INPUT"]
    assert len(sinks) > 2, f"the counter's {net} should drive several cells"
    cfg = ClockTreeConfig(2, *[pdk.stdcell["fanout_buffer"]] * 3, *buffer_pins(pdk))
    buffer_tree(layout, macros, RowOccupancy(layout, macros), net, sinks, cfg, "logic", "fanout0")
    assert {n for n in layout.nets() if n.startswith(net.replace("[", "_").replace("]", "_") + "_fanout0")}
    write_verilog(layout, tmp_path / "counter.nl.v")
    parser = VerilogParser(outputdir=str(tmp_path), debug=False)
    module = parser.parse((tmp_path / "counter.nl.v").read_text()).description.definitions[0]
    instances = [i for item in module.items if type(item).__name__ == "InstanceList" for i in item.instances]
    assert {i.name for i in instances} == {n for n, i in layout.instances.items() if i.role in ("logic", "clock")}


def test_a_net_name_verilog_cannot_hold_is_refused(routed, tmp_path):
    layout = copy.deepcopy(routed[0])
    name, inst = next((n, i) for n, i in sorted(layout.instances.items()) if i.role == "logic" and i.conns)
    pin = sorted(inst.conns)[0]
    inst.conns[pin] = "bad net[3]x"
    with pytest.raises(ValueError, match=r"counter\.nl\.v.*'bad net\[3\]x'"):
        write_verilog(layout, tmp_path / "counter.nl.v")
    assert not (tmp_path / "counter.nl.v").exists()


def test_a_pin_no_cell_connects_to_still_keeps_other_nets_away(routed, tech_and_macros):
    from kchip.flows.physical.layout import Port

    tech, macros = tech_and_macros
    layout = copy.deepcopy(routed[0])
    layout.shapes, layout.vias = [], []
    used = {p.rect[1] for p in layout.ports if p.side == "left"}
    y = next(170 + 340 * j for j in range(4, 200, 4) if all(abs(170 + 340 * j - u) > 2000 for u in used))
    layout.ports.append(Port("spare", "input", "spare", "met3", (0, y - 150, 920, y + 150), "left"))
    grid = Router(layout, macros, tech).grid
    spacing = tech.layers["met3"].spacing
    j = (y - 170) // 340
    reach = [i for i in range(6) if grid.x(i) - grid.rules[2].width // 2 < 920 + spacing]
    assert reach and all(grid.wire_block[2, i, j] == BLOCKED for i in reach)
    assert grid.wire_block[2, max(reach) + 2, j] == FREE
