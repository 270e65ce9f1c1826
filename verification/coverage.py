"""Functional coverage of any bench, merged over a regression, with goals; Verilator's too.

Inside a test (in the simulator): :func:`record` adds hit counts per bin to the run's coverage
file, ``coverage.json`` in the run folder (its path is in ``KCHIP_COVERAGE_FILE``), a JSON object
``{bin: hits}``; name every bin the bench knows, with 0 for those not hit, so that a bin nobody hit
still shows. Tests of one run add up.

After a regression: :func:`merge` adds up the files of all runs (every simulator, seed and re-run)
per bench and holds them against the bench's ``goals`` (least hits per bin, from its manifest). A
goal is judged only for a bench that ran its whole test selection at least once (a run limited by
``--test`` or ``-k`` cannot be expected to reach it). :func:`markdown` is the summary's section.

With ``--coverage``, Verilator builds get ``--coverage-line --coverage-toggle`` (:data:`VERILATOR_ARGS`)
and each run writes ``coverage.dat``; :func:`merge_verilator` adds them into one file of the same
format (for ``verilator_coverage`` or lcov) and counts the points hit per kind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from kchip.formats.files import write_atomic
from kchip.verification.results import RunResult

COVERAGE_FILE, COVERAGE_ENV = "coverage.json", "KCHIP_COVERAGE_FILE"
VERILATOR_FILE = "coverage.dat"
VERILATOR_ARGS = ("--coverage-line", "--coverage-toggle")
REPORT, VERILATOR_MERGED = "coverage.json", "verilator_coverage.dat"


def coverage_file() -> Path:
    """The running test's coverage file (``KCHIP_COVERAGE_FILE``, else ``coverage.json`` here)."""
    return Path(os.environ.get(COVERAGE_ENV) or COVERAGE_FILE)


def record(hits: Mapping[str, int], *, path: Path | None = None) -> dict[str, int]:
    """Add ``hits`` (bin -> count, 0 allowed) to the coverage file; return the file's new counts."""
    path = Path(path) if path is not None else coverage_file()
    merged = json.loads(path.read_text()) if path.is_file() else {}
    for name, count in hits.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"coverage bin {name!r}: hits {count!r} is not an integer >= 0")
        merged[str(name)] = merged.get(str(name), 0) + count
    write_atomic(path, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    return merged


def _read(path: Path) -> dict[str, int]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): int(v) for k, v in data.items()
            if isinstance(v, int) and not isinstance(v, bool)}


def merge(results: Sequence[RunResult], goals: Mapping[str, Mapping[str, int]]) -> dict:
    """Per bench: merged bin counts over ``results``, runs counted, goals and the goals missed.

    ``goals`` are by bench name. Returns ``{"benches": {bench: {...}}, "missed": [...]}`` where
    each missed goal is ``{"bench", "bin", "hits", "goal"}``.
    """
    benches: dict[str, dict] = {}
    for result in results:
        entry = benches.setdefault(result.testbench, {"bins": {}, "runs": 0, "judged": False})
        whole = result.requested is None and result.test_filter is None and not result.attempt
        entry["judged"] = entry["judged"] or (whole and result.status == "ok")
        counts = _read(Path(result.run_dir) / COVERAGE_FILE) if result.run_dir else {}
        entry["runs"] += bool(counts)
        for name, count in counts.items():
            entry["bins"][name] = entry["bins"].get(name, 0) + count
    missed = []
    for name, entry in benches.items():
        wanted = dict(goals.get(name, {}))
        entry["goals"] = wanted
        for bin_name in wanted:
            entry["bins"].setdefault(bin_name, 0)
        entry["bins"] = dict(sorted(entry["bins"].items()))
        entry["missed"] = [b for b, goal in wanted.items() if entry["bins"][b] < goal]
        if entry["judged"]:
            missed += [{"bench": name, "bin": b, "hits": entry["bins"][b], "goal": wanted[b]}
                       for b in entry["missed"]]
    return {"benches": {k: v for k, v in benches.items() if v["bins"]}, "missed": missed}


def _verilator_points(path: Path) -> Iterable[tuple[str, int]]:
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("C '"):
            key, _, count = line[2:].rpartition(" ")
            yield key, int(count)


def _kind(key: str) -> str:
    """The kind of a Verilator coverage point (``line``, ``toggle``, ``branch``...) from its key."""
    for field in key.strip("'").split("\x01"):
        if field.startswith("page\x02v_"):
            return field[len("page\x02v_"):].split("/")[0]
    return "other"


def merge_verilator(results: Sequence[RunResult], out: Path) -> dict | None:
    """Add up the runs' ``coverage.dat`` into ``out``; points and points hit per kind, or None
    when no run wrote one (and a merged file of an earlier regression in ``out`` is removed)."""
    files = [Path(r.run_dir) / VERILATOR_FILE for r in results
             if r.run_dir and (Path(r.run_dir) / VERILATOR_FILE).is_file()]
    if not files:
        Path(out).unlink(missing_ok=True)
        return None
    points: dict[str, int] = {}
    for path in files:
        for key, count in _verilator_points(path):
            points[key] = points.get(key, 0) + count
    write_atomic(Path(out), "# SystemC::Coverage-3\n"
                 + "".join(f"C {key} {count}\n" for key, count in points.items()))
    kinds: dict[str, dict[str, int]] = {}
    for key, count in points.items():
        kind = kinds.setdefault(_kind(key), {"points": 0, "hit": 0})
        kind["points"] += 1
        kind["hit"] += count > 0
    return {"file": str(out), "runs": len(files), "kinds": dict(sorted(kinds.items()))}


def write_report(report: dict, path: Path) -> Path:
    """Write the merged coverage report (JSON) atomically."""
    write_atomic(Path(path), json.dumps(report, indent=1) + "\n")
    return Path(path)


def missed_lines(report: dict) -> list[str]:
    """One line per missed goal: ``coverage goal missed: <bench>.<bin>: H of G hits``."""
    return [f"coverage goal missed: {m['bench']}.{m['bin']}: {m['hits']} of {m['goal']} hits"
            for m in report.get("missed", ())]


def markdown(report: dict) -> str:
    """The summary's coverage section (empty when no bench recorded coverage)."""
    lines = []
    for bench, entry in report.get("benches", {}).items():
        hit = sum(1 for count in entry["bins"].values() if count)
        state = "" if entry["judged"] or not entry["goals"] else (
            " (goals not judged: only part of its tests ran)")
        lines += ["", f"### {bench}: {hit} of {len(entry['bins'])} bins hit over "
                      f"{entry['runs']} run(s){state}", "", "| bin | hits | goal | |",
                  "| --- | --- | --- | --- |"]
        for name, count in entry["bins"].items():
            goal = entry["goals"].get(name)
            mark = ("MISSED" if name in entry["missed"] else "met") if goal is not None else (
                "" if count else "not hit")
            lines.append(f"| {name} | {count} | {'' if goal is None else goal} | {mark} |")
    verilator = report.get("verilator")
    if verilator:
        lines += ["", f"### Verilator code coverage ({verilator['runs']} run(s), merged in "
                      f"`{verilator['file']}`)", "", "| kind | points | hit |",
                  "| --- | --- | --- |"]
        lines += [f"| {kind} | {v['points']} | {v['hit']} ({100 * v['hit'] / v['points']:.1f} %) |"
                  for kind, v in verilator["kinds"].items()]
    if not lines:
        return ""
    missed = missed_lines(report)
    head = ["", "## Coverage", "", *(f"- **{line}**" for line in missed)] if missed else [
        "", "## Coverage"]
    return "\n".join(head + lines) + "\n"


__all__ = ["COVERAGE_FILE", "COVERAGE_ENV", "VERILATOR_ARGS", "REPORT", "VERILATOR_MERGED",
           "coverage_file", "record", "merge", "merge_verilator", "write_report", "missed_lines",
           "markdown"]
