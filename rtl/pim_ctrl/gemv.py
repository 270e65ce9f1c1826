"""Host side of the GEMV offload ``y = W x``: how W is striped over the banks, and the request stream.

Layout (as in HBM-PIM's GEMV kernel): output row ``i`` belongs to bank ``i % banks``, slot
``i // banks``. A column word of a bank holds ``lanes`` consecutive elements of one W row, so every
PIM unit multiplies its word lane by lane with a chunk of x broadcast into a register of all banks,
accumulating into one register per slot.

The PIM registers are split in two: the first half holds a *block* of x chunks, the rest the
accumulators of a *group* of slots. Broadcasting a whole block before its MACs pays the
write-to-read turnaround once per block instead of once per chunk. Each group walks over all blocks;
finally its accumulators are stored into result rows, read by the host in single-bank mode, and
their lanes summed. Lane arithmetic is 16-bit wrap-around, so ``y`` equals ``W @ x`` in int16
exactly, whatever the order of additions.

Every (slot, chunk) word sits at the same row and column in every bank, because an all-bank column
command addresses one row and column in all of them. Words are laid out in execution order, so the
offload streams through each row before moving on to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from .geometry import Geometry
from .isa import PIM_LANE_BITS, RESERVED_ROWS, Mode, PimOp, Request, RequestKind

_MASK = (1 << PIM_LANE_BITS) - 1


def _pack(values) -> int:
    return sum((int(v) & _MASK) << (PIM_LANE_BITS * i) for i, v in enumerate(values))


@dataclass(frozen=True)
class GemvPlan:
    """Where an ``outputs`` x ``inputs`` matrix lives in a DRAM ``geometry``, and how to use it."""

    geometry: Geometry
    outputs: int
    inputs: int
    base_row: int = 0

    def __post_init__(self):
        for name in ("outputs", "inputs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GemvPlan {name} = {value!r} must be a positive integer")
        last_row = self.result_position(self.slots - 1)[0]
        usable = (1 << self.geometry.row_bits) - RESERVED_ROWS
        if last_row >= usable:
            raise ValueError(f"GemvPlan {self.outputs}x{self.inputs} needs rows up to {last_row} "
                             f"from base_row {self.base_row}; the geometry has rows "
                             f"0..{usable - 1} outside the mode rows")

    @property
    def lanes(self) -> int:
        return self.geometry.lanes

    @property
    def banks(self) -> int:
        return self.geometry.banks

    @property
    def x_registers(self) -> int:
        """Registers holding broadcast chunks of x: the first half."""
        return max(1, self.geometry.pim_regs // 2)

    @property
    def accumulators(self) -> int:
        """Registers accumulating one slot each: the second half."""
        return self.geometry.pim_regs - self.x_registers

    @property
    def chunks(self) -> int:
        return -(-self.inputs // self.lanes)

    @property
    def slots(self) -> int:
        return -(-self.outputs // self.banks)

    @property
    def groups(self) -> int:
        return -(-self.slots // self.accumulators)

    @property
    def _columns(self) -> int:
        return 1 << self.geometry.col_bits

    def _position(self, index: int) -> tuple[int, int]:
        return self.base_row + index // self._columns, index % self._columns

    def weight_position(self, slot: int, chunk: int) -> tuple[int, int]:
        """(row, column) of W's word for ``slot`` and ``chunk``, the same in every bank."""
        group, acc = divmod(slot, self.accumulators)
        return self._position((group * self.chunks + chunk) * self.accumulators + acc)

    def result_position(self, slot: int) -> tuple[int, int]:
        """(row, column) where the accumulator of ``slot`` is stored, after W's rows."""
        weight_words = self.groups * self.chunks * self.accumulators
        first = -(-weight_words // self._columns) * self._columns
        return self._position(first + slot)

    def output_index(self, bank: int, slot: int) -> int:
        return slot * self.banks + bank

    def weight_words(self, weights) -> dict[tuple[int, int, int], int]:
        """W striped over the banks: ``{(bank, row, column): word}``."""
        words = {}
        for bank in range(self.banks):
            for slot in range(self.slots):
                i = self.output_index(bank, slot)
                for chunk in range(self.chunks):
                    start = chunk * self.lanes
                    values = ([int(weights[i][j]) for j in range(start, min(start + self.lanes,
                                                                              self.inputs))]
                              if i < self.outputs else [])
                    row, col = self.weight_position(slot, chunk)
                    words[(bank, row, col)] = _pack(values)
        return words

    def offload_requests(self, x) -> list[Request]:
        """Everything the host sends for one GEMV, ending with the reads of the results."""
        join = self.geometry.join_address
        requests = [Request(RequestKind.MODE, mode=Mode.ALL_BANK_PIM.value)]
        for group in range(self.groups):
            members = [s for s in range(group * self.accumulators,
                                        (group + 1) * self.accumulators) if s < self.slots]
            for first in range(0, self.chunks, self.x_registers):
                block = range(first, min(first + self.x_registers, self.chunks))
                row, col = self.weight_position(members[0], first)
                for reg, chunk in enumerate(block):
                    chunk_x = x[chunk * self.lanes:(chunk + 1) * self.lanes]
                    requests.append(Request(RequestKind.PIM, join(0, row, col), _pack(chunk_x),
                                            PimOp.BCAST, dst=reg))
                for reg, chunk in enumerate(block):
                    for acc, slot in enumerate(members):
                        row, col = self.weight_position(slot, chunk)
                        op = PimOp.MUL if chunk == 0 else PimOp.MAC
                        requests.append(Request(RequestKind.PIM, join(0, row, col), op=op,
                                                dst=self.x_registers + acc, src=reg))
            for acc, slot in enumerate(members):
                row, col = self.result_position(slot)
                requests.append(Request(RequestKind.PIM, join(0, row, col), op=PimOp.STORE,
                                        src=self.x_registers + acc))
        requests.append(Request(RequestKind.MODE, mode=Mode.SINGLE_BANK.value))
        requests += self.result_reads()
        return requests

    def result_reads(self) -> list[Request]:
        """Single-bank reads of every output's partial sums, in output order."""
        reads = []
        for i in range(self.outputs):
            slot, bank = divmod(i, self.banks)
            row, col = self.result_position(slot)
            reads.append(Request(RequestKind.READ, self.geometry.join_address(bank, row, col)))
        return reads

    def host_readout_requests(self) -> list[Request]:
        """The same GEMV without PIM: single-bank reads of every W word, row by row."""
        reads = []
        for slot in range(self.slots):
            for chunk in range(self.chunks):
                for bank in range(self.banks):
                    if self.output_index(bank, slot) < self.outputs:
                        row, col = self.weight_position(slot, chunk)
                        reads.append(Request(RequestKind.READ,
                                             self.geometry.join_address(bank, row, col)))
        reads.sort(key=lambda r: self.geometry.split_address(r.addr)[1:])
        return reads

    def reduce(self, result_words: list[int]) -> list[int]:
        """``y`` as signed int16 from the result words (in output order): the sum of their lanes."""
        y = []
        for word in result_words:
            total = sum((word >> (PIM_LANE_BITS * lane)) & _MASK for lane in range(self.lanes))
            total &= _MASK
            y.append(total - (1 << PIM_LANE_BITS) if total >> (PIM_LANE_BITS - 1) else total)
        return y
