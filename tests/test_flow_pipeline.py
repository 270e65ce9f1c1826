"""The Luigi flow end to end on the counter: signoff, stage folders, re-runs and failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kchip.design import load_design, resolve_design
from kchip.flows.pipeline import STAGES
from kchip.flows.runner import FlowError, parse_overrides, run_flow

TOOL_STAGES = {"lint": "verilator-lint.log", "synth": None, "drc": None, "lvs": None, "sta": None}


def stage_states(run_dir: Path) -> dict[str, float]:
    """state.json modification time of every finished stage folder, by folder."""
    return {str(p.parent): p.stat().st_mtime_ns for p in run_dir.glob("stages/*/*/state.json")}


@pytest.fixture(scope="module")
def counter_run(pdk, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("counter-run")
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir)
    return result, run_dir, pdk


def test_the_counter_signs_off_clean(counter_run):
    result, run_dir, _ = counter_run
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    m = result.metrics
    assert m["route__unrouted__count"] == 0 and m["drc__errors__count"] == 0
    assert m["lvs__mismatch__count"] == 0
    assert m["timing__setup__ws"] >= 0 and m["timing__hold__ws"] >= 0
    assert m["design__instance__count"] > 20 and 0 < m["design__utilization"] < 1
    final = run_dir / "final"
    for name in ("counter.gds", "counter.nl.v", "counter.png", "metrics.json", "report.md", "report.html"):
        assert (final / name).stat().st_size > 0, name
    assert json.loads((final / "metrics.json").read_text())["drc__errors__count"] == 0
    assert "Signoff: CLEAN" in (final / "report.md").read_text()
    assert (final / "counter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_stage_folder_keeps_config_commands_logs_and_metrics(counter_run):
    _, run_dir, _ = counter_run
    folders = {p.parent.parent.name.split("-", 1)[1]: p.parent for p in run_dir.glob("stages/*/*/state.json")}
    assert set(folders) == set(STAGES)
    for name, folder in folders.items():
        config = json.loads((folder / "config.json").read_text())
        assert config["stage"] == name and "upstream" in config["defining_inputs"]
        assert json.loads((folder / "metrics.json").read_text())[f"flow__{name}__runtime__s"] >= 0
    for name in TOOL_STAGES:
        commands = (folders[name] / "commands.sh").read_text().splitlines()
        assert commands and all(line.strip() for line in commands)
    assert "--lint-only" in (folders["lint"] / "commands.sh").read_text()
    assert (folders["lint"] / "verilator-lint.log").exists()


def test_an_unchanged_flow_reruns_nothing(counter_run):
    _, run_dir, pdk = counter_run
    before = stage_states(run_dir)
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir)
    assert result.ok and stage_states(run_dir) == before


def test_a_changed_variable_reruns_exactly_the_stages_that_depend_on_it(counter_run):
    _, run_dir, pdk = counter_run
    before = stage_states(run_dir)
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir, to_stage="place",
                      overrides={"place.seed": 7})
    assert result.ok
    after = stage_states(run_dir)
    new = sorted(Path(f).parent.name for f in set(after) - set(before))
    assert new == ["05-place"]
    assert all(after[f] == t for f, t in before.items())


def test_an_interrupted_run_resumes_without_redoing_finished_stages(counter_run):
    _, run_dir, pdk = counter_run
    for name in ("04-floorplan", "10-drc", "11-lvs", "15-report"):
        for folder in (run_dir / "stages" / name).iterdir():
            if name == "04-floorplan":
                shutil.copytree(folder, folder.parent / f".{folder.name}.tmp99999")
            else:
                shutil.rmtree(folder)
    before = {f: t for f, t in stage_states(run_dir).items() if ".tmp" not in f}
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir)
    assert result.ok
    assert not list(run_dir.glob("stages/*/.*.tmp*"))
    after = stage_states(run_dir)
    assert all(after[f] == t for f, t in before.items())
    assert sorted(Path(f).parent.name for f in set(after) - set(before)) == ["10-drc", "11-lvs", "15-report"]


def test_from_forces_a_stage_to_run_again(counter_run):
    _, run_dir, pdk = counter_run
    before = stage_states(run_dir)
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir, from_stage="sta", to_stage="sta")
    assert result.ok
    after = stage_states(run_dir)
    changed = sorted(Path(f).parent.name for f in after if after[f] != before.get(f))
    assert changed == ["12-sta"]


def test_a_missing_tool_stops_the_run_before_any_stage_with_the_install_hint(counter_run, monkeypatch):
    _, run_dir, pdk = counter_run
    before = stage_states(run_dir)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    with pytest.raises(FlowError, match=r"(?s)magic not found.*apt-get install magic"):
        run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir, from_stage="drc", to_stage="drc")
    assert stage_states(run_dir) == before


def test_a_failing_tool_stops_the_flow_with_its_command_and_log(pdk, tmp_path):
    (tmp_path / "broken.v").write_text("module broken(input clk, output q);\n  assign q = ;\nendmodule\n")
    (tmp_path / "broken.toml").write_text(
        '[design]\nname = "broken"\ntop = "broken"\n[source]\nverilog = ["broken.v"]\n'
        '[clock]\nport = "clk"\nperiod_ns = 10\n[floorplan]\nutilization = 0.3\n')
    result = run_flow(load_design(tmp_path / "broken.toml"), "sky130A", pdk.root, tmp_path / "run")
    states = {s.name: s for s in result.stages}
    assert not result.ok and states["lint"].state == "failed"
    assert "Verilator error" in states["lint"].error
    assert states["synth"].state == "pending"
    assert not list((tmp_path / "run" / "stages").glob("03-synth/*/state.json"))


def test_bad_flow_options_are_rejected_with_the_valid_choices(pdk, tmp_path):
    design = resolve_design("counter")
    with pytest.raises(FlowError, match="stages in order: elaborate, lint"):
        run_flow(design, "sky130A", pdk.root, tmp_path, to_stage="routing")
    with pytest.raises(FlowError, match="stage place has no variable 'speed'; its variables: rounds, seed"):
        parse_overrides(["place.speed=3"])
    (tmp_path / "d.toml").write_text(design.file.read_text() + '\n[flow.set]\n"route.speed" = 3\n')
    with pytest.raises(FlowError, match="d.toml \\[flow.set\\]: 'route.speed': stage route has no variable"):
        run_flow(load_design(tmp_path / "d.toml"), "sky130A", pdk.root, tmp_path)
    with pytest.raises(ValueError, match="place.rounds = 'many' is not valid: expected an integer from 0 to 1000"):
        run_flow(design, "sky130A", pdk.root, tmp_path, overrides=parse_overrides(["place.rounds=many"]))


def _kchip(*args, env=None):
    return subprocess.run([sys.executable, "-m", "kchip", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_reports_bad_input_without_a_traceback(pdk, tmp_path):
    proc = _kchip("flow", "run", "--design", "nosuch", "--run-dir", str(tmp_path),
                  env={"KCHIP_PDK_ROOT": str(pdk.root)})
    assert proc.returncode == 2 and "built-in designs" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    proc = _kchip("flow", "run", "--design", "counter", "--jobs", "0", "--run-dir", str(tmp_path))
    assert proc.returncode == 2 and "--jobs 0" in proc.stderr + proc.stdout


def test_doctor_lists_missing_tools_with_install_hints():
    proc = _kchip("doctor", env={"PATH": str(Path(sys.executable).parent), "COLUMNS": "250"})
    assert proc.returncode == 1
    assert "apt-get install magic" in proc.stdout and "apt-get install opensta" in proc.stdout
    proc = _kchip("doctor", env={"COLUMNS": "250"})
    assert proc.returncode == 0 and "all tools present" in proc.stdout


def test_the_flow_runs_through_a_central_luigid(pdk, tmp_path):
    import socket
    import time
    import urllib.parse
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    luigid = Path(sys.executable).parent / "luigid"
    server = subprocess.Popen([str(luigid), "--address", "127.0.0.1", "--port", str(port), "--logdir",
                               str(tmp_path), "--state-path", str(tmp_path / "state.pickle")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        result = run_flow(resolve_design("counter"), "sky130A", pdk.root, tmp_path / "run", to_stage="place",
                          scheduler_url=f"http://127.0.0.1:{port}")
        query = urllib.parse.quote(json.dumps({"status": "DONE"}))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list?data={query}", timeout=10) as reply:
            known = json.loads(reply.read())["response"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.ok and [s.state for s in result.stages] == ["done"] * 5
    assert {task["name"] for task in known.values()} == {"Elaborate", "Lint", "Synth", "Floorplan", "Place"}


def test_a_design_file_sets_stage_variables_and_the_command_line_wins(pdk, tmp_path):
    design_file = tmp_path / "counter.toml"
    design_file.write_text(resolve_design("counter").file.read_text() +
                           '\n[flow.set]\n"place.seed" = 5\n"place.rounds" = 4\n')
    result = run_flow(load_design(design_file), "sky130A", pdk.root, tmp_path / "run", to_stage="place",
                      overrides={"place.rounds": 3})
    assert result.ok
    config = json.loads(next((tmp_path / "run").glob("stages/05-place/*/config.json")).read_text())["config"]
    assert config["seed"] == 5 and config["rounds"] == 3
