"""Regressions: simulators x seeds in parallel with one build per key, -k, re-runs of the failed
cases (flaky ones marked), one merged JUnit file that a strict schema accepts, clear CLI errors."""

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema
from verification_benches import INVERTED, ff, use_benches  # noqa: F401  (ff: fixture)

from kchip.cli import main
from kchip.verification import build as builds
from kchip.verification import regression
from kchip.verification.junit import junit_xml
from kchip.verification.results import Case, RunResult

SCHEMA = Path(__file__).parent / "data" / "junit.xsd"


def _cases(junit: Path) -> dict[tuple[str, str], ElementTree.Element]:
    root = ElementTree.parse(junit).getroot()
    return {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}


def _properties(case: ElementTree.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in case.iter("property")}


def test_seeds_run_in_parallel_on_one_build_per_key(ff, tmp_path, monkeypatch):
    calls = []
    real_build = builds.build
    monkeypatch.setattr(builds, "build", lambda staged: calls.append(staged.key) or
                        real_build(staged))
    jobs = regression.plan([ff.good, ff.failing], ["icarus"], [1, 2, 3])
    options = regression.Options(build_root=tmp_path / "b", out=tmp_path / "out", jobs=2)
    results = regression.execute(jobs, options)
    assert [(r.testbench, r.seed) for r in results] == [(j.testbench.name, j.seed) for j in jobs]
    assert len(calls) == 1, "the two benches share one source and settings: one build"
    assert len({r.run_dir for r in results}) == 6 and all(r.results_xml.is_file() for r in results)
    assert [r.passed for r in results] == [True] * 3 + [False] * 3
    assert len(list((tmp_path / "b").glob("icarus-ff-*"))) == 1


def test_keyword_selects_benches_and_tests(ff):
    assert regression.select_tests(ff.good, "follows") == (("follows_d",), None)
    assert regression.select_tests(ff.good, "FF_GOOD") == (None, None)
    assert regression.select_tests(ff.good, "ff_good.idl") == (("idles",), None)
    assert regression.select_tests(ff.good, "nothing") is None
    jobs = regression.plan([ff.good, ff.failing], ["icarus", "verilator"], [4], keyword="always")
    assert [(j.testbench.name, j.simulator, j.tests) for j in jobs] == [
        ("ff_fail", "icarus", ("always_fails",)), ("ff_fail", "verilator", ("always_fails",))]


def test_rerun_failed_records_reruns_and_flaky_tests_in_a_valid_junit(ff, tmp_path, monkeypatch,
                                                                      capsys):
    use_benches(monkeypatch, ff.good, ff.failing, ff.flaky, ff.segv)
    out, junit = tmp_path / "out", tmp_path / "ci" / "junit.xml"
    common = ["--out", str(out), "--build-root", str(tmp_path / "b"), "--jobs", "2"]
    assert main(["verify", "run", "--seed", "11", "--seed", "12", "--junit", str(junit),
                 *common]) == 1
    first = json.loads((out / "regression.json").read_text())["results"]
    assert len(first) == 8 and junit.is_file()
    assert main(["verify", "run", "--rerun-failed", "--junit", str(junit), *common]) == 1
    capsys.readouterr()
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(junit))
    cases = _cases(junit)
    assert {c.get("name") for c in ElementTree.parse(junit).getroot().iter("testsuite")} == {
        "ff_good.icarus", "ff_fail.icarus", "ff_flaky.icarus", "ff_segv.icarus"}
    flaky = cases[("ff_flaky.icarus.ff_flaky", "fails_once [seed=11]")]
    assert _properties(flaky)["flaky"] == "true" and flaky.find("failure") is None
    assert flaky.find("flakyFailure").get("message").startswith("fails the first time only")
    failing = cases[("ff_fail.icarus.ff_fail", "always_fails [seed=12]")]
    assert failing.find("failure") is not None and len(failing.findall("rerunFailure")) == 1
    crashed = cases[("ff_segv.icarus.ff_crash", "simulator [seed=11]")]
    assert crashed.find("error").get("type") == "crash" and crashed.find("rerunError") is not None
    good = cases[("ff_good.icarus.ff_tests", "follows_d [seed=11]")]
    assert _properties(good)["attempts"] == "1" and good.find("failure") is None
    for case in cases.values():
        properties = _properties(case)
        assert properties["seed"] in ("11", "12") and Path(properties["log"]).name == "test.log"
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert "ff_fail-icarus-11" in runs and "ff_fail-icarus-11-rerun1" in runs
    assert (out / "runs" / "ff_fail-icarus-11" / "results.xml").is_file()  # not overwritten
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# kchip verify: FAILED") and "flaky" in summary
    assert "--seed 12 --test always_fails" in summary
    assert main(["verify", "run", "--rerun-failed", *common]) == 1  # the flaky one is done
    reruns = [r for r in json.loads((out / "regression.json").read_text())["results"]
              if r["attempt"] == 2]
    assert sorted((r["testbench"], r["seed"]) for r in reruns) == [
        ("ff_fail", 11), ("ff_fail", 12), ("ff_segv", 11), ("ff_segv", 12)]


def test_a_rerun_of_the_same_seed_after_an_edit_is_a_rerun_not_a_new_case(ff, tmp_path,
                                                                           monkeypatch):
    use_benches(monkeypatch, ff.good)
    common = ["--out", str(tmp_path / "out"), "--build-root", str(tmp_path / "b")]
    ff.source.write_text(INVERTED)
    assert main(["verify", "run", "--seed", "3", *common]) == 1
    ff.source.write_text(INVERTED.replace("~d", "d"))  # fixed: the re-run passes, marked flaky
    assert main(["verify", "run", "--rerun-failed", *common]) == 0
    case = _cases(tmp_path / "out" / "junit.xml")[("ff_good.icarus.ff_tests", "follows_d")]
    assert _properties(case)["flaky"] == "true" and _properties(case)["attempts"] == "2"
    assert main(["verify", "run", "--rerun-failed", *common]) == 0


def test_junit_stays_valid_with_control_characters_and_skips(tmp_path):
    """A crashed simulator's log tail may hold any byte; XML 1.0 cannot."""
    cases = (Case("simulator", "tb", "error", 1.5, "killed \x00", "\x1b[31mboom\x07", "crash"),
             Case("later", "tb", "skipped", message="not reached"))
    result = RunResult("b", "icarus", 9, 2, ("simulator",), tmp_path / "r.xml",
                       tmp_path / "test.log", status="crash", cases=cases, test_module="tb")
    (tmp_path / "junit.xml").write_text(junit_xml([result]))
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(tmp_path / "junit.xml"))
    case = _cases(tmp_path / "junit.xml")[("b.icarus.tb", "simulator")]
    assert "boom" in case.find("error").text and _properties(case)["seed"] == "9"


@pytest.mark.parametrize("args, message", [
    (["--sim", "icarus,ghdl"],
     "unknown simulator 'ghdl' in --sim; valid choices: icarus, verilator"),
    (["no_such_bench"], "unknown testbench 'no_such_bench'; known testbenches: ff_good"),
    (["--seed", "1", "--seeds", "2"], "either --seed S (repeatable) or --seeds N"),
    (["-k", "zzz"], "no bench or test matches -k 'zzz'; benches: ff_good"),
    (["--rerun-failed", "--seed", "4"], "leave out --seed"),
    (["--jobs", "0"], "--jobs 0: must be 1 or more"),
])
def test_cli_errors_name_the_value_and_the_choices(ff, tmp_path, monkeypatch, capsys, args,
                                                   message):
    use_benches(monkeypatch, ff.good)
    assert main(["verify", "run", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_rerun_without_a_previous_regression_says_so(tmp_path, capsys):
    assert main(["verify", "run", "--rerun-failed", "--out", str(tmp_path / "none")]) == 2
    assert "no previous regression in" in capsys.readouterr().err


@pytest.mark.slow
def test_both_simulators_and_many_seeds_from_the_cli(ff, tmp_path, monkeypatch):
    use_benches(monkeypatch, ff.good)
    out = tmp_path / "out"
    assert main(["verify", "run", "--sim", "icarus,verilator", "--seeds", "3", "--jobs", "2",
                 "--out", str(out), "--build-root", str(tmp_path / "b")]) == 0
    suites = {s.get("name"): int(s.get("tests"))
              for s in ElementTree.parse(out / "junit.xml").getroot().iter("testsuite")}
    assert suites == {"ff_good.icarus": 6, "ff_good.verilator": 6}
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(out / "junit.xml"))
