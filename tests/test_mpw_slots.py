"""The shuttle slots of pdk/shuttles against Tiny Tapeout's published data: every template DEF (die
area, every pin's name, layer, rectangle, direction and use, the power nets) and every tile size of
tile_sizes.yaml, for SKY130 and IHP SG13G2; and the slot API (sizes, smallest fitting slot, errors)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from kchip.mpw.slots import ShuttleError, available_shuttles, load_shuttle, parse_slot_spec

REPO = Path(__file__).resolve().parent.parent
TT_DATA = Path(os.environ.get("KCHIP_MPW_DATA") or REPO.parent / "shared" / "mpw") / "tinytapeout"
TT_SHUTTLES = {"sky130A": "tt-sky130", "ihp-sg13g2": "tt-ihp-sg13g2"}

needs_tt_data = pytest.mark.skipif(not TT_DATA.is_dir(), reason=f"Tiny Tapeout reference data not at {TT_DATA} "
                                                                 "(set KCHIP_MPW_DATA)")


def read_template_def(path: Path) -> dict:
    """The die area, pins and special nets of a DEF: ``{"units", "die", "pins": {name: {...}},
    "specialnets": {name: use}}``; pin rectangles are absolute (the PORT's LAYER rectangle moved to
    its PLACED point; only orientation N occurs in the templates)."""
    text = path.read_text()
    units = int(re.search(r"UNITS DISTANCE MICRONS (\d+) ;", text).group(1))
    die = tuple(int(v) for v in re.search(r"DIEAREA \( (-?\d+) (-?\d+) \) \( (-?\d+) (-?\d+) \) ;", text).groups())
    pins_block = re.search(r"^PINS (\d+) ;(.*?)^END PINS", text, re.S | re.M)
    entries = [e for e in pins_block.group(2).split(";") if e.strip()]
    assert len(entries) == int(pins_block.group(1)), f"{path}: PINS count differs from its entries"
    pins = {}
    for entry in entries:
        head = re.search(r"- (\S+) \+ NET (\S+)((?: \+ (?:DIRECTION|USE) \S+)*)", entry)
        attrs = dict(re.findall(r"\+ (DIRECTION|USE) (\S+)", head.group(3)))
        layer, *rect = re.search(r"\+ LAYER (\S+) \( (-?\d+) (-?\d+) \) \( (-?\d+) (-?\d+) \)", entry).groups()
        x, y, orient = re.search(r"\+ PLACED \( (-?\d+) (-?\d+) \) (\S+)", entry).groups()
        assert orient == "N", f"{path}: pin {head.group(1)} placed {orient}; only N is read"
        x1, y1, x2, y2 = (int(v) for v in rect)
        assert head.group(1) not in pins, f"{path}: pin {head.group(1)} twice"
        pins[head.group(1)] = {"net": head.group(2), "layer": layer, "direction": attrs.get("DIRECTION"),
                               "use": attrs.get("USE"), "rect": (int(x) + x1, int(y) + y1, int(x) + x2, int(y) + y2)}
    special = re.search(r"^SPECIALNETS \d+ ;(.*?)^END SPECIALNETS", text, re.S | re.M)
    specialnets = dict(re.findall(r"- (\S+) \+ USE (\S+) ;", special.group(1))) if special else {}
    return {"units": units, "die": die, "pins": pins, "specialnets": specialnets}


def template_defs() -> list[tuple[str, str, Path]]:
    found = []
    for pdk, shuttle in TT_SHUTTLES.items():
        for path in sorted((TT_DATA / pdk).glob("tt_block_*.def")):
            size = re.match(r"tt_block_(\d+x\d+)_", path.name).group(1)
            found.append((shuttle, size, path))
    return found


def test_every_template_def_is_found():
    """12 template DEFs per PDK: the oracle below covers them all. Missing data fails under CI."""
    if not TT_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the Tiny Tapeout reference data at {TT_DATA}: set KCHIP_MPW_DATA")
        pytest.skip(f"Tiny Tapeout reference data not at {TT_DATA} (set KCHIP_MPW_DATA)")
    assert [sum(1 for s, _, _ in template_defs() if s == shuttle) for shuttle in TT_SHUTTLES.values()] == [12, 12]


@needs_tt_data
@pytest.mark.parametrize("shuttle,size,path", template_defs(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_slot_equals_template_def(shuttle, size, path):
    """The generated slot has exactly the DEF's die area and signal pins (name, layer, rectangle,
    direction, use), and its power nets are the DEF's special nets."""
    template = read_template_def(path)
    slot = load_shuttle(shuttle).slot(size)
    assert template["units"] * slot.shuttle.dbu_um == pytest.approx(1.0)
    assert slot.die == template["die"]
    generated = {p.name: {"net": p.name, "layer": p.layer, "direction": p.direction, "use": p.use, "rect": p.rect}
                 for p in slot.pins}
    assert len(generated) == len(slot.pins) == 43
    assert generated == template["pins"]
    assert template["specialnets"] == {"VPWR": "POWER", "VGND": "GROUND"}
    assert set(slot.power.nets) == set(template["specialnets"])


@needs_tt_data
@pytest.mark.parametrize("pdk", sorted(TT_SHUTTLES))
def test_die_of_every_tile_size(pdk):
    """Every size of tile_sizes.yaml is on offer, with its die, and no other size."""
    sizes = yaml.safe_load((TT_DATA / pdk / "tile_sizes.yaml").read_text())
    shuttle = load_shuttle(TT_SHUTTLES[pdk])
    assert shuttle.sizes == list(sizes)
    for size, die in sizes.items():
        assert shuttle.slot(size).die == tuple(shuttle.dbu(float(v)) for v in die.split()), size


def test_pin_template_facts():
    """43 pins on met4, 0.30 x 1.00 um, touching the top edge at a 2.76 um pitch, in the published
    order: uio_oe[7] leftmost, ena rightmost."""
    slot = parse_slot_spec("tt-sky130:1x1")
    names = [p.name for p in slot.pins]
    assert names[:2] == ["uio_oe[7]", "uio_oe[6]"] and names[-3:] == ["rst_n", "clk", "ena"]
    assert {p.layer for p in slot.pins} == {"met4"}
    assert {(p.rect[2] - p.rect[0], p.rect[3] - p.rect[1], p.rect[3]) for p in slot.pins} == {(300, 1000, 111520)}
    assert {b.rect[0] - a.rect[0] for a, b in zip(slot.pins, slot.pins[1:])} == {2760}
    assert [p.name for p in slot.pins if p.direction == "OUTPUT"] == names[:24]


def test_shuttle_layers():
    """met5 is forbidden on TT SKY130 and never allowed; the pin purposes are those the flow writes."""
    shuttle = load_shuttle("tt-sky130")
    assert (72, 20) in shuttle.forbidden and (72, 20) not in shuttle.allowed_layers()
    assert shuttle.metals["met4"].pin == (71, 16) and shuttle.metals["met4"].label == (71, 5)
    assert shuttle.layer_name((71, 16)) == "met4.pin" and shuttle.layer_name((72, 20)) == "met5"
    assert shuttle.layer_name((1, 99)) == "1/99"
    assert load_shuttle("tt-ihp-sg13g2").boundary_layer == (189, 4)


def test_caravel_and_area_slots():
    caravel = parse_slot_spec("caravel-sky130")
    assert (caravel.width_um, caravel.height_um) == (2920.0, 3520.0) and caravel.pins == ()
    assert (71, 44) in caravel.shuttle.forbidden
    area = load_shuttle("ihp-sg13g2-2mm2")
    assert area.slot("1000x2000").area_um2 == 2_000_000
    with pytest.raises(ShuttleError, match="more than"):
        area.slot("1000x2001")


def test_smallest_fitting():
    tt = load_shuttle("tt-sky130")
    assert tt.smallest_fitting(1.0).size == "1x1"
    assert tt.smallest_fitting(161 * 111.52).size == "1x1"
    assert tt.smallest_fitting(161 * 111.52 + 1).size == "1x2"
    assert tt.smallest_fitting(cell_area_um2=20_000, utilization=0.5).size == "2x2"
    with pytest.raises(ShuttleError, match="largest slot 8x4"):
        tt.smallest_fitting(1e7)
    area = load_shuttle("ihp-sg13g2-2mm2").smallest_fitting(cell_area_um2=600_000, utilization=0.6)
    assert area.size == "1000x1000"
    with pytest.raises(ShuttleError, match="does not fit"):
        load_shuttle("caravel-sky130").smallest_fitting(2e7)


def test_errors_name_what_is_valid():
    assert set(available_shuttles()) >= {"tt-sky130", "tt-ihp-sg13g2", "caravel-sky130", "ihp-sg13g2-2mm2"}
    with pytest.raises(ShuttleError, match="shuttles: .*tt-sky130"):
        load_shuttle("tt-sky131")
    with pytest.raises(ShuttleError, match="sizes: 1x1, 1x2"):
        parse_slot_spec("tt-sky130:2x1")
    with pytest.raises(ShuttleError, match="needs a tile size"):
        parse_slot_spec("tt-sky130")
    with pytest.raises(ShuttleError, match="utilization"):
        load_shuttle("tt-sky130").smallest_fitting(cell_area_um2=100, utilization=1.5)
