"""Precheck results: one :class:`CheckResult` per check, gathered in a :class:`PrecheckReport` and
written as JUnit XML (``results.xml``, for CI) and Markdown (``results.md``, for people)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: passed or not, with one detail line per problem (naming the shape or
    pin and where it is). ``skipped`` gives the reason when the check does not apply (a slot without
    a pin template, no top cell to look in); a skipped check passes."""

    name: str
    passed: bool
    details: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0

    @classmethod
    def from_details(cls, name: str, details: list[str]) -> CheckResult:
        """Passed when there is no detail, i.e. no problem found."""
        return cls(name, not details, list(details))

    @classmethod
    def skip(cls, name: str, reason: str) -> CheckResult:
        return cls(name, True, [], reason)

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``skip``."""
        return "skip" if self.skipped else ("pass" if self.passed else "fail")


@dataclass(frozen=True)
class PrecheckReport:
    """Every check's result for one GDS against one slot."""

    gds: Path
    slot_spec: str
    top: str
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def result(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"no check named {name!r}; checks: {', '.join(r.name for r in self.results)}")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def junit_xml(report: PrecheckReport) -> str:
    """The report as a JUnit XML document: one test case per check, a failure carrying the details."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=f"kchip mpw precheck {report.top} on {report.slot_spec}",
                          tests=str(len(report.results)), failures=str(len(report.failed)),
                          skipped=str(sum(1 for r in report.results if r.skipped)), errors="0",
                          time=f"{sum(r.seconds for r in report.results):.3f}")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="gds", value=str(report.gds))
    for result in report.results:
        case = ET.SubElement(suite, "testcase", classname="kchip.mpw.precheck", name=result.name,
                             time=f"{result.seconds:.3f}")
        if result.skipped:
            ET.SubElement(case, "skipped", message=result.skipped)
        elif not result.passed:
            failure = ET.SubElement(case, "failure", message=result.details[0] if result.details else "failed")
            failure.text = "\n".join(result.details)
    tree = ET.ElementTree(suites)
    ET.indent(tree, space="  ")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(report: PrecheckReport) -> str:
    """The report as a Markdown page: the verdict, then a table of the checks with their details."""
    verdict = "passes" if report.passed else f"fails ({len(report.failed)} of {len(report.results)} checks)"
    lines = [f"# kchip mpw precheck: {report.top} on {report.slot_spec}", "",
             f"GDS: `{report.gds}`", "", f"**{report.top} {verdict}**", "",
             "| check | result | details |", "|---|---|---|"]
    for result in report.results:
        details = result.skipped or "<br>".join(_md_cell(d) for d in result.details)
        lines.append(f"| {result.name} | {result.status} | {details} |")
    return "\n".join(lines) + "\n"


def write_results(report: PrecheckReport, out: Path) -> tuple[Path, Path]:
    """Write ``out/results.xml`` and ``out/results.md``; return their paths."""
    xml_path, md_path = Path(out) / "results.xml", Path(out) / "results.md"
    _write_atomic(xml_path, junit_xml(report))
    _write_atomic(md_path, markdown(report))
    return xml_path, md_path
