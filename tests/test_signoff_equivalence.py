"""Tests for kchip.flows.signoff.equivalence: the final netlist against the synthesized one.

The counter goes through the flow to the route stage once; the tests compare its synthesized
netlist with the route stage's final netlist as written and with copies broken on purpose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kchip.design import resolve_design
from kchip.flows.runner import run_flow
from kchip.flows.signoff import equivalence
from kchip.tools.base import Invocation

FLOP = re.compile(r"sky130_fd_sc_hd__dfxtp_\d+ (\S+) \(\.CLK\((\S+?)\), \.D\((\S+?)\), \.Q\((\S+?)\)\);")


@pytest.fixture(scope="module")
def counter(pdk, tmp_path_factory):
    """``(synthesized netlist, final netlist)`` of the counter taken through the flow to route."""
    run_dir = tmp_path_factory.mktemp("counter_run")
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir, to_stage="route")
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    state_file = next(run_dir.glob("stages/*-route/*/state.json"))
    state = json.loads(state_file.read_text())
    return Path(state["inherited_views"]["netlist"]), state_file.parent / state["views"]["final_netlist"]


def compare(pdk, tmp_path, gold, gate, top="counter"):
    folder = tmp_path / "equiv"
    return equivalence.check_equivalence(gold, gate, top, pdk, folder, Invocation(folder))


def edited(final: Path, tmp_path: Path, edit) -> Path:
    """A copy of ``final`` changed by ``edit(text)``, which must change it."""
    text = final.read_text()
    changed = edit(text)
    assert changed != text, "the edit found nothing to change"
    path = tmp_path / "edited.nl.v"
    path.write_text(changed)
    return path


def test_final_counter_netlist_is_equivalent(pdk, tmp_path, counter):
    gold, final = counter
    assert "clkbuf" in final.read_text() and "clkbuf" not in gold.read_text()
    result = compare(pdk, tmp_path, gold, final)
    assert result.equivalent and result.unproven == ()
    assert result.metrics() == {"equiv__unproven__count": 0}
    assert result.proven > 0 and set(result.metrics()) == set(equivalence.METRIC_UNITS)
    assert "equiv_simple -seq 2" in result.script.read_text()
    assert "-s equiv.ys" in (tmp_path / "equiv" / "commands.sh").read_text()


def test_physical_cells_do_not_break_matching(pdk, tmp_path, counter):
    gold, final = counter
    physical = (f"  {pdk.stdcell['tap_cell']} TAP_0 ();\n"
                + "".join(f"  {cell} FILL_{i} ();\n" for i, cell in enumerate(pdk.stdcell["fill_cells"]))
                + "  sky130_fd_sc_hd__decap_3 DECAP_0 ();\n"
                + "  sky130_fd_sc_hd__diode_2 ANTENNA_0 (.DIODE(en));\nendmodule")
    gate = edited(final, tmp_path, lambda text: text.replace("endmodule", physical))
    assert compare(pdk, tmp_path, gold, gate).unproven == ()


def test_swapped_flop_inputs_are_unproven(pdk, tmp_path, counter):
    gold, final = counter
    first, second = [match for match in FLOP.finditer(final.read_text())][:2]
    assert first.group(3) != second.group(3)

    def swap(text):
        for flop, d in ((first, second.group(3)), (second, first.group(3))):
            text = text.replace(flop.group(0), flop.group(0).replace(f".D({flop.group(3)})", f".D({d})"))
        return text

    result = compare(pdk, tmp_path, gold, edited(final, tmp_path, swap))
    assert result.metrics()["equiv__unproven__count"] > 0
    assert {f"{first.group(1)}.D", f"{second.group(1)}.D"} <= set(result.unproven)


def test_changed_cell_function_is_unproven(pdk, tmp_path, counter):
    gold, final = counter
    cell = re.search(r"sky130_fd_sc_hd__and3_1 (\S+) \(.*\.X\((\S+?)\)\);", final.read_text())
    gate = edited(final, tmp_path, lambda text: text.replace(cell.group(0), cell.group(0).replace(
        "sky130_fd_sc_hd__and3_1", "sky130_fd_sc_hd__or3_1")))
    result = compare(pdk, tmp_path, gold, gate)
    assert result.metrics()["equiv__unproven__count"] > 0
    assert cell.group(2) in result.unproven


def test_cell_replaced_by_a_buffer_is_unproven(pdk, tmp_path, counter):
    """A buffer makes its input and output one net once flattened; the output's own logic is gone."""
    gold, final = counter
    cell = re.search(r"sky130_fd_sc_hd__and3_1 (\S+) \(\.A\((\S+?)\), .*\.X\((\S+?)\)\);", final.read_text())
    gate = edited(final, tmp_path, lambda text: text.replace(
        cell.group(0), f"sky130_fd_sc_hd__buf_2 {cell.group(1)} (.A({cell.group(2)}), .X({cell.group(3)}));"))
    result = compare(pdk, tmp_path, gold, gate)
    assert result.metrics()["equiv__unproven__count"] > 0
    assert cell.group(3) in result.unproven


def test_flop_on_another_clock_is_unproven(pdk, tmp_path, counter):
    gold, final = counter
    flop = FLOP.search(final.read_text())
    gate = edited(final, tmp_path, lambda text: text.replace(
        flop.group(0), flop.group(0).replace(f".CLK({flop.group(2)})", ".CLK(en)")))
    assert f"{flop.group(1)}.CLK" in compare(pdk, tmp_path, gold, gate).unproven


RESET_FLOP = """\
module top(clk, rst_n, a, b, q);
  input clk;
  input rst_n;
  input a;
  input b;
  output q;
  wire d;
  sky130_fd_sc_hd__and2_1 _1_ (.A(a), .B(b), .X(d));
  sky130_fd_sc_hd__dfrtp_1 _2_ (.CLK(clk), .D(d), .RESET_B(rst_n), .Q(q));
endmodule
"""


@pytest.mark.parametrize("reset, unproven", [("rst_buf", ()), ("b", ("_2_.RESET_B",))])
def test_asynchronous_reset_is_compared(pdk, tmp_path, reset, unproven):
    """The reset pin counts like data: through a buffer it is the same reset, from another net not."""
    gold = tmp_path / "gold.v"
    gold.write_text(RESET_FLOP)
    gate = tmp_path / "gate.v"
    buffer = "  wire rst_buf;\n  sky130_fd_sc_hd__buf_2 _3_ (.A(rst_n), .X(rst_buf));\n"
    gate.write_text(RESET_FLOP.replace(".RESET_B(rst_n)", f".RESET_B({reset})").replace(
        "  wire d;\n", "  wire d;\n" + buffer))
    result = compare(pdk, tmp_path, gold, gate, top="top")
    assert set(unproven) <= set(result.unproven) and result.equivalent == (not unproven)


@pytest.mark.parametrize("edit, message", [
    ((".X(d)", ".X()"), r"Wire gate\.\\d is used but has no driver"),
    (("sky130_fd_sc_hd__and2_1 _1_ (.A(a), .B(b), .X(d))", "sky130_fd_sc_hd__dlclkp_1 _1_ (.CLK(a), "
      ".GATE(b), .GCLK(d))"), "dlclkp_1 has no logic function for its output GCLK"),
    (("sky130_fd_sc_hd__and2_1", "sky130_fd_sc_hd__nosuch_1"),
     r"nosuch_1' referenced in module `\\gate'"),
    (("output q;", "output [1:0] q;"), "Can't match gold port `q_gold' to a gate port"),
])
def test_netlists_that_cannot_be_compared_raise(pdk, tmp_path, edit, message):
    gold = tmp_path / "gold.v"
    gold.write_text(RESET_FLOP)
    gate = tmp_path / "gate.v"
    gate.write_text(RESET_FLOP.replace(*edit))
    with pytest.raises(equivalence.EquivalenceError, match=message) as error:
        compare(pdk, tmp_path, gold, gate, top="top")
    assert str(gate) in str(error.value) and "equiv.log" in str(error.value)


def test_read_status_names_unproven_signals():
    dump = ("  cell $equiv $auto$equiv_make.cc:295:find_same_wires$7\n    connect \\A \\x_gold\n"
            "    connect \\B \\x_gate\n    connect \\Y \\count [1]\n  end\n")
    report = ("Found 3 $equiv cells in equiv:\n  Of those cells 1 are proven and 2 are unproven.\n"
              "  Unproven $equiv $auto$equiv_make.cc:295:find_same_wires$7: \\x_gold \\x_gate\n"
              "  Unproven $equiv $auto$equiv_make.cc:295:find_same_wires$9: \\y_gold \\y_gate\n")
    signals = equivalence.read_equiv_cells(dump)
    assert signals == {"$auto$equiv_make.cc:295:find_same_wires$7": "count[1]"}
    assert equivalence.read_status(report, signals) == (1, ("count[1]", "\\y_gold \\y_gate"))
    with pytest.raises(ValueError, match="counts 2 unproven"):
        equivalence.read_status(report.rsplit("\n  Unproven", 1)[0], signals)
    with pytest.raises(ValueError, match="no signal in common"):
        equivalence.read_status("No $equiv cells found.\n", {})
