"""One owner per run folder: a lock held by the run that schedules the stages, and the clean-up of
what an interrupted run left behind (temporary stage folders, states stuck at "running")."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path


class RunFolderBusy(RuntimeError):
    """Another run holds the run folder's lock; the message names its PID, host and start time."""


class RunFolderLock:
    """An exclusive ``fcntl`` lock on ``RUN_DIR/.lock``, holding the owner's PID, host and start.

    The lock goes with the process: a run killed by SIGKILL releases it, so the next run can take
    over the folder at once. Workers of a central ``luigid`` do not take it; the ``kchip flow run``
    that schedules them does.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._file = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            handle.close()
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started"])) \
                if "started" in holder else "an unknown time"
            raise RunFolderBusy(f"run folder {self.path.parent} is in use by another kchip run (PID "
                                f"{holder.get('pid', '?')} on host {holder.get('host', '?')}, since {since}); "
                                f"wait for it to finish, stop it, or choose another --run-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def clean_interrupted(run_dir: Path) -> list[str]:
    """Remove temporary folders a stopped run left and mark its "running" stages "interrupted";
    return what was cleaned, one line each. Call only while holding the lock."""
    run_dir = Path(run_dir)
    cleaned = []
    for tmp in sorted(run_dir.glob("stages/*/.*.tmp*")):
        shutil.rmtree(tmp, ignore_errors=True)
        cleaned.append(f"removed {tmp}")
    for tmp in sorted(run_dir.glob(".final.link*")) + sorted(run_dir.glob("status/*.tmp*")):
        tmp.unlink(missing_ok=True)
    for status in sorted(run_dir.glob("status/*.json")):
        try:
            data = json.loads(status.read_text())
        except ValueError:
            status.unlink()
            continue
        if data.get("state") == "running":
            data.update(state="interrupted", ended=data.get("started"),
                        error="the run that started this stage stopped before it finished")
            tmp = status.with_name(status.name + ".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, status)
            cleaned.append(f"marked {status.stem} interrupted")
    return cleaned
