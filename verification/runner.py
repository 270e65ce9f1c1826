"""Build and run a cocotb testbench on Icarus (default) or Verilator, and fail loudly.

Every testbench in kchip goes through this module. The API is small on purpose:

- :class:`Testbench` describes one bench: a ``name``, the HDL ``top``, the Python ``test_module``
  holding the ``@cocotb.test`` functions, and ``sources(folder) -> list[Path]``, which writes (or
  finds) the Verilog files. ``parameters`` (generator parameters, JSON-able), ``defines``,
  ``hdl_parameters``, ``includes``, ``build_args`` and ``timescale`` go into the build;
  ``env`` is passed to the simulated Python (values that are paths must be absolute: the simulator
  runs inside the run's folder) and ``python_path`` is added to its module search path.
  ``simulators`` (those the bench runs on), ``tags``, coverage ``goals`` (least hits per bin) and
  ``design`` (the flow design it simulates) are what a manifest (:mod:`.manifest`) gives.
- :func:`run` builds the bench (:mod:`.build`: one folder per key of source *content*, build
  settings and simulator version, reused afterwards), runs its tests with a seed that it prints
  and records, in a folder of its own (``<build_root>/runs/<bench>-<sim>-<seed>``), and raises
  :class:`TestsFailed` naming every failed test (cocotb's own runner only raises under pytest), or
  :class:`SimulationError` when the simulator crashed, hung past ``timeout`` or wrote no results.
  The returned :class:`RunResult` carries the seed, so ``run(tb, seed=result.seed)`` replays it.
- :func:`discover` finds the project's benches: the manifest ``benches.toml`` of every
  ``kchip.verification.<package>`` (the same format as a user's own, :mod:`.manifest`);
  :func:`list_tests` names a bench's tests.

Regressions (many benches, simulators and seeds in parallel, merged JUnit) are in
:mod:`.regression`.

The run's seed becomes ``COCOTB_RANDOM_SEED``; cocotb derives each test's seed from it and the
test's name (``cocotb.RANDOM_SEED`` inside a test, also used to seed :mod:`random`), so replaying
the run seed replays every test, also when it is run alone.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from kchip.verification import build as builds
from kchip.verification.build import SIMULATORS, BuildError
from kchip.verification.results import (RunResult, SimulationError, TestsFailed, failed_tests)
from kchip.verification.simulate import fresh_folder, simulate

DEFAULT_BUILD_ROOT = Path("build") / "verify"


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
    defines: Mapping[str, object] = field(default_factory=dict)
    hdl_parameters: Mapping[str, object] = field(default_factory=dict)
    includes: Sequence[Path] = ()
    build_args: Sequence[str] = ()
    timescale: tuple[str, str] = ("1ns", "1ps")
    python_path: Sequence[Path] = ()
    simulators: Sequence[str] = SIMULATORS
    tags: Sequence[str] = ()
    goals: Mapping[str, int] = field(default_factory=dict)
    design: str = ""
    manifest: Path | None = None

    def digest(self) -> str:
        """Short hash of the top and parameters (a label only: builds are keyed by content)."""
        text = json.dumps({"top": self.top, "parameters": self.parameters}, sort_keys=True,
                          default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def new_seed() -> int:
    """A fresh random seed (printed and recorded by every run that uses it)."""
    return secrets.randbelow(2**31)


def build_dir_for(testbench: Testbench, simulator: str, build_root: Path | None = None,
                  *, waves: bool = False) -> Path:
    """The folder ``testbench`` is (or would be) built in for ``simulator``: one per build key,
    so this writes the bench's sources (into a staging folder it then removes) to hash them."""
    staged = builds.stage(testbench, simulator,
                          Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT,
                          waves=waves)
    builds.discard(staged)
    return staged.folder


def prepare(testbench: Testbench, simulator: str, build_root: Path | None = None, *,
            waves: bool = False) -> builds.Build:
    """The bench built for ``simulator`` (built now unless its key folder exists)."""
    root = Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT
    return builds.build(builds.stage(testbench, simulator, root, waves=waves))


def run(testbench: Testbench, *, simulator: str = "icarus", seed: int | None = None,
        tests: Sequence[str] | None = None, build_root: Path | None = None,
        junit: Path | None = None, env: Mapping[str, str] | None = None, waves: bool = False,
        check: bool = True, timeout: float | None = None,
        run_dir: Path | None = None) -> RunResult:
    """Build ``testbench`` for ``simulator`` if needed and run its tests (all, or ``tests``).

    ``seed`` defaults to a fresh random one; it is printed before the run. The run gets a new
    folder (``run_dir``, default ``<build_root>/runs/<bench>-<simulator>-<seed>[.N]``) holding
    cocotb's results file and the log. ``junit`` is where a copy of the results goes, as JUnit
    XML with bench and simulator in the suite and class names. ``timeout`` (seconds, wall clock)
    kills the simulator's process group. With ``check`` (the default) a failing test raises
    :class:`TestsFailed` and a crash, hang or build failure :class:`SimulationError`; without it
    the result reports them (a build failure still raises).
    """
    builds.check_simulator(simulator)
    seed = new_seed() if seed is None else int(seed)
    root = Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT
    built = prepare(testbench, simulator, root, waves=waves)
    folder = (Path(run_dir) if run_dir is not None
              else fresh_folder(root / "runs", f"{testbench.name}-{simulator}-{seed}"))
    print(f"[{testbench.name}/{simulator}] seed {seed} (replay with seed={seed})", flush=True)
    result = simulate(built, testbench, seed=seed, run_dir=folder, tests=tests, env=env,
                      waves=waves, timeout=timeout)
    if junit is not None:
        from kchip.verification.junit import write_junit

        write_junit([result], Path(junit))
    if check and result.status != "ok":
        raise SimulationError(f"{result.message}\n--- last lines of the log ---\n"
                              f"{result.cases[-1].text}")
    if check and result.failed:
        raise TestsFailed(result)
    if check and result.tests == 0:
        raise SimulationError(f"{testbench.name} on {simulator}: no test ran (filter {tests!r}?); "
                              f"see {result.log}")
    return result


def discover() -> dict[str, Testbench]:
    """Every bench of the manifests ``kchip/verification/<package>/benches.toml``, by name."""
    from kchip.verification.manifest import load_manifest

    found: dict[str, Testbench] = {}
    for manifest in sorted(Path(__file__).resolve().parent.glob("*/benches.toml")):
        for testbench in load_manifest(manifest):
            if testbench.name in found:
                raise ValueError(f"two testbenches are named {testbench.name!r} "
                                 f"(second one in {manifest})")
            found[testbench.name] = testbench
    return dict(sorted(found.items()))


def _is_cocotb_test(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "test" and isinstance(target.value, ast.Name) \
            and target.value.id == "cocotb"
    return isinstance(target, ast.Name) and target.id == "test"


def _module_source(test_module: str, python_path: Sequence[Path]) -> Path | None:
    """The source file of ``test_module`` as the simulated Python finds it: installed packages
    first, then ``python_path``."""
    try:
        spec = importlib.util.find_spec(test_module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin)
    relative = Path(*test_module.split("."))
    candidates = [Path(folder) / relative.with_suffix(".py") for folder in python_path]
    candidates += [Path(folder) / relative / "__init__.py" for folder in python_path]
    return next((path for path in candidates if path.is_file()), None)


def list_tests(test_module: str, python_path: Sequence[Path] = ()) -> list[str]:
    """The ``@cocotb.test`` functions of a test module (found on the installed packages, then in
    ``python_path``), read from its source without importing it ([] when it cannot be found)."""
    source = _module_source(test_module, python_path)
    if source is None:
        return []
    tree = ast.parse(source.read_text())
    return [node.name for node in tree.body
            if isinstance(node, (ast.AsyncFunctionDef, ast.FunctionDef))
            and any(_is_cocotb_test(d) for d in node.decorator_list)]


__all__ = ["SIMULATORS", "DEFAULT_BUILD_ROOT", "Testbench", "RunResult", "TestsFailed",
           "SimulationError", "BuildError", "run", "prepare", "discover", "build_dir_for",
           "failed_tests", "list_tests", "new_seed"]
