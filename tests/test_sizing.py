"""Driver sizing for load: one gate driving 160 others spread over a die is over its liberty
max_capacitance unless the place stage swaps it for a stronger inverter. The verdict comes from
OpenSTA on the routed parasitics (the sta stage), not from the sizing's own estimate."""

import json
import re

import pytest

from kchip.cli import main
from kchip.flows.physical.sizing import equivalent_cells, steiner_ratio
from kchip.formats.liberty import read_cells

FLOPS = 160
#: the shared net keeps all its sinks (no buffer tree after placement, and synthesis maps for area,
#: so ABC neither buffers nor sizes it), so that only the sizing can bring it within limits
UNBUFFERED = ("--set", "cts.signal_max_fanout=1000", "--set", "synth.abc_goal=area")

FANOUT = f"""\
module fan (input clk, input a, input b, output [{FLOPS - 1}:0] q);
  reg [{FLOPS - 1}:0] r;
  wire n = ~(a & b);
  always @(posedge clk) r <= {{r[{FLOPS - 2}:0], a}} ^ {{{FLOPS}{{n}}}};
  assign q = r;
endmodule
"""

DESIGN = """\
[design]
name = "fan"
top = "fan"
description = "one inverter driving every flop"

[source]
verilog = ["fan.v"]

[clock]
port = "clk"
period_ns = 10.0

[floorplan]
utilization = 0.3
"""


def test_cells_of_the_same_logic_are_grouped_smallest_first(pdk):
    cells = read_cells(pdk.liberty())
    groups = equivalent_cells(cells, set(cells))
    inverters = groups["sky130_fd_sc_hd__inv_1"]
    text = pdk.liberty().read_text()

    def body(name):
        start = text.index(f'cell ("{name}")')
        end = text.find("\n    cell (", start + 1)
        return text[start:end if end > 0 else len(text)]

    for name in inverters:
        assert 'function : "(!A)"' in body(name) and len(re.findall(r'direction : "input"', body(name))) == 1, name
    assert "sky130_fd_sc_hd__inv_16" in inverters and "sky130_fd_sc_hd__buf_1" not in inverters
    areas = [cells[name].area_um2 for name in inverters]
    assert areas == sorted(areas)
    assert "sky130_fd_sc_hd__dfxtp_1" not in groups, "flops are left to the clock tree"
    assert steiner_ratio(2) == 1.0 and steiner_ratio(10) > steiner_ratio(5) > 1.0


@pytest.fixture(scope="module")
def fan_design(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fan")
    (folder / "fan.v").write_text(FANOUT)
    (folder / "fan.toml").write_text(DESIGN)
    return folder / "fan.toml"


def _route_and_time(pdk, design, run_dir, *extra):
    main(["flow", "run", "--design", str(design), "--pdk-root", str(pdk.root), "--run-dir", str(run_dir),
          "--to", "sta", "--jobs", "1", *extra])
    (sta,) = run_dir.glob("stages/*-sta/*/metrics.json")
    (place,) = run_dir.glob("stages/*-cts/*/metrics.json")
    (sizing,) = run_dir.glob("stages/*-cts/*/sizing.json")
    return json.loads(sta.read_text()), json.loads(place.read_text()), json.loads(sizing.read_text())


def test_a_driver_over_its_limit_is_swapped_and_signs_off_within_it(pdk, fan_design, tmp_path):
    sta, cts, swaps = _route_and_time(pdk, fan_design, tmp_path / "sized", *UNBUFFERED)
    assert cts["repair__resized__count"] == len(swaps) >= 1
    worst = max(swaps, key=lambda swap: swap["load_pf"])
    assert worst["new_limit_pf"] >= worst["load_pf"] > worst["old_limit_pf"]
    assert sta["timing__drv__max_cap__count"] == 0
    unsized, cts, swaps = _route_and_time(pdk, fan_design, tmp_path / "unsized", *UNBUFFERED,
                                          "--set", "cts.size_for_load=false", "--set", "cts.repair_slew=false")
    assert swaps == [] and cts["repair__resized__count"] == 0
    assert unsized["timing__drv__max_cap__count"] >= 1, "without sizing the shared gate is over its limit"
    # the 160 sinks stay over max_transition either way (the largest cell of the gate, or a fanout
    # buffer, still switches them in more than 1.5 ns): only a buffer tree, off here, fixes that
    assert unsized["timing__drv__max_slew__count"] >= sta["timing__drv__max_slew__count"] >= FLOPS
