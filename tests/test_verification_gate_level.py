"""Gate-level simulation: a bench's cocotb tests on the final netlist of `kchip flow run`, with cell
models from the PDK's liberty. A netlist that still matches its layout but not the RTL (two inputs
of one gate swapped, which LVS against that netlist cannot see) must fail the same tests."""

import json
import os
import re
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from amaranth.back import verilog

from kchip.cli import main
from kchip.rtl.examples.counter import Counter
from kchip.verification.gate_level import final_netlist

COUNTER_TESTS = """\
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge


@cocotb.test()
async def counts_with_enable(dut):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value, dut.en.value = 1, 0
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    expected = 0
    for cycle in range(600):
        enable = cycle % 7 not in (2, 5)
        dut.en.value = int(enable)
        await FallingEdge(dut.clk)
        expected = (expected + enable) % 256
        assert int(dut.count.value) == expected, f"cycle {cycle}: {dut.count.value} != {expected}"
"""

#: Cells whose inputs A1 and B1 are not interchangeable: swapping them changes the function.
ASYMMETRIC = re.compile(r"^(\s*sky130_fd_sc_hd__(?:a21oi|a21o|o21ai|o21a)_\d+ \S+ \()(.*)$", re.M)


def swap_first_gate_inputs(text: str) -> tuple[str, str]:
    """``text`` with pins A1 and B1 of its first a21oi/a21o/o21ai/o21a exchanged (one net each way:
    the layout-level connectivity of every other gate stays), and that instance's line."""
    found = ASYMMETRIC.search(text)
    assert found, "no a21oi/a21o/o21ai/o21a in the netlist"
    pins = found.group(2)
    a1, b1 = re.search(r"\.A1\(([^)]*)\)", pins).group(1), re.search(r"\.B1\(([^)]*)\)",
                                                                        pins).group(1)
    swapped = pins.replace(f".A1({a1})", ".A1(\0)").replace(f".B1({b1})", f".B1({a1})")
    swapped = swapped.replace(".A1(\0)", f".A1({b1})")
    assert swapped != pins
    return text[:found.start(2)] + swapped + text[found.end(2):], found.group(0).strip()


def write_counter_bench(folder: Path, netlist: Path | str, name: str = "counter_gl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counter_tests.py").write_text(COUNTER_TESTS)
    manifest = folder / "gl.toml"
    manifest.write_text(f'[[bench]]\nname = "{name}"\ntop = "counter"\n'
                        f'test_module = "counter_tests"\nnetlist = "{netlist}"\n')
    return manifest


def _verify(tmp_path: Path, *args: str) -> int:
    return main(["verify", "run", "--seed", "8", "--out", str(tmp_path / "out"),
                 "--build-root", str(tmp_path / "b"), *args])


def _suites(out: Path) -> dict[str, int]:
    root = ElementTree.parse(out / "junit.xml").getroot()
    return {s.get("name"): int(s.get("failures")) for s in root.iter("testsuite")}


@pytest.fixture(scope="module")
def counter_run(pdk, tmp_path_factory) -> Path:
    """A signed-off flow run of the counter (about 15 s)."""
    run_dir = tmp_path_factory.mktemp("counter-flow") / "run"
    assert main(["flow", "run", "--design", "counter", "--run-dir", str(run_dir),
                 "--jobs", "1"]) == 0
    return run_dir


def test_a_bench_runs_on_the_routed_netlist(counter_run, tmp_path):
    manifest = write_counter_bench(tmp_path / "user", str(counter_run))
    assert _verify(tmp_path, "--manifest", str(manifest)) == 0
    (key,) = (tmp_path / "b").glob("icarus-counter-*/build-key.json")
    sources = [Path(path).name for path, _ in json.loads(key.read_text())["sources"]]
    assert sources == ["counter.nl.v", "cell_models.v"]
    assert _suites(tmp_path / "out") == {"counter_gl.icarus": 0}


def test_a_relative_netlist_path_resolves_against_the_manifest(counter_run, tmp_path):
    folder = tmp_path / "user"
    manifest = write_counter_bench(folder, os.path.relpath(counter_run, folder))
    assert _verify(tmp_path, "--manifest", str(manifest)) == 0


def test_gate_level_option_runs_the_rtl_bench_of_the_runs_design(counter_run, tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "counter.v").write_text(verilog.convert(Counter(width=8), name="counter",
                                                      emit_src=False))
    manifest = write_counter_bench(folder, "unused")
    manifest.write_text('[[bench]]\nname = "counter_rtl"\ntop = "counter"\ndesign = "counter"\n'
                        'test_module = "counter_tests"\nsources = ["counter.v"]\n\n'
                        '[[bench]]\nname = "other"\ntop = "other"\n'
                        'test_module = "counter_tests"\nsources = ["counter.v"]\n')
    assert _verify(tmp_path, "--manifest", str(manifest), "--gate-level", str(counter_run)) == 0
    assert _suites(tmp_path / "out") == {"counter_rtl_gl.icarus": 0}


def test_a_netlist_that_no_longer_matches_the_rtl_fails(counter_run, tmp_path):
    netlist = final_netlist(counter_run)
    text, gate = swap_first_gate_inputs(netlist.read_text())
    changed = [a for a, b in zip(netlist.read_text().splitlines(), text.splitlines()) if a != b]
    assert len(changed) == 1, changed
    corrupt = tmp_path / "corrupt.nl.v"
    corrupt.write_text(text)
    manifest = write_counter_bench(tmp_path / "user", corrupt)
    assert _verify(tmp_path, "--manifest", str(manifest)) == 1, f"swapping A1/B1 of {gate} passed"
    assert _suites(tmp_path / "out") == {"counter_gl.icarus": 1}


def test_unusable_netlists_are_refused_clearly(counter_run, tmp_path, capsys):
    powered = tmp_path / "powered.nl.v"
    powered.write_text(final_netlist(counter_run).read_text().replace(
        ".CLK(", ".VPWR(VPWR), .CLK(", 1))
    for netlist, words in ((powered, "connects power pins"),
                           (tmp_path, "has 0 final netlists (final/*.nl.v)")):
        manifest = write_counter_bench(tmp_path / "user", netlist)
        assert _verify(tmp_path, "--manifest", str(manifest)) == 2
        error = " ".join(capsys.readouterr().err.split())
        assert "key 'netlist'" in error and words in error, error
    assert _verify(tmp_path, "--gate-level", str(counter_run)) == 2
    assert "no bench simulates 'counter'" in " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def npu_run(pdk, tmp_path_factory) -> Path:
    """The run folder of `make flow` (the default NPU design): ``KCHIP_NPU_RUN_DIR`` when set, else
    ``runs/npu_core`` of the checkout when `make flow` has run, else built here when
    ``KCHIP_NPU_FLOW=1`` (about 30 minutes on 2 cores); otherwise the test is skipped, naming these
    (CI runs the counter's gate-level tests above instead)."""
    given = os.environ.get("KCHIP_NPU_RUN_DIR")
    if given:
        return Path(given)
    made = Path(__file__).resolve().parent.parent / "runs" / "npu_core"
    if (made / "final" / "metrics.json").is_file():
        return made
    if os.environ.get("KCHIP_NPU_FLOW") != "1":
        pytest.skip("no npu_core run: run `make flow` first, set KCHIP_NPU_RUN_DIR to its run folder, or "
                    "KCHIP_NPU_FLOW=1 to build it here (about 30 minutes)")
    run_dir = tmp_path_factory.mktemp("npu-flow") / "run"
    assert main(["flow", "run", "--design", "npu_core", "--run-dir", str(run_dir),
                 "--jobs", "2"]) == 0
    return run_dir


@pytest.mark.slow
def test_npu_gemm_tests_pass_on_the_routed_npu_and_catch_a_swapped_gate(npu_run, tmp_path):
    began = time.monotonic()
    assert _verify(tmp_path, "--gate-level", str(npu_run), "--jobs", "1") == 0
    seconds = time.monotonic() - began
    root = ElementTree.parse(tmp_path / "out" / "junit.xml").getroot()
    assert {s.get("name"): int(s.get("tests")) for s in root.iter("testsuite")} == {
        "npu_core_flow_gl.icarus": 7}, "all seven GEMM tests of tb_npu_core at gate level"
    print(f"gate-level NPU regression: {seconds:.1f} s")
    text, gate = swap_first_gate_inputs(final_netlist(npu_run).read_text())
    corrupt = tmp_path / "corrupt" / "npu_core.nl.v"
    corrupt.parent.mkdir()
    corrupt.write_text(text)
    manifest = tmp_path / "corrupt" / "gl.toml"
    manifest.write_text('[[bench]]\nname = "npu_corrupt"\ntop = "npu_core"\n'
                        'test_module = "kchip.verification.npu_core.tb_npu_core"\n'
                        'netlist = "npu_core.nl.v"\n')
    assert _verify(tmp_path, "--manifest", str(manifest), "--jobs", "1") == 1, (
        f"the GEMM tests passed with A1/B1 of {gate} swapped")
    assert _suites(tmp_path / "out")["npu_corrupt.icarus"] > 0
