"""Max capacitance and max transition after STA: one weak inverter driving many flops breaks both
limits; the same load on a strong buffer breaks neither. Expected loads and limits are read from the
liberty here on their own."""

import re

import pytest

from kchip.flows.timing import drv
from kchip.formats.liberty import LibertyError, read_units
from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.tools.base import Invocation
from kchip.tools.opensta import run_sta

LOADS = 200


def fanout_netlist(driver: str, pin_in: str, pin_out: str) -> str:
    """``driver`` (one cell, ``pin_in`` -> ``pin_out``) drives the D pin of LOADS flops."""
    flops = "".join(f"  sky130_fd_sc_hd__dfxtp_1 f{i} (.CLK(clk), .D(n), .Q(q[{i}]));\n" for i in range(LOADS))
    return (f"module fan (clk, a, q);\n  input clk;\n  input a;\n  output [{LOADS - 1}:0] q;\n  wire n;\n"
            f"  {driver} u (.{pin_in}(a), .{pin_out}(n));\n{flops}endmodule\n")


def liberty_value(liberty: str, cell: str, pin: str, attribute: str) -> float:
    """``attribute`` of ``pin`` of ``cell``, found with a plain text search of the liberty."""
    body = liberty[liberty.index(f'cell ("{cell}")'):]
    pin_body = body[body.index(f'pin ("{pin}")'):]
    return float(re.search(rf"\b{attribute}\s*:\s*([0-9.eE+-]+)", pin_body).group(1))


def _run(pdk, tmp_path, driver, pin_in, pin_out):
    netlist = tmp_path / "fan.v"
    netlist.write_text(fanout_netlist(driver, pin_in, pin_out))
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), tmp_path / "fan.sdc")
    result = run_sta(netlist, "fan", pdk, sdc, tmp_path, Invocation(tmp_path))
    return result, drv.capacitance_violations(result.net_loads, pdk.liberty())


def test_a_weak_driver_on_many_loads_breaks_max_capacitance_and_transition(pdk, tmp_path):
    result, caps = _run(pdk, tmp_path, "sky130_fd_sc_hd__inv_1", "A", "Y")
    liberty = pdk.liberty().read_text()
    limit = liberty_value(liberty, "sky130_fd_sc_hd__inv_1", "Y", "max_capacitance")
    pins = LOADS * liberty_value(liberty, "sky130_fd_sc_hd__dfxtp_1", "D", "capacitance")
    assert pins > limit
    assert [v.pin for v in caps] == ["u/Y"]
    assert caps[0].limit_pf == pytest.approx(limit)
    assert caps[0].load_pf >= pins * 0.999, "the load must hold at least the flops' pin capacitance"
    assert result.slew_violations > LOADS, "the inverter's output and every flop input are too slow"
    assert result.metrics["timing__drv__max_slew__count"] == result.slew_violations
    listing = result.slew_report.read_text()
    assert "u/Y" in listing and "f0/D" in listing
    section = drv.markdown(caps, result.slew_violations, result.slew_report)
    assert "1 cell output(s) over max capacitance" in section and "`u/Y`" in section


def test_a_strong_driver_on_the_same_loads_is_within_the_limits(pdk, tmp_path):
    result, caps = _run(pdk, tmp_path, "sky130_fd_sc_hd__buf_16", "A", "X")
    assert caps == [] and result.slew_violations == 0
    loads = {line.split()[0]: float(line.split()[3]) for line in result.net_loads.read_text().splitlines()}
    assert set(loads) == {"u/X", *(f"f{i}/Q" for i in range(LOADS))}


def test_library_units_and_a_bad_unit(pdk, tmp_path):
    units = read_units(pdk.liberty())
    assert units.capacitance_f == pytest.approx(1e-12)
    bad = tmp_path / "bad.lib"
    bad.write_text('library (x) {\n  capacitive_load_unit (1, "uf");\n  cell ("c") {\n  }\n}\n')
    with pytest.raises(LibertyError, match=r"bad.lib: capacitive_load_unit is .*uf.*expected one in \['ff', 'pf'\]"):
        read_units(bad)


def test_without_wires_a_net_carries_exactly_its_pins(pdk, tmp_path):
    netlist = tmp_path / "fan.v"
    netlist.write_text(fanout_netlist("sky130_fd_sc_hd__buf_16", "A", "X"))
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), tmp_path / "fan.sdc")
    wired = run_sta(netlist, "fan", pdk, sdc, tmp_path / "wireload", Invocation(tmp_path))
    bare = run_sta(netlist, "fan", pdk, sdc, tmp_path / "bare", Invocation(tmp_path), wires=False)
    liberty = pdk.liberty().read_text()
    pins = LOADS * max(liberty_value(liberty, "sky130_fd_sc_hd__dfxtp_1", "D", f"{edge}_capacitance")
                       for edge in ("rise", "fall"))
    load = {line.split()[0]: float(line.split()[3]) for line in bare.net_loads.read_text().splitlines()}["u/X"]
    assert load * 1e12 == pytest.approx(pins, rel=1e-6)
    assert bare.setup_ws >= wired.setup_ws, "the liberty's wire-load model only adds delay"
    assert (tmp_path / "sta_without_wires.log").is_file()
    with pytest.raises(ValueError, match="contradict"):
        run_sta(netlist, "fan", pdk, sdc, tmp_path, Invocation(tmp_path), spef=tmp_path / "fan.v", wires=False)
