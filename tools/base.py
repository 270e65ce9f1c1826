"""What every EDA tool wrapper shares: finding the executable, checking its version, running it.

Each tool module declares one :class:`ToolSpec`; commands are always lists (never a shell string),
every run is appended to the stage's ``commands.sh`` and its output goes to a log file, and a failing
run raises :class:`ToolError` with the command and the log's last lines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from importlib import metadata
from dataclasses import dataclass, field
from pathlib import Path


class ToolError(RuntimeError):
    """A tool is missing, too old, or exited with an error."""


class ToolMissing(ToolError):
    """The executable is not on PATH (or is too old); the message carries the install hint."""


@dataclass(frozen=True)
class ToolSpec:
    """How to find, version-check and install one external tool."""

    name: str
    executables: tuple[str, ...]
    version_args: tuple[str, ...]
    version_pattern: str
    min_version: tuple[int, ...]
    install_hint: str
    source: str
    required: bool = True
    version_stdin: str | None = None
    distribution: str | None = None

    def locate(self) -> str | None:
        """Absolute path of the first executable found on PATH (the venv's bin first)."""
        venv_bin = Path(sys.executable).parent
        for name in self.executables:
            candidate = venv_bin / name
            if candidate.exists() and os.access(candidate, os.X_OK):
                return str(candidate)
            found = shutil.which(name)
            if found:
                return found
        return None


@dataclass(frozen=True)
class ToolInfo:
    """A located tool: where it is and which version it reports."""

    spec: ToolSpec
    path: str
    version: tuple[int, ...]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown"

    @property
    def ok(self) -> bool:
        return self.version >= self.spec.min_version


def _cache_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "kchip" / "tool-versions.json"


def _read_version(spec: ToolSpec, path: str) -> tuple[int, ...]:
    """Ask the tool for its version; the answer is cached per executable path and mtime."""
    stat = os.stat(path)
    key = f"{path}:{stat.st_mtime_ns}:{stat.st_size}"
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return tuple(cache[key])
    try:
        proc = subprocess.run(
            [path, *spec.version_args], input=spec.version_stdin, capture_output=True,
            text=True, timeout=300,
        )
        text = proc.stdout + proc.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{spec.name}: could not run {path!r} to read its version: {exc}") from exc
    match = re.search(spec.version_pattern, text)
    if match is None and spec.distribution:
        match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", metadata.version(spec.distribution))
    version = tuple(int(part) for part in match.groups() if part is not None) if match else ()
    cache[key] = list(version)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache, indent=1))
    os.replace(tmp, cache_path)
    return version


def probe(spec: ToolSpec) -> ToolInfo | None:
    """The tool as found on this machine, or None when it is not installed."""
    path = spec.locate()
    if path is None:
        return None
    return ToolInfo(spec, path, _read_version(spec, path))


def require(spec: ToolSpec) -> ToolInfo:
    """The tool, or a :class:`ToolMissing` that says how to install it."""
    info = probe(spec)
    wanted = ".".join(map(str, spec.min_version))
    if info is None:
        raise ToolMissing(
            f"{spec.name} not found (looked for {', '.join(spec.executables)} on PATH); "
            f"kchip needs version >= {wanted}. Install it with: {spec.install_hint}"
        )
    if not info.ok:
        raise ToolMissing(
            f"{spec.name} at {info.path} is version {info.version_text}, kchip needs >= {wanted}. "
            f"Install it with: {spec.install_hint}"
        )
    return info


@dataclass
class Invocation:
    """Where a stage's tool runs record themselves: the commands file and the log folder."""

    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    process_seconds: float = 0.0

    def run(self, spec: ToolSpec, args: list[str], *, log_name: str, cwd: Path | None = None,
            stdin: str | None = None, timeout: float = 7200, ok_codes: tuple[int, ...] = (0,)) -> str:
        """Run the tool with ``args``; return its combined output; raise ToolError on failure."""
        info = require(spec)
        command = [info.path, *args]
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / log_name
        with open(self.folder / "commands.sh", "a") as commands:
            where = f"cd {shlex.quote(str(cwd or self.folder))} && " if cwd else ""
            commands.write(where + shlex.join(command) + (" < stdin" if stdin else "") + "\n")
        env = {**os.environ, **self.env}
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command, input=stdin, cwd=cwd or self.folder, env=env, capture_output=True,
                text=True, errors="replace", timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"{spec.name} timed out after {timeout:.0f} s: {shlex.join(command)}") from exc
        finally:
            self.process_seconds += time.perf_counter() - started
        output = proc.stdout + (proc.stderr and "\n--- stderr ---\n" + proc.stderr)
        log_path.write_text(output)
        if proc.returncode not in ok_codes:
            tail = "\n".join(output.strip().splitlines()[-20:])
            raise ToolError(
                f"{spec.name} failed with exit code {proc.returncode}\n"
                f"command: {shlex.join(command)}\nlog: {log_path}\n--- last lines ---\n{tail}"
            )
        return output
