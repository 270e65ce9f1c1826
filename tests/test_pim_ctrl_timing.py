"""kchip.rtl.pim_ctrl.timing: presets hold the published values and bad timing sets are refused."""

import pytest

from kchip.rtl.pim_ctrl.timing import DDR4_3200, HBM2, PRESETS, TimingError, timing_preset


def test_ddr4_3200_preset_matches_the_speed_bin():
    t = DDR4_3200
    assert (t.CL, t.CWL, t.tRCD, t.tRP, t.tRAS) == (22, 16, 22, 22, 52)
    assert t.tRC == t.tRAS + t.tRP
    assert round(t.tREFI * t.tCK_ns) == 7800          # 7.8 us average refresh interval
    assert round(t.tRFC * t.tCK_ns) == 350            # 8 Gb die


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
