"""Tests for kchip.flows.signoff.layout_rules: KLayout checks of the rules magic may leave out."""

import klayout.db as kdb
import pytest

from kchip.flows.signoff.layout_rules import check_layout_rules, layer_numbers, rule_checks
from signoff_layouts import inverter_chain




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
