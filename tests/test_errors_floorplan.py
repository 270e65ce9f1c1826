"""A die or utilisation that cannot hold the cells is refused at the floorplan with what would fit,
and the suggestion really places and takes its clock tree; the placer's own failure says what it means."""

from __future__ import annotations

import ast
import json
import re

import pytest

from kchip.design import load_design, resolve_design
from kchip.flows.physical import floorplan as fp
from kchip.flows.physical.cts import ClockTreeConfig, build_clock_tree
from kchip.flows.physical.layout import from_yosys_json
from kchip.flows.physical.placer import PlacementError, place
from kchip.flows.runner import run_flow
from kchip.tools.base import Invocation
from kchip.tools.yosys import synthesize


@pytest.fixture(scope="module")
def counter_netlist(pdk, tmp_path_factory):
    from amaranth.back import verilog

    from kchip.rtl.examples.counter import Counter

    work = tmp_path_factory.mktemp("synth")
    (work / "counter.v").write_text(verilog.convert(Counter(width=8), name="counter", emit_src=False,
                                                    strip_internal_attrs=True))
    return synthesize([work / "counter.v"], "counter", pdk, work, Invocation(work)).netlist_json


def config(pdk, **changes):
    s = pdk.stdcell
    values = dict(utilization=None, die_size_um=None, aspect_ratio=1.0, core_margin_um=4.0,
                  pins={"left": ["clk", "rst", "en"]}, tap_cell=s["tap_cell"], tap_spacing_um=13.0,
                  strap_pitch_um=40.0, strap_width_um=1.6, power_net=s["power_pin"], ground_net=s["ground_pin"],
                  reserve_cells=(s["clock_buffers"][0],))
    values.update(changes)
    return fp.FloorplanConfig(**values)


def lay_out(pdk, tech_and_macros, netlist, cfg):
    """Floorplan, place and clock tree as the flow's stages run them."""
    tech, macros = tech_and_macros
    layout = from_yosys_json(netlist, "counter")
    layout.clock_net = "clk"
    fp.floorplan(layout, macros, tech, cfg, pdk.stdcell["site"])
    place(layout, macros)
    buffers = pdk.stdcell["clock_buffers"]
    build_clock_tree(layout, macros, ClockTreeConfig(12, buffers[2], buffers[1], buffers[0],
                                                     pdk.stdcell["buffer_input_pin"], pdk.stdcell["buffer_output_pin"]))
    return layout


def refusal(pdk, tech_and_macros, netlist, cfg) -> str:
    with pytest.raises(fp.FloorplanError) as failure:
        lay_out(pdk, tech_and_macros, netlist, cfg)
    return str(failure.value)


def test_a_die_too_small_names_the_core_the_cells_and_the_smallest_die(pdk, tech_and_macros, counter_netlist):
    message = refusal(pdk, tech_and_macros, counter_netlist, config(pdk, die_size_um=(20, 20)))
    assert message.startswith("[floorplan] die_size_um = [20, 20] is too small: the core is 11.5 x 10.88 um "
                              "= 125.1 um2 (4 rows")
    cells = re.search(r"the (\d+) cells take \d+\.\d um2 \(widest sky130_fd_sc_hd__dfxtp_1, 7.36 um\) plus "
                      r"sky130_fd_sc_hd__clkbuf_16 added after placement", message)
    netlist = json.loads(counter_netlist.read_text())["modules"]["counter"]["cells"]
    assert cells and int(cells[1]) == len(netlist), message
    assert "the placer legalises at most 68%" in message
    smallest = ast.literal_eval(re.search(r"the smallest die of this shape that fits is (\[.*?\]) um", message)[1])
    assert smallest[0] == smallest[1] and 20 < smallest[0] < 40
    lay_out(pdk, tech_and_macros, counter_netlist, config(pdk, die_size_um=tuple(smallest)))


def test_a_core_sized_by_utilization_grows_until_the_cells_fit_and_says_so(pdk, tech_and_macros, counter_netlist):
    layout = lay_out(pdk, tech_and_macros, counter_netlist, config(pdk, utilization=0.85))
    assert all(i.x is not None for i in layout.instances.values())
    (decision,) = layout.decisions
    assert re.match(r"the core grew from [\d.]+ x [\d.]+ um to [\d.]+ x [\d.]+ um: at utilization = 0.85 the "
                    r"cells, the well taps and the clock tree's root buffer would fill more than 68%", decision)
    assert not lay_out(pdk, tech_and_macros, counter_netlist, config(pdk, utilization=0.3)).decisions


def test_a_tap_spacing_narrower_than_a_cell_is_refused(pdk, tech_and_macros, counter_netlist):
    message = refusal(pdk, tech_and_macros, counter_netlist, config(pdk, utilization=0.3, tap_spacing_um=5.0))
    assert message == ("floorplan.tap_spacing_um = 5.0 leaves free runs of 9 sites (4.14 um) between tap cells, "
                       "narrower than sky130_fd_sc_hd__clkbuf_16 (9.2 um); use tap_spacing_um >= 9.66")


def test_the_placer_says_what_its_failure_means(pdk, tech_and_macros, counter_netlist, monkeypatch):
    monkeypatch.setattr(fp, "check_fit", lambda *args: None)
    with pytest.raises(PlacementError) as failure:
        lay_out(pdk, tech_and_macros, counter_netlist, config(pdk, die_size_um=(20, 20)))
    message = str(failure.value)
    assert re.match(r"no free run of (\d+) sites \([\d.]+ um\) is left for \S+ \(sky130_fd_sc_hd__\w+\) in the "
                    r"core's 4 rows of 25 sites: \d+ of 100 sites are taken and the longest free run is \d+ "
                    r"sites, so the core is too small or too full for the cells; lower \[floorplan\] "
                    r"utilization or enlarge die_size_um in the design file$", message), message


def test_the_floorplan_stage_names_the_design_file(pdk, tmp_path):
    text = resolve_design("counter").file.read_text().replace("utilization = 0.35", "die_size_um = [20, 20]")
    (tmp_path / "small.toml").write_text(text)
    design = load_design(tmp_path / "small.toml")
    result = run_flow(design, "sky130A", pdk.root, tmp_path / "run", to_stage="place")
    floorplan = {s.name: s for s in result.stages}["floorplan"]
    assert floorplan.state == "failed"
    assert floorplan.error.startswith(f"{design.file}: [floorplan] die_size_um = [20, 20] is too small: ")
