"""Run times of the signoff checks on a generated SKY130 standard-cell block; prints JSON.

The block: ``--rows`` rows of randomly chosen sky130_fd_sc_hd cells abutted on the site grid,
alternate rows flipped so that rails are shared, a tap cell every ``--tap-every`` um, the rails
joined by two met2 straps at the left edge. No signal wiring: the reference netlist gives every
signal pin its own net. Times are wall-clock seconds of one run each: magic with its full deck,
KLayout's rule checks alone, magic without its CIF rules plus KLayout for them, and LVS.

    KCHIP_PDK_ROOT=... .venv/bin/python bench/signoff.py --rows 20 --width 100
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from pathlib import Path

import klayout.db as kdb

from kchip.flows.signoff.drc import run_drc, run_drc_signoff
from kchip.flows.signoff.layout_rules import check_layout_rules
from kchip.flows.signoff.lvs import run_lvs, subckt_pins
from kchip.pdk import load_pdk
from kchip.tools.base import Invocation

LIB = "sky130_fd_sc_hd__"
CELLS = ("inv_1", "inv_2", "nand2_1", "nor2_1", "a21oi_1", "o21ai_0", "xor2_1", "mux2_1", "dfxtp_1",
         "dfrtp_1", "buf_2", "and3_1", "a22o_1", "fa_1", "conb_1", "a21oi_2", "nand3_2")
ROW_UM, RAIL_HALF_UM, STRAP_UM = 2.72, 0.24, 0.48


def build_block(pdk, path: Path, netlist: Path, rows: int, width_um: float, tap_every_um: float,
                seed: int) -> int:
    """Write the block's GDS and reference netlist; return the number of logic cells."""
    lef = pdk.lef.read_text()
    widths = {m.group(1): float(m.group(2))
              for m in re.finditer(r"^MACRO (\S+)\s.*?^\s*SIZE\s+([\d.]+)\s+BY", lef, re.M | re.S)}
    pins = subckt_pins(pdk.cdl)
    layout = kdb.Layout()
    layout.read(str(pdk.gds))
    top = layout.create_cell("block")
    rng = random.Random(seed)
    instances = []
    for row in range(rows):
        flipped = row % 2 == 1
        x, since_tap = 0.0, tap_every_um  # a tap first
        while x < width_um:
            name = rng.choice(CELLS)
            if since_tap + widths[LIB + name] > tap_every_um:
                name = "tapvpwrvgnd_1"
            since_tap = 0.0 if name == "tapvpwrvgnd_1" else since_tap + widths[LIB + name]
            trans = kdb.DTrans(kdb.DTrans.M0 if flipped else kdb.DTrans.R0, x, (row + flipped) * ROW_UM)
            top.insert(kdb.DCellInstArray(layout.cell(LIB + name).cell_index(), trans))
            if name != "tapvpwrvgnd_1":
                instances.append(name)
            x += widths[LIB + name]
    met1, via, met2 = layout.layer(68, 20), layout.layer(68, 44), layout.layer(69, 20)
    for index, (net, strap_x) in enumerate((("VGND", -3.0), ("VPWR", -2.0))):
        strap = kdb.DBox(strap_x, -RAIL_HALF_UM, strap_x + STRAP_UM, rows * ROW_UM + RAIL_HALF_UM)
        top.shapes(met2).insert(strap)
        for rail in range(index, rows + 1, 2):
            y = rail * ROW_UM
            top.shapes(met1).insert(kdb.DBox(strap_x, y - RAIL_HALF_UM, 0, y + RAIL_HALF_UM))
            centre = strap_x + STRAP_UM / 2
            top.shapes(via).insert(kdb.DBox(centre - 0.075, y - 0.075, centre + 0.075, y + 0.075))
        top.shapes(layout.layer(68, 5)).insert(kdb.DText(net, kdb.DTrans(strap_x + 0.24, index * ROW_UM)))
    keep = {top.cell_index(), *top.called_cells()}
    layout.delete_cells([c.cell_index() for c in layout.each_cell() if c.cell_index() not in keep])
    layout.write(str(path))
    power = {"VPWR", "VGND", "VPB", "VNB"}
    lines, wires = [], []
    for number, name in enumerate(instances):
        connections = [f".{pin}(n{number}_{pin})" for pin in pins[LIB + name] if pin not in power]
        wires += [f"n{number}_{pin}" for pin in pins[LIB + name] if pin not in power]
        lines.append(f"  {LIB}{name} u{number} ({', '.join(connections)});")
    netlist.write_text("module block();\n" + "".join(f"  wire {w};\n" for w in wires)
                       + "\n".join(lines) + "\nendmodule\n")
    return len(instances)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--width", type=float, default=100.0, help="row width in um")
    parser.add_argument("--tap-every", type=float, default=12.0, help="tap cell spacing in um")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    pdk = load_pdk("sky130A")
    with tempfile.TemporaryDirectory(prefix="kchip-signoff-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        gds, netlist = folder / "block.gds", folder / "block.v"
        cells, build_s = timed(build_block, pdk, gds, netlist, args.rows, args.width, args.tap_every,
                               args.seed)
        drc, drc_s = timed(run_drc, gds, "block", pdk, folder / "drc", Invocation(folder / "drc"),
                           cif_rules="keep")
        rules, rules_s = timed(check_layout_rules, gds, "block", pdk)
        fast, fast_s = timed(run_drc_signoff, gds, "block", pdk, folder / "drc-drop",
                             Invocation(folder / "drc-drop"), cif_rules="drop")
        lvs_tools = Invocation(folder / "lvs")
        lvs, lvs_s = timed(run_lvs, gds, netlist, "block", pdk, folder / "lvs", lvs_tools)
    print(json.dumps({
        "cells": cells, "rows": args.rows, "row_width_um": args.width, "build_s": build_s,
        "magic_drc_s": drc_s, "drc__errors__count": drc.total, "drc_errors_by_rule": drc.errors_by_rule,
        "klayout_rules_s": rules_s, "klayout_violations": rules.total,
        "drc_signoff_cif_dropped_s": fast_s, "drc_signoff_cif_dropped_errors": fast.total,
        "lvs_s": lvs_s, "lvs_tools_s": round(lvs_tools.process_seconds, 2), "lvs_matched": lvs.matched,
        "lvs__mismatch__count": lvs.mismatches,
        "lvs_unverified_cells": list(lvs.unverified_cells),
    }, indent=1))


if __name__ == "__main__":
    main()
