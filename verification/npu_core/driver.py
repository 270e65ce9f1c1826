"""A cocotb model of the CPU and the stream partners around the NPU core.

Signals are driven on the falling clock edge and sampled there too: every output of the core
(``ack``, ``dat_r``, the ``ready``s, ``c_out``) comes from a register, so at the falling edge it
already holds the value the next rising edge will see.
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from kchip.verification.npu_core import golden

#: Register word addresses and STATUS bits, from the core's documented programming model.
CTRL, STATUS, M, K, N, A_BASE, B_BASE, QUANT, CYCLES, ARRAY_N, A_DEPTH, B_DEPTH = range(12)
START, LOAD_A, LOAD_B = 1, 2, 4
BUSY, DONE, ERROR = 1, 2, 4


@dataclass(frozen=True)
class Operation:
    """One matrix product to run: operands, quantization, buffer bases, what to load."""

    a: np.ndarray
    b: np.ndarray
    mult: int = 1
    shift: int = 0
    relu: bool = False
    a_base: int = 0
    b_base: int = 0
    load_a: bool = True
    load_b: bool = True

    def expected(self) -> np.ndarray:
        return golden.npu_reference(self.a, self.b, self.mult, self.shift, self.relu)


@dataclass(frozen=True)
class Outcome:
    """What the core produced: C in row-major order and the CYCLES register."""

    c: np.ndarray
    cycles: int


class NpuDriver:
    """Clock, reset, Wishbone CSR access and the three streams of one ``npu_core`` instance.

    ``stall`` is the probability that a stream partner holds back in a given cycle (``valid`` low
    on the inputs, ``ready`` low on the output): random back-pressure from ``rng``.
    """

    def __init__(self, dut, rng: np.random.Generator, *, stall: float = 0.0):
        self.dut, self.rng, self.stall = dut, rng, stall
        self.clk = dut.clk

    async def start(self) -> None:
        """Start the clock, reset the core and read its parameters from the INFO registers."""
        Clock(self.clk, 10, unit="ns").start()
        for name in ("wb__cyc", "wb__stb", "wb__we", "wb__adr", "wb__dat_w", "a_in__valid",
                     "a_in__payload", "b_in__valid", "b_in__payload", "c_out__ready"):
            getattr(self.dut, name).value = 0
        await self.reset()
        self.n = await self.read(ARRAY_N)
        self.a_depth = await self.read(A_DEPTH)
        self.b_depth = await self.read(B_DEPTH)

    async def reset(self, cycles: int = 2) -> None:
        await FallingEdge(self.clk)
        self.dut.rst.value = 1
        await ClockCycles(self.clk, cycles)
        await FallingEdge(self.clk)
        self.dut.rst.value = 0

    async def _access(self, address: int, value: int | None) -> int:
        dut = self.dut
        await FallingEdge(self.clk)
        dut.wb__cyc.value = 1
        dut.wb__stb.value = 1
        dut.wb__we.value = int(value is not None)
        dut.wb__adr.value = address
        dut.wb__dat_w.value = value or 0
        for _ in range(16):
            await FallingEdge(self.clk)
            if dut.wb__ack.value:
                break
        else:
            raise AssertionError(f"Wishbone access to word {address} got no ack in 16 cycles")
        data = int(dut.wb__dat_r.value)
        dut.wb__cyc.value = 0
        dut.wb__stb.value = 0
        return data

    async def write(self, address: int, value: int) -> None:
        await self._access(address, value)

    async def read(self, address: int) -> int:
        return await self._access(address, None)

    async def configure(self, m: int, k: int, n: int, *, mult: int = 1, shift: int = 0,
                        relu: bool = False, a_base: int = 0, b_base: int = 0) -> None:
        for address, value in ((M, m), (K, k), (N, n), (A_BASE, a_base), (B_BASE, b_base),
                               (QUANT, mult | shift << 16 | int(relu) << 24)):
            await self.write(address, value)

    async def send(self, port: str, values: np.ndarray) -> None:
        """Offer ``values`` one per beat on the input stream ``port``, with random gaps."""
        valid, payload = getattr(self.dut, f"{port}__valid"), getattr(self.dut, f"{port}__payload")
        ready = getattr(self.dut, f"{port}__ready")
        flat = [int(v) for v in np.asarray(values).reshape(-1)]
        index = 0
        while index < len(flat):
            await FallingEdge(self.clk)
            offer = self.rng.random() >= self.stall
            valid.value = int(offer)
            payload.value = flat[index] & 0xFF
            if offer and ready.value:
                index += 1
        await FallingEdge(self.clk)
        valid.value = 0

    async def receive(self, count: int) -> list[int]:
        """Take ``count`` beats from ``c_out``, holding ``ready`` low at random."""
        dut, values = self.dut, []
        while len(values) < count:
            await FallingEdge(self.clk)
            take = self.rng.random() >= self.stall
            if take and dut.c_out__valid.value:
                values.append(dut.c_out__payload.value.to_signed())
            dut.c_out__ready.value = int(take)
        await FallingEdge(self.clk)
        dut.c_out__ready.value = 0
        return values

    async def wait_idle(self, limit: int) -> int:
        """Poll STATUS until BUSY drops (at most ``limit`` polls); the final STATUS."""
        for _ in range(limit):
            status = await self.read(STATUS)
            if not status & BUSY:
                return status
        raise AssertionError(f"core still BUSY after {limit} STATUS polls")

    async def run(self, op: Operation) -> Outcome:
        """Configure, start, stream the operands in and C out; C comes back row-major."""
        m_rows, k_depth = op.a.shape
        n_cols = op.b.shape[1]
        await self.configure(m_rows, k_depth, n_cols, mult=op.mult, shift=op.shift,
                             relu=op.relu, a_base=op.a_base, b_base=op.b_base)
        await self.write(CTRL, START | LOAD_A * op.load_a | LOAD_B * op.load_b)
        status = await self.read(STATUS)
        assert not status & ERROR, (f"the core refused M,K,N={m_rows},{k_depth},{n_cols}: "
                                    f"STATUS {status:#x}, cause {status >> 8 & 0xF}")
        senders = []
        if op.load_a:
            senders.append(cocotb.start_soon(self.send("a_in", op.a)))
        if op.load_b:
            senders.append(cocotb.start_soon(self.send("b_in", op.b)))
        stream = await self.receive(m_rows * n_cols)
        for sender in senders:
            await sender
        status = await self.wait_idle(100 + 10 * m_rows * n_cols)
        assert status & (DONE | ERROR) == DONE, f"STATUS {status:#x} after the operation"
        assert not self.dut.c_out__valid.value, "c_out offers more than M x N results"
        c = np.empty(m_rows * n_cols, dtype=np.int64)
        c[golden.tile_order(m_rows, n_cols, self.n)] = stream
        return Outcome(c.reshape(m_rows, n_cols).astype(np.int8), await self.read(CYCLES))
