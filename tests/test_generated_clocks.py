"""Clocks made by registers: a divide-by-2 flip-flop clocking a second divider, which clocks 20
registers through the flow's fanout buffers. Without generated clocks OpenSTA leaves those
registers unconstrained; with them every endpoint is timed and the design signs off."""


import pytest

from flow_runs import run_flow, stage_metrics, write_design
from kchip.flows.physical.layout import Layout
from kchip.flows.timing.generated_clocks import register_made_clocks
from kchip.formats.liberty import read_cells
from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.tools import opensta
from kchip.tools.base import Invocation

BITS = 20
VERILOG = f"""\
module divs (input clk, input [{BITS - 1}:0] d, output [{BITS - 1}:0] q);
  reg div2, div4;
  reg [{BITS - 1}:0] r;
  always @(posedge clk) div2 <= ~div2;
  always @(posedge div2) div4 <= ~div4;
  always @(posedge div4) r <= d;
  assign q = r;
endmodule
"""

DESIGN = """\
[design]
name = "divs"
top = "divs"
description = "two clock dividers in a chain"

[source]
verilog = ["divs.v"]

[clock]
port = "clk"
period_ns = 10.0

[floorplan]
utilization = 0.35
"""


@pytest.fixture(scope="module")
def divided(pdk, tmp_path_factory):
    folder = tmp_path_factory.mktemp("divs")
    run = folder / "run"
    return run_flow(pdk, write_design(folder, "divs", VERILOG, DESIGN), run), run


def test_registers_on_divided_clocks_are_timed_and_the_design_signs_off(divided):
    code, run = divided
    assert code == 0, "clean signoff: no unconstrained endpoint, setup and hold met"
    assert stage_metrics(run, "sta")["timing__unconstrained__count"] == 0
    (sdc,) = run.glob("stages/*-sta/*/divs.sdc")
    assert sdc.read_text().count("create_generated_clock") == 2


def test_the_dividers_are_found_through_the_fanout_buffers(pdk, divided):
    _, run = divided
    (path,) = run.glob("stages/*-route/*/divs.routed.json")
    layout = Layout.load(path)
    clocks = register_made_clocks(layout, read_cells(pdk.liberty()))
    assert len(clocks) == 2
    for clock in clocks:
        name, pin = clock.output_pin.split("/")
        net = layout.instances[name].conns[pin]
        assert net != layout.clock_net
        assert clock.source_pin.split("/")[0] == name, "the master is the divider's own clock pin"
    fanout = [inst for inst in layout.instances.values()
              if inst.cell == pdk.stdcell["fanout_buffer"] and inst.conns[pdk.stdcell["buffer_input_pin"]]
              in {layout.instances[c.output_pin.split("/")[0]].conns[c.output_pin.split("/")[1]] for c in clocks}]
    assert fanout, "20 registers on one divider get a fanout buffer tree, which the search walks through"


def test_without_generated_clocks_the_divided_registers_go_unconstrained(pdk, divided, tmp_path):
    """The same routed netlist timed with the master clock only: the fault the generated clocks fix."""
    _, run = divided
    (netlist,) = run.glob("stages/*-route/*/divs.nl.v")
    (spef,) = run.glob("stages/*-route/*/divs.spef")
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0, propagated_clock=True), tmp_path / "divs.sdc")
    result = opensta.run_sta(netlist, "divs", pdk, sdc, tmp_path, Invocation(tmp_path), spef=spef)
    assert result.unconstrained_endpoints >= BITS
