"""kchip.verification.pim_ctrl.jedec: the checking model's own JEDEC timing table."""

from fractions import Fraction

import pytest

from kchip.verification.pim_ctrl import jedec


def test_limits_round_minima_up_and_the_refresh_interval_down():
    tck = Fraction("0.625")
    assert jedec.Limit(Fraction("13.75"), 0, "").cycles(tck) == 22          # exact: no rounding
    assert jedec.Limit(Fraction("4.9"), 4, "").cycles(tck) == 8             # 7.84 -> 8
    assert jedec.Limit(Fraction("2.5"), 4, "").cycles(tck) == 4             # the nCK floor wins
    assert jedec.Limit(None, 4, "").cycles(tck) == 4
    assert jedec.Limit(Fraction(7801), 0, "", maximum=True).cycles(tck) == 12481  # 12481.6 -> down


@pytest.mark.parametrize("name", sorted(jedec.DEVICES))
def test_every_table_is_consistent_and_sourced(name):
    device, t = jedec.device(name), jedec.timing(name)
    assert t.tRC >= t.tRAS + t.tRP
    assert t.tCCD_L >= t.tCCD_S >= t.burst_cycles
    assert t.tRRD_L >= t.tRRD_S and t.tWTR_L >= t.tWTR_S
    assert t.tFAW >= t.tRRD_S
    assert set(device.limits) == set(jedec.PARAMETERS)
    standard = {"ddr4_3200": "JESD79-4", "hbm2": "JESD235A"}[name]
    assert all(standard in limit.source for limit in device.limits.values())


def test_ddr4_3200aa_in_nanoseconds():
    t = jedec.timing("ddr4_3200")
    assert (t.CL, t.CWL, t.tRCD, t.tRP, t.tRAS, t.tRC) == (22, 16, 22, 22, 52, 74)
    assert (t.tCCD_L, t.tRRD_L, t.tFAW, t.tWTR_L, t.tRTP, t.tWR) == (8, 8, 34, 12, 12, 24)
    assert t.tRFC * t.tCK_ns == 350 and t.tREFI * t.tCK_ns == 7800


def test_hbm2_refresh_and_bursts():
    t = jedec.timing("hbm2")
    assert t.tREFI * t.tCK_ns == 3900 and t.tRFC * t.tCK_ns == 260
    assert t.burst_cycles == t.tCCD_S == 2
    assert t.tRC == t.tRAS + t.tRP


def test_unknown_devices_are_listed():
    with pytest.raises(KeyError, match=r"'lpddr9'.*ddr4_3200, hbm2"):
        jedec.timing("lpddr9")
