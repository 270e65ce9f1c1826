"""Tests for kchip.flows.signoff.layout_rules: KLayout checks of the rules magic may leave out."""

import klayout.db as kdb
import pytest

from kchip.flows.signoff.layout_rules import check_layout_rules, layer_numbers, rule_checks
from signoff_layouts import boxes_gds, inverter_chain




def test_layer_numbers_from_lyp(pdk):
    layers = layer_numbers(pdk.klayout_lyp)
    assert layers["nwell"] == (64, 20) and layers["tap"] == (65, 44) and layers["met4"] == (71, 20)


def test_row_with_taps_is_clean(pdk, tmp_path):
    result = check_layout_rules(inverter_chain(pdk, tmp_path / "chain.gds"), "chain", pdk)
    assert result.violations == ()
    assert set(result.checked) == set(rule_checks(pdk)) and result.unchecked == ()


def test_row_without_taps_fails_latchup_and_well_tap(pdk, tmp_path):
    result = check_layout_rules(inverter_chain(pdk, tmp_path / "chain.gds", taps=False), "chain", pdk)
    counts = result.errors_by_rule
    assert counts["LU.2"] > 0 and counts["LU.3"] > 0 and counts["nwell.4"] == 1
    assert result.total == counts["LU.2"] + counts["LU.3"] + counts["nwell.4"]


@pytest.mark.parametrize("fills, failing", [(2, False), (5, True)])
def test_tap_distance(pdk, tmp_path, fills, failing):
    """One tap at the row's start, then ``fills`` fill_8 cells (3.68 um each), then the inverters."""
    gds = inverter_chain(pdk, tmp_path / "chain.gds", fill_before=fills)
    result = check_layout_rules(gds, "chain", pdk, rules=["LU.2", "LU.3", "nwell.4"])
    assert result.errors_by_rule["nwell.4"] == 0
    assert (result.errors_by_rule["LU.2"] > 0) == failing
    assert (result.errors_by_rule["LU.3"] > 0) == failing
    for violation in result.violations:  # only the inverters, beyond 15 um of the tap
        assert violation.box[0] > 15.0


def write_metal(tmp_path, boxes):
    layout = kdb.Layout()
    top = layout.create_cell("metal")
    met1 = layout.layer(68, 20)
    for box in boxes:
        top.shapes(met1).insert(kdb.DBox(*box))
    path = tmp_path / "metal.gds"
    layout.write(str(path))
    return path


def test_small_metal_hole(pdk, tmp_path):
    frames = []
    for x0, hole in ((0.0, 0.3), (10.0, 1.0)):  # 0.09 um2 hole fails, 1 um2 hole passes
        frames += [(x0, 0, x0 + 2, 1), (x0, 1 + hole, x0 + 2, 2 + hole),
                   (x0, 1, x0 + 0.5, 1 + hole), (x0 + 0.5 + hole, 1, x0 + 2, 1 + hole)]
    result = check_layout_rules(write_metal(tmp_path, frames), "metal", pdk, rules=["met1.7", "met2.7"])
    assert [v.rule for v in result.violations] == ["met1.7"]
    assert result.violations[0].box == (0.5, 1.0, 0.8, 1.3)


@pytest.mark.parametrize("wire_y, failing", [(2.45, True), (2.65, False)])
def test_wide_metal_halo(pdk, tmp_path, wire_y, failing):
    """A 5 um plate with a stub; an unrelated wire 0.2 um from the plate, 0.15 or 0.35 um from the stub."""
    plate, stub = (0, 0, 5, 5), (5, 2, 5.6, 2.3)
    wire = (5.2, wire_y, 5.8, wire_y + 0.2)
    result = check_layout_rules(write_metal(tmp_path, [plate, stub, wire]), "metal", pdk, rules=["met1.3a"])
    assert (result.total > 0) == failing


def test_unknown_rules_are_returned_unchecked(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds")
    result = check_layout_rules(gds, "chain", pdk, rules=["LU.2", "capm.2b", "tunm.8"])
    assert result.checked == ("LU.2",) and result.unchecked == ("capm.2b", "tunm.8")
    with pytest.raises(ValueError, match="'nope'"):
        check_layout_rules(gds, "nope", pdk)


# IHP SG13G2: M1.e / Mn.e, checked with KLayout instead of magic (see [layout_rules] of ihp-sg13g2.toml).
IHP = "ihp-sg13g2"
IHP_DRC = "libs.tech/klayout/tech/drc/rule_decks"
#: rule id -> (deck file, the JSON key prefix of its values): <prefix> spacing, <prefix>_w width, <prefix>_cr run
IHP_WIDE_RULES = {"M1.e": ("beol/5_16_metal1.drc", "M1_e"),
                  **{f"M{n}.e": ("beol/5_17_metaln.drc", "Mn_e") for n in range(2, 6)}}


def ihp_rules(ihp) -> dict[str, dict]:
    from kchip.pdk.rules import load_rules

    return {rule["id"]: rule for rule in load_rules(ihp).layout_rules["rules"]}


@pytest.mark.parametrize("rule_id", sorted(IHP_WIDE_RULES))
def test_ihp_wide_metal_values_match_the_pdk_klayout_deck(ihp, rule_id):
    """Width threshold, spacing and parallel-run limit are the deck's (JSON values), and the deck checks
    them as the descriptor's kind does: sep(wide part, value, projection_limits(run + 0.001, nil))."""
    import json
    import re

    deck, key = IHP_WIDE_RULES[rule_id]
    values = json.loads((ihp.root / IHP / IHP_DRC / "sg13g2_tech_default.json").read_text())["drc_rules"]
    code = (ihp.root / IHP / IHP_DRC / deck).read_text()
    prefix = key.lower()
    assert re.search(rf"{prefix}_width\s*=\s*drc_rules\['{key}_w'\]\.to_f / 2", code)
    assert re.search(rf"{prefix}_length\s*=\s*drc_rules\['{key}_cr'\]\.to_f", code)
    assert re.search(rf"\w+\.sized\(-1 \* {prefix}_width\.um\)\.sized\({prefix}_width\.um\)", code)
    assert re.search(rf"\w+\.sep\({prefix}_l1, {prefix}_value\.um, projection_limits\({prefix}_length\.um "
                     rf"\+ 0\.001\.um, nil\)\)", code)
    rule = ihp_rules(ihp)[rule_id]
    layer = f"Metal{rule_id[1]}"
    assert (rule["check"], rule["layer"]) == ("wide_metal", layer)
    assert rule["wide_um"] == pytest.approx(values[f"{key}_w"])
    assert rule["space_um"] == pytest.approx(values[key])
    assert rule["run_um"] == pytest.approx(values[f"{key}_cr"])
    assert re.search(rf"wider than {rule['wide_um']} um .* more than {rule['run_um']} um is {rule['space_um']} um",
                     rule["description"])


def test_ihp_wide_metal_rules_are_checked_instead_of_magic(ihp):
    from kchip.flows.signoff.layout_rules import magic_replaced

    replaced = magic_replaced(ihp)
    assert set(replaced) == set(IHP_WIDE_RULES) and all("parallel-run" in why for why in replaced.values())


def write_layer(tmp_path, layer, boxes):
    return boxes_gds(tmp_path / "metal.gds", layer, boxes, "metal")


@pytest.mark.parametrize("rule_id", sorted(IHP_WIDE_RULES))
@pytest.mark.parametrize("run, gap_delta, failing", [
    (3.0, -0.01, True),    # 3 um parallel run, 10 nm under the spacing: reported
    (1.1, -0.01, True),    # just over the run limit
    (0.9, -0.01, False),   # same gap, run under 1 um (library pin next to its rail): not reported
    (3.0, 0.0, False),     # long run at exactly the spacing
])
def test_ihp_wide_metal_needs_the_parallel_run(ihp, tmp_path, rule_id, run, gap_delta, failing):
    """A 1 um wide plate and a minimum-width wire beside it, ``run`` um long, at the spacing + delta."""
    rule = ihp_rules(ihp)[rule_id]
    gap = rule["space_um"] + gap_delta
    plate = (0, 0, 5, 1)
    wire = (1, 1 + gap, 1 + run, 1 + gap + 0.2)
    number = layer_numbers(ihp.klayout_lyp)[rule["layer"]]
    result = check_layout_rules(write_layer(tmp_path, number, [plate, wire]), "metal", ihp, rules=[rule_id])
    assert result.checked == (rule_id,) and (result.total > 0) == failing, result.violations
    if failing:
        x1, y1, x2, y2 = result.violations[0].box
        assert (y1, y2) == pytest.approx((1, 1 + gap)) and x1 <= 1 and x2 >= 1 + run  # wire's edge, and corners


def test_ihp_narrow_lines_are_not_wide(ihp, tmp_path):
    """Two lines of the threshold width (not wider) at less than the wide spacing, 3 um run: clean."""
    rule = ihp_rules(ihp)["M3.e"]
    w = rule["wide_um"]
    gap = rule["space_um"] - 0.01
    number = layer_numbers(ihp.klayout_lyp)["Metal3"]
    gds = write_layer(tmp_path, number, [(0, 0, 3, w), (0, w + gap, 3, 2 * w + gap)])
    assert check_layout_rules(gds, "metal", ihp, rules=["M3.e"]).total == 0


# IHP rules magic 8.3.105 cannot read, checked by showing the layout has nothing they concern.
IHP_LAYERS_DEF = "libs.tech/klayout/tech/drc/rule_decks/layers_def.drc"


def test_ihp_absent_rule_layers_are_the_decks_layers(ihp):
    """Each layer an ``absent`` rule names has the GDS numbers IHP's own deck reads it from
    (layers_def.drc: ``mim_drw = get_polygons(36, 0)``, ``metal1_filler = get_polygons(8, 22)``)."""
    import re

    deck = (ihp.root / IHP / IHP_LAYERS_DEF).read_text()
    numbers = layer_numbers(ihp.klayout_lyp)
    named = {layer for rule in ihp_rules(ihp).values() if rule["check"] == "absent" for layer in rule["layers"]}
    assert {"MIM", "TRANS", "Metal1.filler", "TopMetal2.filler"} <= named
    for layer in named:
        stem, _, purpose = layer.partition(".")
        variable = f"{stem.lower()}_{'drw' if purpose in ('', 'drawing') else purpose}"
        found = re.search(rf"^{variable} = get_polygons\((\d+), (\d+)\)", deck, re.M)
        assert found, variable
        assert numbers[layer] == (int(found.group(1)), int(found.group(2))), layer


@pytest.mark.parametrize("rule_id, number, boxes, caught", [
    ("MIM.e", (36, 0), [(0, 0, 2, 2)], 1),
    ("MFil.a2", (8, 22), [(0, 0, 2, 2), (5, 0, 7, 2)], 2),
    ("MFil.a2", (8, 0), [(0, 0, 2, 2)], 0),  # drawn Metal1 is not fill
    ("npnG2.d", (26, 0), [], 0),
])
def test_ihp_a_shape_on_an_absent_rule_layer_is_reported(ihp, tmp_path, rule_id, number, boxes, caught):
    gds = boxes_gds(tmp_path / "shapes.gds", number, boxes, "shapes")
    result = check_layout_rules(gds, "shapes", ihp, rules=[rule_id])
    assert result.checked == (rule_id,)
    assert len(result.violations) == caught


@pytest.mark.parametrize("diagonal, caught", [(False, 0), (True, 1)])
def test_ihp_a_45_degree_metal_shape_is_reported(ihp, tmp_path, diagonal, caught):
    layout = kdb.Layout()
    layout.dbu = 0.001
    top = layout.create_cell("shapes")
    metal2 = layer_numbers(ihp.klayout_lyp)["Metal2"]
    points = [(0, 0), (2, 0), (4, 2), (2, 2)] if diagonal else [(0, 0), (2, 0), (2, 2), (0, 2)]
    top.shapes(layout.layer(*metal2)).insert(kdb.DPolygon([kdb.DPoint(x, y) for x, y in points]))
    top.shapes(layout.layer(*metal2)).insert(kdb.DBox(10, 0, 12, 5))
    layout.write(str(tmp_path / "shapes.gds"))
    result = check_layout_rules(tmp_path / "shapes.gds", "shapes", ihp, rules=["M2.g", "M1.g"])
    assert [v.rule for v in result.violations] == ["M2.g"] * caught
