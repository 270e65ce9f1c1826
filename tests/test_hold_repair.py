"""Hold repair: registers loaded straight from input ports at a 1 ns clock miss hold once the clock
tree delays their clock (input delay 0.2 ns, insertion delay larger). The verdict comes from the sta
stage (OpenSTA on the routed parasitics), not from the repair's own placement estimate; the
repaired layout must still sign off (DRC, LVS, equivalence with the synthesized netlist)."""

import json

import pytest

from flow_runs import run_flow as _run, stage_metrics as _metrics, write_design
from kchip.flows.physical.layout import Layout

BITS = 24
VERILOG = f"""\
module cap (input clk, input [{BITS - 1}:0] d, output [{BITS - 1}:0] q);
  reg [{BITS - 1}:0] r;
  always @(posedge clk) r <= d;
  assign q = r;
endmodule
"""

DESIGN = """\
[design]
name = "cap"
top = "cap"
description = "registers loaded straight from the inputs"

[source]
verilog = ["cap.v"]

[clock]
port = "clk"
period_ns = 1.0

[floorplan]
utilization = 0.4
"""


@pytest.fixture(scope="module")
def cap_design(tmp_path_factory):
    return write_design(tmp_path_factory.mktemp("cap"), "cap", VERILOG, DESIGN)


def test_without_repair_the_input_registers_miss_hold(pdk, cap_design, tmp_path):
    run = tmp_path / "bare"
    assert _run(pdk, cap_design, run, "--to", "sta", "--set", "cts.repair_hold=false") == 0
    assert _metrics(run, "sta")["timing__hold__ws"] < 0
    assert "repair__hold_cells__count" not in _metrics(run, "cts")


def test_delay_cells_repair_hold_and_the_layout_still_signs_off(pdk, cap_design, tmp_path):
    run = tmp_path / "repaired"
    assert _run(pdk, cap_design, run) == 0, "the repaired design signs off clean (exit 0)"
    cts, sta = _metrics(run, "cts"), _metrics(run, "sta")
    assert cts["repair__hold_before__ws"] < 0 < cts["repair__hold_after__ws"]
    assert cts["repair__hold_pins__count"] >= BITS // 2 and cts["repair__hold_unrepaired__count"] == 0
    assert sta["timing__hold__ws"] > 0 and sta["timing__setup__ws"] > 0
    final = json.loads((run / "final" / "metrics.json").read_text())
    assert final["lvs__mismatch__count"] == 0 and final["equiv__unproven__count"] == 0
    assert final["drc__errors__count"] == 0
    (path,) = run.glob("stages/*-cts/*/cap.cts.json")
    layout = Layout.load(path)
    delays = {name: inst for name, inst in layout.instances.items() if inst.cell in pdk.stdcell["hold_cells"]}
    assert len(delays) == cts["repair__hold_cells__count"]
    outputs = {inst.conns[pdk.stdcell["buffer_output_pin"]] for inst in delays.values()}
    repaired = {(name, pin) for name, inst in layout.instances.items() if name not in delays
                for pin, net in inst.conns.items() if net in outputs}
    assert len(repaired) == cts["repair__hold_pins__count"], "each repaired pin is fed by its delay chain"


def test_a_delay_cell_that_would_break_setup_is_taken_out(pdk, cap_design, tmp_path):
    """Aiming for more hold slack than the period leaves room for: the chains grow until setup
    would go negative, and those last cells are removed and their pins reported."""
    run = tmp_path / "greedy"
    assert _run(pdk, cap_design, run, "--to", "cts", "--set", "cts.hold_target=0.9") == 0
    cts = _metrics(run, "cts")
    (report,) = run.glob("stages/*-cts/*/hold.json")
    hold = json.loads(report.read_text())
    assert cts["repair__hold_unrepaired__count"] >= 1
    assert any("setup slack" in why for why in hold["unrepaired"].values())
    assert any(len(chain) >= 2 for chain in hold["inserted"].values()), "short pins get longer chains"
    assert _run(pdk, cap_design, run, "--to", "sta", "--set", "cts.hold_target=0.9") == 0
    assert _metrics(run, "sta")["timing__setup__ws"] >= 0
