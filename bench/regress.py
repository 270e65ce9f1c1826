"""Regression throughput of `kchip verify` and its per-test overhead over cocotb's own runner.

Prints JSON with two measurements:

- ``parallel``: every bench x each simulator x ``--seeds`` seeds (the project's benches unless
  ``--bench`` names some), built first (build time reported apart), then the same runs at
  ``--jobs 1`` and at ``--jobs 2``: wall seconds of each and the speedup (target >= 1.8 on 2
  cores). Failing runs are counted, not hidden.
- ``overhead``: one short test run ``--repeats`` times through kchip's runner (a regression's
  inner step: a fresh run folder, the simulator in its own process group, results read back) and
  through cocotb's runner directly (``cocotb_tools.runner.get_runner(sim).test`` on a build made
  by ``.build``), alternating; the medians and kchip's overhead in percent (target <= 10 %).
  ``regression_overhead`` compares a regression of ``--seeds`` seeds of that test (planning,
  staging and the build-key check, the runs, the report) with the same number of direct runs.

The machine's load average before and after is included: on a shared machine the figures are only
as quiet as it was.

    .venv/bin/python bench/regress.py [--seeds 4] [--sim icarus verilator] [--bench NAME ...]
                                      [--repeats 5] [--overhead-bench npu_core]
                                      [--overhead-test rounding_ties_and_shift_limits]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from cocotb_tools.runner import get_runner

from kchip.verification import build as builds
from kchip.verification import regression, runner
from kchip.verification.simulate import fresh_folder, simulate

TARGET_SPEEDUP, TARGET_OVERHEAD = 1.8, 0.10


def _timed(function, *args, **kwargs):
    began = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - began


def parallel(benches: list[runner.Testbench], sims: list[str], seeds: int, root: Path) -> dict:
    """The same regression at --jobs 1 and --jobs 2 on builds made beforehand."""
    benches = [bench for bench in benches if set(sims) & set(bench.simulators)]
    jobs = regression.plan(benches, sims, list(range(1, seeds + 1)))
    build_seconds = {}
    for bench in benches:
        for sim in sims:
            if sim in bench.simulators:
                _, seconds = _timed(runner.prepare, bench, sim, root / "builds")
                build_seconds[f"{bench.name}.{sim}"] = round(seconds, 1)
    figures = {}
    for count in (1, 2):
        options = regression.Options(build_root=root / "builds", out=root / f"jobs{count}",
                                     jobs=count, timeout=1800)
        results, seconds = _timed(regression.execute, jobs, options)
        regression.report(options.out, results)
        figures[f"jobs{count}"] = {"wall_s": round(seconds, 1),
                                   "runs": len(results),
                                   "runs_passed": sum(r.passed for r in results),
                                   "simulated_s": round(sum(r.seconds for r in results), 1)}
    speedup = figures["jobs1"]["wall_s"] / figures["jobs2"]["wall_s"]
    return {"benches": [b.name for b in benches], "simulators": sims, "seeds": seeds,
            "build_s": build_seconds, **figures, "speedup": round(speedup, 3),
            "target_speedup": TARGET_SPEEDUP, "meets_target": speedup >= TARGET_SPEEDUP}


def _direct_runner(bench: runner.Testbench, sim: str, folder: Path):
    """cocotb's runner for ``bench`` built in ``folder`` (sources written there)."""
    sources = bench.sources(folder / "src")
    direct = get_runner(sim)
    extra = ["-Wno-fatal"] if sim == "verilator" else []
    direct.build(sources=sources, hdl_toplevel=bench.top, build_dir=folder / "build",
                 build_args=extra, timescale=tuple(bench.timescale), always=True,
                 log_file=folder / "build.log")
    return direct


def overhead(bench: runner.Testbench, sim: str, test: str, repeats: int, seeds: int,
             root: Path) -> dict:
    """Per-run seconds through kchip and through cocotb's runner, alternating, and a whole
    regression of ``seeds`` runs against as many direct runs."""
    built = runner.prepare(bench, sim, root / "builds")
    direct = _direct_runner(bench, sim, root / "direct")
    env = dict(bench.env)

    def cocotb_run(seed: int) -> float:
        folder = fresh_folder(root / "direct-runs", f"{seed}")
        _, seconds = _timed(direct.test, test_module=bench.test_module, hdl_toplevel=bench.top,
                            testcase=[test], seed=seed, build_dir=root / "direct" / "build",
                            test_dir=folder, results_xml=str(folder / "results.xml"),
                            extra_env=env, log_file=folder / "test.log")
        return seconds

    def kchip_run(seed: int) -> float:
        folder = fresh_folder(root / "kchip-runs", f"{seed}")
        result, seconds = _timed(simulate, built, bench, seed=seed, run_dir=folder,
                                 tests=[test])
        assert result.passed, result.message or result.failed
        return seconds

    kchip_times, cocotb_times = [], []
    for index in range(repeats + 1):  # the first pair warms caches and is not counted
        k, c = kchip_run(index + 1), cocotb_run(index + 1)
        if index:
            kchip_times.append(k)
            cocotb_times.append(c)
    per_run_kchip, per_run_cocotb = statistics.median(kchip_times), statistics.median(
        cocotb_times)
    jobs = regression.plan([bench], [sim], list(range(1, seeds + 1)), tests=[test])
    options = regression.Options(build_root=root / "builds", out=root / "regression", jobs=1)

    def whole_regression() -> None:
        results = regression.execute(jobs, options)
        regression.report(options.out, results)

    _, regression_s = _timed(whole_regression)
    direct_s = sum(cocotb_run(100 + seed) for seed in range(seeds))
    run_overhead = per_run_kchip / per_run_cocotb - 1
    return {"bench": bench.name, "simulator": sim, "test": test, "repeats": repeats,
            "kchip_run_s": round(per_run_kchip, 3), "cocotb_run_s": round(per_run_cocotb, 3),
            "kchip_run_s_all": [round(t, 3) for t in kchip_times],
            "cocotb_run_s_all": [round(t, 3) for t in cocotb_times],
            "overhead": round(run_overhead, 4),
            "regression_s": round(regression_s, 3), "direct_runs_s": round(direct_s, 3),
            "regression_overhead": round(regression_s / direct_s - 1, 4),
            "target_overhead": TARGET_OVERHEAD, "meets_target": run_overhead <= TARGET_OVERHEAD}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--sim", nargs="+", choices=runner.SIMULATORS,
                        default=list(runner.SIMULATORS))
    parser.add_argument("--bench", nargs="+", metavar="NAME", help="default: all benches")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--overhead-bench", default="npu_core")
    parser.add_argument("--overhead-sim", default="icarus", choices=runner.SIMULATORS)
    parser.add_argument("--overhead-test", default="rounding_ties_and_shift_limits")
    parser.add_argument("--skip-parallel", action="store_true")
    args = parser.parse_args()
    known = runner.discover()
    unknown = [name for name in (args.bench or []) + [args.overhead_bench] if name not in known]
    if unknown:
        parser.error(f"unknown bench {unknown[0]!r}; known: {', '.join(known)}")
    for sim in args.sim:
        builds.check_simulator(sim)
    report = {"cores": os.cpu_count(), "load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="kchip-regress-bench-") as folder:
        root = Path(folder)
        report["overhead"] = overhead(known[args.overhead_bench], args.overhead_sim,
                                      args.overhead_test, args.repeats, args.seeds,
                                      root / "overhead")
        if not args.skip_parallel:
            benches = [known[name] for name in args.bench] if args.bench else list(known.values())
            report["parallel"] = parallel(benches, args.sim, args.seeds, root / "parallel")
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
