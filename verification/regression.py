"""A regression: benches x simulators x seeds, each build once, the runs in parallel, all recorded.

:func:`plan` lists the :class:`Job` s (one per bench, simulator and seed; ``keyword`` keeps the
benches and tests whose ``<bench>.<test>`` name contains it). :func:`execute` first stages every
distinct (bench, simulator) build in this process (bench sources are Python generators), builds the
ones whose key folder does not exist yet, ``jobs`` at a time, and only then fans the runs out,
``jobs`` at a time, each in a new folder ``<out>/runs/<bench>-<sim>-<seed>[-rerunN]``. Build
failures, crashes and timeouts are results, never exceptions: the regression always completes.

Waveforms (``Options.waves``): ``none``; ``all`` (every run dumps); ``fail``: runs without dumping,
and a run with failed tests (or a crash) is run again, only those tests, with the same seed and a
waveform build, in ``<run folder>/waves/``; the dump is recorded with the run (a hang is not run
again). ``Options.coverage`` builds Verilator runs with line and toggle coverage.

The output folder keeps ``regression.json`` (every run and re-run, see :func:`save`), the merged
``junit.xml``, ``summary.md`` (:mod:`.junit`) and ``coverage.json`` (:mod:`.coverage`: functional
coverage per bench against its goals, Verilator's merged into ``verilator_coverage.dat``).
:func:`plan_reruns` reads the record back: the failed cases of each (bench, simulator, seed) are
run again with the same seed, as re-runs.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from kchip.formats.files import write_atomic
from kchip.verification import build as builds
from kchip.verification import coverage, process
from kchip.verification.junit import counts, histories, write_junit, write_summary
from kchip.verification.results import RunResult
from kchip.verification.runner import Testbench, list_tests
from kchip.verification.simulate import failed_build, fresh_folder, simulate

STATE, JUNIT, SUMMARY = "regression.json", "junit.xml", "summary.md"
STATE_VERSION = 1
WAVES = ("none", "fail", "all")


@dataclass(frozen=True)
class Job:
    """One planned test run; ``attempt`` > 0 marks a re-run of the same bench, simulator, seed."""

    testbench: Testbench
    simulator: str
    seed: int
    tests: tuple[str, ...] | None = None
    test_filter: str | None = None
    attempt: int = 0
    resolves_crash: bool = False

    @property
    def label(self) -> str:
        base = f"{self.testbench.name}-{self.simulator}-{self.seed}"
        return f"{base}-rerun{self.attempt}" if self.attempt else base


@dataclass(frozen=True)
class Options:
    """Where builds and results go, how many runs at once, and the per-run wall-clock limit."""

    build_root: Path
    out: Path
    jobs: int = 1
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    waves: str = "none"
    coverage: bool = False

    def __post_init__(self):
        if self.waves not in WAVES:
            raise ValueError(f"waves {self.waves!r} is not valid; choose one of {', '.join(WAVES)}")


def select_tests(testbench: Testbench, keyword: str | None,
                 tests: Sequence[str] | None = None):
    """``(tests, test_filter)`` for ``testbench`` under ``-k keyword``, or None when nothing of
    it matches. A bench whose name matches runs all (or ``tests``); otherwise the tests whose
    ``<bench>.<test>`` name contains the keyword (case-insensitive) are chosen, from the test
    module's source, else by a cocotb test filter."""
    tests = tuple(tests) if tests else None
    if not keyword or keyword.lower() in testbench.name.lower():
        return tests, None
    names = list_tests(testbench.test_module, testbench.python_path)
    if not names:
        return tests, rf"(?i)\.[^.]*{re.escape(keyword)}[^.]*$"
    chosen = tuple(name for name in names if keyword.lower() in f"{testbench.name}.{name}".lower()
                   and (tests is None or name in tests))
    return (chosen, None) if chosen else None


def plan(benches: Iterable[Testbench], simulators: Sequence[str] | None, seeds: Sequence[int], *,
         tests: Sequence[str] | None = None, keyword: str | None = None) -> list[Job]:
    """Every (bench, simulator, seed) job: on ``simulators`` that the bench lists (None: on its
    first), benches without a test matching ``keyword`` left out."""
    for simulator in simulators or ():
        builds.check_simulator(simulator)
    jobs = []
    for bench in benches:
        selection = select_tests(bench, keyword, tests)
        if selection is None:
            continue
        chosen = ([sim for sim in simulators if sim in bench.simulators]
                  if simulators is not None else list(bench.simulators[:1]))
        jobs += [Job(bench, simulator, int(seed), selection[0], selection[1])
                 for simulator in chosen for seed in seeds]
    return jobs


def plan_reruns(previous: Sequence[RunResult], benches: Mapping[str, Testbench]):
    """``(jobs, missing)``: a re-run of every (bench, simulator, seed) whose latest attempt failed
    (only its failed tests; the whole selection after a crash, hang or build failure), and the
    names of benches that are no longer known."""
    latest: dict[str, RunResult] = {}
    for result in previous:
        if result.slot not in latest or result.attempt >= latest[result.slot].attempt:
            latest[result.slot] = result
    jobs, missing = [], []
    for result in latest.values():
        if result.status == "ok" and not result.failed:
            continue
        bench = benches.get(result.testbench)
        if bench is None:
            missing.append(result.testbench)
            continue
        crashed = result.status != "ok"
        jobs.append(Job(bench, result.simulator, result.seed,
                        result.requested if crashed else result.failed,
                        result.test_filter if crashed else None, result.attempt + 1, crashed))
    return jobs, sorted(set(missing))


def _for_build(testbench: Testbench, simulator: str, options: Options) -> Testbench:
    """The bench as built for ``simulator``: with Verilator's coverage arguments under
    ``options.coverage``."""
    if options.coverage and simulator == "verilator":
        return replace(testbench, build_args=(*testbench.build_args, *coverage.VERILATOR_ARGS))
    return testbench


def _stage_all(jobs: Sequence[Job], options: Options) -> dict:
    """Each distinct (bench, simulator): its staged build, or the exception that stopped it."""
    staged: dict[tuple[str, str], object] = {}
    for job in jobs:
        key = (job.testbench.name, job.simulator)
        if key in staged:
            continue
        try:
            staged[key] = builds.stage(_for_build(job.testbench, job.simulator, options),
                                       job.simulator, options.build_root,
                                       waves=options.waves == "all")
        except Exception as exc:  # a bench whose sources cannot be written fails alone
            staged[key] = builds.BuildError(f"{job.testbench.name}: writing its sources for "
                                            f"{job.simulator} failed: {type(exc).__name__}: {exc}")
    return staged


def _build_all(pool: ThreadPoolExecutor, staged: dict) -> dict:
    """Each (bench, simulator): its build or build error; one build per key, ``jobs`` at once."""
    first: dict[str, builds.Build] = {}
    for value in staged.values():
        if isinstance(value, builds.Build):
            if value.key in first and value.staging != first[value.key].staging:
                builds.discard(value)  # the same build as another bench's
            first.setdefault(value.key, value)
    futures = {key: pool.submit(builds.build, value) for key, value in first.items()}
    done: dict[str, object] = {}
    for key, future in futures.items():
        try:
            done[key] = future.result()
        except builds.BuildError as exc:
            done[key] = exc
    return {name: done[value.key] if isinstance(value, builds.Build) else value
            for name, value in staged.items()}


class _WaveBuilds:
    """The waveform builds of one regression, each staged and built once, under a lock (bench
    sources may be Python generators); a failed one is kept as its exception."""

    def __init__(self, options: Options):
        self.options, self.done, self.lock = options, {}, threading.Lock()

    def get(self, job: Job):
        key = (job.testbench.name, job.simulator)
        with self.lock:
            if key not in self.done:
                try:
                    self.done[key] = builds.build(builds.stage(
                        _for_build(job.testbench, job.simulator, self.options), job.simulator,
                        self.options.build_root, waves=True))
                except Exception as exc:  # reported in the run's log; the run itself stands
                    self.done[key] = exc
            return self.done[key]


def _dump_waves(job: Job, result: RunResult, options: Options,
                waves: _WaveBuilds) -> RunResult:
    """Run the failed tests of ``result`` again with waveforms in ``<run folder>/waves``; the run's
    result with the dump recorded (a note in its log when none could be made)."""
    crashed = result.status == "crash"
    built = waves.get(job)
    folder = Path(result.run_dir) / "waves"
    if isinstance(built, Exception):
        with open(result.log, "a") as log:
            log.write(f"\nkchip: no waveforms: the waveform build failed: {built}\n")
        return result
    again = simulate(built, job.testbench, seed=job.seed, run_dir=folder,
                     tests=job.tests if crashed else result.failed,
                     test_filter=job.test_filter if crashed else None, env=options.env,
                     waves=True, timeout=options.timeout)
    return replace(result, waves=again.waves)


def _run_one(job: Job, built, options: Options, waves: _WaveBuilds) -> RunResult:
    run_dir = fresh_folder(Path(options.out) / "runs", job.label)
    if isinstance(built, Exception):
        return failed_build(job.testbench, job.simulator, seed=job.seed, error=built,
                            run_dir=run_dir, tests=job.tests, test_filter=job.test_filter,
                            attempt=job.attempt)
    result = simulate(built, job.testbench, seed=job.seed, run_dir=run_dir, tests=job.tests,
                      test_filter=job.test_filter, env=options.env,
                      waves=options.waves == "all", timeout=options.timeout,
                      attempt=job.attempt, resolves_crash=job.resolves_crash)
    if options.waves == "fail" and (result.status == "crash"
                                    or (result.status == "ok" and result.failed)):
        return _dump_waves(job, result, options, waves)
    return result


def execute(jobs: Sequence[Job], options: Options,
            progress: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Build what ``jobs`` need (once per key), then run them ``options.jobs`` at a time.

    Returns the results in the order of ``jobs``; ``progress`` is called (in this thread) as each
    run ends. Interrupted (Ctrl-C, SIGTERM), it kills every simulator and build it started.
    """
    process.restart()
    staged = _stage_all(jobs, options)
    results: list[RunResult | None] = [None] * len(jobs)
    pool = ThreadPoolExecutor(max_workers=max(1, int(options.jobs)))
    try:
        built = _build_all(pool, staged)
        waves = _WaveBuilds(options)
        futures = {pool.submit(_run_one, job, built[(job.testbench.name, job.simulator)],
                               options, waves): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            results[futures[future]] = result = future.result()
            if progress is not None:
                progress(result)
    except BaseException:
        process.kill_all(stop=True)
        pool.shutdown(wait=True, cancel_futures=True)
        for value in staged.values():
            if isinstance(value, builds.Build):
                builds.discard(value)
        raise
    pool.shutdown(wait=True)
    return [result for result in results if result is not None]


def save(out: Path, results: Sequence[RunResult]) -> Path:
    """Record every run of the regression in ``<out>/regression.json`` (atomically)."""
    path = Path(out) / STATE
    write_atomic(path, json.dumps({"version": STATE_VERSION,
                                   "results": [r.to_json() for r in results]}, indent=1) + "\n")
    return path


def load(out: Path) -> list[RunResult] | None:
    """The runs recorded in ``<out>/regression.json``, or None when there is no record."""
    path = Path(out) / STATE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("version") != STATE_VERSION:
        return None
    return [RunResult.from_json(item) for item in data["results"]]


def coverage_report(out: Path, results: Sequence[RunResult],
                    goals: Mapping[str, Mapping[str, int]]) -> dict:
    """Functional coverage of ``results`` against ``goals`` (by bench), and Verilator's merged
    code coverage when runs wrote any, as written to ``<out>/coverage.json``."""
    merged = coverage.merge(results, goals)
    verilator = coverage.merge_verilator(results, Path(out) / coverage.VERILATOR_MERGED)
    if verilator is not None:
        merged["verilator"] = verilator
    return merged


def report(out: Path, results: Sequence[RunResult], *,
           goals: Mapping[str, Mapping[str, int]] | None = None) -> dict:
    """Write the record, the merged JUnit XML, the coverage report and the Markdown summary
    into ``out``; the coverage report (``missed``: the goals not met)."""
    out = Path(out)
    save(out, results)
    write_junit(results, out / JUNIT)
    merged = coverage_report(out, results, goals or {})
    coverage.write_report(merged, out / coverage.REPORT)
    write_summary(results, out / SUMMARY, coverage=merged)
    return merged


def totals(results: Sequence[RunResult]) -> dict[str, int]:
    """Final case outcomes over all runs and re-runs: tests, passed, failed, errors, skipped,
    flaky (flaky cases count as passed)."""
    number = counts([h for cases in histories(results).values() for h in cases])
    number["failed"] = number.pop("failures")
    number["passed"] = number["tests"] - number["failed"] - number["errors"] - number["skipped"]
    return number


__all__ = ["Job", "Options", "plan", "plan_reruns", "select_tests", "execute", "save", "load",
           "report", "coverage_report", "totals", "STATE", "JUNIT", "SUMMARY", "WAVES"]
