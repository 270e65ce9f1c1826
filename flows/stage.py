"""The contract every flow stage keeps, and the Luigi task that enforces it.

A stage declares, in one place, the views it reads and writes, its typed configuration variables
(type, default, unit, allowed range, help), the tools it runs and the PDK files it reads. Its output
folder is named after a digest of everything that defines its result: the stage's code (the static
import closure of its module, so no hand-kept list can miss a file), its configuration, the tool
versions, the PDK files and the digests of the stages it reads from. So an edit re-runs exactly the
stages that depend on it, and an unchanged flow re-runs nothing.

A stage runs in a temporary folder that is renamed into place when it succeeds; the folder then holds
``config.json``, ``commands.sh`` (every tool command, exactly), the tool logs, ``metrics.json`` and
``state.json`` (views and metrics, written last: its presence is what Luigi calls complete). Tasks keep
no process-local state, so they run the same on a central ``luigid`` with workers on other machines
that share the run folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import luigi

from kchip.design import Design, load_design
from kchip.design.sources import ModuleFinder, closure_files, files_digest
from kchip.flows.interrupt import Terminated, check_stop, stop_requested
from kchip.pdk import DEFAULT_PDK, Pdk, load_pdk
from kchip.tools.base import Invocation, ToolSpec, probe

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_FILE_DIGESTS: dict[str, str] = {}


def _digest_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "kchip" / "file-digests.json"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, remembered per path, size and modification time (in memory,
    and on disk for files over 1 MB such as liberty and GDS libraries)."""
    stat = os.stat(path)
    key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    if key in _FILE_DIGESTS:
        return _FILE_DIGESTS[key]
    large = stat.st_size > 1 << 20
    if large:
        try:
            _FILE_DIGESTS.update(json.loads(_digest_cache().read_text()))
        except (OSError, ValueError):
            pass
        if key in _FILE_DIGESTS:
            return _FILE_DIGESTS[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    _FILE_DIGESTS[key] = h.hexdigest()
    if large:
        cache = _digest_cache()
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{cache}.tmp{os.getpid()}")
        tmp.write_text(json.dumps({k: v for k, v in _FILE_DIGESTS.items()}))
        os.replace(tmp, cache)
    return _FILE_DIGESTS[key]


@dataclass(frozen=True)
class Variable:
    """One typed configuration variable of a stage, with its allowed range or choices."""

    name: str
    type: type
    default: Any
    unit: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None

    def allowed(self) -> str:
        """What values are valid, in words."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.type]
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {self.minimum!r} to {self.maximum!r}"
        if self.minimum is not None:
            return f"{kind} of at least {self.minimum!r}"
        if self.maximum is not None:
            return f"{kind} of at most {self.maximum!r}"
        return kind

    def coerce(self, value: Any, origin: str) -> Any:
        """``value`` as this variable's type; ConfigError naming ``origin``, the value and what is
        valid when it has the wrong type or lies outside the range."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        wrong_type = not isinstance(value, self.type) or isinstance(value, bool) != (self.type is bool)
        out_of_range = not wrong_type and (
            (self.choices is not None and value not in self.choices)
            or (self.type is float and not math.isfinite(value))
            or (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum))
        if wrong_type or out_of_range:
            unit = f" {self.unit}" if self.unit else ""
            raise ConfigError(f"{origin} = {value!r} is not valid: expected {self.allowed()}{unit} "
                              f"({self.help})")
        return value


class ConfigError(ValueError):
    """A stage configuration value that cannot be used."""


class StageFailed(RuntimeError):
    """A stage's tool or check failed; the message says what and where its log is."""


@dataclass
class StageContext:
    """What a stage's ``execute`` gets: inputs, its folder, its config and a tool runner."""

    design: Design
    pdk: Pdk
    folder: Path
    views: dict[str, Path]
    config: dict[str, Any]
    invocation: Invocation
    upstream_metrics: dict[str, Any]


class Stage(luigi.Task):
    """Base of all flow stages. Subclasses set the class attributes and implement ``execute``."""

    design_file = luigi.Parameter(description="path of the design TOML file")
    pdk_name = luigi.Parameter(default=DEFAULT_PDK)
    pdk_root = luigi.Parameter(description="PDK root folder (holds <pdk_name>/)")
    run_dir = luigi.Parameter(description="run folder shared by all stages")
    config_json = luigi.Parameter(default="{}", description="stage variable overrides as JSON")

    name: ClassVar[str] = ""
    order: ClassVar[int] = 0
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    variables: ClassVar[tuple[Variable, ...]] = ()
    tools: ClassVar[tuple[ToolSpec, ...]] = ()
    pdk_files: ClassVar[tuple[str, ...]] = ()
    upstream: ClassVar[tuple[str, ...]] = ()
    #: every concrete stage class by name, filled as stage modules are imported
    registry: ClassVar[dict[str, type[Stage]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            Stage.registry[cls.name] = cls

    # -- identity ------------------------------------------------------------------------------
    def requires(self):
        return [Stage.registry[name](**self.param_kwargs) for name in self.upstream]

    def design(self) -> Design:
        return load_design(self.design_file)

    def pdk(self) -> Pdk:
        return load_pdk(self.pdk_name, self.pdk_root)

    def config(self) -> dict[str, Any]:
        overrides = json.loads(self.config_json)
        values = {}
        for var in self.variables:
            key = f"{self.name}.{var.name}"
            values[var.name] = var.coerce(overrides[key], key) if key in overrides else var.default
        problem = self.check_config(values)
        if problem:
            raise ConfigError(problem)
        return values

    def check_config(self, config: dict[str, Any]) -> str | None:
        """What is wrong with a combination of this stage's variables, or None."""
        return None

    @classmethod
    def code_files(cls) -> list[Path]:
        """The stage's code: the import closure of its module within kchip (with data files)."""
        return closure_files([cls.__module__], ModuleFinder({"kchip": PACKAGE_ROOT}))

    def defining_inputs(self) -> dict[str, Any]:
        """Everything that defines this stage's result, as a JSON-able mapping."""
        pdk = self.pdk()
        return {
            "stage": self.name,
            "code": files_digest(self.code_files(), PACKAGE_ROOT),
            "config": self.config(),
            "tools": {t.name: (probe(t).version_text if probe(t) else "missing") for t in self.tools},
            "pdk": {rel: file_digest(pdk.path(rel)) for rel in self.pdk_file_paths(pdk)},
            "upstream": {task.name: task.digest() for task in self.requires()},
            **self.extra_inputs(),
        }

    def extra_inputs(self) -> dict[str, Any]:
        return {}

    def pdk_file_paths(self, pdk: Pdk) -> list[str]:
        """The PDK files of :attr:`pdk_files` (``section:key.key``, ``{corner}`` standing for the
        descriptor's signoff corner), relative to the PDK's folder."""
        paths = []
        for key in self.pdk_files:
            section, _, item = key.replace("{corner}", pdk.data["signoff"]["corner"]).partition(":")
            value = pdk.data[section]
            for part in item.split("."):
                value = value[part]
            paths += list(value.values()) if isinstance(value, dict) else [value]
        return paths

    def digest(self) -> str:
        if not hasattr(self, "_digest"):
            blob = json.dumps(self.defining_inputs(), sort_keys=True, default=str)
            self._digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._digest

    def folder(self) -> Path:
        return Path(self.run_dir) / "stages" / f"{self.order:02d}-{self.name}" / self.digest()

    def output(self):
        return luigi.LocalTarget(str(self.folder() / "state.json"))

    def status_file(self) -> Path:
        return Path(self.run_dir) / "status" / f"{self.order:02d}-{self.name}.json"

    # -- running -------------------------------------------------------------------------------
    def upstream_state(self) -> tuple[dict[str, Path], dict[str, Any]]:
        views, metrics = {}, {}
        for task in self.requires():
            state = json.loads(Path(task.output().path).read_text())
            views.update({k: task.folder() / v for k, v in state["views"].items()})
            views.update({k: Path(v) for k, v in state.get("inherited_views", {}).items()})
            metrics.update(state["metrics"])
        return views, metrics

    def _write_status(self, **fields) -> None:
        path = self.status_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.tmp{os.getpid()}")
        tmp.write_text(json.dumps({"stage": self.name, "folder": str(self.folder()), **fields}))
        os.replace(tmp, path)

    def run(self):
        # after a SIGTERM no stage starts, even when its exception was swallowed where it landed
        check_stop()
        final = self.folder()
        work = final.parent / f".{final.name}.tmp{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        started = time.time()
        self._write_status(state="running", started=started)
        try:
            metrics = self._run_in(work, started)
            if stop_requested():
                # a SIGTERM came while the stage ran and its exception was swallowed (by a catch-all or
                # a __del__ it landed in): the stage did not see it, so its result is not trusted
                raise Terminated()
        except KeyboardInterrupt:
            shutil.rmtree(work, ignore_errors=True)
            self._write_status(state="interrupted", started=started, ended=time.time(),
                               error="stopped by an interrupt (Ctrl-C or SIGTERM)")
            if multiprocessing.parent_process() is not None:
                raise SystemExit(130) from None
            raise
        except Exception as exc:
            expected = isinstance(exc, (StageFailed, ValueError, RuntimeError))
            self._write_status(state="failed", started=started, ended=time.time(),
                               error=str(exc) if expected else traceback.format_exc(), folder_kept=str(work))
            raise
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
        self._write_status(state="done", started=started, ended=time.time(), metrics=metrics)

    def _run_in(self, work: Path, started: float) -> dict[str, Any]:
        """Execute the stage in ``work`` and write its config, metrics and state there."""
        invocation = Invocation(work)
        views, up_metrics = self.upstream_state()
        missing = [v for v in self.reads if v not in views]
        if missing:
            raise StageFailed(f"stage {self.name} needs views {missing} that no upstream stage wrote")
        ctx = StageContext(self.design(), self.pdk(), work, views, self.config(), invocation, up_metrics)
        (work / "config.json").write_text(json.dumps(
            {"stage": self.name, "config": ctx.config, "defining_inputs": self.defining_inputs()},
            indent=2, default=str))
        work_started = time.perf_counter()
        written, metrics = self.execute(ctx)
        work_seconds = time.perf_counter() - work_started
        unknown = set(written) - set(self.writes)
        if unknown:
            raise StageFailed(f"stage {self.name} wrote undeclared views {sorted(unknown)}")
        metrics = {**metrics, f"flow__{self.name}__runtime__s": round(time.time() - started, 3),
                   f"flow__{self.name}__work__s": round(work_seconds, 3),
                   f"flow__{self.name}__subprocess__s": round(invocation.process_seconds, 3)}
        (work / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        inherited = {k: str(v) for k, v in views.items() if k not in written}
        state = {"views": {k: str(Path(p).relative_to(work)) for k, p in written.items()},
                 "inherited_views": inherited, "metrics": {**up_metrics, **metrics}}
        (work / "state.json").write_text(json.dumps(state, indent=2, default=float))
        return metrics

    def execute(self, ctx: StageContext) -> tuple[dict[str, Path], dict[str, Any]]:
        """Run the stage in ``ctx.folder``; return the views written (name -> path) and metrics."""
        raise NotImplementedError
