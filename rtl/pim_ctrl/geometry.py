"""How the controller's DRAM is organised and how a host address splits into bank, row and column."""

from __future__ import annotations

from dataclasses import dataclass

from .isa import PIM_LANE_BITS

ADDRESS_MAPS = ("row_bank_col", "row_col_bank")


@dataclass(frozen=True)
class Geometry:
    """Banks, rows, columns and data width as one controller sees them (validated by the controller).

    ``address_map`` gives the field order of a host address from the top: ``row_bank_col`` keeps a
    sequential stream in one row of one bank, ``row_col_bank`` spreads it over the banks.
    """

    banks: int
    bank_groups: int
    row_bits: int
    col_bits: int
    data_width: int
    pim_regs: int
    address_map: str = "row_bank_col"

    @property
    def bank_bits(self) -> int:
        return (self.banks - 1).bit_length()

    @property
    def addr_bits(self) -> int:
        return self.row_bits + self.bank_bits + self.col_bits

    @property
    def lanes(self) -> int:
        """16-bit PIM lanes in one column word."""
        return self.data_width // PIM_LANE_BITS

    def split_address(self, addr: int) -> tuple[int, int, int]:
        """(bank, row, column) of a host address."""
        col_mask, bank_mask = (1 << self.col_bits) - 1, (1 << self.bank_bits) - 1
        row = addr >> (self.col_bits + self.bank_bits)
        if self.address_map == "row_bank_col":
            return (addr >> self.col_bits) & bank_mask, row, addr & col_mask
        return addr & bank_mask, row, (addr >> self.bank_bits) & col_mask

    def join_address(self, bank: int, row: int, col: int) -> int:
        """The host address of (bank, row, column); the inverse of :meth:`split_address`."""
        top = row << (self.col_bits + self.bank_bits)
        if self.address_map == "row_bank_col":
            return top | (bank << self.col_bits) | col
        return top | (col << self.bank_bits) | bank
