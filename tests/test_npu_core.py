# amaranth: UnusedElaboratable=no
"""NpuCore: parameter checks, Verilog that pyverilog reads, and the cocotb bench on the RTL."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from kchip.design import load_design
from kchip.rtl.npu_core import NpuCore
from kchip.rtl.npu_core.core import DEPTH_RANGE
from kchip.verification import runner
from kchip.verification.npu_core import coverage, verilog_text

BENCHES = runner.discover()
DESIGN = load_design(os.path.join(os.path.dirname(__file__), "..", "rtl", "npu_core",
                                  "design.toml"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=1), "NpuCore n must be an integer from 2 to 16, not 1"),
    (dict(n=17), "not 17"),
    (dict(n="4"), "not '4'"),
    (dict(a_depth=1), f"a_depth must be an integer from {DEPTH_RANGE[0]} to"),
    (dict(b_depth=10**6), "b_depth must be an integer .* not 1000000"),
])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NpuCore(**kwargs)


def test_accumulator_follows_the_deepest_legal_k():
    assert NpuCore(a_depth=64, b_depth=100).acc_width == 15 + (64).bit_length()


def test_design_file_builds_the_small_core():
    assert DESIGN.top == "npu_core" and DESIGN.clock_port == "clk"
    core = NpuCore(**DESIGN.parameters)
    assert core.n == 4 and core.a_depth * core.n + core.b_depth * core.n <= 512


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


def test_generated_verilog_parses_with_pyverilog(tmp_path):
    """pyverilog writes parser tables into its working folder: run it in a private one."""
    source = tmp_path / "npu_core.v"
    source.write_text(verilog_text(**DESIGN.parameters))
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    assert shutil.which("iverilog", path=env["PATH"]), "pyverilog needs iverilog on PATH"
    listed = subprocess.run([sys.executable, "-c", PORT_LISTER, str(source), "npu_core"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    ports = json.loads(listed.stdout)
    assert ports["clk"] == ["input", 1] and ports["rst"] == ["input", 1]
    assert ports["wb__dat_r"] == ["output", 32] and ports["wb__adr"] == ["input", 4]
    assert ports["a_in__payload"] == ["input", 8] and ports["c_out__valid"] == ["output", 1]
    assert len(ports) == 18


def test_bench_passes_on_icarus_with_full_coverage(tmp_path):
    cover = tmp_path / "coverage.json"
    result = runner.run(BENCHES["npu_core"], build_root=tmp_path, seed=101,
                        env={"KCHIP_NPU_COVERAGE": str(cover), "KCHIP_NPU_RANDOM_OPS": "4"})
    assert result.passed and result.tests == 7
    counts = json.loads(cover.read_text())
    assert coverage.unhit(counts) == [], coverage.report(counts)


def test_bench_passes_for_a_3x3_core(tmp_path):
    result = runner.run(BENCHES["npu_core_n3"], build_root=tmp_path, seed=102,
                        tests=["random_shapes_with_back_pressure", "illegal_settings_raise_error"],
                        env={"KCHIP_NPU_COVERAGE": str(tmp_path / "c.json")})
    assert result.passed and result.tests == 2


def test_bench_passes_for_the_flow_configuration(tmp_path):
    result = runner.run(BENCHES["npu_core_flow"], build_root=tmp_path, seed=103,
                        tests=["extreme_sums_at_max_k", "zeros_and_identity"],
                        env={"KCHIP_NPU_COVERAGE": str(tmp_path / "c.json")})
    assert result.passed and result.tests == 2


def test_bench_catches_a_wrong_golden_model(tmp_path):
    with pytest.raises(runner.TestsFailed) as caught:
        runner.run(BENCHES["npu_core"], build_root=tmp_path, seed=3,
                   tests=["rounding_ties_and_shift_limits", "random_shapes_with_back_pressure"],
                   env={"KCHIP_NPU_GOLDEN_FAULT": "truncate",
                        "KCHIP_NPU_COVERAGE": str(tmp_path / "c.json")})
    assert set(caught.value.result.failed) == {"rounding_ties_and_shift_limits",
                                               "random_shapes_with_back_pressure"}


@pytest.mark.slow
def test_bench_passes_on_verilator(tmp_path):
    result = runner.run(BENCHES["npu_core"], simulator="verilator", build_root=tmp_path, seed=104,
                        tests=["random_shapes_with_back_pressure", "reset_in_the_middle"],
                        env={"KCHIP_NPU_COVERAGE": str(tmp_path / "c.json")})
    assert result.passed and result.tests == 2
