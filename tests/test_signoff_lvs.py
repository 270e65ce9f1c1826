"""Tests for kchip.flows.signoff.lvs: magic extraction and netgen against the gate-level netlist."""

import re
from pathlib import Path

import pytest

from kchip.flows.signoff import lvs
from kchip.tools.base import Invocation
from signoff_layouts import Row, chain_netlist, inverter_chain

POWER = {"VPWR": "VPWR", "VGND": "VGND", "VPB": "VPWR", "VNB": "VGND"}




def compare(pdk, tmp_path, gds, netlist, top="chain"):
    workdir = tmp_path / "lvs"
    return lvs.run_lvs(gds, netlist, top, pdk, workdir, Invocation(workdir))


def test_powered_netlist_adds_missing_power_pins_and_ports(tmp_path):
    netlist = chain_netlist(tmp_path / "chain.v")
    pins = {"sky130_fd_sc_hd__inv_1": ["A", "VGND", "VNB", "VPB", "VPWR", "Y"]}
    text = lvs.write_powered_netlist(netlist, tmp_path / "out.v", "chain", pins, POWER).read_text()
    assert text.startswith("module chain(VPWR, VGND, in, out);\n  inout VPWR;\n  inout VGND;")
    assert text.count(".VGND(VGND), .VNB(VGND), .VPB(VPWR), .VPWR(VPWR),") == 2
    assert ".A(mid)" in text and text.rstrip().endswith("endmodule")


def test_powered_netlist_keeps_existing_connections(tmp_path):
    netlist = tmp_path / "tap.v"
    netlist.write_text("module t(VPWR, a);\n  inout VPWR;\n  input a;\n"
                       "  tap _1_ (.VPWR(VPWR));\n  inv _2_ (.A(a), .VGND(gnd2));\nendmodule\n")
    pins = {"tap": ["VGND", "VPWR"], "inv": ["A", "VGND", "VPWR", "Y"]}
    text = lvs.write_powered_netlist(netlist, tmp_path / "out.v", "t", pins, POWER).read_text()
    assert "module t(VGND, VPWR, a);" in text
    assert "tap _1_ (.VGND(VGND), .VPWR(VPWR));" in text
    assert "inv _2_ (.VPWR(VPWR), .Y(), .A(a), .VGND(gnd2));" in text
    with pytest.raises(ValueError, match="'other'"):
        lvs.write_powered_netlist(netlist, tmp_path / "out.v", "other", pins, POWER)
    netlist.write_text("module t(input a, output y);\nendmodule\n")
    with pytest.raises(ValueError, match="port-name list"):
        lvs.write_powered_netlist(netlist, tmp_path / "out.v", "t", pins, POWER)


def test_count_mismatches_from_netgen_json():
    same = {"devices": [[["inv", 2]], [["inv", 2]]], "nets": [5, 5], "badnets": [], "badelements": [],
            "pins": [["A", "Y"], ["A", "Y"]]}
    assert lvs.count_mismatches([same]) == 0
    different = {"devices": [[["inv", 2], ["nand", 1]], [["inv", 3]]], "nets": [6, 5],
                 "badnets": [[[["n1", []]], [["n2", []], ["n3", []]]]], "badelements": [[[["u1", []]], []]],
                 "pins": [["A", "(no matching pin)"], ["A", "Y"]]}
    assert lvs.count_mismatches([same, different]) == 2 + 1 + 2 + 1 + 1


def test_setup_covers_transistors_resistors_and_ignored_cells():
    setup = lvs.netgen_setup(["sky130_fd_pr__nfet_01v8", "sky130_fd_pr__res_generic_po"],
                             ["sky130_fd_sc_hd__tapvpwrvgnd_1"], short_resistor="sky130_fd_pr__res_generic_po",
                             transistors={"sky130_fd_pr__nfet_01v8"})
    assert 'permute "-circuit2 sky130_fd_pr__nfet_01v8" 1 3' in setup
    assert 'property "-circuit1 sky130_fd_pr__nfet_01v8" parallel {l critical} {w add}' in setup
    assert 'property "-circuit2 sky130_fd_pr__res_generic_po" delete w l' in setup
    assert 'ignore class "-circuit1 sky130_fd_sc_hd__tapvpwrvgnd_1"' in setup


def test_setup_treats_only_the_given_transistors_as_transistors():
    setup = lvs.netgen_setup(["sg13_lv_nmos", "sg13g2_inv_1"], [], transistors={"sg13_lv_nmos"})
    assert 'permute "-circuit1 sg13_lv_nmos" 1 3' in setup
    assert "sg13g2_inv_1" not in setup


def test_other_devices_are_compared_on_the_properties_both_netlists_state(tmp_path):
    """magic gives a diode either w/l or a/p; the CDL states w, l, a and p (and m, netgen's count)."""
    layout = tmp_path / "layout.spice"
    layout.write_text(".subckt cell A VDD VSS\nX0 A VDD dpantenna l=1.34u w=1.05u\n"
                      "D0 VSS A dantenna p=3.12u a=0.6084p\n.ends\n")
    reference = tmp_path / "cells.cdl"
    reference.write_text(".SUBCKT cell A VDD VSS\nDD1 VSS A dantenna m=1 w=780n l=780n a=608.4f p=3.12u\n"
                         "DD0 A VDD dpantenna m=1 w=1.05u l=1.34u a=1.407p p=4.78u\n.ENDS cell\n")
    stated = lvs.card_properties(layout), lvs.card_properties(reference)
    assert stated[0] == {"dpantenna": {"l", "w"}, "dantenna": {"a", "p"}}
    assert stated[1] == {"dpantenna": {"m", "w", "l", "a", "p"}, "dantenna": {"m", "w", "l", "a", "p"}}
    setup = lvs.netgen_setup(["dantenna", "dpantenna", "cell"], [],
                             properties={m: (stated[0][m], stated[1][m]) for m in stated[0]})
    for circuit in (1, 2):
        assert f'property "-circuit{circuit} dantenna" delete l w' in setup
        assert f'property "-circuit{circuit} dantenna" tolerance {{a 0.01}} {{p 0.01}}' in setup
        assert f'property "-circuit{circuit} dpantenna" delete a p' in setup
        assert f'property "-circuit{circuit} dpantenna" tolerance {{l 0.01}} {{w 0.01}}' in setup
    assert not re.search(r"delete .*\bm\b", setup) and "cell" not in setup


def test_extraction_makes_ports_of_the_top_labels_only_when_it_has_none():
    script = lvs.extraction_script(Path("a.gds"), "top", Path("top.spice"), "style")
    assert "if {[port first] < 0} {port makeall}" in script
    assert script.index("port makeall") < script.index("extract all")


def test_layout_matches_its_netlist(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds")
    result = compare(pdk, tmp_path, gds, chain_netlist(tmp_path / "chain.v"))
    assert result.matched and result.result_text == "Circuits match uniquely."
    assert result.metrics() == {"lvs__mismatch__count": 0, "lvs__unverified_cells__count": 0}
    assert result.unverified_cells == ()
    assert ".subckt chain" in result.layout_netlist.read_text()
    assert "Circuits match uniquely." in result.report.read_text()


def test_swapped_connection_is_a_mismatch(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds")
    result = compare(pdk, tmp_path, gds, chain_netlist(tmp_path / "bad.v", second_input="in"))
    assert not result.matched
    assert result.metrics()["lvs__mismatch__count"] > 0


def test_cells_drawn_with_split_finger_stacks(pdk, tmp_path):
    """a21oi_2 draws its n-stack's inner net once per finger, a211oi_4 its p-stack's in groups of 2, 1, 1."""
    row = Row(pdk, "cells")
    row.place("tapvpwrvgnd_1")
    row.place("a21oi_2")
    row.place("a211oi_4")
    row.place("tapvpwrvgnd_1")
    row.label((68, 5), "VPWR", 0.2, 2.72)
    row.label((68, 5), "VGND", 0.2, 0.0)
    gds = row.write(tmp_path / "cells.gds")
    netlist = tmp_path / "cells.v"
    netlist.write_text(
        "module cells();\n  wire a, b, c, d, e, f, g, h, i;\n"
        "  sky130_fd_sc_hd__a21oi_2 _1_ (.A1(a), .A2(b), .B1(c), .Y(d));\n"
        "  sky130_fd_sc_hd__a211oi_4 _2_ (.A1(e), .A2(f), .B1(g), .C1(h), .Y(i));\nendmodule\n")
    result = compare(pdk, tmp_path, gds, netlist, top="cells")
    assert result.matched
    assert result.unverified_cells == ()
    assert result.report.name == "lvs-stack-forms.report"
    reference = (tmp_path / "lvs" / "cells.stack-forms.lvs.cdl").read_text()
    assert "sndA1_g1" in reference and "pndB_g2" in reference


def test_bus_ports_and_a_tie_cell_with_an_open_output(pdk, tmp_path):
    """Bit-select port names as yosys writes them, and conb_1 with LO left out of the instance."""
    row = Row(pdk, "busy")
    row.place("tapvpwrvgnd_1")
    first, second = row.place("inv_1", 2)
    row.place("conb_1")
    row.place("tapvpwrvgnd_1")
    for bit, x in enumerate((first, second)):
        row.label((67, 5), f"a[{bit}]", x + 0.48, 1.2)
        row.label((67, 5), f"y[{bit}]", x + 0.93, 2.0)
    row.label((68, 5), "VPWR", 1.0, 2.72)
    row.label((68, 5), "VGND", 1.0, 0.0)
    gds = row.write(tmp_path / "busy.gds")
    netlist = tmp_path / "busy.v"
    source = ("module busy(a, y);\n  input [1:0] a;\n  wire [1:0] a;\n  output [1:0] y;\n  wire [1:0] y;\n"
              "  wire _0_;\n  sky130_fd_sc_hd__inv_1 _1_ (\n    .A(a[0]),\n    .Y(y[{out}])\n  );\n"
              "  sky130_fd_sc_hd__inv_1 _2_ (\n    .A(a[1]),\n    .Y(y[{other}])\n  );\n"
              "  sky130_fd_sc_hd__conb_1 _3_ (\n    .HI(_0_)\n  );\nendmodule\n")
    netlist.write_text(source.format(out=0, other=1))
    assert compare(pdk, tmp_path, gds, netlist, top="busy").matched
    netlist.write_text(source.format(out=1, other=0))
    assert not compare(pdk, tmp_path, gds, netlist, top="busy").matched


def test_an_antenna_diode_is_compared_by_the_net_it_sits_on(pdk, tmp_path):
    """The library's diode cell has an empty CDL subcircuit but extracts to a diode: it matches on
    its own port ``d`` with its power pins, and the same diode claimed on ``a`` is a mismatch."""
    row = Row(pdk, "guarded")
    row.place("tapvpwrvgnd_1")
    [inverter] = row.place("inv_1")
    [diode] = row.place("diode_2")
    row.place("tapvpwrvgnd_1")
    row.label((67, 5), "a", inverter + 0.48, 1.2)
    row.label((67, 5), "y", inverter + 0.93, 2.0)
    row.label((67, 5), "d", diode + 0.46, 1.36)
    row.label((68, 5), "VPWR", 1.0, 2.72)
    row.label((68, 5), "VGND", 1.0, 0.0)
    gds = row.write(tmp_path / "guarded.gds")
    netlist = tmp_path / "guarded.v"
    source = ("module guarded(a, d, y);\n  input a;\n  input d;\n  output y;\n"
              "  sky130_fd_sc_hd__inv_1 _1_ (.A(a), .Y(y));\n"
              "  sky130_fd_sc_hd__diode_2 ANTENNA_0 (.DIODE({net}));\nendmodule\n")
    netlist.write_text(source.format(net="d"))
    result = compare(pdk, tmp_path, gds, netlist, top="guarded")
    assert result.matched and result.layout_only_models == ("sky130_fd_pr__diode_pw2nd_05v5",)
    netlist.write_text(source.format(net="a"))
    assert not compare(pdk, tmp_path, gds, netlist, top="guarded").matched


def test_layout_only_models_are_those_found_only_in_cells_the_reference_leaves_empty(tmp_path):
    layout = tmp_path / "layout.spice"
    layout.write_text(".subckt diode DIODE VNB\nX0 VNB DIODE model_d area=1p\n.ends\n"
                      ".subckt inv A Y VGND VNB\nX0 Y A VGND VNB model_n w=1u l=1u\n.ends\n"
                      ".subckt odd A VNB\nX0 VNB A model_x\n.ends\n"
                      ".subckt top a\nXd a 0 diode\nXi a y 0 0 inv\nXo a 0 odd\nX9 0 a model_x\n.ends\n")
    reference = {"diode": (".SUBCKT diode DIODE VNB", []), "inv": (".SUBCKT inv A Y VGND VNB", ["M0 Y A VGND VNB n"]),
                 "odd": (".SUBCKT odd A VNB", [])}
    assert lvs.layout_only_models(layout, reference) == {"model_d"}
    setup = lvs.netgen_setup(["model_n"], [], {"model_d"})
    assert 'ignore class "-circuit1 model_d"' in setup and '"-circuit2 model_d"' not in setup


@pytest.mark.slow
def test_every_usable_library_cell_matches(pdk, tmp_path):
    """One row with each cell kchip may use (not dont_use), every signal pin on its own net."""
    pins = lvs.subckt_pins(pdk.cdl)
    row = Row(pdk, "library")
    names = sorted(name for name in pins if name in row.widths and not pdk.is_dont_use(name))
    lines, since_tap = [], 10.0
    for number, name in enumerate(names):
        if since_tap >= 10.0:
            row.place("tapvpwrvgnd_1")
            since_tap = 0.0
        row.place(name.removeprefix("sky130_fd_sc_hd__"))
        since_tap += row.widths[name]
        signals = [pin for pin in pins[name] if pin not in POWER]
        lines.append(f"  {name} u{number} ({', '.join(f'.{pin}(n{number}_{pin})' for pin in signals)});")
    row.place("tapvpwrvgnd_1")
    row.label((68, 5), "VPWR", 0.2, 2.72)
    row.label((68, 5), "VGND", 0.2, 0.0)
    gds = row.write(tmp_path / "library.gds")
    netlist = tmp_path / "library.v"
    netlist.write_text("module library();\n" + "\n".join(lines) + "\nendmodule\n")
    result = compare(pdk, tmp_path, gds, netlist, top="library")
    assert len(names) > 250
    assert result.matched, result.report
    assert result.unverified_cells == ()
