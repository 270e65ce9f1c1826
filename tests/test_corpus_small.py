"""Two small public designs from the corpus (``bench/corpus``, sources in ``../shared/designs``),
run end to end at OpenLane's own settings, sign off clean; the whole corpus is ``bench/designs.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "bench" / "corpus"


@pytest.mark.parametrize("name", ["xtea", "usb"])
def test_a_small_corpus_design_signs_off_clean(name, pdk, tmp_path):
    design = CORPUS / f"{name}.toml"
    sources = (CORPUS / "../../../shared/designs" / name).resolve()
    if not sources.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"corpus sources missing: {sources}")
        pytest.skip(f"corpus sources missing: {sources}")
    assert "flow" not in tomllib.loads(design.read_text()), "a per-design knob in the corpus is a flow defect"
    run = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", str(design),
                          "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=1800,
                         env={**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "final" / "metrics.json").read_text())
    assert metrics["route__unrouted__count"] == 0 and metrics["drc__errors__count"] == 0
    assert metrics["antenna__violations__count"] == 0 and metrics["lvs__mismatch__count"] == 0
