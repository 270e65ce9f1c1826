"""Run folders whose path holds spaces, non-ASCII and Tcl's special characters work with every tool;
the few characters a tool cannot take are refused before the flow starts, naming the tool."""

from __future__ import annotations

import pytest
from amaranth.back import verilog

from kchip.design import resolve_design
from kchip.flows.runner import FlowError, check_run_folder, run_flow
from kchip.flows.signoff import drc, lvs
from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.rtl.examples.counter import Counter
from kchip.tools.base import Invocation
from kchip.tools.opensta import run_sta, sta_script
from kchip.tools.yosys import synthesize
from signoff_layouts import chain_netlist, inverter_chain

#: a folder name with a space, non-ASCII letters and every character Tcl treats specially
ODD = "my run ü 中 {b} $c [d] \\e ;#~ it's"


@pytest.mark.parametrize("name, char, tool", [
    ('say "hi"', '\'"\' (U+0022)', "Verilator"),
    ("line\nbreak", "'\\n' (U+000A)", "Verilator"),
    ("smile \U0001F600", "'\U0001F600' (U+1F600)", "magic and OpenSTA"),
])
def test_a_run_folder_a_tool_cannot_take_is_refused_up_front(tmp_path, name, char, tool):
    with pytest.raises(FlowError) as failure:
        check_run_folder(tmp_path / name / "run")
    assert str(failure.value) == (f"run folder {str(tmp_path / name / 'run')!r} contains {char}, which {tool} "
                                  "cannot take in a file path; choose another --run-dir")
    assert not (tmp_path / name).exists()


def test_a_run_folder_with_spaces_and_tcl_characters_is_accepted(tmp_path):
    check_run_folder(tmp_path / ODD / "run")
    assert (tmp_path / ODD / "run").is_dir()


def test_yosys_and_opensta_work_in_a_folder_with_spaces_and_non_ascii(pdk, tmp_path):
    folder = tmp_path / ODD
    folder.mkdir()
    source = folder / "counter.v"
    source.write_text(verilog.convert(Counter(width=8), name="counter", emit_src=False))
    netlist = synthesize([source], "counter", pdk, tmp_path / "synth", Invocation(tmp_path / "synth")).netlist_v
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), folder / "counter.sdc")
    result = run_sta(netlist, "counter", pdk, sdc, folder / "sta", Invocation(folder / "sta"))
    assert result.setup_ws > 0 and result.hold_ws > 0
    assert "slack (MET)" in result.setup_paths


def test_opensta_reads_liberty_and_spef_relative_to_its_folder(tmp_path):
    run = tmp_path / "a run ü"
    script = sta_script(run / "route" / "c.nl.v", "c", tmp_path / "lib" / "tt.lib", run / "sta" / "c.sdc",
                        run / "sta", spef=run / "route" / "c.spef", propagated=True, path_count=1)
    assert 'read_liberty "../../lib/tt.lib"' in script and 'read_spef "../route/c.spef"' in script
    assert f'read_verilog "{tmp_path}/a run \\u00fc/route/c.nl.v"' in script
    assert f'read_sdc "{tmp_path}/a run ü/sta/c.sdc"' in script
    with pytest.raises(ValueError, match="OpenSTA's read_liberty cannot read .*Tcl quotes \\[' '\\] in a list"):
        sta_script(run / "c.nl.v", "c", tmp_path / "my lib" / "tt.lib", run / "c.sdc", run,
                   spef=None, propagated=True, path_count=1)


def test_magic_and_netgen_work_in_a_folder_with_tcl_characters(pdk, tmp_path):
    folder = tmp_path / ODD
    folder.mkdir()
    gds = inverter_chain(pdk, folder / "chain.gds")
    checked = drc.run_drc(gds, "chain", pdk, folder / "drc", Invocation(folder / "drc"))
    assert checked.errors == ()
    compared = lvs.run_lvs(gds, chain_netlist(folder / "chain.v"), "chain", pdk, folder / "lvs",
                           Invocation(folder / "lvs"))
    assert compared.matched


@pytest.mark.slow
def test_the_counter_signs_off_in_a_run_folder_with_spaces_and_non_ascii(pdk, tmp_path):
    run_dir = tmp_path / "kchip space ü" / "run"
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir)
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    final = result.final_metrics
    assert final["drc__errors__count"] == 0 and final["lvs__mismatch__count"] == 0
    assert final["route__unrouted__count"] == 0 and final["timing__setup__ws"] > 0
