# amaranth: UnusedElaboratable=no
"""tt_um_kchip_npu: the Tiny Tapeout pins, parameter checks, the design file, and the cocotb bench
through the pins (passing for a few seeds, failing on a wrapper with a protocol fault)."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from amaranth import Module, Shape
from amaranth.lib import wiring

from kchip.design import RTL_ROOT, load_design
from kchip.design.amaranth import load_generator, to_verilog
from kchip.mpw.slots import load_shuttle
from kchip.rtl.npu_core.array import SIZE_RANGE
from kchip.rtl.npu_core.tt_wrapper import TinyTapeoutNpu
from kchip.verification import runner
from kchip.verification.npu_core.tt_testbench import TOP, tt_testbench, verilog_text

#: Tiny Tapeout's interface of a ``tt_um_*`` top: name -> (direction, bits).
TT_PORTS = {
    "ui_in": ("input", 8), "uo_out": ("output", 8),
    "uio_in": ("input", 8), "uio_out": ("output", 8), "uio_oe": ("output", 8),
    "ena": ("input", 1), "clk": ("input", 1), "rst_n": ("input", 1),
}
DESIGN = load_design(RTL_ROOT / "npu_core" / "tt_design.toml")


def test_signature_is_the_tiny_tapeout_one():
    members = TinyTapeoutNpu().signature.members
    ports = {name: ("input" if member.flow == wiring.In else "output",
                    Shape.cast(member.shape).width)
             for name, member in members.items() if member.is_port}
    assert ports == TT_PORTS and len(members) == len(TT_PORTS)


def test_tiny_tapeout_ports_agree_with_the_shuttle_template():
    """The template pins of kchip's tt-sky130 shuttle (checked against Tiny Tapeout's DEFs)."""
    pins = {}
    for pin in load_shuttle("tt-sky130").slot("1x1").pins:
        name = pin.name.split("[")[0]
        direction, bits = pins.get(name, (pin.direction.lower(), 0))
        pins[name] = (direction, bits + 1)
    assert pins == TT_PORTS


PORT_LISTER = textwrap.dedent("""
    import json, sys
    from pyverilog.vparser.parser import parse
    from pyverilog.vparser.ast import Input, Output, ModuleDef
    ast, _ = parse([sys.argv[1]])
    ports = {}
    for module in ast.description.definitions:
        if isinstance(module, ModuleDef) and module.name == sys.argv[2]:
            for item in module.items:
                for decl in getattr(item, "list", []):
                    if isinstance(decl, (Input, Output)):
                        width = 1 if decl.width is None else (
                            int(decl.width.msb.value) - int(decl.width.lsb.value) + 1)
                        ports[decl.name] = [type(decl).__name__.lower(), width]
    print(json.dumps(ports))
""")


def test_generated_verilog_has_exactly_the_tiny_tapeout_ports(tmp_path):
    """pyverilog (run in a private folder: it writes parser tables there) lists the top's ports;
    Yosys's ``full_case`` hints, which it cannot parse, are dropped first."""
    source = tmp_path / f"{TOP}.v"
    source.write_text(re.sub(r"^[ \t]*\(\* full_case = 32'd1 \*\)\n", "",
                             verilog_text(**DESIGN.parameters), flags=re.M))
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    assert shutil.which("iverilog", path=env["PATH"]), "pyverilog needs iverilog on PATH"
    listed = subprocess.run([sys.executable, "-c", PORT_LISTER, str(source), TOP], cwd=tmp_path,
                            env=env, capture_output=True, text=True, check=True)
    assert {k: tuple(v) for k, v in json.loads(listed.stdout).items()} == TT_PORTS


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=5), r"tt_um_kchip_npu n must be one of 2, 3, 4 \(larger arrays outgrow the "
                r"largest Tiny Tapeout tile\), not 5"),
    (dict(n=1), "not 1$"),
    (dict(n=True), "not True$"),
    (dict(n="2"), "not '2'$"),
    (dict(a_depth=1), r"a_depth must be an integer from 2 to 16 \(words per bank, in "
                      r"flip-flops\), not 1"),
    (dict(b_depth=17), "b_depth must be an integer from 2 to 16 .*not 17$"),
    (dict(b_depth=4.0), "b_depth .*not 4.0$"),
])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TinyTapeoutNpu(**kwargs)


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        TinyTapeoutNpu(2)


def test_design_file_builds_the_smallest_core():
    assert DESIGN.top == TOP and DESIGN.clock_port == "clk"
    assert load_generator(DESIGN.generator, "tt_design.toml") is TinyTapeoutNpu
    assert TinyTapeoutNpu(**DESIGN.parameters).n == SIZE_RANGE[0]
    assert DESIGN.flow_overrides["floorplan.shuttle"].startswith("tt-sky130:")


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tt_bench")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bench_passes_on_icarus(build_root, seed):
    result = runner.run(runner.discover()["npu_core_tt"], build_root=build_root, seed=seed)
    assert result.passed and result.tests == 4 and result.seed == seed


def test_bench_passes_for_a_3x3_wrapper_with_odd_depths(tmp_path):
    bench = tt_testbench(name="npu_core_tt_n3", n=3, a_depth=5, b_depth=3)
    result = runner.run(bench, build_root=tmp_path, seed=301, tests=["random_gemms"])
    assert result.passed and result.tests == 1


class SwappedOperandKinds(wiring.Component):
    """The wrapper with a protocol fault: the A and B transfer kinds (2 and 3) trade places."""

    def __init__(self, **parameters):
        self.wrapper = TinyTapeoutNpu(**parameters)
        super().__init__(self.wrapper.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.wrapper = wrapper = self.wrapper
        m.d.comb += [wrapper.ui_in.eq(self.ui_in), wrapper.ena.eq(self.ena),
                     wrapper.clk.eq(self.clk), wrapper.rst_n.eq(self.rst_n),
                     wrapper.uio_in.eq(self.uio_in ^ self.uio_in[2] << 1),
                     self.uo_out.eq(wrapper.uo_out), self.uio_out.eq(wrapper.uio_out),
                     self.uio_oe.eq(wrapper.uio_oe)]
        return m


def test_bench_catches_swapped_operand_kinds(tmp_path):
    faulty = tt_testbench(name="npu_core_tt_fault",
                          verilog=lambda **p: to_verilog(SwappedOperandKinds(**p), TOP),
                          **DESIGN.parameters)
    result = runner.run(faulty, build_root=tmp_path, seed=5, check=False,
                        tests=["pins_and_registers", "random_gemms"])
    assert result.failed == ("random_gemms",)
    assert "outputs differ for M,K,N=2,4,2" in result.log.read_text()
