"""A cocotb host of ``tt_um_kchip_npu``: the byte protocol on the Tiny Tapeout pins.

Written from the protocol's documentation (the README's Tiny Tapeout section and the wrapper's
module docstring), not from the RTL: the pin positions, transfer kinds and command bytes below are
typed in from those tables. The registers behind the protocol are the core's documented ones
(the constants of :mod:`kchip.verification.npu_core.driver`).

The host behaves like a slow, asynchronous microcontroller: it drives the pins on the falling clock
edge, samples them there, waits a random number of cycles (up to ``delay``) between the steps of a
handshake, raises REQ later than the byte at random, scrambles ``ui_in`` and KIND as soon as it
has seen ACK (the design must not look at them any more) and drives random levels on the ``uio``
pins that are not its inputs.
"""

from __future__ import annotations

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from kchip.verification.npu_core import golden
from kchip.verification.npu_core.driver import (
    A_BASE, A_DEPTH, ARRAY_N, B_BASE, B_DEPTH, BUSY, CTRL, CYCLES, DONE, ERROR, K, LOAD_A, LOAD_B,
    M, N, QUANT, START, STATUS, Operation, Outcome)

#: ``uio`` bits: REQ and the two KIND bits are inputs, ACK and the three flags outputs.
REQ, KIND_LSB, ACK, A_READY, B_READY, C_VALID = 0, 1, 3, 4, 5, 6
#: ``uio_oe`` the documentation promises: pins 3 to 6 driven.
UIO_OE = 0x78
#: Transfer kinds.
CMD, DATA, A, B = 0, 1, 2, 3
#: Command bytes (``WRITE`` and ``READ`` take the register word address in the low nibble).
WRITE, READ, POP, NOP = 0x10, 0x20, 0x30, 0x00
#: Clock cycles a transfer may wait for its ACK before the host gives up.
ACK_LIMIT = 2000


class TtNpuHost:
    """Clock, reset and the byte protocol of one ``tt_um_kchip_npu`` instance."""

    def __init__(self, dut, rng: np.random.Generator, *, delay: int = 0):
        self.dut, self.rng, self.delay = dut, rng, delay
        self.clk = dut.clk
        self.transfers = 0

    async def start(self) -> None:
        """Start the clock, reset the design and read the core's parameters."""
        Clock(self.clk, 10, unit="ns").start()
        self.dut.ena.value = 1
        self.dut.ui_in.value = 0
        self.dut.uio_in.value = 0
        await self.reset()
        self.n = await self.read(ARRAY_N)
        self.a_depth = await self.read(A_DEPTH)
        self.b_depth = await self.read(B_DEPTH)

    async def reset(self, cycles: int = 3) -> None:
        """Hold ``rst_n`` low for ``cycles`` clock cycles, with REQ low."""
        await FallingEdge(self.clk)
        self.dut.rst_n.value = 0
        self.dut.uio_in.value = 0
        await ClockCycles(self.clk, cycles)
        await FallingEdge(self.clk)
        self.dut.rst_n.value = 1

    def pin(self, bit: int) -> bool:
        """One ``uio_out`` bit as the host sees it now."""
        return bool(int(self.dut.uio_out.value) >> bit & 1)

    async def _pause(self) -> None:
        await FallingEdge(self.clk)
        for _ in range(int(self.rng.integers(0, self.delay + 1))):
            await FallingEdge(self.clk)

    async def _await_ack(self, level: bool, what: str) -> None:
        for _ in range(ACK_LIMIT):
            if self.pin(ACK) == level:
                return
            await FallingEdge(self.clk)
        raise AssertionError(f"ACK stayed {'low' if level else 'high'} for {ACK_LIMIT} cycles "
                             f"({what}, transfer {self.transfers})")

    def _drive(self, kind: int, req: bool) -> None:
        """REQ and KIND on ``uio_in``; random levels on the pins the design must ignore (the
        pads of its own outputs read back, and the unused bit 7)."""
        ignored = int(self.rng.integers(256)) & ~(1 << REQ | 3 << KIND_LSB)
        self.dut.uio_in.value = ignored | kind << KIND_LSB | int(req) << REQ

    async def transfer(self, kind: int, byte: int) -> int:
        """One four-phase transfer of ``byte`` as ``kind``; the reply byte on ``uo_out``."""
        dut, what = self.dut, f"kind {kind}, byte {byte:#04x}"
        await self._pause()
        await self._await_ack(False, what)
        dut.ui_in.value = byte & 0xFF
        self._drive(kind, False)
        if self.rng.random() < 0.5:
            await self._pause()
        self._drive(kind, True)
        await self._await_ack(True, what)
        reply = int(dut.uo_out.value)
        dut.ui_in.value = int(self.rng.integers(256))
        scrambled = int(self.rng.integers(4))
        self._drive(scrambled, True)
        await self._pause()
        self._drive(scrambled, False)
        await self._await_ack(False, what)
        self.transfers += 1
        return reply

    async def expect_no_ack(self, kind: int, byte: int, cycles: int) -> None:
        """Start a transfer the core cannot complete and check that ACK stays low for ``cycles``
        clock cycles; REQ stays high (only a reset ends such a transfer)."""
        await self._pause()
        await self._await_ack(False, "before an unanswerable transfer")
        self.dut.ui_in.value = byte & 0xFF
        self._drive(kind, True)
        for _ in range(cycles):
            await FallingEdge(self.clk)
            assert not self.pin(ACK), f"kind {kind}, byte {byte:#04x} was answered"

    async def write(self, address: int, value: int) -> None:
        """Four DATA transfers (least significant byte first), then ``WRITE address``."""
        for shift in range(0, 32, 8):
            await self.transfer(DATA, value >> shift & 0xFF)
        await self.transfer(CMD, WRITE | address)

    async def read(self, address: int) -> int:
        """``READ address``, then four DATA transfers whose replies are the value, LSB first."""
        await self.transfer(CMD, READ | address)
        value = 0
        for shift in range(0, 32, 8):
            value |= await self.transfer(DATA, int(self.rng.integers(256))) << shift
        return value

    async def push(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        """A and B row-major as A and B transfers, the two streams interleaved at random."""
        queues = [[(kind, int(v)) for v in matrix.reshape(-1)]
                  for kind, matrix in ((A, a), (B, b)) if matrix is not None]
        while queues:
            queue = queues[int(self.rng.integers(len(queues)))]
            await self.transfer(*queue.pop(0))
            queues = [q for q in queues if q]

    async def pop(self, count: int) -> list[int]:
        """``count`` POP commands (random low nibbles: POP ignores it); the bytes as int8."""
        return [(await self.transfer(CMD, POP | int(self.rng.integers(16))) ^ 0x80) - 0x80
                for _ in range(count)]

    async def configure(self, m: int, k: int, n: int, *, mult: int = 1, shift: int = 0,
                        relu: bool = False, a_base: int = 0, b_base: int = 0) -> None:
        for address, value in ((M, m), (K, k), (N, n), (A_BASE, a_base), (B_BASE, b_base),
                               (QUANT, mult | shift << 16 | int(relu) << 24)):
            await self.write(address, value)

    async def wait_idle(self, limit: int = 50) -> int:
        """Poll STATUS until BUSY drops (at most ``limit`` polls); the final STATUS."""
        for _ in range(limit):
            status = await self.read(STATUS)
            if not status & BUSY:
                return status
        raise AssertionError(f"core still BUSY after {limit} STATUS polls")

    async def run(self, op: Operation) -> Outcome:
        """Configure, start, send the operands, POP C; C comes back row-major.

        Half of the time, at random, the host checks STATUS after START; otherwise its next
        transfer (an operand, or a POP on resident operands) follows at once and has to wait
        for the core.
        """
        rows, depth = op.a.shape
        cols = op.b.shape[1]
        await self.configure(rows, depth, cols, mult=op.mult, shift=op.shift, relu=op.relu,
                             a_base=op.a_base, b_base=op.b_base)
        await self.write(CTRL, START | LOAD_A * op.load_a | LOAD_B * op.load_b)
        if self.rng.random() < 0.5:
            status = await self.read(STATUS)
            assert not status & ERROR, (f"the core refused M,K,N={rows},{depth},{cols}: "
                                        f"STATUS {status:#x}, cause {status >> 8 & 0xF}")
        await self.push(op.a if op.load_a else None, op.b if op.load_b else None)
        assert not (self.pin(A_READY) or self.pin(B_READY)), "A_READY/B_READY after the loads"
        stream = await self.pop(rows * cols)
        status = await self.wait_idle()
        assert status & (DONE | ERROR) == DONE, f"STATUS {status:#x} after the operation"
        assert not self.pin(C_VALID), "C_VALID: more than M x N results"
        c = np.empty(rows * cols, dtype=np.int64)
        c[golden.tile_order(rows, cols, self.n)] = stream
        return Outcome(c.reshape(rows, cols).astype(np.int8), await self.read(CYCLES))
