"""The DEF the place and route stages write, read back with KLayout's LEF/DEF reader (the PDK's tech
LEF and cell LEF) and compared with the GDS of the same run.

What is compared, per layer of the PDK descriptor's ``[gds.layers]``: the GDS top cell's own shapes
(the routed wires, the vias the GDS writer draws flat into the top cell, the pins and the supply
straps; the cells' own layouts are in their sub-cells and left out) against the DEF's wiring (the
top cell's shapes and those of the via cells KLayout makes of LEF vias; the components are LEF
abstracts whose pins and obstructions go to ``.PIN``/``.OBS`` layers and are left out) together with
the DEF's top-level pins. Their XOR must be empty. The pins alone (GDS pin datatype against the
DEF's ``.PIN`` shapes) and every component (cell and transformation) must match too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import klayout.db as kdb
import pytest

from kchip.flows.physical.layout import Layout

COUNTER = Path(__file__).resolve().parent.parent / "rtl" / "examples" / "counter.toml"


@pytest.fixture(scope="module")
def counter_run(pdk, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("def") / "run"
    done = subprocess.run([sys.executable, "-m", "kchip", "flow", "run", "--design", str(COUNTER), "--run-dir",
                           str(run_dir)], env={**os.environ, "KCHIP_PDK_ROOT": str(pdk.root)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir


def _stage_file(run_dir: Path, stage: str, view: str) -> Path:
    state_file = next(run_dir.glob(f"stages/*-{stage}/*/state.json"))
    return state_file.parent / json.loads(state_file.read_text())["views"][view]


def read_def(pdk, path: Path) -> kdb.Layout:
    """``path`` read with KLayout's LEF/DEF reader and the PDK's tech LEF and cell LEF."""
    config = kdb.LEFDEFReaderConfiguration()
    config.lef_files = [str(pdk.tech_lef), str(pdk.lef)]
    options = kdb.LoadLayoutOptions()
    options.lefdef_config = config
    layout = kdb.Layout()
    layout.read(str(path), options)
    return layout


def _layer(layout: kdb.Layout, name: str) -> int | None:
    return next((i for i in layout.layer_indexes() if layout.get_info(i).name == name), None)


def _def_region(layout: kdb.Layout, name: str, macros: set[str]) -> kdb.Region:
    """The DEF's wiring on layer ``name`` (top cell and via cells, not the components) and its pins."""
    top = layout.top_cell()
    region = kdb.Region()
    index = _layer(layout, name)
    if index is not None:
        shapes = top.begin_shapes_rec(index)
        shapes.unselect_cells([c.cell_index() for c in layout.each_cell() if c.name in macros])
        region.insert(shapes)
    pins = _layer(layout, f"{name}.PIN")
    if pins is not None:
        region.insert(top.shapes(pins))
    return region.merged()


def _gds_region(layout: kdb.Layout, numbers: tuple[int, int]) -> kdb.Region:
    index = layout.find_layer(*numbers)
    return kdb.Region(layout.top_cells()[0].shapes(index)).merged() if index is not None else kdb.Region()


def _components(layout: kdb.Layout, macros: set[str]) -> Counter:
    top = layout.top_cells()[0]
    return Counter((inst.cell.name, str(inst.trans)) for inst in top.each_inst() if inst.cell.name in macros)


def test_routed_def_matches_the_gds(pdk, counter_run, tech_and_macros):
    tech, lef_macros = tech_and_macros
    macros = set(lef_macros)
    from_def = read_def(pdk, _stage_file(counter_run, "route", "def"))
    gds = kdb.Layout()
    gds.read(str(_stage_file(counter_run, "gds", "gds")))
    layers = pdk.data["gds"]["layers"]
    compared = {}
    for name, numbers in layers.items():
        theirs, ours = _def_region(from_def, name, macros), _gds_region(gds, tuple(numbers))
        difference = theirs ^ ours
        assert difference.is_empty(), (f"{name}: DEF and GDS differ in {difference.count()} places, e.g. "
                                       f"{[str(p) for p in list(difference.each())[:3]]}")
        compared[name] = ours.area()
    assert all(compared[name] > 0 for name in ("li1", "mcon", "met1", "via", "met2", "via2", "met3", "met4")), \
        f"a routing layer is empty, so the comparison proves nothing there: {compared}"
    pin_datatype = pdk.data["gds"]["pin_datatype"]
    for name, (number, _) in ((n, layers[n]) for n in tech.layers if n in layers):
        index = _layer(from_def, f"{name}.PIN")
        def_pins = kdb.Region(from_def.top_cell().shapes(index)) if index is not None else kdb.Region()
        assert (def_pins ^ _gds_region(gds, (number, pin_datatype))).is_empty(), f"{name}: pins differ"
    components = _components(from_def, macros)
    assert components == _components(gds, macros)
    routed = Layout.load(_stage_file(counter_run, "route", "layout"))
    assert sum(components.values()) == len(routed.instances)


def test_placed_def_holds_the_placement(pdk, counter_run, tech_and_macros):
    _, lef_macros = tech_and_macros
    placed = Layout.load(_stage_file(counter_run, "place", "layout"))
    from_def = read_def(pdk, _stage_file(counter_run, "place", "placed_def"))
    corners = Counter()
    outline = _layer(from_def, "OUTLINE")
    for inst in from_def.top_cell().each_inst():
        if inst.cell.name in lef_macros:
            box = inst.bbox_per_layer(outline)
            corners[(inst.cell.name, box.left, box.bottom, str(inst.trans.rot))] += 1
    expected = Counter((i.cell, i.x, i.y, "0" if i.orient == "N" else "4") for i in placed.instances.values())
    assert corners == expected
    die = from_def.top_cell().dbbox()
    assert die.width() > 0 and sum(corners.values()) == len(placed.instances)
