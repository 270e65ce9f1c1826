"""DRAM timing from the JEDEC standards, owned by the checking model, written apart from the RTL.

Each parameter is entered the way its standard states it -- a minimum in nanoseconds, a minimum in
clocks (nCK), or the larger of both -- and converted to whole command-clock cycles here:
``max(nCK, ceil(ns / tCK))`` for minima (a minimum time is met by the next whole clock, as in the
notes to the JESD79-4 speed-bin tables), ``floor(ns / tCK)`` for the refresh interval tREFI, which
is a maximum. The arithmetic is exact (fractions): 13.75 ns at 0.625 ns is 22 clocks, not 23.

Devices (the names are the controller's preset names, so a bench config selects both):

``ddr4_3200``
    DDR4-3200AA (22-22-22), 8 Gb x8 die (1 KB page), 16 banks in 4 bank groups, tCK 0.625 ns, BL8.
    JEDEC JESD79-4 (DDR4 SDRAM): the speed-bin table "DDR4-3200 Speed Bins and Operations" for
    tAA (CL), CWL, tRCD, tRP, tRAS and tRC; the table "Timing Parameters by Speed Bin" (DDR4-3200
    column, 1 KB page) for tCCD_S/L, tRRD_S/L, tFAW, tWTR_S/L, tRTP and tWR; the table "Refresh
    parameters by device density" (8 Gb, 0-85 degC) for tRFC1 and tREFI.
``hbm2``
    HBM2 pseudo channel (BL4), 8 Gb die of two 4 Gb channels, 16 banks in 4 bank groups, tCK 1 ns
    (2 Gb/s per pin), the memory Samsung's HBM-PIM is built on. JEDEC JESD235A (High Bandwidth
    Memory DRAM) fixes tREFI (refresh section: 3.9 us average), tRFC by channel density (refresh
    parameters: 260 ns for 4 Gb per channel), tRC >= tRAS + tRP, and the pseudo-channel burst of
    BL4 holding the DDR data bus BL/2 = 2 clocks, which bounds tCCD_S from below. JESD235A leaves
    the core-array timings (tRCD, tRP, tRAS, tRRD_S/L, tFAW, tWR, tWTR_S/L, tRTP, tCCD_L) and the
    programmed latencies RL/WL to the device data sheet; for those the table holds one public
    tabulation of an 8 Gb HBM2 device at 2 Gb/s (DRAMsim3, ``configs/HBM2_8Gb_x128.ini``,
    github.com/umd-memsys/DRAMsim3), entered here as nanoseconds.
    tRTP is tRTP_L there (a RD and the PRE of its own bank are always in one bank group). The
    standard's own figures were checked against their quotation in Ramulator's HBM model (tRC =
    tRAS + tRP with both vendor-set, tRFC 260 ns at 4 Gb per channel, tREFI 3.9 us).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from fractions import Fraction


@dataclass(frozen=True)
class Limit:
    """One parameter as a standard states it, and where it says so."""

    ns: Fraction | None
    nck: int
    source: str
    maximum: bool = False

    def cycles(self, tck_ns: Fraction) -> int:
        """Whole clocks that satisfy the limit at clock period ``tck_ns``."""
        if self.ns is None:
            return self.nck
        ratio = self.ns / tck_ns
        if self.maximum:
            return math.floor(ratio)
        return max(self.nck, math.ceil(ratio))


def _ns(value: str, source: str, *, nck: int = 0) -> Limit:
    return Limit(Fraction(value), nck, source)


def _nck(value: int, source: str) -> Limit:
    return Limit(None, value, source)


@dataclass(frozen=True)
class CycleTiming:
    """A device's timing in command-clock cycles, as the model checks it."""

    name: str
    tCK_ns: Fraction
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

    @property
    def burst_cycles(self) -> int:
        """Clocks one burst holds the double-data-rate bus."""
        return self.BL // 2


#: Parameters in cycles, in :class:`CycleTiming` order (everything but the name and the clock).
PARAMETERS = tuple(f.name for f in fields(CycleTiming) if f.name not in ("name", "tCK_ns"))


@dataclass(frozen=True)
class Device:
    """One device's limits as the standards state them; :meth:`timing` converts them to cycles."""

    name: str
    tck_ns: Fraction
    limits: dict[str, Limit]

    def timing(self) -> CycleTiming:
        return CycleTiming(name=self.name, tCK_ns=self.tck_ns,
                           **{p: self.limits[p].cycles(self.tck_ns) for p in PARAMETERS})


_D4_BIN = "JESD79-4, DDR4-3200 Speed Bins and Operations, DDR4-3200AA"
_D4_PAR = "JESD79-4, Timing Parameters by Speed Bin, DDR4-3200, 1 KB page"
_D4_REF = "JESD79-4, Refresh parameters by device density, 8 Gb"

DDR4_3200 = Device("ddr4_3200", Fraction("0.625"), {
    "CL": _ns("13.75", f"{_D4_BIN}: tAA 13.75 ns, CL 22"),
    "CWL": _nck(16, f"{_D4_BIN}: CWL 16 (1 tCK write preamble)"),
    "BL": _nck(8, "JESD79-4, burst length BL8"),
    "tRCD": _ns("13.75", f"{_D4_BIN}: tRCD 13.75 ns"),
    "tRP": _ns("13.75", f"{_D4_BIN}: tRP 13.75 ns"),
    "tRAS": _ns("32", f"{_D4_BIN}: tRAS 32 ns"),
    "tRC": _ns("45.75", f"{_D4_BIN}: tRC 45.75 ns"),
    "tCCD_S": _nck(4, f"{_D4_PAR}: tCCD_S 4 nCK"),
    "tCCD_L": _ns("5", f"{_D4_PAR}: tCCD_L max(5 nCK, 5 ns)", nck=5),
    "tRRD_S": _ns("2.5", f"{_D4_PAR}: tRRD_S max(4 nCK, 2.5 ns)", nck=4),
    "tRRD_L": _ns("4.9", f"{_D4_PAR}: tRRD_L max(4 nCK, 4.9 ns)", nck=4),
    "tFAW": _ns("21", f"{_D4_PAR}: tFAW max(20 nCK, 21 ns)", nck=20),
    "tWR": _ns("15", f"{_D4_PAR}: tWR 15 ns"),
    "tWTR_S": _ns("2.5", f"{_D4_PAR}: tWTR_S max(2 nCK, 2.5 ns)", nck=2),
    "tWTR_L": _ns("7.5", f"{_D4_PAR}: tWTR_L max(4 nCK, 7.5 ns)", nck=4),
    "tRTP": _ns("7.5", f"{_D4_PAR}: tRTP max(4 nCK, 7.5 ns)", nck=4),
    "tRFC": _ns("350", f"{_D4_REF}: tRFC1 350 ns"),
    "tREFI": Limit(Fraction(7800), 0, f"{_D4_REF}: tREFI 7.8 us (0-85 degC)", maximum=True),
})

_HBM = "JESD235A"
_HBM_VENDOR = ("vendor-specified in JESD235A; 8 Gb HBM2 at 2 Gb/s as tabulated in DRAMsim3 "
               "configs/HBM2_8Gb_x128.ini")

HBM2 = Device("hbm2", Fraction(1), {
    "CL": _nck(14, f"RL 14 nCK, set in a mode register; {_HBM_VENDOR}"),
    "CWL": _nck(4, f"WL 4 nCK, set in a mode register; {_HBM_VENDOR}"),
    "BL": _nck(4, f"{_HBM}, pseudo-channel mode: BL4"),
    "tRCD": _ns("14", f"tRCDRD = tRCDWR 14 ns; {_HBM_VENDOR}"),
    "tRP": _ns("14", f"tRP 14 ns; {_HBM_VENDOR}"),
    "tRAS": _ns("34", f"tRAS 34 ns; {_HBM_VENDOR}"),
    "tRC": _ns("48", f"{_HBM}: tRC >= tRAS + tRP = 34 + 14 ns"),
    "tCCD_S": _nck(2, f"{_HBM}: a BL4 burst holds the data bus BL/2 = 2 nCK"),
    "tCCD_L": _nck(2, f"tCCDL 2 nCK; {_HBM_VENDOR}"),
    "tRRD_S": _ns("4", f"tRRDS 4 ns; {_HBM_VENDOR}"),
    "tRRD_L": _ns("6", f"tRRDL 6 ns; {_HBM_VENDOR}"),
    "tFAW": _ns("30", f"tFAW 30 ns; {_HBM_VENDOR}"),
    "tWR": _ns("16", f"tWR 16 ns; {_HBM_VENDOR}"),
    "tWTR_S": _ns("6", f"tWTRS 6 ns; {_HBM_VENDOR}"),
    "tWTR_L": _ns("8", f"tWTRL 8 ns; {_HBM_VENDOR}"),
    "tRTP": _ns("6", f"tRTPL 6 ns; {_HBM_VENDOR}"),
    "tRFC": _ns("260", f"{_HBM}, refresh parameters: tRFC 260 ns for 4 Gb per channel"),
    "tREFI": Limit(Fraction(3900), 0, f"{_HBM}, refresh: tREFI 3.9 us", maximum=True),
})

DEVICES: dict[str, Device] = {d.name: d for d in (DDR4_3200, HBM2)}


def device(name: str) -> Device:
    """The device called ``name``; raises ``KeyError`` listing the known names."""
    if name not in DEVICES:
        raise KeyError(f"no JEDEC table for {name!r}; known: {', '.join(DEVICES)}")
    return DEVICES[name]


def timing(name: str) -> CycleTiming:
    """The cycle timing of the device called ``name``."""
    return device(name).timing()


def disagreements(name: str, other) -> list[str]:
    """How a timing set (any object with the JEDEC parameter names as attributes, e.g. a controller
    preset) differs from this table for device ``name``: one line per differing value."""
    spec = device(name)
    expected = spec.timing()
    lines = []
    if Fraction(str(other.tCK_ns)) != spec.tck_ns:
        lines.append(f"{name} tCK: {other.tCK_ns} ns, the standard's device runs at "
                     f"{float(spec.tck_ns)} ns")
    for parameter in PARAMETERS:
        got, want = getattr(other, parameter), getattr(expected, parameter)
        if got != want:
            lines.append(f"{name} {parameter}: {got} cycles, JEDEC {want} "
                         f"({spec.limits[parameter].source})")
    return lines
