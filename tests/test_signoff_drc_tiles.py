"""Tests for kchip.flows.signoff.drc_tiles: magic DRC of a die in tiles gives the whole-die error set.

The layouts are 30 x 30 um of first-metal plates with spacing and width violations inside tiles,
across the vertical cut, across the horizontal cut and across both (the 2 x 2 tiles of 4 jobs cut
the die at x = 15 um and y = 15 um, :data:`CUT`).
"""

import klayout.db as kdb
import pytest

from kchip.flows.signoff import drc, drc_tiles
from kchip.flows.signoff.layout_rules import layer_numbers
from kchip.flows.signoff.magic_tech import derive_magic_tech, rule_id
from kchip.pdk.rules import load_rules
from kchip.tools.base import Invocation
from signoff_layouts import MET1, boxes_gds

# The upper right corner is on a 5 nm grid, finer than magic's internal unit for both decks: magic
# rescales its grid when it reads the GDS, and lambda is no longer the internal unit.
FRAME = [(0, 0, 1, 1), (29, 29, 30.005, 30.005)]
CUT = 15.0
# The gaps are 0.1 um (SKY130 met1.2 wants 0.14, IHP M1.b 0.18); the cross is 0.1 um wide (met1.1
# wants 0.14, M1.a 0.16).
SPACING = {
    "inside the lower left tile": [(2, 2, 4, 4), (4.1, 2, 6, 4)],
    "across x = 15": [(8, 8, 22, 9), (8, 9.1, 22, 10)],
    "across y = 15": [(24, 8, 25, 22), (25.1, 8, 26, 22)],
    "inside the upper right tile": [(20, 24, 22, 26), (22.1, 24, 24, 26)],
}
NARROW_CROSS = [(10, 14.95, 20, 15.05), (14.95, 10, 15.05, 20)]


def metal_layout(path, layer, boxes):
    return boxes_gds(path, layer, boxes, "tiles")


def violations(layer, tmp_path):
    boxes = FRAME + [box for pair in SPACING.values() for box in pair] + NARROW_CROSS
    return metal_layout(tmp_path / "tiles.gds", layer, boxes)


def check(pdk, gds, workdir, jobs):
    return drc.run_drc(gds, "tiles", pdk, workdir, Invocation(workdir), cif_rules="keep", jobs=jobs,
                       min_tile_um=1.0)


def regions(errors):
    """Per rule, the merged region of the error boxes (nm grid)."""
    found = {}
    for error in errors:
        box = kdb.Box(*(round(v * 1000) for v in error.box))
        found.setdefault(error.rule, kdb.Region()).insert(box)
    return {rule: region.merged() for rule, region in found.items()}


def assert_same_regions(whole, tiled):
    assert set(whole) == set(tiled)
    for rule in whole:
        assert (whole[rule] ^ tiled[rule]).is_empty(), rule


def plan(width, height, jobs):
    return drc_tiles.plan_tiles(width, height, jobs, min_tile_um=100)


def test_plan_keeps_small_dies_whole_and_tiles_near_square():
    assert plan(150, 150, 4) == (drc_tiles.Tile(0, 0, 1, 1),)
    assert len(plan(1000, 1000, 1)) == 1
    assert {(t.columns, t.rows) for t in plan(1000, 400, 2)} == {(2, 1)}
    assert {(t.columns, t.rows) for t in plan(400, 1000, 2)} == {(1, 2)}
    assert {(t.columns, t.rows) for t in plan(1000, 1000, 4)} == {(2, 2)}
    assert len(plan(1000, 1000, 3)) == 3
    assert plan(1000, 1000, 0) == plan(1000, 1000, drc_tiles.available_cpus())


def test_rule_halo_is_the_largest_rule_distance(pdk, ihp, tmp_path):
    """The default smallest tile comes from it: SKY130's RDL spacing (19.7 um) and IHP's solder-bump
    spacing (70 um) are the decks' largest distances."""
    halos = {}
    for process in (pdk, ihp):
        tech = tmp_path / f"{process.name}.tech"
        derive_magic_tech(process.magic_tech, tech, drop_cif_rules=False)
        style = load_rules(process).signoff.magic_drc_style
        halos[process.name] = drc_tiles.rule_halo_um(Invocation(tmp_path), tech, style, tmp_path)
    assert 15 < halos["sky130A"] < 25 and 60 < halos["ihp-sg13g2"] < 80


def test_merge_joins_boxes_cut_at_a_tile_border():
    merged = drc_tiles.merge_boxes([("r", (0.0, 0.0, 1.0, 1.0)), ("r", (1.0, 0.0, 2.0, 1.0)),
                                    ("r", (0.0, 0.0, 1.0, 1.0)), ("s", (1.0, 0.0, 2.0, 1.0)),
                                    ("r", (5.0, 5.0, 6.0, 6.0))])
    assert merged == [("r", (0.0, 0.0, 2.0, 1.0)), ("r", (5.0, 5.0, 6.0, 6.0)), ("s", (1.0, 0.0, 2.0, 1.0))]


@pytest.fixture(params=["sky130A", "ihp-sg13g2"])
def process(request, pdk):
    if request.param == "sky130A":
        return pdk, MET1
    ihp = request.getfixturevalue("ihp")
    return ihp, layer_numbers(ihp.klayout_lyp)["Metal1"]


def test_tiles_report_the_whole_die_errors(process, tmp_path):
    pdk, layer = process
    gds = violations(layer, tmp_path)
    whole = check(pdk, gds, tmp_path / "whole", 1)
    tiled = check(pdk, gds, tmp_path / "tiled", 4)
    assert sorted((tmp_path / "tiled").glob("drc-tile*.magic.tsv")) and not list((tmp_path / "whole").glob("*tile*"))
    spacing = [rule for rule in whole.errors_by_rule if rule_id(rule) in ("met1.2", "M1.b")]
    width = [rule for rule in whole.errors_by_rule if rule_id(rule) in ("met1.1", "M1.a")]
    assert len(spacing) == 1 and len(width) == 1
    for pair in SPACING.values():  # each pair's gap is found (magic marks a strip along each side)
        x1, y1 = min(b[0] for b in pair), min(b[1] for b in pair)
        x2, y2 = max(b[2] for b in pair), max(b[3] for b in pair)
        assert any(x1 <= e.box[0] and e.box[2] <= x2 and y1 <= e.box[1] and e.box[3] <= y2
                   for e in whole.errors if e.rule == spacing[0])
    # each tile reported the errors in its quarter, cut at the borders; the merge joins them again
    raw = []
    for column, row in ((0, 0), (1, 0), (0, 1), (1, 1)):
        found = drc.read_report(tmp_path / "tiled" / f"drc-tile{column}x{row}.magic.tsv")
        assert found
        for low, high, side in ((0, 2, column), (1, 3, row)):
            assert all(e.box[low] >= CUT for e in found) if side else all(e.box[high] <= CUT for e in found)
        raw += found
    assert len([error for error in raw if error.rule == spacing[0]]) > len(SPACING)
    assert_same_regions(regions(whole.errors), regions(tiled.errors))
    assert set(whole.errors) == set(tiled.errors)
    assert whole.metrics() == tiled.metrics()
    assert drc.read_report(tiled.report) == tiled.errors


def test_clean_die_in_tiles_has_no_errors(process, tmp_path):
    pdk, layer = process
    gds = metal_layout(tmp_path / "clean.gds", layer, FRAME + [(5, 5, 25, 6), (14, 10, 16, 20)])
    result = check(pdk, gds, tmp_path / "tiled", 4)
    assert len(list((tmp_path / "tiled").glob("drc-tile*.magic.tsv"))) == 4
    assert result.errors == () and result.metrics() == {"drc__errors__count": 0}
