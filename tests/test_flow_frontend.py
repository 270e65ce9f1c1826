"""Real Verilog projects: several files kept apart, include folders, defines, top parameters,
simulation-only statements, a top among many modules, and dies that grow for their pins."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from kchip.design import DesignError, load_design
from kchip.flows.runner import run_flow


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def project(tmp_path):
    """A small project laid out as users lay theirs out: rtl/ with two modules, include/ with a header."""
    _write(tmp_path, "include/widths.vh", """
        `define STAGE_W 3
    """)
    _write(tmp_path, "rtl/stage.v", """
        `include "widths.vh"
        module stage(input clk, input [`STAGE_W-1:0] d, output reg [`STAGE_W-1:0] q);
          always @(posedge clk) begin
            q <= d;
            $display("stage q=%d", q);
          end
        endmodule
    """)
    _write(tmp_path, "rtl/top.v", """
        module unused_helper(input a, output b); assign b = ~a; endmodule
        module top #(parameter OUT_W = 2) (input clk, input [2:0] d, output [OUT_W-1:0] q
        `ifdef WITH_FLAG
          , output flag
        `endif
        );
          wire [2:0] s;
          stage u0(.clk(clk), .d(d), .q(s));
          assign q = s[OUT_W-1:0] ^ {OUT_W{s[2]}};
        `ifdef WITH_FLAG
          assign flag = ^s;
        `endif
        endmodule
    """)
    design = _write(tmp_path, "design.toml", """
        [design]
        name = "project"
        top = "top"
        [source]
        verilog = ["rtl/*.v"]
        include_dirs = ["include"]
        defines = { WITH_FLAG = true }
        parameters = { OUT_W = 3 }
        [clock]
        port = "clk"
        period_ns = 10
        [floorplan]
        utilization = 0.3
    """)
    return design


def test_a_multi_file_project_with_includes_defines_and_parameters_synthesizes(project, pdk, tmp_path):
    result = run_flow(load_design(project), "sky130A", pdk.root, tmp_path / "run", to_stage="synth")
    assert result.ok, [s.error for s in result.stages if s.error]
    rtl = json.loads(next((tmp_path / "run").glob("stages/01-elaborate/*/top.rtl.json")).read_text())
    assert [Path(f).name for f in rtl["files"]] == ["stage.v", "top.v"]
    netlist = json.loads(next((tmp_path / "run").glob("stages/03-synth/*/top.nl.json")).read_text())
    ports = netlist["modules"]["top"]["ports"]
    assert len(ports["q"]["bits"]) == 3, "the top parameter OUT_W = 3 must reach synthesis"
    assert "flag" in ports, "the define WITH_FLAG must reach synthesis"
    assert result.metrics["synth__simulation_only__count"] == 1


def test_lint_errors_name_the_users_file_and_line(project, pdk, tmp_path):
    broken = project.parent / "rtl" / "top.v"
    broken.write_text(broken.read_text().replace("wire [2:0] s;", "wire [2:0] s"))
    result = run_flow(load_design(project), "sky130A", pdk.root, tmp_path / "run", to_stage="lint")
    lint = next(s for s in result.stages if s.name == "lint")
    assert lint.state == "failed"
    assert f"{broken}:7:" in lint.error, lint.error


@pytest.mark.parametrize("change, message", [
    ('include_dirs = ["include"]', ("include_dirs = [\"nowhere\"]", "'source.include_dirs' names")),
    ('verilog = ["rtl/*.v"]', ('verilog = ["src/*.v"]', "pattern 'src/*.v' matches no file")),
    ("defines = { WITH_FLAG = true }", ("defines = { WITH_FLAG = false }", "key 'source.defines'")),
    ("parameters = { OUT_W = 3 }", ("parameters = { OUT_W = [3] }", "take integers or strings")),
])
def test_bad_front_end_settings_name_the_key(project, change, message):
    replacement, expected = message
    project.write_text(project.read_text().replace(change, replacement))
    with pytest.raises(DesignError, match=expected.replace("[", r"\[").replace("*", r"\*")):
        load_design(project)


def _many_ports(tmp_path: Path, floorplan: str) -> Path:
    _write(tmp_path, "wide.v", """
        module wide(input clk, input [127:0] a, input [127:0] b, output reg [127:0] y);
          always @(posedge clk) y <= a ^ b;
        endmodule
    """)
    return _write(tmp_path, "wide.toml", f"""
        [design]
        name = "wide"
        top = "wide"
        [source]
        verilog = ["wide.v"]
        [clock]
        port = "clk"
        period_ns = 10
        [floorplan]
        {floorplan}
    """)


def test_a_die_grows_for_its_pins_and_says_so(tmp_path, pdk):
    design = load_design(_many_ports(tmp_path, "utilization = 0.5"))
    result = run_flow(design, "sky130A", pdk.root, tmp_path / "run", to_stage="floorplan")
    assert result.ok, [s.error for s in result.stages if s.error]
    report = json.loads(next((tmp_path / "run").glob("stages/04-floorplan/*/floorplan.json")).read_text())
    assert len(report["decisions"]) == 1 and "so that all 385 pins fit" in report["decisions"][0]
    layout = json.loads(next((tmp_path / "run").glob("stages/04-floorplan/*/wide.floorplan.json")).read_text())
    assert all(p["rect"] is not None for p in layout["ports"])
    positions = [(p["side"], tuple(p["rect"])) for p in layout["ports"]]
    assert len(set(positions)) == len(positions)


def test_a_fixed_die_too_small_for_its_pins_is_an_error(tmp_path, pdk):
    design = load_design(_many_ports(tmp_path, "die_size_um = [100.0, 100.0]"))
    result = run_flow(design, "sky130A", pdk.root, tmp_path / "run", to_stage="floorplan")
    floorplan = next(s for s in result.stages if s.name == "floorplan")
    assert floorplan.state == "failed"
    assert "die_size_um = [100.0, 100.0] has room for" in floorplan.error and "385 ports" in floorplan.error
