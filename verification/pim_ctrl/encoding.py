"""The controller's port encodings, written down for the checking model from the design's docs.

Source: ``rtl/pim_ctrl/README.md`` (sections "Ports" and "PIM") and the docstrings of the RTL's
``isa`` module, which name every field's values in order. Here a field's numeric code is the
position of the name in that documented list; nothing is imported from the RTL, so an RTL whose
enum values differ from its own documentation drives codes the model decodes differently, and the
bench fails instead of agreeing with it.

- ``cmd`` (3 bits): "NOP, ACT, RD, WR, PRE, PREA, REF: one per cycle".
- ``req_kind`` (2 bits): "READ, WRITE, PIM, MODE".
- bank mode (``req_mode``, ``mode``; 2 bits): "SINGLE_BANK <-> ALL_BANK <-> ALL_BANK_PIM", the
  device powering up in single-bank mode.
- ``req_pim_op`` / ``cmd_pim_op`` (3 bits): "MAC, ADD, MUL, LOAD (row to register) on a RD, STORE
  (register to row) and BCAST (host vector to a register of every bank) on a WR".

Conventions taken from the same documentation:

- PIM lanes are 16-bit two's-complement integers with wrap-around arithmetic.
- "The top three rows of every bank are reserved" for mode changes, one per mode: the model reads
  mode ``m`` as switched by the row ``m`` places below the top row (single-bank mode at the top).
- Bank groups: "the low bits of the bank number, so consecutive banks alternate".
"""

from __future__ import annotations

from enum import Enum, IntEnum

Cmd = IntEnum("Cmd", "NOP ACT RD WR PRE PREA REF", start=0)
HostKind = IntEnum("HostKind", "READ WRITE PIM MODE", start=0)
BankMode = IntEnum("BankMode", "SINGLE_BANK ALL_BANK ALL_BANK_PIM", start=0)
PimOpcode = IntEnum("PimOpcode", "MAC ADD MUL LOAD STORE BCAST", start=0)

#: PIM operations that read the array and ride on a RD; STORE and BCAST ride on a WR.
READ_OPS = frozenset({PimOpcode.MAC, PimOpcode.ADD, PimOpcode.MUL, PimOpcode.LOAD})

LANE_BITS = 16
LANE_MASK = (1 << LANE_BITS) - 1

#: Rows reserved at the top of every bank, one per bank mode.
RESERVED_ROWS = len(BankMode)


def mode_row(mode: int, row_bits: int) -> int:
    """The reserved row whose ACT and precharge switch the device into ``mode``."""
    return (1 << row_bits) - 1 - BankMode(mode)


def bank_group(bank: int, bank_groups: int) -> int:
    """Bank group of ``bank``: its low bits."""
    return bank % bank_groups


def port_code(value: int | Enum, field: type[IntEnum]) -> int:
    """The documented code to drive for ``value`` on a port of type ``field``.

    Enum members (the model's or the RTL's host-side ones) are encoded by *name* with the documented
    table; plain integers are already port values and are driven as they are (e.g. an illegal
    opcode on purpose).
    """
    if isinstance(value, Enum):
        return int(field[value.name])
    return int(value)


def lanes_of(word: int, lanes: int) -> list[int]:
    """The unsigned 16-bit lanes of a data word, lane 0 in the low bits."""
    return [(word >> (LANE_BITS * i)) & LANE_MASK for i in range(lanes)]


def word_of(lanes: list[int]) -> int:
    """The data word holding these lanes (each taken modulo 2**16)."""
    return sum((value & LANE_MASK) << (LANE_BITS * i) for i, value in enumerate(lanes))
