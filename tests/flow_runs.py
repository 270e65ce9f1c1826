"""Running the flow on a small design written by a test, and reading a stage's metrics back."""

from __future__ import annotations

import json
from pathlib import Path

from kchip.cli import main


def write_design(folder: Path, name: str, verilog: str, design_toml: str) -> Path:
    """``name``.v and ``name``.toml in ``folder``; returns the design file."""
    (folder / f"{name}.v").write_text(verilog)
    (folder / f"{name}.toml").write_text(design_toml)
    return folder / f"{name}.toml"


def run_flow(pdk, design: Path, run_dir: Path, *extra: str) -> int:
    """``kchip flow run`` on ``design`` into ``run_dir`` with two workers; its exit code."""
    return main(["flow", "run", "--design", str(design), "--pdk-root", str(pdk.root), "--run-dir", str(run_dir),
                 "--jobs", "2", *extra])


def stage_metrics(run_dir: Path, stage: str) -> dict:
    """The metrics of the one run of ``stage`` in ``run_dir``."""
    (path,) = run_dir.glob(f"stages/*-{stage}/*/metrics.json")
    return json.loads(path.read_text())
