"""Deterministic stream-out (issue 9): the same layout gives the same GDS geometry and the same bytes.

The fast test writes one small layout twice with :func:`kchip.flows.physical.gds.write_gds`; the slow
one runs the flow to the gds stage twice, in separate processes with different string-hash seeds, and
compares the two GDS files by geometry (XOR per layer) and by bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import klayout.db as kdb
import pytest

from kchip.flows.physical.gds import write_gds
from kchip.flows.physical.layout import Instance, Layout, Port, Shape, Via

INV = "sky130_fd_sc_hd__inv_1"
ROW = 2720


def small_layout() -> Layout:
    """Two inverters in two rows (one flipped), a met1 wire with a via, a met2 pin and a met4 rail."""
    return Layout(
        top="tiny", die=(0, 0, 5000, 2 * ROW), core=(0, 0, 5000, 2 * ROW),
        ports=[Port("a", "input", "a", "met2", (0, 1000, 300, 1300), "W")],
        instances={"u1": Instance(INV, {"A": "a", "Y": "n1"}, x=460, y=0),
                   "u2": Instance(INV, {"A": "n1", "Y": "y"}, x=1380, y=ROW, orient="FS")},
        shapes=[Shape("a", "met2", (0, 1000, 1200, 1300)), Shape("n1", "met1", (900, 1500, 2000, 1640)),
                Shape("VPWR", "met4", (3000, 0, 4600, 2 * ROW))],
        vias=[Via("a", "M1M2_PR", 1100, 1150)])


def write(pdk, tech_and_macros, out: Path) -> Path:
    tech, macros = tech_and_macros
    cfg = pdk.data["gds"]
    write_gds(small_layout(), macros, tech, pdk.gds, cfg["layers"], cfg["pin_datatype"], cfg["label_datatype"],
              out)
    return out


def xor_shape_count(first: Path, second: Path) -> int:
    """Shapes in the XOR of the two files' flattened top cells, summed over every layer of either."""
    layouts = []
    for path in (first, second):
        layout = kdb.Layout()
        layout.read(str(path))
        layouts.append(layout)
    layers = sorted({(info.layer, info.datatype) for layout in layouts for info in layout.layer_infos()})
    total = 0
    for layer, datatype in layers:
        regions = []
        for layout in layouts:
            index = layout.find_layer(layer, datatype)
            top = layout.top_cell()
            regions.append(kdb.Region() if index is None else kdb.Region(top.begin_shapes_rec(index)))
        total += (regions[0] ^ regions[1]).count()
    return total


def test_writing_a_layout_twice_gives_the_same_bytes(pdk, tech_and_macros, tmp_path):
    first = write(pdk, tech_and_macros, tmp_path / "first.gds")
    time.sleep(1.1)
    second = write(pdk, tech_and_macros, tmp_path / "second.gds")
    assert xor_shape_count(first, second) == 0
    assert first.read_bytes() == second.read_bytes()


def test_the_library_is_named_after_the_top_cell(pdk, tech_and_macros, tmp_path):
    layout = kdb.Layout()
    layout.read(str(write(pdk, tech_and_macros, tmp_path / "tiny.gds")))
    assert layout.top_cell().name == "tiny"
    assert layout.meta_info_value("libname") == "tiny"


def test_the_xor_sees_an_added_shape(pdk, tech_and_macros, tmp_path):
    first = write(pdk, tech_and_macros, tmp_path / "first.gds")
    layout = kdb.Layout()
    layout.read(str(first))
    layout.top_cell().shapes(layout.find_layer(68, 20)).insert(kdb.Box(0, 0, 140, 140))
    layout.write(str(tmp_path / "added.gds"))
    assert xor_shape_count(first, tmp_path / "added.gds") == 1


def flow_to_gds(pdk, run_dir: Path, hash_seed: str) -> Path:
    """Run ``kchip flow run --design counter --to gds`` in a fresh process; return its GDS."""
    proc = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", "counter", "--to", "gds",
                           "--pdk-root", str(pdk.root), "--run-dir", str(run_dir)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONHASHSEED": hash_seed}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (gds,) = run_dir.glob("stages/*-gds/*/counter.gds")
    return gds


@pytest.mark.slow
def test_two_flow_runs_give_the_same_gds(pdk, tmp_path):
    first = flow_to_gds(pdk, tmp_path / "first", "1")
    second = flow_to_gds(pdk, tmp_path / "second", "2")
    assert xor_shape_count(first, second) == 0
    assert first.read_bytes() == second.read_bytes()
