"""OpenSTA on a synthesized 8-bit counter: slack signs, paths, clock latency, unconstrained ends."""

import pytest
from amaranth.back import verilog

from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.rtl.examples.counter import Counter
from kchip.tools.base import Invocation, ToolError
from kchip.tools.opensta import run_sta
from kchip.tools.yosys import synthesize




@pytest.fixture(scope="module")
def netlist(pdk, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sta")
    source = folder / "counter.v"
    source.write_text(verilog.convert(Counter(width=8), name="counter", emit_src=False))
    return synthesize([source], "counter", pdk, folder / "synth", Invocation(folder / "synth")).netlist_v


def _sta(pdk, netlist, folder, period_ns, **options):
    sdc = write_sdc(pdk_constraints(pdk, "clk", period_ns), folder / "counter.sdc")
    return run_sta(netlist, "counter", pdk, sdc, folder, Invocation(folder), **options)


def test_relaxed_clock_meets_timing(pdk, netlist, tmp_path):
    result = _sta(pdk, netlist, tmp_path, 10.0)
    assert result.setup_ws > 0 and result.setup_tns == 0
    assert result.hold_ws > 0 and result.hold_tns == 0
    assert result.setup_ws < 10.0
    assert "slack (MET)" in result.setup_paths and "Path Type: max" in result.setup_paths
    assert "Path Type: min" in result.hold_paths
    assert result.unconstrained_endpoints == 0
    assert result.metrics["timing__setup__ws"] == result.setup_ws
    assert set(result.units) >= set(result.metrics)


def test_impossible_clock_fails_setup(pdk, netlist, tmp_path):
    result = _sta(pdk, netlist, tmp_path, 0.1)
    assert result.setup_ws < 0
    assert result.setup_tns <= result.setup_ws
    assert "VIOLATED" in result.setup_paths
    assert result.metrics["timing__setup__tns"] == result.setup_tns


def test_slack_follows_the_period_on_register_paths(pdk, netlist, tmp_path):
    """With no IO delay the worst path is register to register: slack moves with the period."""
    slacks = []
    for period in (5.0, 9.0):
        sdc = write_sdc(pdk_constraints(pdk, "clk", period, io_fraction=0.0), tmp_path / f"{period}.sdc")
        slacks.append(run_sta(netlist, "counter", pdk, sdc, tmp_path / str(period),
                              Invocation(tmp_path)).setup_ws)
    assert slacks[1] - slacks[0] == pytest.approx(4.0, abs=1e-3)


def test_clock_latency_ideal_and_propagated(pdk, netlist, tmp_path):
    ideal = _sta(pdk, netlist, tmp_path / "ideal", 10.0, propagated=False)
    assert ideal.clock_latencies == {} and "clock__insertion__max" not in ideal.metrics
    assert "clock network delay (ideal)" in ideal.setup_paths
    propagated = _sta(pdk, netlist, tmp_path / "propagated", 10.0, propagated=True)
    assert len(propagated.clock_latencies) == 8
    assert all(pin.endswith("/CLK") for pin in propagated.clock_latencies)
    assert "clock network delay (propagated)" in propagated.setup_paths
    assert propagated.metrics["clock__insertion__max"] >= 0
    assert propagated.metrics["clock__skew__worst"] == pytest.approx(
        propagated.insertion_max - propagated.insertion_min)


def test_outputs_without_output_delay_are_unconstrained(pdk, netlist, tmp_path):
    sdc = tmp_path / "clock_only.sdc"
    sdc.write_text("create_clock -name core_clock -period 10 [get_ports {clk}]\n")
    result = run_sta(netlist, "counter", pdk, sdc, tmp_path, Invocation(tmp_path))
    assert result.unconstrained_endpoints == 8  # count[7:0]


def test_failures_are_reported(pdk, netlist, tmp_path):
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), tmp_path / "c.sdc")
    with pytest.raises(ToolError, match="OpenSTA failed on 'nosuchtop'"):
        run_sta(netlist, "nosuchtop", pdk, sdc, tmp_path, Invocation(tmp_path))
    with pytest.raises(FileNotFoundError, match="missing.spef"):
        run_sta(netlist, "counter", pdk, sdc, tmp_path, Invocation(tmp_path),
                spef=tmp_path / "missing.spef")


def test_cells_missing_from_the_liberty_are_an_error(pdk, netlist, tmp_path):
    text = netlist.read_text()
    assert "sky130_fd_sc_hd__dfxtp_1 " in text
    bogus = tmp_path / "bogus.nl.v"
    bogus.write_text(text.replace("sky130_fd_sc_hd__dfxtp_1 ", "sky130_fd_sc_hd__nosuch_1 ", 1))
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), tmp_path / "c.sdc")
    with pytest.raises(ToolError, match="sky130_fd_sc_hd__nosuch_1 not found"):
        run_sta(bogus, "counter", pdk, sdc, tmp_path, Invocation(tmp_path))
