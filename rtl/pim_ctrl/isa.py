"""What crosses the controller's ports: host request kinds, DRAM commands, bank modes, PIM operations.

These encodings are the interface between the controller, the host and the DRAM device; the device
model in ``kchip.verification.pim_ctrl`` decodes them without sharing any other code with the RTL.

Bank modes follow the published all-bank PIM designs (Samsung HBM-PIM / Aquabolt-XL): the device
powers up in single-bank mode; an ACT to a reserved *mode row* followed by a precharge of that bank
switches it one step along SINGLE_BANK <-> ALL_BANK <-> ALL_BANK_PIM. In the all-bank modes every
ACT, PRE, RD and WR acts on all banks at once (the bank field is ignored); in ALL_BANK_PIM a RD or WR
additionally triggers one PIM instruction in every bank's PIM unit, carried on the command bus's
``pim_*`` lanes (where HBM-PIM fetches it from a preloaded instruction buffer).
"""

from dataclasses import dataclass

from amaranth.lib import enum


class RequestKind(enum.Enum, shape=2):
    """What the host asks for."""

    READ = 0
    WRITE = 1
    PIM = 2
    MODE = 3


class Command(enum.Enum, shape=3):
    """One DRAM command; at most one per cycle on the command bus."""

    NOP = 0
    ACT = 1
    RD = 2
    WR = 3
    PRE = 4
    PREA = 5
    REF = 6


class Mode(enum.Enum, shape=2):
    """Bank mode of the device."""

    SINGLE_BANK = 0
    ALL_BANK = 1
    ALL_BANK_PIM = 2


class PimOp(enum.Enum, shape=3):
    """PIM instructions, executed in every bank on the column ``col`` of the open row.

    Lanes are 16-bit two's-complement integers with wrap-around arithmetic; ``grf`` are each PIM
    unit's vector registers, one column word wide.

    - ``MAC``:   ``grf[dst] += row[col] * grf[src]``  (a RD)
    - ``ADD``:   ``grf[dst] = row[col] + grf[src]``   (a RD)
    - ``MUL``:   ``grf[dst] = row[col] * grf[src]``   (a RD)
    - ``LOAD``:  ``grf[dst] = row[col]``              (a RD: row to register)
    - ``STORE``: ``row[col] = grf[src]``              (a WR: register to row)
    - ``BCAST``: ``grf[dst] = host data``             (a WR: one vector broadcast to every bank)
    """

    MAC = 0
    ADD = 1
    MUL = 2
    LOAD = 3
    STORE = 4
    BCAST = 5


#: PIM operations that read the DRAM array and are carried by a RD command; the others use WR.
ARRAY_READ_OPS = frozenset({PimOp.MAC, PimOp.ADD, PimOp.MUL, PimOp.LOAD})

#: Lane width of the PIM units, in bits.
PIM_LANE_BITS = 16

#: Rows at the top of every bank reserved for mode changes; host requests to them are rejected.
RESERVED_ROWS = len(Mode)


def mode_row(mode: Mode, row_bits: int) -> int:
    """The reserved row whose ACT + precharge switches the device into ``mode``."""
    return (1 << row_bits) - 1 - Mode(mode).value


def bank_group(bank: int, bank_groups: int) -> int:
    """Bank group of a bank: the low bits of the bank number, so consecutive banks alternate."""
    return bank % bank_groups


@dataclass(frozen=True)
class Request:
    """One host request as software builds it; the test harness and benchmarks drive these.

    ``addr`` is a host address (see ``PimController.join_address``); PIM and all-bank requests use
    only its row and column.
    """

    kind: RequestKind
    addr: int = 0
    wdata: int = 0
    op: PimOp = PimOp.MAC
    dst: int = 0
    src: int = 0
    mode: int = Mode.SINGLE_BANK.value
