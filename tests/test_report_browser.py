"""The counter's HTML report in a real browser: headless Chromium (``bench/report_screenshot.py``)
screenshots it, and a copy of the page with a script reports every image it could not load.

Chromium is installed by ``install.sh``; without it the test fails under CI and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COUNTER = REPO / "rtl" / "examples" / "counter.toml"
BENCH = REPO / "bench" / "report_screenshot.py"


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")):
        if os.environ.get("CI"):
            pytest.fail("CI needs chromium to check the report in a browser (install.sh installs it)")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium, or ./install.sh)")


@pytest.fixture(scope="module")
def counter_report(pdk, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("browser") / "run"
    done = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", str(COUNTER), "--run-dir",
                           str(run_dir)], env={**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir / "final" / "report.html"


def _screenshot(html: Path, out: Path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, str(BENCH), str(html), "--out", str(out), "--width", "1280",
                           "--height", "2400"], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_the_report_renders_with_every_image(browser, counter_report, tmp_path):
    code, shot = _screenshot(counter_report, tmp_path / "report.png")
    assert code == 0 and shot["broken_images"] == [], shot
    assert (shot["width"], shot["height"]) == (1280, 2400)
    assert shot["non_white_fraction"] > 0.05 and shot["colours"] > 100, f"a blank page: {shot}"
    referenced = re.findall(r"<img src='([^']+)'", counter_report.read_text())
    assert sorted(shot["images"]) == sorted(referenced) and len(referenced) >= 8
    assert {"counter.overview.png", "counter.slack.png", "counter.worst_path.png"} <= set(referenced)


def test_a_missing_picture_is_caught(browser, counter_report, tmp_path):
    copy = tmp_path / "final"
    shutil.copytree(counter_report.parent, copy)
    (copy / "counter.slack.png").unlink()
    code, shot = _screenshot(copy / "report.html", tmp_path / "report.png")
    assert code == 1 and shot["broken_images"] == ["counter.slack.png"], shot
