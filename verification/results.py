"""What one test run produced: its cases, how the simulator ended, and the errors the runner raises.

A *run* is one (bench, simulator, seed) execution of a cocotb test module. Its :class:`RunResult`
holds every test case (:class:`Case`) read from cocotb's results file, plus one synthetic error case
named :data:`SIMULATOR_CASE` when the simulator crashed, exited with a non-zero status or was killed
at the timeout, so that such a run is a result (with seed, exit status or signal, log tail and log
path) and never an exception that stops a regression.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from xml.etree import ElementTree

#: Name of the error case that stands for a run whose simulator crashed, hung or failed to build.
SIMULATOR_CASE = "simulator"

#: Run statuses: ``ok`` (the simulator ended normally; tests may still fail), ``crash`` (killed by a
#: signal, non-zero exit, or no results), ``timeout`` (killed at the wall-clock limit), ``build``.
STATUSES = ("ok", "crash", "timeout", "build")


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
class Case:
    """One test case of a run: ``outcome`` is passed, failed, error or skipped."""

    name: str
    classname: str
    outcome: str
    time: float = 0.0
    message: str = ""
    text: str = ""
    kind: str = ""

    @property
    def bad(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass(frozen=True)
class RunResult:
    """What one run did: how many tests, which failed, with which seed, where the evidence is.

    ``requested`` and ``test_filter`` are the test selection the run was started with (``None``:
    all tests), ``attempt`` counts re-runs of the same (bench, simulator, seed) slot (0: first),
    ``waves`` the waveform files dumped for it (``--waves``).
    """

    testbench: str
    simulator: str
    seed: int
    tests: int
    failed: tuple[str, ...]
    results_xml: Path
    log: Path
    status: str = "ok"
    message: str = ""
    exit_status: int | None = None
    signal: int | None = None
    run_dir: Path | None = None
    seconds: float = 0.0
    cases: tuple[Case, ...] = ()
    test_module: str = ""
    requested: tuple[str, ...] | None = None
    test_filter: str | None = None
    attempt: int = 0
    waves: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "ok" and self.tests > 0 and not self.failed

    @property
    def slot(self) -> str:
        """The (bench, simulator, seed) name shared by a run and its re-runs."""
        return f"{self.testbench}-{self.simulator}-{self.seed}"

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("results_xml", "log", "run_dir"):
            data[key] = None if data[key] is None else str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict) -> "RunResult":
        data = dict(data)
        for key in ("results_xml", "log", "run_dir"):
            data[key] = None if data.get(key) is None else Path(data[key])
        data["failed"] = tuple(data["failed"])
        data["cases"] = tuple(Case(**case) for case in data.get("cases", ()))
        if data.get("requested") is not None:
            data["requested"] = tuple(data["requested"])
        data["waves"] = tuple(data.get("waves", ()))
        return cls(**data)


def read_cases(results_xml: Path) -> tuple[Case, ...] | None:
    """The test cases of a cocotb results file, or None when it is missing or unreadable."""
    try:
        root = ElementTree.parse(results_xml).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    cases = []
    for node in root.iter("testcase"):
        outcome, message, text, kind = "passed", "", "", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            found = node.find(tag)
            if found is not None:
                outcome, message = name, found.get("message", "")
                text, kind = found.text or "", found.get("type", "")
                break
        cases.append(Case(name=node.get("name", "?"), classname=node.get("classname", ""),
                          outcome=outcome, time=float(node.get("time") or 0), message=message,
                          text=text, kind=kind))
    return tuple(cases)


def failed_tests(results_xml: Path) -> tuple[str, ...]:
    """Names of the failed or errored test cases in a JUnit results file."""
    return tuple(case.name for case in read_cases(results_xml) or () if case.bad)


def log_tail(log: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def with_cases(result: RunResult, cases: tuple[Case, ...]) -> RunResult:
    """``result`` with ``cases`` and the counts and failed names that follow from them."""
    return replace(result, cases=cases, tests=len(cases),
                   failed=tuple(case.name for case in cases if case.bad))


__all__ = ["SIMULATOR_CASE", "STATUSES", "SimulationError", "TestsFailed", "Case", "RunResult",
           "read_cases", "failed_tests", "log_tail", "with_cases"]
