"""Errors a user can act on in the RTL: the tools' own error lines (file, line, message) in the
lint and synth stage messages, and a top with no logic named where synthesis finds it."""

from __future__ import annotations

import pytest

from kchip.design import load_design
from kchip.flows.runner import run_flow
from kchip.tools import verilator, yosys
from kchip.tools.base import Invocation, ToolError

BROKEN = "module broken(input clk, output q);\n  assign q = ;\nendmodule\n"
UNDECLARED = ("module many(input clk, output [6:0] q);\n"
              + "".join(f"  assign q[{k}] = missing{k};\n" for k in range(7)) + "endmodule\n")
EMPTY = "module top(input clk, input a, output y);\nendmodule\n"
CONSTANT = "module top(input clk, input a, output y);\n  assign y = 1'b1;\nendmodule\n"


def _design(folder, top: str, text: str):
    """A design file using one Verilog file holding ``text``."""
    (folder / f"{top}.v").write_text(text)
    (folder / f"{top}.toml").write_text(
        f'[design]\nname = "{top}"\ntop = "{top}"\n[source]\nverilog = ["{top}.v"]\n'
        '[clock]\nport = "clk"\nperiod_ns = 10\n[floorplan]\nutilization = 0.3\n')
    return load_design(folder / f"{top}.toml")


def _lint(folder, source, top):
    return Invocation(folder).run(verilator.TOOL, verilator.lint_args([str(source)], top),
                                  log_name="lint.log", ok_codes=(0, 1))


def test_verilator_error_lines_carry_file_line_and_message(tmp_path):
    source = tmp_path / "broken.v"
    source.write_text(BROKEN)
    errors = verilator.first_errors(_lint(tmp_path, source, "broken"))
    assert len(errors) == 1
    assert errors[0].startswith(f"%Error: {source}:2:14: syntax error, unexpected ';'")


def test_verilator_errors_are_cut_at_the_limit_without_the_summary(tmp_path):
    source = tmp_path / "many.v"
    source.write_text(UNDECLARED)
    log = _lint(tmp_path, source, "many")
    errors = verilator.first_errors(log, 5)
    assert [e.split(": ", 2)[1] for e in errors] == [f"{source}:{k + 2}:17" for k in range(5)]
    assert all("missing" in e for e in errors)
    assert verilator.count_messages(log)["errors"] == 7
    assert not [e for e in verilator.first_errors(log, 100) if "Exiting due to" in e]


def test_lint_stage_shows_the_first_errors_and_the_log(pdk, tmp_path):
    design = _design(tmp_path, "broken", BROKEN)
    result = run_flow(design, "sky130A", pdk.root, tmp_path / "run", to_stage="lint")
    error = {s.name: s for s in result.stages}["lint"].error
    assert not result.ok and error.startswith(f"{design.file}: lint of top 'broken': 1 Verilator error(s)")
    assert "broken.v:2:14: syntax error, unexpected ';'" in error
    log = error.rsplit("log: ", 1)[1]
    assert log.endswith("verilator-lint.log") and "syntax error" in open(log).read()


def test_yosys_first_errors_keep_their_order_and_drop_repeats():
    log = ("1. Executing Verilog-2005 frontend: a.v\n"
           "../a.v:3: ERROR: syntax error, unexpected ';'\n"
           "ERROR: Module `x' not found!\nERROR: Module `x' not found!\nWarning: not an error\n")
    assert yosys.first_errors(log) == ["../a.v:3: ERROR: syntax error, unexpected ';'",
                                       "ERROR: Module `x' not found!"]
    assert yosys.first_errors(log, 1) == ["../a.v:3: ERROR: syntax error, unexpected ';'"]


def test_yosys_errors_name_the_source_file_and_line(pdk, tmp_path):
    source = tmp_path / "broken.v"
    source.write_text(BROKEN)
    with pytest.raises(ToolError) as failure:
        yosys.synthesize([source], "broken", pdk, tmp_path / "w", Invocation(tmp_path / "w"))
    message = str(failure.value)
    assert f"yosys could not synthesize 'broken':\n  {source}:2: ERROR: syntax error" in message
    assert message.endswith(f"log: {tmp_path / 'w' / 'synth.log'}")


@pytest.mark.parametrize("text", [EMPTY, CONSTANT], ids=["empty", "constant"])
def test_a_top_without_logic_is_named_at_synthesis(pdk, tmp_path, text):
    source = tmp_path / "top.v"
    source.write_text(text)
    with pytest.raises(ValueError) as failure:
        yosys.synthesize([source], "top", pdk, tmp_path / "w", Invocation(tmp_path / "w"))
    assert str(failure.value) == (
        f"top 'top' in {source} has no logic after synthesis (only 1 tie cell(s), "
        f"{pdk.stdcell['tie_cell']}): its outputs (y) are constant or unconnected and none depends "
        "on its inputs, so there is nothing to lay out")
    assert not (tmp_path / "w" / "top.nl.v").exists()


def test_the_synth_stage_names_the_design_file(pdk, tmp_path):
    design = _design(tmp_path, "top", EMPTY)
    result = run_flow(design, "sky130A", pdk.root, tmp_path / "run", to_stage="synth")
    states = {s.name: s for s in result.stages}
    assert states["lint"].state == "done" and states["synth"].state == "failed"
    assert states["synth"].error.startswith(f"{design.file}: synth: top 'top' in ")
    assert "has no logic after synthesis" in states["synth"].error
