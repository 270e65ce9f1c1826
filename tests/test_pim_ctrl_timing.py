"""kchip.rtl.pim_ctrl.timing: presets hold the standards' values and bad timing sets are refused.

The standard values come from the checking model's own table (kchip.verification.pim_ctrl.jedec),
written from JESD79-4 and JESD235A without reading the RTL's presets.
"""

import pytest

from kchip.rtl.pim_ctrl.timing import DDR4_3200, HBM2, PRESETS, TimingError, timing_preset
from kchip.verification.pim_ctrl import jedec


def test_every_preset_has_a_jedec_table():
    assert sorted(PRESETS) == sorted(jedec.DEVICES)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_matches_the_models_jedec_table(name):
    """Every value of the preset (tCK, CL, CWL, BL, every t* in cycles) equals the JEDEC table's."""
    assert jedec.disagreements(name, timing_preset(name)) == []


@pytest.mark.parametrize("name, changes", [
    ("hbm2", {"tRCD": 12}), ("hbm2", {"tFAW": 16, "tRRD_L": 4}), ("hbm2", {"tREFI": 7800}),
    ("hbm2", {"tCCD_S": 4, "tCCD_L": 4}), ("ddr4_3200", {"tRRD_L": 6}), ("ddr4_3200", {"CL": 20}),
])
def test_a_preset_off_the_standard_is_named_with_its_source(name, changes):
    """The check fails on a perturbed preset, naming each wrong value, the standard's and source."""
    lines = jedec.disagreements(name, timing_preset(name).with_changes(**changes))
    by_parameter = {line.split(":")[0].split()[1]: line for line in lines}
    assert sorted(by_parameter) == sorted(changes) and len(lines) == len(changes), lines
    for parameter, value in changes.items():
        line, standard = by_parameter[parameter], getattr(jedec.timing(name), parameter)
        assert f"{value} cycles, JEDEC {standard} (" in line
        assert ("JESD79-4" if name == "ddr4_3200" else "JESD235A") in line


def test_a_preset_at_another_clock_is_named():
    assert jedec.disagreements("hbm2", HBM2.with_changes(tCK_ns=0.8)) == [
        "hbm2 tCK: 0.8 ns, the standard's device runs at 1.0 ns"]


def test_derived_gaps_follow_the_jedec_formulas():
    t = DDR4_3200
    assert t.read_to_write == 22 + 4 + 2 - 16
    assert t.write_to_read_l == 16 + 4 + 12
    assert t.write_to_precharge == 16 + 4 + 24
    assert t.refresh_drain_cycles < t.tREFI - t.tRFC


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_self_consistent(name):
    t = timing_preset(name)
    assert t.tCCD_L >= t.tCCD_S >= t.burst_cycles
    assert t.tRC >= t.tRAS + t.tRP


def test_with_changes_makes_a_modified_copy():
    shorter = HBM2.with_changes(tRCD=10)
    assert shorter.tRCD == 10 and HBM2.tRCD == 14


def test_unknown_names_are_listed():
    with pytest.raises(TimingError, match=r"'lpddr9'.*ddr4_3200, hbm2"):
        timing_preset("lpddr9")
    with pytest.raises(TimingError, match=r"'tXYZ'"):
        HBM2.with_changes(tXYZ=3)


@pytest.mark.parametrize("changes, message", [
    ({"tRCD": 0}, r"tRCD = 0"),
    ({"tRCD": 2.5}, r"tRCD = 2.5"),
    ({"tCCD_S": 1}, r"shorter than a burst"),
    ({"tCCD_L": 1, "tCCD_S": 2}, r"_L value"),
    ({"tREFI": 300}, r"tREFI = 300 leaves no time"),
])
def test_impossible_values_are_refused(changes, message):
    with pytest.raises(TimingError, match=message):
        HBM2.with_changes(**changes)


def test_refresh_drain_covers_every_wait_before_ref():
    slow_row_cycle = HBM2.with_changes(tRC=90)
    assert slow_row_cycle.refresh_drain_cycles == 90 + 2
    t = DDR4_3200
    assert t.refresh_drain_cycles == max(t.tRAS, t.CWL + t.BL // 2 + t.tWR, t.tRTP) + t.tRP + 2
