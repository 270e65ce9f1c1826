"""Stream out a routed layout: the PDK's cell layouts placed, plus the routed wires, vias and pins.

The output is deterministic: the same layout gives the same bytes (see :func:`save_options`).
"""

from __future__ import annotations

import os
from pathlib import Path

import klayout.db as kdb

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import Macro


def save_options(libname: str) -> kdb.SaveLayoutOptions:
    """GDS2 options under which the same layout always gives the same bytes.

    KLayout stamps the library and every cell with the current time unless timestamps are off, and
    has no option for a fixed time, so every timestamp field is written as zero. The library is
    named ``libname``; otherwise KLayout keeps the name read from the cell library's GDS.
    """
    options = kdb.SaveLayoutOptions()
    options.format = "GDS2"
    options.gds2_write_timestamps = False
    options.gds2_libname = libname
    return options


def write_gds(layout: Layout, macros: dict[str, Macro], rules, cell_gds: Path,
              gds_layers: dict[str, list[int]], pin_datatype: int, label_datatype: int,
              out: Path, boundary_layer: list[int] | None = None) -> dict[str, float]:
    """Write ``out`` atomically, byte for byte the same for the same inputs; return the number of
    shapes written per kind. ``boundary_layer`` gets a box equal to the die. The power and ground
    straps (on the process rules' strap layer) get pin shapes and labels of their net."""
    ly = kdb.Layout()
    ly.dbu = 0.001
    ly.read(str(cell_gds))
    library_tops = {c.cell_index() for c in ly.top_cells()}
    top = ly.create_cell(layout.top)
    layer_index = {name: ly.layer(gds[0], gds[1]) for name, gds in gds_layers.items()}

    def pin_layer(name):
        return ly.layer(gds_layers[name][0], pin_datatype)

    def label_layer(name):
        return ly.layer(gds_layers[name][0], label_datatype)

    missing = sorted({i.cell for i in layout.instances.values() if ly.cell(i.cell) is None})
    if missing:
        raise ValueError(f"{cell_gds}: no layout for cells {', '.join(missing)}")
    for name, inst in layout.instances.items():
        cell = ly.cell(inst.cell)
        if inst.orient == "FS":
            trans = kdb.Trans(kdb.Trans.M0, inst.x, inst.y + macros[inst.cell].height)
        else:
            trans = kdb.Trans(kdb.Trans.R0, inst.x, inst.y)
        top.insert(kdb.CellInstArray(cell.cell_index(), trans))
    for shape in layout.shapes:
        top.shapes(layer_index[shape.layer]).insert(kdb.Box(*shape.rect))
    for via in layout.vias:
        for layer, rect in rules.vias[via.via].rects.items():
            top.shapes(layer_index[layer]).insert(
                kdb.Box(via.x + rect[0], via.y + rect[1], via.x + rect[2], via.y + rect[3]))
    for port in layout.ports:
        box = kdb.Box(*port.rect)
        top.shapes(layer_index[port.layer]).insert(box)
        top.shapes(pin_layer(port.layer)).insert(box)
        top.shapes(label_layer(port.layer)).insert(kdb.Text(port.name, kdb.Trans(box.center())))
    if boundary_layer is not None:
        top.shapes(ly.layer(*boundary_layer)).insert(kdb.Box(*layout.die))
    power_labels = 0
    supplies = (rules.cells.power_pin, rules.cells.ground_pin)
    for shape in layout.shapes:
        if shape.net in supplies and shape.layer == rules.strap_layer:
            box = kdb.Box(*shape.rect)
            top.shapes(pin_layer(shape.layer)).insert(box)
            top.shapes(label_layer(shape.layer)).insert(kdb.Text(shape.net, kdb.Trans(box.center())))
            power_labels += 1
    for index in library_tops:
        if ly.cell(index).parent_cells() == 0 and index != top.cell_index():
            ly.prune_cell(index, -1)
    tmp = Path(f"{out}.tmp{os.getpid()}.gds")
    ly.write(str(tmp), save_options(layout.top))
    os.replace(tmp, out)
    return {"gds__instances__count": len(layout.instances), "gds__shapes__count": len(layout.shapes),
            "gds__vias__count": len(layout.vias), "gds__power_pins__count": power_labels}
