"""DRAM timing parameters as data, in clock cycles (nCK), with presets from public sources.

Every value is a whole number of command-clock cycles, rounded up from the nanosecond figures of the
standard. Derived gaps that several rules share (write-to-read turnaround, write recovery before a
precharge, ...) are properties, so the controller and the checking model compute them the same way
from the same data without sharing any scheduling code.

Presets:

``ddr4_3200``
    DDR4-3200AA (22-22-22), 8 Gb x8 die, tCK = 0.625 ns, 16 banks in 4 bank groups. Values from
    JEDEC JESD79-4 (speed bin DDR4-3200AA, 1 KB page) as tabulated in DRAMsim3's
    ``configs/DDR4_8Gb_x8_3200.ini`` (github.com/umd-memsys/DRAMsim3); tRC = tRAS + tRP.
``hbm2``
    HBM2 pseudo channel, 8 Gb die, tCK = 1 ns (2 Gb/s per pin), BL4, 16 banks in 4 bank groups --
    the memory Samsung's HBM-PIM (Aquabolt-XL) is built on. Values from JEDEC JESD235 as tabulated in
    DRAMsim3's ``configs/HBM2_8Gb_x128.ini``; tCCD_S and tCCD_L raised to BL/2 = 2 because a BL4
    burst holds the data bus for two clocks, tRTP = tRTP_L, tRC = tRAS + tRP.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


class TimingError(ValueError):
    """A timing set that no device or controller can use."""


@dataclass(frozen=True)
class DramTiming:
    """JEDEC timing of one DRAM device, in clock cycles.

    ``BL`` is the burst length in data beats; a burst holds the double-data-rate bus ``BL // 2``
    cycles. ``banks`` and ``bank_groups`` describe the device the preset was taken from; a controller
    may be built for fewer banks (see :class:`~kchip.rtl.pim_ctrl.controller.PimController`).
    """

    name: str
    tCK_ns: float
    CL: int
    CWL: int
    BL: int
    tRCD: int
    tRP: int
    tRAS: int
    tRC: int
    tCCD_S: int
    tCCD_L: int
    tRRD_S: int
    tRRD_L: int
    tFAW: int
    tWR: int
    tWTR_S: int
    tWTR_L: int
    tRTP: int
    tRFC: int
    tREFI: int

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("name", "tCK_ns"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TimingError(f"timing {self.name!r}: {f.name} = {value!r} must be a positive "
                                  f"integer number of clock cycles")
        if self.BL % 2:
            raise TimingError(f"timing {self.name!r}: BL = {self.BL!r} must be even")
        if self.tCCD_S < self.burst_cycles:
            raise TimingError(f"timing {self.name!r}: tCCD_S = {self.tCCD_S!r} is shorter than a "
                              f"burst ({self.burst_cycles} cycles)")
        if self.tCCD_L < self.tCCD_S or self.tRRD_L < self.tRRD_S or self.tWTR_L < self.tWTR_S:
            raise TimingError(f"timing {self.name!r}: each *_L value must be at least its *_S value")
        if self.tREFI <= self.refresh_drain_cycles + self.tRFC:
            raise TimingError(f"timing {self.name!r}: tREFI = {self.tREFI!r} leaves no time "
                              f"between refreshes (tRFC {self.tRFC} + drain "
                              f"{self.refresh_drain_cycles})")

    @property
    def burst_cycles(self) -> int:
        """Cycles one burst holds the data bus."""
        return self.BL // 2

    @property
    def read_to_write(self) -> int:
        """Minimum RD-to-WR command gap (any bank): RL + BL/2 + 2 - WL."""
        return max(1, self.CL + self.burst_cycles + 2 - self.CWL)

    @property
    def write_to_read_s(self) -> int:
        """Minimum WR-to-RD gap to another bank group: WL + BL/2 + tWTR_S."""
        return self.CWL + self.burst_cycles + self.tWTR_S

    @property
    def write_to_read_l(self) -> int:
        """Minimum WR-to-RD gap within a bank group: WL + BL/2 + tWTR_L."""
        return self.CWL + self.burst_cycles + self.tWTR_L

    @property
    def write_to_precharge(self) -> int:
        """Minimum WR-to-PRE gap in the same bank (write recovery): WL + BL/2 + tWR."""
        return self.CWL + self.burst_cycles + self.tWR

    @property
    def refresh_drain_cycles(self) -> int:
        """Worst-case cycles from a refresh becoming due to its REF command.

        Once a refresh is due the controller issues nothing but PREA and REF, so the wait is bounded
        by the last command already issued (an ACT needs tRAS, a WR its recovery, a RD tRTP before
        the precharge), then tRP -- or tRC from that ACT, which the controller also waits for --
        plus one cycle for each of PREA and REF.
        """
        close = max(self.tRAS, self.write_to_precharge, self.tRTP) + self.tRP
        return max(close, self.tRC) + 2

    def with_changes(self, **changes) -> "DramTiming":
        """A copy with some values changed, e.g. ``DDR4_3200.with_changes(tRCD=10)``."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise TimingError(f"unknown timing parameter(s) {', '.join(map(repr, unknown))}; valid: "
                              f"{', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)


DDR4_3200 = DramTiming(
    name="ddr4_3200", tCK_ns=0.625, CL=22, CWL=16, BL=8,
    tRCD=22, tRP=22, tRAS=52, tRC=74, tCCD_S=4, tCCD_L=8, tRRD_S=4, tRRD_L=8, tFAW=34,
    tWR=24, tWTR_S=4, tWTR_L=12, tRTP=12, tRFC=560, tREFI=12480,
)

HBM2 = DramTiming(
    name="hbm2", tCK_ns=1.0, CL=14, CWL=4, BL=4,
    tRCD=14, tRP=14, tRAS=34, tRC=48, tCCD_S=2, tCCD_L=2, tRRD_S=4, tRRD_L=6, tFAW=30,
    tWR=16, tWTR_S=6, tWTR_L=8, tRTP=6, tRFC=260, tREFI=3900,
)

PRESETS: dict[str, DramTiming] = {t.name: t for t in (DDR4_3200, HBM2)}


def timing_preset(name: str) -> DramTiming:
    """The preset called ``name``; raises :class:`TimingError` listing the valid names."""
    if name not in PRESETS:
        raise TimingError(f"unknown DRAM timing preset {name!r}; valid presets: "
                          f"{', '.join(PRESETS)}")
    return PRESETS[name]
