"""Transition repair: a net given a wire load too heavy for its small driver has pins over their
liberty max_transition (as OpenSTA times it); the repair upsizes that driver until they are gone."""

from __future__ import annotations

import copy

import pytest

from kchip.flows.physical.floorplan import FloorplanConfig, floorplan
from kchip.flows.physical.layout import from_yosys_json, write_verilog
from kchip.flows.physical.placer import place
from kchip.flows.timing.slew import Buffer, repair_slew
from kchip.formats.liberty import read_cells
from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.tools.base import Invocation
from kchip.tools.opensta_endpoints import endpoint_slacks
from kchip.tools.yosys import synthesize

#: wire capacitance (pF) put on the chosen net: several ns of transition for a x1 driver
HEAVY_PF = 0.3


@pytest.fixture(scope="module")
def placed(pdk, tech_and_macros, tmp_path_factory):
    from amaranth.back import verilog

    from kchip.rtl.examples.counter import Counter

    tech, macros = tech_and_macros
    work = tmp_path_factory.mktemp("slew")
    (work / "counter.v").write_text(verilog.convert(Counter(width=8), name="counter", emit_src=False,
                                                    strip_internal_attrs=True))
    netlist = synthesize([work / "counter.v"], "counter", pdk, work, Invocation(work)).netlist_json
    layout = from_yosys_json(netlist, "counter")
    floorplan(layout, macros, tech, FloorplanConfig(
        utilization=0.3, die_size_um=None, aspect_ratio=1.0, core_margin_um=4.0, pins={"left": ["clk", "rst"]},
        tap_cell=pdk.stdcell["tap_cell"], tap_spacing_um=13.0, strap_pitch_um=40.0, strap_width_um=1.6,
        power_net=pdk.stdcell["power_pin"], ground_net=pdk.stdcell["ground_pin"]), "unithd")
    layout.clock_net = "clk"
    place(layout, macros)
    return layout, work


@pytest.mark.parametrize("can_grow", [True, False])
def test_a_net_over_its_transition_limit_gets_a_larger_driver_or_a_buffer(pdk, tech_and_macros, placed, can_grow):
    _, macros = tech_and_macros
    layout, work = placed
    layout = copy.deepcopy(layout)
    cells = read_cells(pdk.liberty())
    # the next larger cell with the same pins, by the cell names' drive suffix (independent of the
    # flow's equivalence by liberty functions)
    by_base: dict[str, list[str]] = {}
    for name in cells:
        base, _, drive = name.rpartition("_")
        if drive.isdigit() and not pdk.is_dont_use(name):
            by_base.setdefault(base, []).append(name)
    larger = {}
    for group in by_base.values():
        group.sort(key=lambda n: int(n.rpartition("_")[2]))
        larger.update(zip(group, group[1:]))
    chosen = next((name, pin, net) for name, inst in sorted(layout.instances.items()) if inst.role == "logic"
                  and inst.cell.endswith("_1") and inst.cell in larger and not cells[inst.cell].is_sequential
                  for pin, net in inst.conns.items() if macros[inst.cell].pins[pin].direction == "OUTPUT"
                  and net != "clk")
    driver, _, heavy_net = chosen
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), work / "counter.sdc")
    runs = []

    # the heavy wire is the one reaching the net's sinks (after buffering, the buffer's output net)
    sinks = [(n, p) for n, i in layout.instances.items() for p, net in i.conns.items()
             if net == heavy_net and macros[i.cell].pins[p].direction == "INPUT"]

    def measure(current):
        runs.append(1)
        netlist = work / "counter.nl.v"
        write_verilog(current, netlist)
        wire_net = current.instances[sinks[0][0]].conns[sinks[0][1]]
        return endpoint_slacks(netlist, "counter", pdk, sdc, work / "sta", Invocation(work), {wire_net: HEAVY_PF},
                               log_name=f"slew_{len(runs)}.log", propagated=False)

    first = measure(layout)
    on_net = [p for p in first.slew_pins
              if layout.instances.get(p.rpartition("/")[0]) is not None
              and layout.instances[p.rpartition("/")[0]].conns.get(p.rpartition("/")[2]) == heavy_net]
    assert on_net, f"{heavy_net} driven by {driver} at {HEAVY_PF} pF is within its transition limit"
    old_cell = layout.instances[driver].cell
    buffer = Buffer(pdk.stdcell["fanout_buffer"], pdk.stdcell["buffer_input_pin"], pdk.stdcell["buffer_output_pin"])
    result = repair_slew(layout, macros, measure, larger if can_grow else {}, buffer)
    assert result.before == len(first.slew_pins) and result.after < result.before, result
    if can_grow:
        assert layout.instances[driver].cell != old_cell and driver in result.resized
    else:
        # the driver keeps its cell and drives only the new buffer, which drives the old sinks
        assert layout.instances[driver].cell == old_cell and result.buffered == [heavy_net]
        on_heavy = [(n, p) for n, i in layout.instances.items() for p, net in i.conns.items() if net == heavy_net]
        assert len(on_heavy) == 2 and any(layout.instances[n].cell == buffer.cell for n, _ in on_heavy)
    assert not measure(layout).slew_pins
