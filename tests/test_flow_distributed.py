"""Distributed mode for real: a central luigid, the run's owner and a second worker that joins it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def luigid(tmp_path):
    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "luigid"), "--port", str(port),
                               "--logdir", str(tmp_path), "--state-path", str(tmp_path / "state.pickle")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(10)


def test_an_owner_and_a_joining_worker_finish_one_run(luigid, pdk, tmp_path):
    env = {**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)}
    command = [sys.executable, "-m", "kchip", "flow", "run", "--design", "counter",
               "--run-dir", str(tmp_path / "run"), "--scheduler-url", luigid]
    owner = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    joiner = subprocess.run(command + ["--join"], env=env, capture_output=True, text=True, timeout=300)
    out, err = owner.communicate(timeout=300)
    assert joiner.returncode == 0, joiner.stdout + joiner.stderr
    assert "the run it joined publishes" in joiner.stdout
    assert owner.returncode == 0, out + err
    assert "pass drc__errors__count = 0" in out
    assert (tmp_path / "run" / "final" / "metrics.json").is_file()


def test_join_without_a_scheduler_is_refused(pdk, tmp_path):
    env = {**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)}
    result = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", "counter",
                             "--run-dir", str(tmp_path / "run"), "--join"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "--join needs --scheduler-url" in result.stderr
