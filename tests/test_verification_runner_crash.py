"""Crashes and hangs become results: the regression goes on, reports them, and exits non-zero."""

import threading
import time
from xml.etree import ElementTree

import pytest
from verification_benches import ff, process_alive, use_benches  # noqa: F401  (ff: fixture)

from kchip.cli import main
from kchip.verification import process, runner


def _in_thread(target, limit: float):
    """Run ``target`` in a thread; fail (and kill what it started) if it is still going at
    ``limit`` seconds, so a regression that never ends fails the test instead of hanging it."""
    outcome = {}

    def call():
        try:
            outcome["value"] = target()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        process.kill_all()
        thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    assert "value" in outcome, f"still running after {limit:g} s (a hang waited forever?)"
    return outcome["value"]


def test_a_crash_an_exit_and_a_hang_are_reported_and_the_next_bench_runs(ff, tmp_path,
                                                                         monkeypatch, capsys):
    use_benches(monkeypatch, ff.segv, ff.exits, ff.hang, ff.good)
    out = tmp_path / "out"
    args = ["verify", "run", "ff_segv", "ff_exit", "ff_hang", "ff_good", "--seed", "7",
            "--timeout", "5", "--jobs", "1", "--out", str(out), "--build-root", str(tmp_path / "b")]
    began = time.monotonic()
    assert _in_thread(lambda: main(args), 120) == 1
    assert time.monotonic() - began < 60
    printed = capsys.readouterr().out
    assert "Traceback" not in printed and "kchip verify" in printed  # the table
    cases = {case.get("classname").split(".")[0]: case
             for case in ElementTree.parse(out / "junit.xml").getroot().iter("testcase")}
    assert set(cases) == {"ff_segv", "ff_exit", "ff_hang", "ff_good"}
    assert cases["ff_good"].find("error") is None and cases["ff_good"].find("failure") is None
    expected = {"ff_segv": "killed by signal 11 (SIGSEGV)", "ff_exit": "exit status 3",
                "ff_hang": "timed out after 5 s"}
    for bench, words in expected.items():
        error = cases[bench].find("error")
        assert error is not None, bench
        assert words in error.get("message") and "seed 7" in error.get("message"), bench
        properties = {p.get("name"): p.get("value") for p in cases[bench].iter("property")}
        assert properties["seed"] == "7" and properties["log"].endswith("test.log")
        assert properties["log"] in error.get("message")
    assert "crashes" in cases["ff_segv"].find("error").text  # the log tail names the test
    hang_dir = out / "runs" / "ff_hang-icarus-7"
    grandchild = int((hang_dir / "grandchild.pid").read_text())
    deadline = time.monotonic() + 5
    while process_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(grandchild), "the hung simulator's process group outlived it"


def test_run_raises_or_reports_a_crash(ff, tmp_path):
    with pytest.raises(runner.SimulationError, match=r"signal 11 \(SIGSEGV\).*seed 3") as caught:
        runner.run(ff.segv, seed=3, build_root=tmp_path / "b")
    assert "last lines of the log" in str(caught.value)
    result = runner.run(ff.exits, seed=4, build_root=tmp_path / "b", check=False)
    assert result.status == "crash" and result.exit_status == 3 and result.signal is None
    assert result.failed == ("simulator",) and not result.passed


def test_run_kills_a_hang_at_the_timeout(ff, tmp_path):
    began = time.monotonic()
    result = _in_thread(lambda: runner.run(ff.hang, seed=5, build_root=tmp_path / "b",
                                           timeout=2, check=False), 60)
    assert result.status == "timeout" and result.signal == 9
    assert 2 <= time.monotonic() - began < 30
