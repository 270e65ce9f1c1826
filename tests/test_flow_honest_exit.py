"""An honest exit: a layout with a DRC error and a short between two nets is NOT CLEAN, and
``kchip flow run`` says which checks failed and exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import klayout.db as kdb

REPO = Path(__file__).resolve().parent.parent
COUNTER = REPO / "rtl" / "examples" / "counter.toml"


def _kchip(pdk, *args):
    env = {**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)}
    return subprocess.run([sys.executable, "-m", "kchip", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=600)


def _break(gds: Path, layers: dict) -> None:
    """Add a met1 sliver (too narrow) and a met3 bar joining the two lowest left-edge pins."""
    layout = kdb.Layout()
    layout.read(str(gds))
    top = layout.top_cells()[0]
    met1 = layout.layer(*layers["met1"])
    met3 = layout.layer(*layers["met3"])
    top.shapes(met1).insert(kdb.Box(top.bbox().center().x, 2000, top.bbox().center().x + 50, 4000))
    pins = sorted((s.bbox() for s in top.shapes(met3).each() if s.bbox().left == 0), key=lambda b: b.bottom)
    low, high = pins[0], pins[1]
    top.shapes(met3).insert(kdb.Box(0, low.bottom, low.right, high.top))
    layout.write(str(gds))


def test_a_drc_error_and_an_lvs_mismatch_are_both_reported(pdk, tmp_path):
    run_dir = tmp_path / "run"
    clean = _kchip(pdk, "flow", "run", "--design", COUNTER, "--run-dir", run_dir)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    gds = next(run_dir.glob("stages/08-gds/*/counter.gds"))
    _break(gds, pdk.data["gds"]["layers"])
    lvs = _kchip(pdk, "flow", "run", "--design", COUNTER, "--run-dir", run_dir, "--from", "lvs", "--to", "lvs")
    assert lvs.returncode == 0, lvs.stdout + lvs.stderr
    broken = _kchip(pdk, "flow", "run", "--design", COUNTER, "--run-dir", run_dir, "--from", "drc")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "FAIL drc__errors__count" in broken.stdout
    assert "FAIL lvs__mismatch__count" in broken.stdout
    assert "**Signoff: NOT CLEAN**" in (run_dir / "final" / "report.md").read_text()
