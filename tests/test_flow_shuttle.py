"""The flow into a shuttle slot: die and pins from the Tiny Tapeout template, and the GDS it
writes passes the shuttle's GDS-level precheck."""

from __future__ import annotations

import re
import textwrap

import pytest

from kchip.design import load_design
from kchip.flows.runner import run_flow
from kchip.flows.stage import ConfigError
from kchip.mpw.precheck import run_precheck
from kchip.mpw.slots import parse_slot_spec

TT_VERILOG = """
module tt_um_test (
    input  wire [7:0] ui_in, output wire [7:0] uo_out,
    input  wire [7:0] uio_in, output wire [7:0] uio_out, output wire [7:0] uio_oe,
    input  wire ena, input wire clk, input wire rst_n);
  reg [7:0] count;
  always @(posedge clk) if (!rst_n) count <= 0; else if (ena) count <= count + ui_in;
  assign uo_out = count;
  assign uio_out = count ^ uio_in;
  assign uio_oe = 8'hff;
endmodule
"""


@pytest.fixture
def tt_design(tmp_path):
    (tmp_path / "tt_um_test.v").write_text(TT_VERILOG)
    path = tmp_path / "tt.toml"
    path.write_text(textwrap.dedent("""
        [design]
        name = "tt_um_test"
        top = "tt_um_test"
        [source]
        verilog = ["tt_um_test.v"]
        [clock]
        port = "clk"
        period_ns = 20
        [floorplan]
        utilization = 0.4
    """))
    return load_design(path)


def test_a_tiny_tapeout_tile_passes_the_gds_precheck(tt_design, pdk, tmp_path):
    run = tmp_path / "run"
    result = run_flow(tt_design, "sky130A", pdk.root, run, to_stage="gds_rules",
                      overrides={"floorplan.shuttle": "tt-sky130:auto"})
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    gds = next(run.glob("stages/08-gds/*/tt_um_test.gds"))
    report = run_precheck(gds, parse_slot_spec("tt-sky130:1x1"))
    assert {c.name: c.details[:3] for c in report.failed} == {}
    assert report.passed
    assert result.metrics["route__unrouted__count"] == 0


def test_an_unknown_slot_is_refused_before_any_stage(tt_design, pdk, tmp_path):
    with pytest.raises(ConfigError, match=r"floorplan.shuttle = 'tt-sky130:9x9'.*sizes: 1x1, 1x2"):
        run_flow(tt_design, "sky130A", pdk.root, tmp_path / "run", overrides={"floorplan.shuttle": "tt-sky130:9x9"})


def test_auto_takes_the_smallest_tile_at_the_designs_utilization(tt_design, pdk, tmp_path):
    """At 40 % the cells (an 8-bit multiply-accumulate) go to a 1x1 tile; with a target below what
    they fill there, ``auto`` must take a larger tile, whose core they fill to the target or less."""
    def floorplan(target: float, run: str) -> dict:
        tt_design.file.write_text(re.sub(r"utilization = [0-9.]+", f"utilization = {target}",
                                         tt_design.file.read_text()))
        result = run_flow(load_design(tt_design.file), "sky130A", pdk.root, tmp_path / run, to_stage="floorplan",
                          overrides={"floorplan.shuttle": "tt-sky130:auto"})
        assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
        return result.metrics

    def used(metrics: dict) -> float:
        return metrics["floorplan__cell_area__um2"] / metrics["design__core_area__um2"]

    (tt_design.file.parent / "tt_um_test.v").write_text(TT_VERILOG.replace(
        "count <= count + ui_in;", "count <= count + ui_in * uio_in;"))
    in_1x1 = floorplan(0.4, "loose")
    tile = parse_slot_spec("tt-sky130:1x1")
    assert in_1x1["design__die__area_um2"] == pytest.approx((tile.die[2] - tile.die[0]) * (tile.die[3] - tile.die[1]) / 1e6)
    target = round(used(in_1x1) * 0.8, 3)
    larger = floorplan(target, "tight")
    assert larger["design__die__area_um2"] > in_1x1["design__die__area_um2"] and used(larger) <= target
