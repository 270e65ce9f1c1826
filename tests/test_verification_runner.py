"""The generic cocotb runner: seeds go through, failures raise and are named, builds are reused,
every run has its own folder."""

import json
import textwrap

import pytest
from amaranth.back import verilog

from kchip.rtl.examples.counter import Counter
from kchip.cli import main
from kchip.verification import runner

BENCH_MODULE = textwrap.dedent("""
    import os
    import random

    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles

    @cocotb.test()
    async def counts(dut):
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.en.value = 0
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        dut.en.value = 1
        await ClockCycles(dut.clk, 5)
        dut.en.value = 0
        await ClockCycles(dut.clk, 1)
        assert int(dut.count.value) == 5, int(dut.count.value)

    @cocotb.test()
    async def sees_seed(dut):
        assert os.environ["COCOTB_RANDOM_SEED"] == os.environ["EXPECTED_SEED"]

    @cocotb.test()
    async def records_random(dut):
        with open(os.environ["RECORD"], "a") as record:
            record.write(f"{random.getrandbits(32)}\\n")

    @cocotb.test()
    async def always_fails(dut):
        assert os.environ.get("MAKE_IT_FAIL") != "1", "deliberate failure"
""")


@pytest.fixture
def bench(tmp_path, monkeypatch):
    (tmp_path / "counter_bench.py").write_text(BENCH_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def sources(folder):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "counter.v"
        path.write_text(verilog.convert(Counter(width=4), name="counter", emit_src=False))
        return [path]

    return runner.Testbench(name="counter", top="counter", test_module="counter_bench",
                            sources=sources, parameters={"width": 4})


def test_passing_run_reports_seed_and_keeps_junit(bench, tmp_path, capsys):
    env = {"EXPECTED_SEED": "1234", "RECORD": str(tmp_path / "record")}
    result = runner.run(bench, seed=1234, build_root=tmp_path / "b", junit=tmp_path / "j.xml",
                        env=env)
    assert result.passed and result.tests == 4 and result.seed == 1234
    assert 'name="counter.icarus"' in (tmp_path / "j.xml").read_text()
    assert result.run_dir.name == "counter-icarus-1234" and result.log.parent == result.run_dir
    assert "seed 1234" in capsys.readouterr().out


def test_same_seed_replays_the_same_random_values(bench, tmp_path):
    record = tmp_path / "record"
    for seed in (11, 11, 12):
        runner.run(bench, seed=seed, build_root=tmp_path / "b", tests=["records_random"],
                   env={"RECORD": str(record)})
    first, replay, other = record.read_text().split()
    assert first == replay != other
    runs = sorted(p.name for p in (tmp_path / "b" / "runs").iterdir())
    assert runs == ["counter-icarus-11", "counter-icarus-11.2", "counter-icarus-12"]


def test_failing_test_raises_with_its_name_and_seed(bench, tmp_path):
    with pytest.raises(runner.TestsFailed) as caught:
        runner.run(bench, seed=77, build_root=tmp_path / "b",
                   env={"EXPECTED_SEED": "77", "MAKE_IT_FAIL": "1",
                        "RECORD": str(tmp_path / "record")})
    assert caught.value.result.failed == ("always_fails",)
    assert "seed 77" in str(caught.value)


def test_filter_and_no_check(bench, tmp_path):
    result = runner.run(bench, seed=5, build_root=tmp_path / "b", tests=["sees_seed"],
                        env={"EXPECTED_SEED": "6"}, check=False)
    assert result.tests == 1 and result.failed == ("sees_seed",) and not result.passed


def test_build_folder_depends_on_simulator_and_parameters(bench, tmp_path):
    other = runner.Testbench(name="counter", top="counter", test_module="counter_bench",
                             sources=bench.sources, parameters={"width": 5})
    folders = {runner.build_dir_for(bench, "icarus", tmp_path),
               runner.build_dir_for(bench, "verilator", tmp_path),
               runner.build_dir_for(other, "icarus", tmp_path)}
    assert len(folders) == 3


def test_unknown_simulator_is_refused(bench):
    with pytest.raises(ValueError, match="'ghdl'.*icarus, verilator"):
        runner.run(bench, simulator="ghdl")


@pytest.mark.slow
def test_verilator_run(bench, tmp_path):
    result = runner.run(bench, simulator="verilator", seed=9, build_root=tmp_path / "b",
                        tests=["counts", "sees_seed"], env={"EXPECTED_SEED": "9"})
    assert result.passed and result.tests == 2


def test_cli_lists_benches_and_their_tests(capsys):
    assert main(["verify", "list"]) == 0
    assert "npu_core_n3" in capsys.readouterr().out
    assert main(["verify", "list", "--tests"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "npu_core_n3.rounding_ties_and_shift_limits" in lines
    assert "npu_core_tt.random_gemms" in lines


def test_cli_refuses_an_unknown_bench(capsys):
    assert main(["verify", "run", "no_such_bench"]) == 2
    assert "unknown testbench 'no_such_bench'" in capsys.readouterr().err


def test_cli_runs_records_and_reruns_failures(tmp_path, monkeypatch, capsys):
    common = ["verify", "run", "npu_core_n3", "--build-root", str(tmp_path / "b"),
              "--out", str(tmp_path / "out")]
    only = ["--test", "rounding_ties_and_shift_limits"]
    monkeypatch.setenv("KCHIP_NPU_COVERAGE", str(tmp_path / "cov.json"))
    assert main(common + only + ["--seed", "21", "--junit", str(tmp_path / "j" / "all.xml")]) == 0
    assert "npu_core_n3.icarus" in (tmp_path / "j" / "all.xml").read_text()
    assert main(common[:2] + common[3:] + ["--rerun-failures"]) == 0
    assert "no failures recorded" in capsys.readouterr().out
    monkeypatch.setenv("KCHIP_NPU_GOLDEN_FAULT", "truncate")
    assert main(common + only + ["--seed", "22"]) == 1
    assert main(common[:2] + common[3:] + ["--rerun-failed"]) == 1
    assert capsys.readouterr().out.count("seed 22 (re-run 1)") == 1
    record = json.loads((tmp_path / "out" / "regression.json").read_text())["results"]
    assert [(r["seed"], r["attempt"], r["failed"]) for r in record] == [
        (22, 0, ["rounding_ties_and_shift_limits"]), (22, 1, ["rounding_ties_and_shift_limits"])]
