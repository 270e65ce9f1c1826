"""One test run: a built bench's cocotb tests with one seed, in a folder of its own.

The simulator runs through :class:`~kchip.verification.process.Controlled`, so a crash (killed by a
signal, a non-zero exit, no results file) and a hang (killed with its process group at
``timeout`` seconds) end the run like any other: a :class:`RunResult` whose synthetic error case
:data:`SIMULATOR_CASE` tells the seed, the exit status or signal, the log tail and the log path.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Mapping, Sequence

from kchip.verification.build import RUNNERS, Build
from kchip.verification.coverage import COVERAGE_ENV, COVERAGE_FILE
from kchip.verification.process import CommandFailed, Exit
from kchip.verification.results import (SIMULATOR_CASE, Case, RunResult, log_tail, read_cases,
                                        with_cases)


def fresh_folder(parent: Path, name: str) -> Path:
    """A new, empty folder ``parent/name`` (``name.2``, ``name.3``... when taken): never an earlier
    run's folder, also when two processes ask at once."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for number in itertools.count(1):
        candidate = parent / (name if number == 1 else f"{name}.{number}")
        try:
            candidate.mkdir()
            return candidate.resolve()
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def wave_file(simulator: str, top: str, run_dir: Path) -> Path:
    """Where a run with waveforms on leaves its dump: ``<top>.fst`` (Icarus, FST) or ``dump.vcd``
    (Verilator), in the run's folder."""
    return Path(run_dir) / (f"{top}.fst" if simulator == "icarus" else "dump.vcd")


def _error_case(module: str, kind: str, message: str, log: Path, seconds: float = 0.0) -> Case:
    return Case(name=SIMULATOR_CASE, classname=module, outcome="error", time=seconds,
                message=message, text=log_tail(log), kind=kind)


def simulate(build: Build, testbench, *, seed: int, run_dir: Path,
             tests: Sequence[str] | None = None, test_filter: str | None = None,
             env: Mapping[str, str] | None = None, waves: bool = False,
             timeout: float | None = None, attempt: int = 0,
             resolves_crash: bool = False) -> RunResult:
    """Run ``testbench``'s tests (all, ``tests``, or those whose full name matches the regular
    expression ``test_filter``) on a ready ``build`` with ``seed``, in ``run_dir``.

    ``resolves_crash`` (a re-run of a run that crashed) adds a passing :data:`SIMULATOR_CASE` when
    the simulator now ends normally, so that reports see the crash resolved.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    results_xml, log = run_dir / "results.xml", run_dir / "test.log"
    runner = RUNNERS[build.simulator][0]()
    runner.time_limit = timeout
    runner.python_path = [str(folder) for folder in getattr(testbench, "python_path", ())]
    dump = wave_file(build.simulator, build.top, run_dir)
    plusargs = [f"+dumpfile_path={dump}"] if waves and build.simulator == "icarus" else []
    exit: Exit | None = None
    began = time.monotonic()
    try:
        runner.test(test_module=testbench.test_module, hdl_toplevel=build.top,
                    hdl_toplevel_lang="verilog", seed=seed,
                    testcase=list(tests) if tests else None,
                    test_filter=None if tests else test_filter, build_dir=build.folder,
                    test_dir=run_dir, results_xml=str(results_xml), waves=waves,
                    plusargs=plusargs, log_file=log,
                    extra_env={COVERAGE_ENV: str(run_dir / COVERAGE_FILE), **testbench.env,
                               **(env or {})})
    except CommandFailed as failed:
        exit = failed.exit
    except SystemExit:
        pass  # cocotb exits under pytest when tests fail; the results file tells what happened
    exit = exit or runner.last_exit
    seconds = round(time.monotonic() - began, 3)
    cases = read_cases(results_xml)
    status, message = "ok", ""
    if exit is not None and not exit.ok:
        status = "timeout" if exit.timed_out else "crash"
        message = f"simulator {exit.describe()}"
        if cases is None:
            message += " before writing results"
    elif cases is None:
        status, message = "crash", "simulator ended without writing results"
    if message:
        message = (f"{testbench.name} on {build.simulator}: {message}; seed {seed}; log {log}")
    cases = cases or ()
    if status != "ok":
        cases += (_error_case(testbench.test_module, status, message, log, seconds),)
    elif resolves_crash:
        cases += (Case(SIMULATOR_CASE, testbench.test_module, "passed"),)
    result = RunResult(testbench=testbench.name, simulator=build.simulator, seed=seed, tests=0,
                       failed=(), results_xml=results_xml, log=log, status=status,
                       message=message, exit_status=exit.status if exit else None,
                       signal=exit.signal if exit else None, run_dir=run_dir, seconds=seconds,
                       test_module=testbench.test_module,
                       requested=tuple(tests) if tests else None, test_filter=test_filter,
                       attempt=attempt, waves=(str(dump),) if waves and dump.is_file() else ())
    return with_cases(result, cases)


def failed_build(testbench, simulator: str, *, seed: int, error: Exception, run_dir: Path,
                 tests: Sequence[str] | None = None, test_filter: str | None = None,
                 attempt: int = 0) -> RunResult:
    """The result of a run whose bench could not be built: one error case with the build error."""
    run_dir = Path(run_dir).resolve()
    log = getattr(error, "log", None) or run_dir / "build.log"
    message = f"{error}; seed {seed}"
    result = RunResult(testbench=testbench.name, simulator=simulator, seed=seed, tests=0,
                       failed=(), results_xml=run_dir / "results.xml", log=log, status="build",
                       message=message, run_dir=run_dir, test_module=testbench.test_module,
                       requested=tuple(tests) if tests else None, test_filter=test_filter,
                       attempt=attempt)
    return with_cases(result, (_error_case(testbench.test_module, "build", message, log),))


__all__ = ["simulate", "failed_build", "fresh_folder", "wave_file"]
