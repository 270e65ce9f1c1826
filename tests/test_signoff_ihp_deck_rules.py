"""IHP SG13G2 rules magic 8.3.105 cannot read, checked with KLayout as IHP's own decks derive them
([layout_rules] of pdk/ihp-sg13g2.toml): each drawn fault is reported, and the same shapes drawn right
are not. Layer numbers come from IHP's layers_def.drc, not from the descriptor."""

import re

import klayout.db as kdb
import pytest

from kchip.flows.signoff.layout_rules import check_layout_rules, derived_layers
from kchip.pdk import PdkError

LAYERS_DEF = "ihp-sg13g2/libs.tech/klayout/tech/drc/rule_decks/layers_def.drc"


@pytest.fixture(scope="module")
def deck_layers(ihp) -> dict[str, tuple[int, int]]:
    """``{"activ_drw": (1, 0), "nsd_block": (7, 21), ...}`` as IHP's deck reads them."""
    text = (ihp.root / LAYERS_DEF).read_text()
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^(\w+) = get_polygons\((\d+), (\d+)\)", text, re.M)}


def draw(tmp_path, deck_layers, shapes: dict[str, list[tuple]]):
    """A GDS with one cell ``shapes`` holding boxes (um) on layers named as the deck names them."""
    layout = kdb.Layout()
    layout.dbu = 0.001
    top = layout.create_cell("shapes")
    for name, boxes in shapes.items():
        index = layout.layer(*deck_layers[name])
        for box in boxes:
            top.shapes(index).insert(kdb.DBox(*box))
    path = tmp_path / "shapes.gds"
    layout.write(str(path))
    return path


def reported(ihp, gds, rule_id) -> int:
    result = check_layout_rules(gds, "shapes", ihp, rules=[rule_id])
    assert result.checked == (rule_id,)
    return len(result.violations)


ACTIV_RING = [(0, 0, 2, 0.5), (0, 1.5, 2, 2), (0, 0, 0.5, 2), (1.5, 0, 2, 2)]


@pytest.mark.parametrize("hole, caught", [(0.3, 1), (0.4, 0)])  # 0.09 um2 < 0.15 um2 <= 0.16 um2
def test_act_e_small_activ_hole(ihp, tmp_path, deck_layers, hole, caught):
    ring = [(0, 0, 2, 0.5), (0, 0.5 + hole, 2, 1 + hole), (0, 0, 0.5, 1 + hole), (0.5 + hole, 0, 1 + hole, 1 + hole)]
    assert reported(ihp, draw(tmp_path, deck_layers, {"activ_drw": ring}), "Act.e") == caught


@pytest.mark.parametrize("gap, caught", [(0.2, 1), (0.28, 0)])
def test_cntb_b_contbar_space(ihp, tmp_path, deck_layers, gap, caught):
    """Two 0.16 x 1 um contact bars; square contacts at the same gap are not bars."""
    bars = [(0, 0, 0.16, 1), (0.16 + gap, 0, 0.32 + gap, 1)]
    squares = [(5, 0, 5.16, 0.16), (5.16 + gap, 0, 5.32 + gap, 0.16)]
    gds = draw(tmp_path, deck_layers, {"cont_drw": bars + squares, "metal1_drw": [(-1, -1, 7, 2)]})
    assert reported(ihp, gds, "CntB.b") == caught


@pytest.mark.parametrize("enclosure, caught", [(0.02, 2), (0.05, 0)])  # both long sides
def test_cntb_h1_metal1_enclosure_of_contbar(ihp, tmp_path, deck_layers, enclosure, caught):
    e = enclosure
    gds = draw(tmp_path, deck_layers, {"cont_drw": [(0, 0, 0.16, 1)], "metal1_drw": [(-e, -0.1, 0.16 + e, 1.1)]})
    assert reported(ihp, gds, "CntB.h1") == caught


@pytest.mark.parametrize("width, slit, caught", [(31, False, 1), (29, False, 0), (31, True, 0)])
def test_slt_c_wide_topmetal2_needs_a_slit(ihp, tmp_path, deck_layers, width, slit, caught):
    shapes = {"topmetal2_drw": [(0, 0, width, 40)]}
    if slit:
        shapes["topmetal2_slit"] = [(14, 5, 17, 35)]
    assert reported(ihp, draw(tmp_path, deck_layers, shapes), "Slt.c") == caught


def test_slt_c_pads_are_exempt(ihp, tmp_path, deck_layers):
    gds = draw(tmp_path, deck_layers, {"topmetal2_drw": [(0, 0, 60, 60)], "dfpad_drw": [(0, 0, 60, 60)]})
    assert reported(ihp, gds, "Slt.c") == 0


@pytest.mark.parametrize("rule_id, layer", [
    ("Padc.a", "dfpad_pillar"), ("Seal.b - pSD.c1", "edgeseal_drw"), ("Sdiod.e", "nbulay_drw"),
    ("No unrelated diffusion or well may exist in the NPN area ()", "trans_drw"),
])
def test_rules_about_layers_the_flow_never_draws(ihp, tmp_path, deck_layers, rule_id, layer):
    assert reported(ihp, draw(tmp_path, deck_layers, {layer: [(0, 0, 2, 2)]}), rule_id) == 1
    assert reported(ihp, draw(tmp_path, deck_layers, {"metal1_drw": [(0, 0, 2, 2)]}), rule_id) == 0


def test_a_derived_layer_that_does_not_parse_names_the_key(ihp):
    with pytest.raises(PdkError, match=r"ihp-sg13g2.toml: layout_rules.derived.bad: 'Activ - \(pSD': expected"):
        derived_layers({"derived": {"good": "Activ & pSD", "bad": "Activ - (pSD"}}, ihp.descriptor)


def contact(x, y):
    return (x, y, x + 0.16, y + 0.16)


#: (rule id, shapes with the fault, the same shapes drawn right): latch-up and abutted-tie rules
TIE_FAULTS = [
    ("LU.a",  # P+ Activ in an n-well 25 um from its only N-tap (16 um: within the 20 um)
     {"nwell_drw": [(0, 0, 40, 3)], "activ_drw": [(0.5, 1, 1.5, 2), (26, 1, 27, 2)],
      "cont_drw": [contact(0.92, 1.42)], "psd_drw": [(25.8, 0.8, 27.2, 2.2)]},
     {"nwell_drw": [(0, 0, 40, 3)], "activ_drw": [(0.5, 1, 1.5, 2), (16, 1, 17, 2)],
      "cont_drw": [contact(0.92, 1.42)], "psd_drw": [(15.8, 0.8, 17.2, 2.2)]}),
    ("LU.a",  # a P+ Activ from 15 to 30 um: every portion counts, not only whether the polygon is near
     {"nwell_drw": [(0, 0, 40, 3)], "activ_drw": [(0.5, 1, 1.5, 2), (15, 1, 30, 2)],
      "cont_drw": [contact(0.92, 1.42)], "psd_drw": [(14.8, 0.8, 30.2, 2.2)]},
     {"nwell_drw": [(0, 0, 40, 3)], "activ_drw": [(0.5, 1, 1.5, 2), (15, 1, 19, 2)],
      "cont_drw": [contact(0.92, 1.42)], "psd_drw": [(14.8, 0.8, 19.2, 2.2)]}),
    ("LU.a",  # a U-shaped well: 8 um apart in a straight line, over 20 um inside the well
     {"nwell_drw": [(0, 0, 3, 15), (0, 12, 11, 15), (8, 0, 11, 15)], "activ_drw": [(0.5, 0.5, 1.5, 1.5), (9, 0.5, 10, 1.5)],
      "cont_drw": [contact(0.92, 0.92)], "psd_drw": [(8.8, 0.3, 10.2, 1.7)]},
     {"nwell_drw": [(0, 0, 11, 15)], "activ_drw": [(0.5, 0.5, 1.5, 1.5), (9, 0.5, 10, 1.5)],
      "cont_drw": [contact(0.92, 0.92)], "psd_drw": [(8.8, 0.3, 10.2, 1.7)]}),
    ("LU.b",  # N+ Activ in the substrate 25 um from the P-tap (15 um: within)
     {"activ_drw": [(0, 0, 1, 1), (25, 0, 26, 1)], "psd_drw": [(-0.2, -0.2, 1.2, 1.2)], "cont_drw": [contact(0.42, 0.42)]},
     {"activ_drw": [(0, 0, 1, 1), (15, 0, 16, 1)], "psd_drw": [(-0.2, -0.2, 1.2, 1.2)], "cont_drw": [contact(0.42, 0.42)]}),
    ("LU.c, LU.c1",  # an N-tie abutting a P+ source runs 10 um past the source's contact (5 um: within 6)
     {"nwell_drw": [(-1, -1, 20, 3)], "activ_drw": [(0, 0, 12, 1)], "psd_drw": [(-0.2, -0.6, 4, 1.6)],
      "gatpoly_drw": [(1.5, -0.5, 1.63, 1.5)], "cont_drw": [contact(2, 0.42)]},
     {"nwell_drw": [(-1, -1, 20, 3)], "activ_drw": [(0, 0, 7, 1)], "psd_drw": [(-0.2, -0.6, 4, 1.6)],
      "gatpoly_drw": [(1.5, -0.5, 1.63, 1.5)], "cont_drw": [contact(2, 0.42)]}),
    ("LU.c, LU.c1",  # the same with a P-tie abutting an N+ source in the substrate
     {"activ_drw": [(0, 0, 12, 1)], "psd_drw": [(4, -0.2, 12.2, 1.2)], "gatpoly_drw": [(1.5, -0.5, 1.63, 1.5)],
      "cont_drw": [contact(2, 0.42)]},
     {"activ_drw": [(0, 0, 7, 1)], "psd_drw": [(4, -0.2, 7.2, 1.2)], "gatpoly_drw": [(1.5, -0.5, 1.63, 1.5)],
      "cont_drw": [contact(2, 0.42)]}),
    ("LU.d, LU.d1",  # an N-tie 12 um long with one contact at its end (5 um long: within 6)
     {"nwell_drw": [(-1, -1, 14, 3)], "activ_drw": [(0, 0, 12, 1)], "cont_drw": [contact(0.2, 0.42)]},
     {"nwell_drw": [(-1, -1, 14, 3)], "activ_drw": [(0, 0, 5, 1)], "cont_drw": [contact(0.2, 0.42)]}),
    ("LU.d, LU.d1",  # the same P-tie in the substrate
     {"activ_drw": [(0, 0, 12, 1)], "psd_drw": [(-0.2, -0.2, 12.2, 1.2)], "cont_drw": [contact(0.2, 0.42)]},
     {"activ_drw": [(0, 0, 5, 1)], "psd_drw": [(-0.2, -0.2, 5.2, 1.2)], "cont_drw": [contact(0.2, 0.42)]}),
    ("pSD.e/f",  # pSD over 0.2 um of an Activ (0.4 um: enough)
     {"activ_drw": [(0, 0, 2, 1)], "psd_drw": [(1.8, -0.2, 2.5, 1.2)]},
     {"activ_drw": [(0, 0, 2, 1)], "psd_drw": [(1.6, -0.2, 2.5, 1.2)]}),
    ("pSD.e/f",  # an abutted N-tie 0.2 um deep (0.4 um: enough)
     {"nwell_drw": [(-1, -1, 3, 2)], "activ_drw": [(0, 0, 2, 1)], "psd_drw": [(-0.2, -0.2, 1.8, 1.2)]},
     {"nwell_drw": [(-1, -1, 3, 2)], "activ_drw": [(0, 0, 2, 1)], "psd_drw": [(-0.2, -0.2, 1.6, 1.2)]}),
    ("pSD.g",  # an N-tie of 0.075 um2 (0.1 um2: enough)
     {"nwell_drw": [(-1, -1, 2, 2)], "activ_drw": [(0, 0, 0.25, 0.3)]},
     {"nwell_drw": [(-1, -1, 2, 2)], "activ_drw": [(0, 0, 0.25, 0.4)]}),
    ("pSD.i",  # pSD encloses a PFET gate by 0.17 um (0.37 um: enough)
     {"nwell_drw": [(-1, -1, 3, 2)], "activ_drw": [(0, 0, 2, 1)], "gatpoly_drw": [(0.9, -0.5, 1.03, 1.5)],
      "psd_drw": [(-0.2, -0.6, 1.2, 1.6)]},
     {"nwell_drw": [(-1, -1, 3, 2)], "activ_drw": [(0, 0, 2, 1)], "gatpoly_drw": [(0.9, -0.5, 1.03, 1.5)],
      "psd_drw": [(-0.2, -0.6, 1.4, 1.6)]}),
    ("pSD.j",  # pSD 0.17 um from an NFET gate (0.37 um: enough)
     {"activ_drw": [(0, 0, 2, 1)], "gatpoly_drw": [(0.9, -0.5, 1.03, 1.5)], "psd_drw": [(1.2, -0.5, 3, 1.5)]},
     {"activ_drw": [(0, 0, 2, 1)], "gatpoly_drw": [(0.9, -0.5, 1.03, 1.5)], "psd_drw": [(1.4, -0.5, 3, 1.5)]}),
]


@pytest.mark.parametrize("rule_id, fault, right", TIE_FAULTS, ids=[f"{f[0]}-{k}" for k, f in enumerate(TIE_FAULTS)])
def test_latchup_and_abutted_tie_rules(ihp, tmp_path, deck_layers, rule_id, fault, right):
    assert reported(ihp, draw(tmp_path, deck_layers, fault), rule_id) >= 1
    assert reported(ihp, draw(tmp_path, deck_layers, right), rule_id) == 0


@pytest.mark.parametrize("cell", ["sg13g2_inv_1", "sg13g2_dfrbp_1", "sg13g2_fill_1", "sg13g2_nand2_2"])
def test_library_cells_alone_pass_the_tie_rules(ihp, cell):
    """IHP's cells tie their own wells (a contacted tap under each rail); dfrbp_1 abuts its rail taps
    against transistor diffusion, which the abutted-tie rules look at."""
    rules = sorted({rule for rule, _, _ in TIE_FAULTS})
    result = check_layout_rules(ihp.gds, cell, ihp, rules=rules)
    assert result.checked == tuple(rules) and result.violations == ()
