"""Synthesis to sky130_fd_sc_hd: library flops, no dont_use cells, a clean netlist, JSON = Verilog."""

import json
import re

import pytest
from amaranth import Module
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from kchip.formats.liberty import read_cells
from kchip.tools.base import Invocation, ToolError
from kchip.tools.yosys import parse_stat, synthesize


class TinyCounter(wiring.Component):
    """An 8-bit counter with enable, a pass-through and a constant output (tie cells and buffers)."""

    def __init__(self):
        super().__init__({"en": In(1), "a": In(2), "count": Out(8), "echo": Out(2), "magic": Out(3)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        m.d.comb += [self.echo.eq(self.a), self.magic.eq(0b101)]
        return m




@pytest.fixture(scope="module")
def synthesized(pdk, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    source = folder / "tiny.v"
    source.write_text(verilog.convert(TinyCounter(), name="tiny", emit_src=False))
    return synthesize([source], "tiny", pdk, folder / "work", Invocation(folder / "work"))


def _verilog_instances(text: str) -> dict[str, str]:
    """Instance name -> cell type, read from the gate-level Verilog with a regex (not yosys)."""
    return {inst: cell for cell, inst in re.findall(r"^\s*(sky130_\w+)\s+(\S+)\s*\(", text, re.M)}


def _verilog_connections(text: str) -> dict[tuple[str, str], str]:
    """(instance, pin) -> net name, from the gate-level Verilog."""
    connections = {}
    for inst, body in re.findall(r"^\s*sky130_\w+\s+(\S+)\s*\((.*?)\);", text, re.M | re.S):
        for pin, net in re.findall(r"\.(\w+)\(([^()]*)\)", body):
            connections[(inst, pin)] = net.strip()
    return connections


def test_flops_come_from_the_liberty(synthesized, pdk):
    library = read_cells(pdk.liberty("tt"))
    flops = {t: n for t, n in synthesized.cell_types.items() if library[t].is_flop}
    assert sum(flops.values()) == 8, synthesized.cell_types
    assert synthesized.metrics["synth__flops__count"] == 8


def test_no_dont_use_or_generic_cells(synthesized, pdk):
    library = read_cells(pdk.liberty("tt"))
    for cell_type in synthesized.cell_types:
        assert cell_type in library, cell_type
        assert not pdk.is_dont_use(cell_type), cell_type
    assert "$" not in synthesized.netlist_v.read_text()


def test_filtered_liberty_drops_every_dont_use_cell(synthesized, pdk):
    kept = read_cells(synthesized.liberty)
    full = read_cells(pdk.liberty("tt"))
    assert not [c for c in kept if pdk.is_dont_use(c)]
    assert set(kept) == {c for c in full if not pdk.is_dont_use(c)}
    assert kept["sky130_fd_sc_hd__dfxtp_1"].area_um2 == full["sky130_fd_sc_hd__dfxtp_1"].area_um2


def test_netlist_is_plain_for_downstream_readers(synthesized, pdk):
    text = synthesized.netlist_v.read_text()
    assert "assign" not in text, "ports wired straight to ports or constants"
    assert "\\" not in text, "escaped identifiers"
    assert "(*" not in text, "attributes"
    assert re.search(r"^\s*output \[7:0\] count;", text, re.M), "bus ports keep their bus form"
    instances = _verilog_instances(text)
    assert pdk.stdcell["tie_cell"] in instances.values()
    assert pdk.stdcell["buffer_cell"] in instances.values()
    connections = _verilog_connections(text)
    assert {connections[k] for k in connections if k[1] == "HI"} | {
        connections[k] for k in connections if k[1] == "LO"} == {"magic[0]", "magic[1]", "magic[2]"}


def test_json_describes_the_same_netlist(synthesized):
    text = synthesized.netlist_v.read_text()
    module = json.loads(synthesized.netlist_json.read_text())["modules"]["tiny"]
    assert {name: cell["type"] for name, cell in module["cells"].items()} == _verilog_instances(text)
    bit_names = {}
    for name, net in module["netnames"].items():
        for index, bit in enumerate(net["bits"]):
            bit_names.setdefault(bit, f"{name}[{index}]" if len(net["bits"]) > 1 else name)
    json_connections = {(inst, pin): bit_names[bits[0]] for inst, cell in module["cells"].items()
                        for pin, bits in cell["connections"].items()}
    assert json_connections == _verilog_connections(text)
    assert {p: info["direction"] for p, info in module["ports"].items()} == {
        "clk": "input", "rst": "input", "en": "input", "a": "input",
        "count": "output", "echo": "output", "magic": "output"}


def test_metrics_agree_with_the_liberty_and_the_yosys_log(synthesized, pdk):
    library = read_cells(pdk.liberty("tt"))
    area = sum(library[t].area_um2 * n for t, n in synthesized.cell_types.items())
    assert synthesized.metrics["synth__area__um2"] == pytest.approx(area, rel=1e-6)
    assert synthesized.metrics["synth__cells__count"] == sum(synthesized.cell_types.values())
    logged = parse_stat(synthesized.log.read_text())
    assert logged == {"cells": synthesized.metrics["synth__cells__count"],
                      "area_um2": pytest.approx(area, rel=1e-6)}


def test_script_and_command_are_recorded(synthesized):
    script = synthesized.script.read_text()
    assert "synth -flatten -top tiny -noabc" in script and 'abc -script "abc.script" -liberty' in script
    commands = (synthesized.script.parent / "commands.sh").read_text()
    assert synthesized.script.name in commands


def test_missing_source_is_named(pdk, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.v"):
        synthesize([tmp_path / "nowhere.v"], "tiny", pdk, tmp_path / "w", Invocation(tmp_path / "w"))


def test_unknown_top_fails_with_the_log(pdk, tmp_path):
    source = tmp_path / "tiny.v"
    source.write_text(verilog.convert(TinyCounter(), name="tiny", emit_src=False))
    with pytest.raises(ToolError) as failure:
        synthesize([source], "nosuchtop", pdk, tmp_path / "w", Invocation(tmp_path / "w"))
    assert "yosys could not synthesize 'nosuchtop':\n  ERROR: Module `nosuchtop' not found!" in str(failure.value)
    assert f"log: {tmp_path / 'w' / 'synth.log'}" in str(failure.value)
    assert not (tmp_path / "w" / "nosuchtop.nl.v").exists()


def test_clock_period_makes_abc_map_for_delay(pdk, tmp_path):
    source = tmp_path / "tiny.v"
    source.write_text(verilog.convert(TinyCounter(), name="tiny", emit_src=False))
    result = synthesize([source], "tiny", pdk, tmp_path / "w", Invocation(tmp_path / "w"),
                        clock_period_ns=5.0)
    assert 'abc -D 5000 -constr "abc.constr" -script "abc.script" -liberty' in result.script.read_text()
    abc = (tmp_path / "w" / "abc.script").read_text()
    assert "&nf -D 5000;" in abc and "upsize -D 5000;" in abc and "{D}" not in abc
    constraints = (tmp_path / "w" / "abc.constr").read_text()
    assert f"set_driving_cell {pdk.stdcell['buffer_cell']}\n" in constraints
    load_ff = float(re.search(r"set_load (\S+)", constraints).group(1))
    assert 1.0 < load_ff < 100.0, "ABC takes the load in fF"
    assert result.metrics["synth__flops__count"] == 8


ADDER_64 = """
module add64(input clk, input [63:0] a, input [63:0] b, output reg [64:0] sum);
  reg [63:0] ra, rb;
  always @(posedge clk) begin
    ra <= a;
    rb <= b;
    sum <= ra + rb;
  end
endmodule
"""


def _logic_depth(netlist_json, top: str, flop_types: set[str]) -> int:
    """Most combinational cells on one path between flops and ports, walked over the JSON
    netlist's bits (the test's own graph, not the flow's netlist reader)."""
    cells = json.loads(netlist_json.read_text())["modules"][top]["cells"]
    drivers, sinks = {}, {}
    for name, cell in cells.items():
        for pin, bits in cell["connections"].items():
            for bit in bits:
                if cell["port_directions"][pin] == "output":
                    drivers[bit] = name
                else:
                    sinks.setdefault(name, []).append(bit)
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 0
            inputs = [drivers[b] for b in sinks.get(name, []) if b in drivers]
            depth[name] = 1 + max((level(d) for d in inputs if cells[d]["type"] not in flop_types), default=0)
        return depth[name]

    return max(level(n) for n, c in cells.items() if c["type"] not in flop_types)


@pytest.mark.parametrize("period", [None, 2.0])
def test_adders_keep_their_parallel_prefix_depth(pdk, tmp_path, period):
    source = tmp_path / "add64.v"
    source.write_text(ADDER_64)
    result = synthesize([source], "add64", pdk, tmp_path / "w", Invocation(tmp_path / "w"),
                        clock_period_ns=period)
    flops = {name for name, cell in read_cells(pdk.liberty("tt")).items() if cell.is_flop}
    depth = _logic_depth(result.netlist_json, "add64", flops)
    print(f"64-bit adder, period {period}: {depth} cells deep, {result.metrics['synth__cells__count']} cells")
    assert depth <= 24, f"a 64-bit add maps to a {depth}-cell carry chain (a ripple adder)"
