"""kchip.chiplet.rtl_ports: pyverilog reads a top's ports; a die's declared ports are compared."""

import copy

import pytest
import yaml
from amaranth import Module
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from kchip.chiplet import REFERENCE_SYSTEM
from kchip.chiplet.model import system_from_dict
from kchip.chiplet.report import run_checks
from kchip.chiplet.rtl_ports import check_rtl_ports, compare_ports, parse_ports


class Scaler(wiring.Component):
    """out = in * factor, registered, with a valid bit: a die top small enough for every test."""

    def __init__(self, *, width: int):
        super().__init__({"data_in": In(width), "valid_in": In(1), "data_out": Out(2 * width),
                          "valid_out": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.data_out.eq(self.data_in * 3), self.valid_out.eq(self.valid_in)]
        return m


@pytest.fixture(scope="module")
def scaler_v(tmp_path_factory):
    path = tmp_path_factory.mktemp("rtl") / "scaler.v"
    path.write_text(verilog.convert(Scaler(width=12), name="scaler", emit_src=False,
                                    strip_internal_attrs=True))
    return path


def test_ports_of_an_amaranth_top_match_its_signature(scaler_v, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ports = parse_ports(scaler_v, "scaler")
    expected = {"data_in": ("input", 12), "valid_in": ("input", 1), "data_out": ("output", 24),
                "valid_out": ("output", 1), "clk": ("input", 1), "rst": ("input", 1)}
    assert {name: (p.direction, p.width) for name, p in ports.items()} == expected
    assert not list(tmp_path.iterdir()), "pyverilog must not write parser tables into the cwd"


def test_hand_written_ansi_verilog_with_defines_and_attributes(tmp_path):
    source = tmp_path / "bus.v"
    source.write_text("`define W 16\n"
                      "module leaf(input a, output b); assign b = a; endmodule\n"
                      "module bus(input wire clk, input [`W-1:0] addr, output reg [7:0] data,\n"
                      "           inout [3:0] pads);\n"
                      "  always @(posedge clk) begin (* full_case *) case (addr) 0: data <= 1; "
                      "default: data <= 0; endcase end\n"
                      "endmodule\n")
    ports = parse_ports(source, "bus")
    assert {n: (p.direction, p.width) for n, p in ports.items()} == {
        "clk": ("input", 1), "addr": ("input", 16), "data": ("output", 8), "pads": ("inout", 4)}


def test_missing_top_module_lists_the_modules_found(scaler_v):
    from kchip.chiplet.rtl_ports import RtlError

    with pytest.raises(RtlError, match="module 'npu' is not in .*modules there: scaler"):
        parse_ports(scaler_v, "npu")


def test_compare_reports_width_direction_missing_and_undeclared_ports(scaler_v):
    actual = parse_ports(scaler_v, "scaler")
    declared = {"data_in": ("input", 8), "valid_in": ("output", 1), "data_out": ("output", 24),
                "ready": ("input", 1)}
    messages = [v.message for v in compare_ports("npu0", declared, actual, ("clk", "rst"), "scaler")]
    assert messages == [
        "die npu0: port 'data_in' is declared input, 8 bits; scaler has input, 12 bits",
        "die npu0: port 'valid_in' is declared output, 1 bits; scaler has input, 1 bits",
        "die npu0: declared port 'ready' (input, 1 bits) is not a port of scaler",
        "die npu0: scaler has port 'valid_out' (output, 1 bits) that the die does not declare",
    ]


def _bound_system(rtl: dict):
    data = yaml.safe_load(REFERENCE_SYSTEM.read_text())
    for die in data["dies"]:
        die.pop("rtl", None)
    data["dies"][1]["rtl"] = rtl
    return system_from_dict(copy.deepcopy(data), base=REFERENCE_SYSTEM.parent)


SCALER_PORTS = {"data_in": ["input", 12], "valid_in": ["input", 1], "data_out": ["output", 24],
                "valid_out": ["output", 1]}


def test_die_bound_to_a_verilog_file_passes_and_a_wrong_width_fails(scaler_v):
    good = _bound_system({"verilog": str(scaler_v), "top": "scaler", "ports": SCALER_PORTS})
    assert check_rtl_ports(good) == ([], [])
    bad = _bound_system({"verilog": str(scaler_v), "top": "scaler",
                         "ports": {**SCALER_PORTS, "data_out": ["output", 16]}})
    (violation,), skipped = check_rtl_ports(bad)
    assert skipped == []
    assert violation.message == ("die npu0: port 'data_out' is declared output, 16 bits; RTL top "
                                 "'scaler' (scaler.v) has output, 24 bits")


@pytest.mark.parametrize("rtl, expected", [
    ({"design": "nosuch"}, "die npu0: RTL cannot be read: kchip design 'nosuch' does not exist: no "
                           "rtl/nosuch/design.toml; built-in designs: "),
    ({"design": "missing.toml"}, "die npu0: RTL cannot be read: "
                                 f"{REFERENCE_SYSTEM.parent / 'missing.toml'}: design file not found"),
    ({"verilog": "npu_core.v", "top": "npu_core"},
     f"die npu0: RTL cannot be read: Verilog file '{REFERENCE_SYSTEM.parent / 'npu_core.v'}' does not "
     f"exist"),
])
def test_unresolved_rtl_reference_fails_the_check(rtl, expected):
    from kchip.design import builtin_designs

    system = _bound_system({**rtl, "ports": SCALER_PORTS})
    (violation,), skipped = check_rtl_ports(system)
    assert skipped == [] and violation.subject == "die npu0"
    assert violation.message.startswith(expected)
    if "design" in rtl and not rtl["design"].endswith(".toml"):
        assert violation.message.endswith(", ".join(builtin_designs()))
    report = run_checks(system)
    assert report.status("rtl_ports") == "fail" and not report.passed


def test_rtl_check_is_skipped_with_a_reason_when_the_preprocessor_is_missing(scaler_v, monkeypatch):
    from dataclasses import replace

    from kchip.tools import iverilog

    monkeypatch.setattr(iverilog, "TOOL", replace(iverilog.TOOL, executables=("kchip-no-iverilog",)))
    system = _bound_system({"verilog": str(scaler_v), "top": "scaler", "ports": SCALER_PORTS})
    violations, (skip,) = check_rtl_ports(system)
    assert violations == []
    assert skip.reason.startswith("die npu0: RTL port check skipped: iverilog not found")
    report = run_checks(system)
    assert report.status("rtl_ports") == "skipped" and report.rtl_checked == 0


@pytest.mark.slow
def test_reference_system_matches_the_npu_and_pim_rtl_when_present():
    from kchip.design import builtin_designs

    missing = {"npu_core", "pim_ctrl"} - set(builtin_designs())
    if missing:
        pytest.skip(f"RTL not written yet: {sorted(missing)}")
    system = system_from_dict(yaml.safe_load(REFERENCE_SYSTEM.read_text()), base=REFERENCE_SYSTEM.parent)
    violations, skipped = check_rtl_ports(system)
    assert skipped == [] and [v.message for v in violations] == []
