"""What a user can trust about a run, checked through the real ``kchip flow run`` command on the
counter design: ``final/`` is the last run's report, a clock on a data input is not signed off,
bad stage variables stop before anything runs, one run owns a run folder, an interrupted run is
cleaned up and resumed, and errors are plain text a user can act on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COUNTER = REPO / "rtl" / "examples" / "counter.toml"


@pytest.fixture
def kchip(pdk):
    """Run ``python -m kchip ARGS`` as a user would (output not a terminal); returns the process."""
    env = {**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)}

    def run(*args, timeout=300, **kwargs):
        return subprocess.run([sys.executable, "-m", "kchip", *map(str, args)], env=env, capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    run.env = env
    return run


def _flow_metrics(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("flow__")}


def _wait_for(condition, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def _state(run_dir: Path, stage: str) -> str | None:
    files = list((run_dir / "status").glob(f"*-{stage}.json"))
    try:
        return json.loads(files[0].read_text())["state"] if files else None
    except ValueError:
        return None


def test_final_is_the_report_of_the_last_run(kchip, tmp_path):
    run_dir = tmp_path / "run"
    first = kchip("flow", "run", "--design", COUNTER, "--run-dir", run_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    seed_one = _flow_metrics(run_dir / "final" / "metrics.json")
    second = kchip("flow", "run", "--design", COUNTER, "--run-dir", run_dir, "--set", "place.seed=2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _flow_metrics(run_dir / "final" / "metrics.json") != seed_one
    third = kchip("flow", "run", "--design", COUNTER, "--run-dir", run_dir)
    assert third.returncode == 0
    assert _flow_metrics(run_dir / "final" / "metrics.json") == seed_one
    reported = float(third.stdout.split("timing__setup__ws = ")[1].split()[0])
    assert reported == seed_one["timing__setup__ws"]


def test_a_clock_on_a_data_input_is_not_signed_off(kchip, tmp_path):
    design = tmp_path / "counter_en.toml"
    design.write_text(COUNTER.read_text().replace('port = "clk"', 'port = "en"'))
    result = kchip("flow", "run", "--design", design, "--run-dir", tmp_path / "run")
    assert result.returncode == 1, result.stdout
    assert "FAIL timing__unconstrained__count" in result.stdout
    assert "FAIL cts__clock_pins__count = 0" in result.stdout
    assert "NOT CLEAN" in (tmp_path / "run" / "final" / "report.md").read_text()


@pytest.mark.parametrize("setting, shown", [
    ("cts.max_fanout=0", "cts.max_fanout = 0 is not valid: expected an integer from 2"),
    ("floorplan.strap_pitch_um=0", "floorplan.strap_pitch_um = 0.0 is not valid: expected a number from"),
    ("route.max_rounds=0", "route.max_rounds = 0 is not valid: expected an integer from 1"),
    ("sta.paths=-1", "sta.paths = -1 is not valid: expected an integer from 1"),
    ("place.rounds=-5", "place.rounds = -5 is not valid: expected an integer from 0"),
])
def test_out_of_range_variables_stop_before_any_stage(kchip, tmp_path, setting, shown):
    result = kchip("flow", "run", "--design", COUNTER, "--run-dir", tmp_path / "run", "--set", setting,
                   timeout=60)
    assert result.returncode == 2
    assert shown in result.stderr
    assert not (tmp_path / "run" / "stages").exists()


def test_a_second_run_into_a_busy_run_folder_is_refused(kchip, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "kchip", "flow", "run", "--design", str(COUNTER),
                              "--run-dir", str(run_dir)], env=kchip.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _state(run_dir, "synth") == "running")
        second = kchip("flow", "run", "--design", COUNTER, "--run-dir", run_dir, timeout=60)
        assert second.returncode == 2
        assert f"is in use by another kchip run (PID {first.pid} on host" in second.stderr
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    assert "synth: running" in out and out.count("synth: done") == 1


def test_a_run_killed_mid_stage_is_cleaned_and_resumed_without_redoing_finished_stages(kchip, tmp_path):
    run_dir = tmp_path / "run"
    victim = subprocess.Popen([sys.executable, "-m", "kchip", "flow", "run", "--design", str(COUNTER),
                               "--run-dir", str(run_dir)], env=kchip.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for(lambda: _state(run_dir, "synth") == "running")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert list(run_dir.glob("stages/*/.*.tmp*")), "the kill should leave synth's temporary folder"
    lint_before = json.loads(next(run_dir.glob("status/*-lint.json")).read_text())
    resumed = kchip("flow", "run", "--design", COUNTER, "--run-dir", run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "cleaned after an earlier run: marked 03-synth interrupted" in resumed.stdout
    assert "lint: done (reused)" in resumed.stdout or \
        json.loads(next(run_dir.glob("status/*-lint.json")).read_text()) == lint_before
    assert json.loads(next(run_dir.glob("status/*-lint.json")).read_text())["started"] == lint_before["started"]
    assert not list(run_dir.glob("stages/*/.*.tmp*"))
    assert all(_state(run_dir, s) == "done" for s in ("synth", "route", "report"))


def test_sigterm_is_reported(kchip, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "kchip", "flow", "run", "--design", str(COUNTER),
                             "--run-dir", str(run_dir)], env=kchip.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _state(run_dir, "synth") == "running")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert "terminated (SIGTERM)" in err


#: ``kchip ARGS`` with one SIGTERM delivered where the exception its handler raises is swallowed:
#: "luigi" when Luigi's scheduler records that elaborate finished (under ``except BaseException``),
#: "del" in ``subprocess.Popen.__del__`` after lint's Verilator run (Python only prints what a
#: ``__del__`` raises). ``signal.raise_signal`` runs the handler at once, inside that code.
SWALLOWED_SIGTERM = """
import signal, subprocess, sys
import luigi.task_history
from kchip.cli import main
from kchip.tools import base, verilator

def sigterm_once(armed=[True]):
    if armed:
        armed.clear()
        signal.raise_signal(signal.SIGTERM)

if sys.argv[1] == "luigi":
    task_finished = luigi.task_history.NopHistory.task_finished
    def finished(self, task, successful):
        sigterm_once()
        return task_finished(self, task, successful)
    luigi.task_history.NopHistory.task_finished = finished
else:
    tool_run, popen_del, in_lint = base.Invocation.run, subprocess.Popen.__del__, []
    def run(self, spec, *args, **kwargs):
        in_lint.append(spec is verilator.TOOL)
        return tool_run(self, spec, *args, **kwargs)
    def delete(self):
        if in_lint and in_lint[-1]:
            sigterm_once()
        popen_del(self)
    base.Invocation.run, subprocess.Popen.__del__ = run, delete
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["luigi", "del"])
def test_a_sigterm_whose_exception_is_swallowed_still_terminates(kchip, tmp_path, where):
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", SWALLOWED_SIGTERM, where, "flow", "run", "--design",
                             str(COUNTER), "--run-dir", str(run_dir), "--to", "lint"], env=kchip.env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 143, result.stdout + result.stderr
    assert "terminated (SIGTERM)" in result.stderr
    assert _state(run_dir, "elaborate") == "done"
    assert _state(run_dir, "lint") == (None if where == "luigi" else "interrupted")
    assert not list(run_dir.glob("stages/*-lint/*/state.json"))


def test_messages_with_brackets_are_printed_as_written(kchip, tmp_path):
    design = tmp_path / "bad[red].toml"
    design.write_text(COUNTER.read_text().replace("aspect_ratio = 1.0", "aspect_ratio = 99.0"))
    result = kchip("flow", "run", "--design", design, "--run-dir", tmp_path / "run")
    assert result.returncode == 2
    assert "bad[red].toml" in result.stderr
    assert "[floorplan]" in result.stderr or "floorplan.aspect_ratio" in result.stderr or \
        "'aspect_ratio'" in result.stderr
    assert "Traceback" not in result.stderr


def test_progress_lines_appear_when_output_is_not_a_terminal(kchip, tmp_path):
    result = kchip("flow", "run", "--design", COUNTER, "--run-dir", tmp_path / "run", "--to", "synth")
    assert result.returncode == 0
    events = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line[:2].isdigit()]
    assert "synth: running" in events, result.stdout
    assert any(e.startswith("synth: done in ") for e in events), result.stdout
    assert events.index("synth: running") < len(events) - 1


def test_an_unreachable_scheduler_is_an_error_within_seconds(kchip, tmp_path):
    started = time.time()
    result = kchip("flow", "run", "--design", COUNTER, "--run-dir", tmp_path / "run",
                   "--scheduler-url", "http://127.0.0.1:9/", timeout=60)
    assert result.returncode == 2
    assert "no luigid answers there" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.time() - started < 20


def test_missing_tools_are_found_before_the_first_stage(kchip, tmp_path):
    env = {**kchip.env, "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", str(COUNTER),
                             "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "magic not found" in result.stderr and "netgen" in result.stderr
    assert not (tmp_path / "run" / "stages").exists()
