"""Simulator processes in a process group of their own, with a wall-clock limit.

cocotb's runners start every build and simulator command through ``Runner._execute_cmds`` (a
``subprocess.run`` per command). :class:`Controlled` replaces that method: each command starts in a
new session (so it leads its own process group, and whatever the simulated Python starts joins it),
is waited for at most ``time_limit`` seconds, and its whole group is then killed with ``SIGKILL``,
also the stragglers of a command that ended by itself. How the command ended is kept in
``last_exit``; a command that did not end with status 0 raises :class:`CommandFailed` (a
``RuntimeError``, as cocotb raises) that carries it.

Groups still running are listed, so that :func:`kill_all` can stop them when the regression is
interrupted (a simulator in its own session does not see the terminal's Ctrl-C).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import Mapping, Sequence, TextIO

_LIVE: set[int] = set()
_LOCK = threading.Lock()
_STOPPING = threading.Event()


@dataclass(frozen=True)
class Exit:
    """How one command ended: its return code (negative: killed by that signal), or the timeout."""

    returncode: int | None
    timed_out: bool = False
    limit: float | None = None

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    @property
    def signal(self) -> int | None:
        if self.timed_out:
            return int(signal.SIGKILL)
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None

    @property
    def status(self) -> int | None:
        """The exit status of a command that exited by itself (None if a signal ended it)."""
        return self.returncode if self.returncode is not None and self.returncode >= 0 else None

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.limit:g} s (its process group was killed)"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "unknown signal"
            return f"killed by signal {self.signal} ({name})"
        return f"exit status {self.returncode}"


class CommandFailed(RuntimeError):
    """A build or simulator command did not end with status 0."""

    def __init__(self, command: Sequence[str], exit: Exit):
        self.exit = exit
        super().__init__(f"{os.path.basename(str(command[0]))} {exit.describe()}")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_all(*, stop: bool = False) -> None:
    """Kill every process group started here that is still running; with ``stop``, also refuse
    to start new commands until :func:`restart`."""
    if stop:
        _STOPPING.set()
    with _LOCK:
        groups = list(_LIVE)
    for pgid in groups:
        _kill_group(pgid)


def restart() -> None:
    """Allow commands to start again after ``kill_all(stop=True)``."""
    _STOPPING.clear()


def _ended_within(proc: subprocess.Popen, limit: float | None) -> bool:
    """Wait until ``proc`` ends or ``limit`` seconds pass, without reaping it where Linux allows
    (a pidfd), so that its process group id stays reserved while the stragglers are killed."""
    try:
        descriptor = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(limit)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        return bool(select.select([descriptor], [], [], limit)[0])
    finally:
        os.close(descriptor)


def run_command(command: Sequence[str], *, cwd, env: Mapping[str, str] | None,
                stdout: TextIO | None = None, limit: float | None = None) -> Exit:
    """Run ``command`` as the leader of a new process group; kill the group at ``limit`` seconds
    (and once the command has ended, any member it left behind). Ctrl-C kills the group too."""
    with _LOCK:  # started and listed at once, so that kill_all cannot miss it
        if _STOPPING.is_set():
            raise RuntimeError("not started: the regression is being stopped")
        proc = subprocess.Popen(list(command), cwd=cwd, env=None if env is None else dict(env),
                                stdout=stdout,
                                stderr=None if stdout is None else subprocess.STDOUT,
                                start_new_session=True)
        _LIVE.add(proc.pid)
    try:
        ended = _ended_within(proc, limit)
        if proc.returncode is None:  # not reaped yet: the group id cannot have been reused
            _kill_group(proc.pid)
        returncode = proc.wait()
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        with _LOCK:
            _LIVE.discard(proc.pid)
    return Exit(None if not ended else returncode, timed_out=not ended, limit=limit)


class Controlled:
    """Mixin for a cocotb runner class: its commands run through :func:`run_command`, and the
    folders in ``python_path`` are added to the end of the simulated Python's module search path
    (after the installed packages, so a bench folder cannot shadow one)."""

    time_limit: float | None = None
    last_exit: Exit | None = None
    python_path: Sequence[str] = ()

    def _set_env_common(self) -> None:
        super()._set_env_common()
        if self.python_path:
            self.env["PYTHONPATH"] = os.pathsep.join([self.env["PYTHONPATH"], *self.python_path])

    def _execute_cmds(self, cmds, cwd, stdout: TextIO | None = None) -> None:
        for command in cmds:
            self.last_exit = run_command(command, cwd=cwd, env=self.env, stdout=stdout,
                                         limit=self.time_limit)
            if not self.last_exit.ok:
                raise CommandFailed(command, self.last_exit)


__all__ = ["Exit", "CommandFailed", "Controlled", "run_command", "kill_all", "restart"]
