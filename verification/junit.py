"""One merged JUnit XML and a Markdown summary for a regression.

Every run of a regression (:class:`RunResult`, re-runs included) goes into one file:

- one ``<testsuite>`` per bench and simulator, named ``<bench>.<simulator>``; class names are
  ``<bench>.<simulator>.<test module>``, so the same tests on other benches or simulators never
  share a name; with several seeds in one suite, case names end in ``[seed=S]``;
- every case carries ``seed``, ``simulator``, ``bench``, ``log`` and ``run_dir`` properties, and
  a failing one the ``waves`` its runs dumped (only files that exist), also as
  ``[[ATTACHMENT|path]]`` lines in its ``system-out`` (the Jenkins and GitLab convention);
- re-runs are recorded as Maven Surefire does: a case that failed every time keeps its first
  ``<failure>``/``<error>`` and gets a ``<rerunFailure>``/``<rerunError>`` per failing re-run; a
  case that passed on a re-run is *flaky*: ``<flakyFailure>``/``<flakyError>`` per earlier failure,
  a ``flaky`` property, and it counts as passed.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable
from xml.etree import ElementTree as ET

from kchip.formats.files import write_atomic
from kchip.verification import coverage as coverage_report
from kchip.verification.results import Case, RunResult


#: Characters XML 1.0 cannot hold (a crashed simulator's log tail may contain any byte).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


@dataclass
class History:
    """One test case across a run and its re-runs."""

    suite: str
    classname: str
    name: str
    seed: int
    attempts: list[tuple[RunResult, Case]] = field(default_factory=list)

    @property
    def final(self) -> Case:
        return self.attempts[-1][1]

    @property
    def result(self) -> RunResult:
        return self.attempts[-1][0]

    @property
    def flaky(self) -> bool:
        return not self.final.bad and any(case.bad for _, case in self.attempts)


def histories(results: Iterable[RunResult]) -> dict[str, list[History]]:
    """The cases of ``results`` by suite (``<bench>.<simulator>``), each re-run merged into its
    case."""
    results = sorted(results, key=lambda r: r.attempt)  # stable: first runs, then re-runs
    seeds: dict[str, set[int]] = {}
    for result in results:
        seeds.setdefault(f"{result.testbench}.{result.simulator}", set()).add(result.seed)
    suites: dict[str, dict[tuple, History]] = {}
    for result in results:
        suite = f"{result.testbench}.{result.simulator}"
        cases = suites.setdefault(suite, {})
        for case in result.cases:
            module = (case.classname or result.test_module).rsplit(".", 1)[-1]
            classname = f"{suite}.{module}"
            name = case.name + (f" [seed={result.seed}]" if len(seeds[suite]) > 1 else "")
            key = (classname, name, result.seed)
            cases.setdefault(key, History(suite, classname, name, result.seed))
            cases[key].attempts.append((result, case))
    return {suite: list(cases.values()) for suite, cases in suites.items()}


def _failure_node(parent: ET.Element, tag: str, case: Case, result: RunResult) -> None:
    node = ET.SubElement(parent, tag, message=_clean(case.message[:2000] or case.outcome),
                         type=case.kind or case.outcome)
    if tag in ("failure", "error"):
        node.text = _clean(case.text)
        return
    ET.SubElement(node, "stackTrace").text = _clean(case.text or case.message)
    ET.SubElement(node, "system-out").text = f"seed {result.seed}; log {result.log}"


def _case_node(suite: ET.Element, history: History) -> None:
    final, result = history.final, history.result
    node = ET.SubElement(suite, "testcase", name=_clean(history.name),
                         classname=_clean(history.classname),
                         time=f"{final.time:.3f}")
    properties = ET.SubElement(node, "properties")
    values = {"seed": result.seed, "simulator": result.simulator, "bench": result.testbench,
              "log": result.log, "run_dir": result.run_dir, "attempts": len(history.attempts)}
    if history.flaky:
        values["flaky"] = "true"
    waves = list(dict.fromkeys(path for r, case in history.attempts if case.bad
                               for path in r.waves if Path(path).is_file()))
    if waves:
        values["waves"] = ", ".join(waves)
    for key, value in values.items():
        ET.SubElement(properties, "property", name=key, value=_clean(value))
    earlier = history.attempts[:-1]
    if final.outcome == "skipped":
        ET.SubElement(node, "skipped", message=_clean(final.message or "skipped"))
    elif final.bad:
        bad = [(r, c) for r, c in history.attempts if c.bad]
        first_result, first = bad[0]
        _failure_node(node, "error" if first.outcome == "error" else "failure", first, first_result)
        for tag, outcome in (("rerunFailure", "failed"), ("rerunError", "error")):
            for rerun_result, case in bad[1:]:
                if case.outcome == outcome:
                    _failure_node(node, tag, case, rerun_result)
    for tag, outcome in (("flakyFailure", "failed"), ("flakyError", "error")):
        for earlier_result, case in earlier:
            if not final.bad and case.outcome == outcome:
                _failure_node(node, tag, case, earlier_result)
    attachments = "".join(f"\n[[ATTACHMENT|{path}]]" for path in waves)
    ET.SubElement(node, "system-out").text = _clean(f"seed {result.seed}; log {result.log}"
                                                    f"{attachments}")


def counts(cases: list[History]) -> dict[str, int]:
    """tests, failures, errors, skipped and flaky among final case outcomes."""
    finals = [h.final.outcome for h in cases]
    return {"tests": len(cases), "failures": finals.count("failed"),
            "errors": finals.count("error"), "skipped": finals.count("skipped"),
            "flaky": sum(h.flaky for h in cases)}


def junit_xml(results: Iterable[RunResult], name: str = "kchip verify") -> str:
    """The merged JUnit XML text of ``results``."""
    suites = histories(results)
    root = ET.Element("testsuites", name=name)
    total = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    stamp = datetime.now().replace(microsecond=0).isoformat()
    for suite_name, cases in suites.items():
        number = counts(cases)
        suite_seconds = sum(h.final.time for h in cases)
        suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(number["tests"]),
                              failures=str(number["failures"]), errors=str(number["errors"]),
                              skipped=str(number["skipped"]), time=f"{suite_seconds:.3f}",
                              timestamp=stamp, hostname=socket.gethostname())
        for history in cases:
            _case_node(suite, history)
        for key in total:
            total[key] += number[key]
        seconds += suite_seconds
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failures"]))
    root.set("errors", str(total["errors"]))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Iterable[RunResult], path: Path) -> Path:
    """Write the merged JUnit XML of ``results`` to ``path`` (atomically)."""
    write_atomic(Path(path), junit_xml(results))
    return Path(path)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(results: Iterable[RunResult], coverage: dict | None = None) -> str:
    """A Markdown summary: verdict, one row per bench and simulator, every failing case with its
    seed, log, waveforms and the command that replays it, then the ``coverage`` report (from
    :func:`kchip.verification.coverage.merge`); a missed coverage goal fails the verdict."""
    results = list(results)
    suites = histories(results)
    everything = [h for cases in suites.values() for h in cases]
    total = counts(everything)
    missed = (coverage or {}).get("missed")
    verdict = "FAILED" if total["failures"] or total["errors"] or missed else "PASSED"
    lines = [f"# kchip verify: {verdict}", "",
             f"{len({r.slot for r in results})} run(s), {total['tests']} test case(s): "
             f"{total['failures']} failed, {total['errors']} errors, {total['flaky']} flaky, "
             f"{total['skipped']} skipped; {sum(r.seconds for r in results):.1f} s of simulation.",
             "", "| suite | seeds | tests | failed | errors | flaky | skipped |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for suite, cases in suites.items():
        number = counts(cases)
        seeds = sorted({h.seed for h in cases})
        lines.append(f"| {_cell(suite)} | {', '.join(map(str, seeds))} | {number['tests']} | "
                     f"{number['failures']} | {number['errors']} | {number['flaky']} | "
                     f"{number['skipped']} |")
    bad = [h for h in everything if h.final.bad or h.flaky]
    if bad:
        lines += ["", "## Failing and flaky cases", ""]
    for history in bad:
        result, final = history.result, history.final
        state = "flaky" if history.flaky else final.outcome
        first_line = (final.message or next((c.message for _, c in history.attempts if c.bad), ""))
        first_line = first_line.strip().splitlines()[0] if first_line.strip() else ""
        replay = (f"kchip verify run {result.testbench} --sim {result.simulator} "
                  f"--seed {result.seed}")
        if final.name != "simulator":
            replay += f" --test {final.name}"
        where = "" if str(result.log) in first_line else f"; log `{result.log}`"
        where += "".join(f"; waves `{path}`" for path in result.waves if Path(path).is_file())
        lines.append(f"- **{_cell(history.classname)}.{_cell(history.name)}** ({state}, seed "
                     f"{history.seed}, {len(history.attempts)} attempt(s)): {_cell(first_line)}"
                     f"{where}; replay `{replay}`")
    return "\n".join(lines) + "\n" + coverage_report.markdown(coverage or {})


def write_summary(results: Iterable[RunResult], path: Path, *, coverage: dict | None = None) -> Path:
    """Write the Markdown summary of ``results`` (and ``coverage``) to ``path`` (atomically)."""
    write_atomic(Path(path), markdown(results, coverage))
    return Path(path)


__all__ = ["History", "histories", "counts", "junit_xml", "write_junit", "markdown",
           "write_summary"]
