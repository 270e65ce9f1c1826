"""Running the flow with Luigi: target stage, forced re-runs, workers, and live stage status."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import luigi

from kchip.design import Design
from kchip.flows.interrupt import check_stop
from kchip.flows.pipeline import STAGES, downstream_of
from kchip.flows.report import publish_final
from kchip.flows.run_folder import RunFolderBusy, RunFolderLock, clean_interrupted
from kchip.flows.stage import Stage
from kchip.tools.base import ToolMissing, require


class FlowError(ValueError):
    """A flow request that cannot run (unknown stage, bad override)."""


@dataclass
class StageStatus:
    name: str
    state: str = "pending"
    seconds: float | None = None
    error: str | None = None
    metrics: dict = field(default_factory=dict)
    #: done by an earlier run with the same inputs (its status file describes another configuration)
    reused: bool = False


@dataclass
class FlowResult:
    """What a run did: whether ``to_stage`` is done, every stage's status, the metrics of
    ``to_stage`` and those of ``run_dir/final`` (empty unless it is this configuration's report)."""

    ok: bool
    stages: list[StageStatus]
    metrics: dict
    final_metrics: dict
    run_dir: Path
    seconds: float
    #: what an interrupted earlier run left and this run cleaned, one line each
    cleaned: list[str] = field(default_factory=list)
    #: Luigi's own summary, when the run stopped short without any stage failing (the scheduler
    #: or a worker process failed outside every stage's code)
    scheduler_summary: str = ""


def _check_stage(name: str | None, option: str) -> None:
    if name is not None and name not in STAGES:
        raise FlowError(f"{option} {name!r} is not a stage; stages in order: {', '.join(STAGES)}")


def check_overrides(overrides: dict, origin: str) -> dict:
    """``{"stage.variable": value}`` checked against the stages' variables."""
    for key in overrides:
        stage, _, var = key.partition(".")
        if stage not in STAGES:
            raise FlowError(f"{origin}: {key!r}: expected STAGE.VARIABLE with STAGE one of {', '.join(STAGES)}")
        names = [v.name for v in STAGES[stage].variables]
        if var not in names:
            raise FlowError(f"{origin}: {key!r}: stage {stage} has no variable {var!r}; its variables: "
                            f"{', '.join(names) or 'none'}")
    return overrides


def parse_overrides(pairs: list[str]) -> dict:
    """``stage.variable=value`` pairs (value as JSON, else as a string) checked against the stages."""
    overrides = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise FlowError(f"--set {pair!r}: expected STAGE.VARIABLE=VALUE")
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    return check_overrides(overrides, "--set")


def plan(to_stage: str) -> list[str]:
    """The stages ``to_stage`` needs, in flow order."""
    needed, todo = set(), [to_stage]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += list(STAGES[name].upstream)
    return [name for name in STAGES if name in needed]


def _read_status(task: Stage) -> StageStatus:
    """A stage's state: done when its output exists, else what its status file says."""
    status = StageStatus(task.name)
    path = task.status_file()
    data = json.loads(path.read_text()) if path.exists() else {}
    if data.get("folder") != str(task.folder()):
        data = {}
    if "ended" in data:
        status.seconds = data["ended"] - data["started"]
    status.metrics = data.get("metrics", {})
    status.error = data.get("error")
    recorded = data.get("state", "pending")
    status.state = "done" if task.complete() and recorded != "running" else recorded
    if status.state == "done" and not data:
        status.reused = True
        status.metrics = json.loads((task.folder() / "metrics.json").read_text())
    return status


def check_tools(tasks: list[Stage]) -> None:
    """Every tool the stages run is installed and new enough; one error listing all that are not."""
    problems = []
    for spec in {spec.name: spec for task in tasks for spec in task.tools}.values():
        try:
            require(spec)
        except ToolMissing as exc:
            problems.append(str(exc))
    if problems:
        raise FlowError("tools the requested stages need are missing:\n  " + "\n  ".join(problems))


def check_run_folder(run_dir: Path) -> None:
    """The run folder can be created and written, and every tool can take it in a file path.

    Spaces and other characters work; Verilator cannot read a file whose path holds a double quote
    (it writes the path into its ```line`` directives) or a newline, and magic and OpenSTA cannot
    open one whose path holds a character beyond U+FFFF (their Tcl 8.6 cannot hold it).
    """
    for char in dict.fromkeys(str(run_dir)):
        tool = "Verilator" if char in '"\n' else "magic and OpenSTA" if ord(char) > 0xFFFF else None
        if tool:
            raise FlowError(f"run folder {str(run_dir)!r} contains {char!r} (U+{ord(char):04X}), which "
                            f"{tool} cannot take in a file path; choose another --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe_file = run_dir / f".write-test{os.getpid()}"
        probe_file.write_text("")
        probe_file.unlink()
    except OSError as exc:
        raise FlowError(f"run folder {str(run_dir)!r} cannot be written: {exc.strerror}; choose another "
                        f"--run-dir") from None


def check_scheduler(url: str, timeout: float = 5.0) -> None:
    """A central luigid answers at ``url`` within ``timeout`` seconds, or FlowError says how to start one."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FlowError(f"--scheduler-url {url!r}: no luigid answers there ({reason}); start one with "
                        f"'luigid --port PORT' on the scheduler machine, or leave out --scheduler-url to "
                        f"use the local scheduler") from None


def _final_metrics(run_dir: Path, report: Stage) -> dict:
    """The metrics of ``run_dir/final``, when it is the report of exactly this configuration."""
    path = run_dir / "final" / "metrics.json"
    if not path.is_file():
        return {}
    metrics = json.loads(path.read_text())
    return metrics if metrics.get("flow__config__digest") == report.digest() else {}


def run_flow(design: Design, pdk_name: str, pdk_root: Path, run_dir: Path, *, from_stage: str | None = None,
             to_stage: str = "report", jobs: int = 1, overrides: dict | None = None,
             scheduler_url: str | None = None, join: bool = False,
             on_update: Callable[[list[StageStatus]], None] | None = None) -> FlowResult:
    """Run the flow up to ``to_stage``; ``from_stage`` and everything after it re-run even if done.

    Everything that can be known before a stage runs is checked first (stage names, variables and
    their ranges, tools, the scheduler). The run holds the run folder's lock throughout, cleans what
    an interrupted run left, and ends by pointing ``run_dir/final`` at the report of this exact
    configuration (or removing it when there is none).

    ``join`` makes this process one more worker of a run that another ``kchip flow run`` (on this
    or another machine sharing the run folder, with the same central luigid) started and owns:
    it runs stages as the scheduler hands them out, and neither locks, cleans nor publishes.
    """
    _check_stage(from_stage, "--from")
    _check_stage(to_stage, "--to")
    names = plan(to_stage)
    if from_stage is not None and from_stage not in names:
        raise FlowError(f"--from {from_stage!r} is not on the way to --to {to_stage!r}; stages: {', '.join(names)}")
    run_dir = Path(run_dir).resolve()
    overrides = {**check_overrides(design.flow_overrides, f"{design.file} [flow.set]"), **(overrides or {})}
    params = dict(design_file=str(design.file), pdk_name=pdk_name, pdk_root=str(pdk_root),
                  run_dir=str(run_dir), config_json=json.dumps(overrides, sort_keys=True))
    tasks = {name: STAGES[name](**params) for name in STAGES}
    for task in tasks.values():
        task.config()
    check_tools([tasks[n] for n in names])
    check_run_folder(run_dir)
    if join and not scheduler_url:
        raise FlowError("--join needs --scheduler-url: a joining worker takes its stages from the central "
                        "luigid that the run it joins uses")
    if scheduler_url:
        check_scheduler(scheduler_url)
    if join:
        return _build(tasks, names, run_dir, None, to_stage, jobs, scheduler_url, on_update, publish=False)
    try:
        with RunFolderLock(run_dir):
            cleaned = clean_interrupted(run_dir)
            result = _build(tasks, names, run_dir, from_stage, to_stage, jobs, scheduler_url, on_update)
            result.cleaned = cleaned
            return result
    except RunFolderBusy as exc:
        raise FlowError(str(exc)) from None


#: held while the progress watcher draws: with ``--jobs`` above 1 Luigi forks a process per stage,
#: and a fork taken while the watcher is inside an import (rich imports lazily) leaves that module's
#: import lock held in the child, which then hangs on its first import of it. The fork waits for
#: the drawing to finish instead.
_DRAWING = threading.Lock()
os.register_at_fork(before=_DRAWING.acquire, after_in_parent=_DRAWING.release,
                    after_in_child=_DRAWING.release)


def _build(tasks, names, run_dir, from_stage, to_stage, jobs, scheduler_url, on_update,
           publish=True) -> FlowResult:
    if from_stage is not None:
        for name in downstream_of(from_stage) & set(names):
            shutil.rmtree(tasks[name].folder(), ignore_errors=True)
            tasks[name].status_file().unlink(missing_ok=True)
    started = time.time()
    kwargs = {"workers": jobs, "detailed_summary": True, "log_level": "CRITICAL"}
    if scheduler_url:
        kwargs["scheduler_url"] = scheduler_url
    else:
        kwargs["local_scheduler"] = True
    finished = threading.Event()

    def watch():
        while not finished.wait(0.25):
            with _DRAWING:
                on_update([_read_status(tasks[n]) for n in names])

    watcher = threading.Thread(target=watch, daemon=True) if on_update else None
    if watcher:
        watcher.start()
    config = luigi.configuration.get_config()
    had_keep_alive = config.has_option("worker", "keep_alive")
    previous = config.get("worker", "keep_alive", None)
    # with a central scheduler a worker waits for stages other workers still run; alone it must not
    config.set("worker", "keep_alive", "true" if scheduler_url else "false")
    try:
        outcome = luigi.build([tasks[to_stage]], **kwargs)
        # Luigi returns normally when it swallowed the SIGTERM's exception (its scheduler records task
        # history under `except BaseException`); the run was still terminated
        check_stop()
    except KeyboardInterrupt:
        for child in multiprocessing.active_children():
            child.terminate()
            child.join(30)
        raise
    finally:
        if had_keep_alive:
            config.set("worker", "keep_alive", previous)
        else:
            config.remove_option("worker", "keep_alive")
        finished.set()
        if watcher:
            watcher.join()
    statuses = [_read_status(tasks[n]) for n in names]
    if on_update:
        on_update(statuses)
    report = tasks["report"]
    if publish:
        publish_final(run_dir, report.folder() / "final" if report.complete() else None)
    final = tasks[to_stage]
    metrics = json.loads(Path(final.output().path).read_text())["metrics"] if final.complete() else {}
    unexplained = not final.complete() and not any(s.state in ("failed", "interrupted") for s in statuses)
    return FlowResult(final.complete(), statuses, metrics, _final_metrics(run_dir, report), run_dir,
                      time.time() - started,
                      scheduler_summary=getattr(outcome, "summary_text", "") if unexplained else "")
