"""Bring your own bench: a TOML manifest outside the package run by `kchip verify run --manifest`,
clear errors for bad manifests, waveforms of failing tests only, functional coverage merged over a
regression against its goals."""

import json
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from kchip.cli import main
from kchip.verification import coverage, runner
from kchip.verification.manifest import load_manifest

#: A user's design: a counter with a width parameter and a define that changes its step.
COUNTER = """\
`include "step.vh"
module ucount #(parameter WIDTH = 8) (input clk, input rst, input en, output reg [WIDTH-1:0] q);
  always @(posedge clk) q <= rst ? 0 : (en ? q + `STEP : q);
endmodule
"""

TESTS = """\
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from kchip.verification.coverage import record


@cocotb.test()
async def wraps_at_width(dut):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value, dut.en.value = 1, 0
    await FallingEdge(dut.clk)
    dut.rst.value, dut.en.value = 0, 1
    width, step = int(os.environ["EXPECT_WIDTH"]), int(os.environ["EXPECT_STEP"])
    for cycle in range(1, 2 ** width + 3):
        await FallingEdge(dut.clk)
        assert int(dut.q.value) == cycle * step % 2 ** width, (cycle, int(dut.q.value))
    seed = int(os.environ["COCOTB_RANDOM_SEED"])
    record({"even_seed": int(seed % 2 == 0), "odd_seed": int(seed % 2 == 1), "never": 0})


@cocotb.test()
async def fails_on_request(dut):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    assert os.environ.get("MAKE_IT_FAIL") != "1", "deliberate failure"
"""

MANIFEST = """\
[[bench]]
name = "ucount"
top = "ucount"
test_module = "tests_ucount"
sources = ["rtl/*.v"]
include_dirs = ["rtl/include"]
parameters = { WIDTH = 3 }
defines = { STEP = 3 }
env = { EXPECT_WIDTH = "3", EXPECT_STEP = "3" }
tags = ["mine"]
{extra}
"""


def write_bench(folder: Path, extra: str = "") -> Path:
    """A user's bench (RTL, include folder, cocotb tests, manifest) in ``folder``, outside kchip."""
    (folder / "rtl" / "include").mkdir(parents=True)
    (folder / "rtl" / "ucount.v").write_text(COUNTER)
    (folder / "rtl" / "include" / "step.vh").write_text("`ifndef STEP\n`define STEP 1\n`endif\n")
    (folder / "tests_ucount.py").write_text(TESTS)
    manifest = folder / "bench.toml"
    manifest.write_text(MANIFEST.replace("{extra}", textwrap.dedent(extra)))
    return manifest


def _run(manifest: Path, tmp_path: Path, *args: str) -> int:
    return main(["verify", "run", "--manifest", str(manifest), "--out", str(tmp_path / "out"),
                 "--build-root", str(tmp_path / "b"), "--jobs", "2", *args])


def _cases(junit: Path) -> dict[str, ElementTree.Element]:
    return {case.get("name"): case for case in ElementTree.parse(junit).getroot().iter("testcase")}


def test_a_users_bench_runs_from_its_manifest(tmp_path, capsys):
    manifest = write_bench(tmp_path / "user")
    assert _run(manifest, tmp_path, "--seed", "4", "--test", "wraps_at_width") == 0
    junit = tmp_path / "out" / "junit.xml"
    assert set(_cases(junit)) == {"wraps_at_width"}
    assert 'name="ucount.icarus"' in junit.read_text()
    assert main(["verify", "list", "--manifest", str(manifest), "--tests"]) == 0
    assert capsys.readouterr().out.split()[-2:] == ["ucount.wraps_at_width",
                                                     "ucount.fails_on_request"]


def test_the_manifest_settings_reach_the_build(tmp_path):
    """WIDTH and STEP from the manifest make the test pass; the same bench told to expect the
    Verilog defaults (width 8, step 1) fails, so the settings did reach the simulator."""
    manifest = write_bench(tmp_path / "user")
    manifest.write_text(manifest.read_text().replace('EXPECT_WIDTH = "3", EXPECT_STEP = "3"',
                                                     'EXPECT_WIDTH = "8", EXPECT_STEP = "1"'))
    assert _run(manifest, tmp_path, "--seed", "4", "--test", "wraps_at_width") == 1


def test_project_benches_use_the_same_format():
    benches = runner.discover()
    assert {b.manifest.name for b in benches.values()} == {"benches.toml"}
    from kchip.verification.pim_ctrl import DEFAULT_CONFIG, FAULT_CONFIG

    assert dict(benches["pim_ctrl"].parameters) == DEFAULT_CONFIG
    assert dict(benches["pim_ctrl_fault"].parameters) == FAULT_CONFIG
    from kchip.verification.npu_core.coverage import BINS

    assert set(benches["npu_core"].goals) == set(BINS)


@pytest.mark.parametrize("change, words", [
    (("top = \"ucount\"\n", ""), ["key 'top': None is missing", "the HDL top module"]),
    (("WIDTH = 3", "WIDTH = [3]"), ["key 'parameters.WIDTH': [3] is not valid",
                                    "valid: a table of HDL parameter values"]),
    (("tags = [\"mine\"]", "tags = [\"mine\"]\nsimulators = [\"icarus\", \"ghdl\"]"),
     ["key 'simulators': 'ghdl' is not a simulator", "valid: icarus, verilator"]),
    (("rtl/*.v", "rtl/missing.v"), ["key 'sources': 'rtl/missing.v' is not a file",
                                    "rtl/missing.v)"]),
    (("tags = [\"mine\"]", "tags = [\"mine\"]\ncolour = 3"),
     ["key 'colour': 3 is not a known key", "valid keys: name, top"]),
    (("name = \"ucount\"", "name = 7"), ["key 'name': 7 is not valid", "letters, digits"]),
])
def test_bad_manifests_name_file_key_value_and_what_is_valid(tmp_path, capsys, change, words):
    manifest = write_bench(tmp_path / "user")
    text = manifest.read_text()
    assert change[0] in text
    manifest.write_text(text.replace(change[0], change[1]))
    assert _run(manifest, tmp_path) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert str(manifest) in error
    for word in words:
        assert word in error


def test_waves_only_for_failing_tests_and_junit_lists_only_existing_ones(tmp_path):
    manifest = write_bench(tmp_path / "user")
    manifest.write_text(manifest.read_text() + textwrap.dedent("""
        [[bench]]
        name = "ucount_bad"
        top = "ucount"
        test_module = "tests_ucount"
        sources = ["rtl/ucount.v"]
        include_dirs = ["rtl/include"]
        env = { MAKE_IT_FAIL = "1", EXPECT_WIDTH = "8", EXPECT_STEP = "1" }
    """))
    assert _run(manifest, tmp_path, "--seed", "6", "--waves=fail") == 1
    runs = tmp_path / "out" / "runs"
    good, bad = runs / "ucount-icarus-6", runs / "ucount_bad-icarus-6"
    assert not list(good.rglob("*.fst")) and not list(good.rglob("*.vcd"))
    assert [p.relative_to(bad) for p in bad.rglob("*.fst")] == [Path("waves/ucount.fst")]
    junit = tmp_path / "out" / "junit.xml"
    cases = {(c.get("classname"), c.get("name")): c
             for c in ElementTree.parse(junit).getroot().iter("testcase")}
    waves = {key: [p.get("value") for p in case.iter("property") if p.get("name") == "waves"]
             for key, case in cases.items()}
    failing = ("ucount_bad.icarus.tests_ucount", "fails_on_request")
    assert waves.pop(failing) == [str(bad / "waves" / "ucount.fst")]
    assert not any(waves.values()), "waves listed for a passing test"
    assert "[[ATTACHMENT|" in cases[failing].find("system-out").text
    (bad / "waves" / "ucount.fst").unlink()  # the report is rewritten: only existing waves
    assert main(["verify", "run", "--manifest", str(manifest), "--rerun-failed",
                 "--out", str(tmp_path / "out"), "--build-root", str(tmp_path / "b")]) == 1
    assert str(bad / "waves" / "ucount.fst") not in junit.read_text()


def test_coverage_merges_runs_and_reports_a_missed_goal(tmp_path, capsys):
    manifest = write_bench(tmp_path / "user",
                           "goals = { even_seed = 1, odd_seed = 1, never = 1 }")
    out = tmp_path / "out"
    assert _run(manifest, tmp_path, "--seed", "2", "--seed", "3") == 1
    printed = " ".join(capsys.readouterr().out.split())
    assert "coverage goal missed: ucount.never: 0 of 1 hits" in printed
    report = json.loads((out / "coverage.json").read_text())
    entry = report["benches"]["ucount"]
    assert entry["bins"] == {"even_seed": 1, "odd_seed": 1, "never": 0} and entry["runs"] == 2
    assert report["missed"] == [{"bench": "ucount", "bin": "never", "hits": 0, "goal": 1}]
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# kchip verify: FAILED") and "| never | 0 | 1 | MISSED |" in summary
    assert _run(manifest, tmp_path, "--seed", "2", "--seed", "3", "--test", "wraps_at_width") == 0, (
        "a run of part of the tests must not judge the goals")
    assert "goals not judged" in (out / "summary.md").read_text()
    manifest.write_text(manifest.read_text().replace(", never = 1", ""))
    assert _run(manifest, tmp_path, "--seed", "2", "--seed", "3") == 0
    assert json.loads((out / "coverage.json").read_text())["missed"] == []


def test_a_whole_run_judges_goals(tmp_path, capsys):
    manifest = write_bench(tmp_path / "user", "goals = { odd_seed = 1 }")
    assert _run(manifest, tmp_path, "--seed", "2") == 1
    assert "ucount.odd_seed: 0 of 1 hits" in " ".join(capsys.readouterr().out.split())


def test_record_adds_up_and_refuses_bad_counts(tmp_path):
    path = tmp_path / "c.json"
    coverage.record({"a": 1, "b": 0}, path=path)
    assert coverage.record({"a": 2}, path=path) == {"a": 3, "b": 0}
    with pytest.raises(ValueError, match="bin 'a': hits -1"):
        coverage.record({"a": -1}, path=path)


def test_manifest_benches_load_without_the_cli(tmp_path):
    manifest = write_bench(tmp_path / "user")
    (bench,) = load_manifest(manifest)
    assert bench.hdl_parameters == {"WIDTH": 3} and bench.tags == ("mine",)
    assert bench.sources(tmp_path) == [tmp_path / "user" / "rtl" / "ucount.v"]
    assert bench.python_path == (tmp_path / "user",)


def _verilator_counts(path: Path) -> dict[str, int]:
    """Coverage points of a Verilator ``coverage.dat`` read on their own: ``C '<key>' <count>``."""
    counts = {}
    for line in path.read_text(errors="replace").splitlines():
        if line[:2] == "C ":
            key, count = line[2:].rsplit(" ", 1)
            counts[key] = counts.get(key, 0) + int(count)
    return counts


def test_verilator_line_and_toggle_coverage_is_merged_over_the_runs(tmp_path):
    manifest = write_bench(tmp_path / "user", 'simulators = ["verilator"]')
    out = tmp_path / "out"
    assert _run(manifest, tmp_path, "--seed", "2", "--seed", "3", "--test", "wraps_at_width",
                "--coverage") == 0
    runs = sorted(out.rglob("coverage.dat"))
    assert len(runs) == 2, runs
    per_run = [_verilator_counts(path) for path in runs]
    merged = _verilator_counts(out / "verilator_coverage.dat")
    assert set(merged) == set(per_run[0]) | set(per_run[1])
    assert all(merged[key] == per_run[0].get(key, 0) + per_run[1].get(key, 0) for key in merged)
    kinds = {field.split("/")[0] for key in merged for field in key.split("\x01")
             if field.startswith("page\x02v_")}
    assert {"page\x02v_line", "page\x02v_toggle"} <= kinds
    toggled = [key for key, count in merged.items() if "v_toggle" in key and "q[" in key and count]
    assert toggled, "the counter's outputs toggled but no toggle point was hit"
    summary = (out / "summary.md").read_text()
    assert "Verilator code coverage (2 run(s)" in summary

    assert _run(manifest, tmp_path, "--seed", "2", "--test", "wraps_at_width") == 0
    assert not (out / "verilator_coverage.dat").exists(), "coverage kept from an earlier regression"
