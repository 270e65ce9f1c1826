"""The shuttle precheck on GDS fixtures built with klayout.db from the slot definition: a correct tile
passes every check; each broken fixture fails exactly the check meant to catch it, with a message
naming the shape or pin and where it is. Then the CLI: exit codes, results.xml and results.md."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import klayout.db as kdb
import pytest

from kchip.cli import main
from kchip.mpw.precheck import GDS_CHECKS, check_names, find_gds, run_precheck
from kchip.mpw.slots import Slot, parse_slot_spec

TOP = "tt_um_fixture"


def _layer(ly: kdb.Layout, pair) -> int:
    return ly.layer(pair[0], pair[1])


def add_pin(ly: kdb.Layout, cell: kdb.Cell, slot: Slot, metal: str, name: str, box: kdb.Box) -> None:
    """Drawn metal, the same box on the pin purpose and a label of ``name`` at its centre."""
    spec = slot.shuttle.metals[metal]
    cell.shapes(_layer(ly, spec.drawing)).insert(box)
    cell.shapes(_layer(ly, spec.pin)).insert(box)
    cell.shapes(_layer(ly, spec.label)).insert(kdb.Text(name, kdb.Trans(box.center())))


def build_tile(slot: Slot, top: str = TOP) -> kdb.Layout:
    """A correct layout for ``slot``: boundary, every template pin, two power stripes 1.5x the
    minimum width from 5 um above the bottom to 5 um below the top, and a block of met1/met2 placed
    twice, once mirrored."""
    shuttle = slot.shuttle
    ly = kdb.Layout()
    ly.dbu = shuttle.dbu_um
    cell = ly.create_cell(top)
    cell.shapes(_layer(ly, shuttle.boundary_layer)).insert(kdb.Box(*slot.die))
    for pin in slot.pins:
        add_pin(ly, cell, slot, pin.layer, pin.name, kdb.Box(*pin.rect))
    if slot.power:
        width, height = slot.power.min_width * 3 // 2, slot.die[3]
        for i, net in enumerate(slot.power.nets):
            x = 5000 + i * 8000
            add_pin(ly, cell, slot, slot.power.layer, net, kdb.Box(x, 5000, x + width, height - 5000))
    block = ly.create_cell("fixture_block")
    metals = list(shuttle.metals.values())
    block.shapes(_layer(ly, metals[1].drawing)).insert(kdb.Box(0, 0, 2000, 500))
    block.shapes(_layer(ly, metals[2].drawing)).insert(kdb.Box(0, 0, 500, 2000))
    cell.insert(kdb.CellInstArray(block.cell_index(), kdb.Trans(40000, 40000)))
    cell.insert(kdb.CellInstArray(block.cell_index(), kdb.Trans(kdb.Trans.M0, 60000, 40000)))
    return ly


def write(ly: kdb.Layout, folder: Path) -> Path:
    """Write ``ly`` as ``folder/<TOP>.gds`` (the default top name is the file stem)."""
    path = folder / f"{TOP}.gds"
    ly.write(str(path))
    return path


def failed(report) -> dict[str, list[str]]:
    return {r.name: r.details for r in report.results if not r.passed}


@pytest.fixture
def tt1x1() -> Slot:
    return parse_slot_spec("tt-sky130:1x1")


@pytest.mark.parametrize("spec", ["tt-sky130:1x1", "tt-sky130:8x4", "tt-ihp-sg13g2:1x1", "tt-ihp-sg13g2:4x2"])
def test_correct_tile_passes_every_check(tmp_path, spec):
    slot = parse_slot_spec(spec)
    report = run_precheck(write(build_tile(slot), tmp_path), slot, checks=GDS_CHECKS)
    assert [r.name for r in report.results] == [check.__name__ for check in GDS_CHECKS]
    assert failed(report) == {}
    assert not any(r.skipped for r in report.results)
    assert report.passed


def test_slot_without_template_skips_pin_checks(tmp_path):
    """On the Caravel user area the pin template and power rule do not apply; the rest does."""
    slot = parse_slot_spec("caravel-sky130")
    report = run_precheck(write(build_tile(slot), tmp_path), slot, checks=GDS_CHECKS)
    assert report.passed
    assert {r.name for r in report.results if r.skipped} == {"pins_template", "pins_extra", "power_pins"}


def met4(slot: Slot):
    return slot.shuttle.metals["met4"]


def remove_pin(ly: kdb.Layout, slot: Slot, box: kdb.Box) -> None:
    """Erase the met4 drawing and pin boxes equal to ``box`` and the labels on it."""
    for purpose in ("drawing", "pin", "label"):
        shapes = ly.top_cell().shapes(_layer(ly, getattr(met4(slot), purpose)))
        for shape in list(shapes.each()):
            if box.contains(shape.text_pos) if shape.is_text() else shape.box == box:
                shapes.erase(shape)


def move_pin(ly: kdb.Layout, slot: Slot, name: str, dx: int = 0, layer: str | None = None,
             delete: bool = False) -> None:
    """Move the pin ``name`` (drawing, pin shape, label) by ``dx``, onto ``layer``, or delete it."""
    pin = slot.pin(name)
    remove_pin(ly, slot, kdb.Box(*pin.rect))
    if not delete:
        add_pin(ly, ly.top_cell(), slot, layer or pin.layer, name, kdb.Box(*pin.rect).moved(dx, 0))


def stripe(ly: kdb.Layout, slot: Slot, net: str) -> kdb.Box:
    """The met4 pin box of the power stripe labelled ``net``."""
    spec = met4(slot)
    labels = ly.top_cell().shapes(_layer(ly, spec.label))
    return next(s.box for s in ly.top_cell().shapes(_layer(ly, spec.pin)).each()
                if any(s.box.contains(t.text_pos) and t.text_string == net for t in labels.each()))


def remove_stripe(ly: kdb.Layout, slot: Slot, net: str) -> kdb.Box:
    """Remove the stripe of ``net`` (drawing, pin shape, label); return its box."""
    old = stripe(ly, slot, net)
    remove_pin(ly, slot, old)
    return old


def break_extra_top(ly, slot):
    ly.create_cell("stray_top").shapes(_layer(ly, (68, 20))).insert(kdb.Box(0, 0, 1000, 1000))


def break_top_name(ly, slot):
    ly.top_cell().name = "tt_um_other"


def break_outside(ly, slot):
    ly.top_cell().shapes(_layer(ly, (69, 20))).insert(kdb.Box(158000, 50000, 163000, 50500))


def break_outside_text(ly, slot):
    """A label in the block, outside the die in both placements (top, and mirrored below the bottom)."""
    ly.cell("fixture_block").shapes(_layer(ly, (68, 5))).insert(kdb.Text("stray", kdb.Trans(100, 75000)))


def break_no_boundary(ly, slot):
    ly.top_cell().shapes(_layer(ly, (235, 4))).clear()


def break_boundary_size(ly, slot):
    shapes = ly.top_cell().shapes(_layer(ly, (235, 4)))
    shapes.clear()
    shapes.insert(kdb.Box(0, 0, 150000, 111520))


def break_dbu(ly, slot):
    """Half the database unit, the geometry scaled to stay the same in um."""
    ly.dbu = 0.0005
    ly.transform(kdb.ICplxTrans(2.0))


def break_met5(ly, slot):
    ly.top_cell().shapes(_layer(ly, (72, 20))).insert(kdb.Box(80000, 20000, 90000, 30000))


def break_unknown_layer(ly, slot):
    ly.cell("fixture_block").shapes(_layer(ly, (99, 99))).insert(kdb.Box(0, 0, 300, 300))


def break_zero_area(ly, slot):
    ly.top_cell().shapes(_layer(ly, (68, 20))).insert(kdb.Box(70000, 60000, 70000, 61000))


def break_cell_name(ly, slot):
    ly.cell("fixture_block").name = "fixture/block#1"


def break_missing_pin(ly, slot):
    move_pin(ly, slot, "ui_in[3]", delete=True)


def break_label_only(ly, slot):
    """The pin shape of ui_in[3] gone, its drawn metal and label left."""
    shapes = ly.top_cell().shapes(_layer(ly, met4(slot).pin))
    shapes.erase(next(s for s in shapes.each() if s.box == kdb.Box(*slot.pin("ui_in[3]").rect)))


def break_moved_pin(ly, slot):
    move_pin(ly, slot, "clk", dx=-1000)


def break_pin_layer(ly, slot):
    move_pin(ly, slot, "uo_out[0]", layer="met3")


def break_duplicate_pin(ly, slot):
    add_pin(ly, ly.top_cell(), slot, "met4", "rst_n", kdb.Box(100000, 50000, 100300, 51000))


def break_extra_pin(ly, slot):
    add_pin(ly, ly.top_cell(), slot, "met4", "debug_out", kdb.Box(100000, 50000, 100300, 51000))


def break_unlabelled_pin(ly, slot):
    ly.top_cell().shapes(_layer(ly, met4(slot).pin)).insert(kdb.Box(100000, 50000, 100300, 51000))
    ly.top_cell().shapes(_layer(ly, met4(slot).drawing)).insert(kdb.Box(100000, 50000, 100300, 51000))


def break_overlap(ly, slot):
    """A second labelled pin shape bridging the rst_n and clk template pins."""
    bridge = kdb.Box(slot.pin("rst_n").rect[0], 110600, slot.pin("clk").rect[2], 110800)
    ly.top_cell().shapes(_layer(ly, met4(slot).pin)).insert(bridge)
    ly.top_cell().shapes(_layer(ly, met4(slot).drawing)).insert(bridge)


def break_pin_not_drawn(ly, slot):
    pin = kdb.Box(*slot.pin("uio_in[5]").rect)
    shapes = ly.top_cell().shapes(_layer(ly, met4(slot).drawing))
    shapes.erase(next(s for s in shapes.each() if s.box == pin))


def break_narrow_stripe(ly, slot):
    old = remove_stripe(ly, slot, "VGND")
    add_pin(ly, ly.top_cell(), slot, "met4", "VGND", kdb.Box(old.left, old.bottom, old.left + 1000, old.top))


def break_short_stripe(ly, slot):
    old = remove_stripe(ly, slot, "VPWR")
    add_pin(ly, ly.top_cell(), slot, "met4", "VPWR", kdb.Box(old.left, old.bottom, old.right, old.top - 20000))


def break_missing_stripe(ly, slot):
    remove_stripe(ly, slot, "VPWR")


#: (breakage, the checks it must fail, text every detail list must contain)
BROKEN = {
    "extra_top": (break_extra_top, {"top_cell"}, ["2 top cells: stray_top, tt_um_fixture"]),
    "top_name": (break_top_name, {"top_cell"}, ["top cell is tt_um_other, expected tt_um_fixture"]),
    "outside": (break_outside, {"boundary"},
                ["box (158, 50)-(163, 50.5) on met2 (69/20) in cell tt_um_fixture "
                 "is outside the die (0, 0)-(161, 111.52)"]),
    "outside_text": (break_outside_text, {"boundary"},
                     ["text 'stray' at (40.1, 115) on met1.label (68/5) in cell fixture_block is outside the die",
                      "text 'stray' at (60.1, -35) on met1.label (68/5) in cell fixture_block is outside the die"]),
    "no_boundary": (break_no_boundary, {"boundary"}, ["no prBoundary (235/4) shape in top cell tt_um_fixture"]),
    "boundary_size": (break_boundary_size, {"boundary"},
                      ["prBoundary (235/4) is box (0, 0)-(150, 111.52), expected the die (0, 0)-(161, 111.52)"]),
    "dbu": (break_dbu, {"dbu"}, ["database unit is 0.0005 um, expected 0.001 um"]),
    "met5": (break_met5, {"layers_forbidden"},
             ["forbidden layer met5 (72/20): 1 shape, first box (80, 20)-(90, 30) in cell tt_um_fixture"]),
    "unknown_layer": (break_unknown_layer, {"layers_allowed"},
                      ["layer 99/99 is not allowed on tt-sky130: 1 shape, first box (40, 40)-(40.3, 40.3) "
                       "in cell fixture_block"]),
    "zero_area": (break_zero_area, {"zero_area"},
                  ["zero-area box (70, 60)-(70, 61) on met1 (68/20) in cell tt_um_fixture"]),
    "cell_name": (break_cell_name, {"cell_names"}, ["cell name fixture/block#1 contains '#', '/'"]),
    "missing_pin": (break_missing_pin, {"pins_template"},
                    ["pin ui_in[3] missing: expected on met4 at (130.03, 110.52)-(130.33, 111.52)"]),
    "label_only": (break_label_only, {"pins_template"},
                   ["pin ui_in[3] missing: expected on met4 at (130.03, 110.52)-(130.33, 111.52) "
                    "(a label ui_in[3] without a pin shape under it at met4 (130.18, 111.02))"]),
    "moved_pin": (break_moved_pin, {"pins_template"},
                  ["pin clk on met4 at (142.83, 110.52)-(143.13, 111.52): wrong place, "
                   "expected on met4 at (143.83, 110.52)-(144.13, 111.52)"]),
    "pin_layer": (break_pin_layer, {"pins_template"},
                  ["pin uo_out[0] on met3 at (94.15, 110.52)-(94.45, 111.52): wrong layer, "
                   "expected on met4 at (94.15, 110.52)-(94.45, 111.52)"]),
    "duplicate_pin": (break_duplicate_pin, {"pins_template"},
                      ["pin rst_n present 2 times: on met4 at (100, 50)-(100.3, 51); "
                       "on met4 at (141.07, 110.52)-(141.37, 111.52); "
                       "expected once on met4 at (141.07, 110.52)-(141.37, 111.52)"]),
    "extra_pin": (break_extra_pin, {"pins_extra"},
                  ["extra pin debug_out on met4 at (100, 50)-(100.3, 51): not a pin of slot tt-sky130:1x1"]),
    "unlabelled_pin": (break_unlabelled_pin, {"pins_extra"},
                       ["pin shape without a label on met4 at (100, 50)-(100.3, 51)"]),
    "overlap": (break_overlap, {"pins_overlap", "pins_template"},
                ["pins clk, rst_n overlap or touch on met4 within (141.07, 110.52)-(144.13, 111.52) "
                 "(not a rectangle)"]),
    "pin_not_drawn": (break_pin_not_drawn, {"pins_on_drawing"},
                      ["pin shape on met4 at (102.43, 110.52)-(102.73, 111.52) not covered by drawn met4 (71/20)"]),
    "narrow_stripe": (break_narrow_stripe, {"power_pins"},
                      ["VGND stripe on met4 at (13, 5)-(14, 106.52): 1 um wide, less than 1.2 um"]),
    "short_stripe": (break_short_stripe, {"power_pins"},
                     ["VPWR stripe on met4 at (5, 5)-(6.8, 86.52): ends 25 um below the top edge, more than 10 um"]),
    "missing_stripe": (break_missing_stripe, {"power_pins"}, ["no VPWR stripe: expected a vertical met4 pin shape"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_fixture_fails_its_check(tmp_path, tt1x1, case):
    breakage, checks, messages = BROKEN[case]
    ly = build_tile(tt1x1)
    breakage(ly, tt1x1)
    report = run_precheck(write(ly, tmp_path), tt1x1, TOP, checks=GDS_CHECKS)
    found = failed(report)
    assert set(found) == checks, found
    details = "\n".join(line for name in checks for line in found[name])
    for message in messages:
        assert message in details, details
    assert not report.passed


def test_many_problems_are_listed_then_counted(tmp_path, tt1x1):
    ly = build_tile(tt1x1)
    for i in range(25):
        ly.top_cell().shapes(_layer(ly, (68, 20))).insert(kdb.Box(1000 * i, 90000, 1000 * i, 91000))
    details = run_precheck(write(ly, tmp_path), tt1x1, checks=GDS_CHECKS).result("zero_area").details
    assert len(details) == 11 and details[-1] == "... and 15 more"


def test_find_gds_in_run_folder(tmp_path, tt1x1):
    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    gds = write(build_tile(tt1x1), final)
    assert find_gds(tmp_path / "run") == gds
    assert find_gds(final) == gds


def test_cli_precheck_passes_and_writes_results(tmp_path, tt1x1, capsys):
    """A bare GDS: every check runs, those that need a run folder's signoff say they were skipped."""
    gds = write(build_tile(tt1x1), tmp_path)
    out_dir = tmp_path / "out"
    assert main(["mpw", "precheck", str(gds), "--shuttle", "tt-sky130:1x1", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "tt_um_fixture passes on tt-sky130:1x1" in out
    suite = ET.parse(out_dir / "results.xml").getroot().find("testsuite")
    assert [c.get("name") for c in suite.iter("testcase")] == check_names()
    assert suite.get("failures") == "0" and suite.find(".//failure") is None
    assert {c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None} == {"lvs", "antenna", "xor"}
    markdown = (out_dir / "results.md").read_text()
    assert "| pins_template | pass |" in markdown and "| drc_klayout | pass |" in markdown


def test_cli_precheck_fails_with_details(tmp_path, tt1x1, capsys):
    ly = build_tile(tt1x1)
    break_met5(ly, tt1x1)
    break_moved_pin(ly, tt1x1)
    gds = write(ly, tmp_path)
    out_dir = tmp_path / "out"
    assert main(["mpw", "precheck", str(gds), "--shuttle", "tt-sky130:1x1", "--out", str(out_dir)]) == 1
    out = capsys.readouterr().out
    assert "fails 2 checks" in out and "pin clk on met4 at (142.83, 110.52)-(143.13, 111.52)" in out
    suite = ET.parse(out_dir / "results.xml").getroot().find("testsuite")
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert set(failures) == {"layers_forbidden", "pins_template"} and suite.get("failures") == "2"
    assert "met5 (72/20)" in failures["layers_forbidden"].get("message")
    markdown = (out_dir / "results.md").read_text()
    assert "| layers_forbidden | fail | forbidden layer met5 (72/20)" in markdown


def test_cli_precheck_bad_input_exits_2(tmp_path, tt1x1, capsys):
    gds = write(build_tile(tt1x1), tmp_path)
    assert main(["mpw", "precheck", str(gds), "--shuttle", "tt-sky130:9x9"]) == 2
    assert "no tile size '9x9'" in capsys.readouterr().err
    assert main(["mpw", "precheck", str(tmp_path / "nothing"), "--shuttle", "tt-sky130:1x1"]) == 2
    assert "neither a GDS file nor a run folder" in capsys.readouterr().err
    (tmp_path / "junk.gds").write_text("not a layout")
    assert main(["mpw", "precheck", str(tmp_path / "junk.gds"), "--shuttle", "tt-sky130:1x1"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_slots(capsys):
    assert main(["mpw", "slots"]) == 0
    assert "tt-ihp-sg13g2" in capsys.readouterr().out
    assert main(["mpw", "slots", "tt-sky130", "--cell-area", "15000"]) == 0
    assert "smallest" in capsys.readouterr().out
    assert main(["mpw", "slots", "nowhere"]) == 2
