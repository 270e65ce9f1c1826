"""cocotb tests of the generated ``npu_core`` Verilog against the numpy golden model.

Environment (all optional): ``KCHIP_NPU_STALL`` probability of a stream stall per cycle for the
random tests (default 0.3), ``KCHIP_NPU_RANDOM_OPS`` operations in the random test (default 6),
``KCHIP_NPU_COVERAGE`` the coverage JSON file, ``KCHIP_NPU_GOLDEN_FAULT=truncate`` swaps the golden
model's rounding for truncation: the bench must then fail (proof that it can).
"""

from __future__ import annotations

import math
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from kchip.verification.npu_core import coverage, golden
from kchip.verification.npu_core.driver import (
    BUSY, CTRL, DONE, ERROR, LOAD_A, LOAD_B, START, STATUS, NpuDriver, Operation)

STALL = float(os.environ.get("KCHIP_NPU_STALL", "0.3"))
RANDOM_OPS = int(os.environ.get("KCHIP_NPU_RANDOM_OPS", "6"))
TIMEOUT = {"timeout_time": 2, "timeout_unit": "ms"}  # 200,000 cycles: a hang fails quickly


def expected(op: Operation) -> np.ndarray:
    """The golden result, or a deliberately wrong one when the fault is requested."""
    if os.environ.get("KCHIP_NPU_GOLDEN_FAULT") == "truncate":
        scaled = golden.matmul_int8(op.a, op.b).astype(object) * op.mult >> op.shift
        return np.clip(scaled, 0 if op.relu else -128, 127).astype(np.int8)
    return op.expected()


class Bench:
    """A started driver, a seeded generator and the coverage collector of one test."""

    def __init__(self, dut, *, stall: float = 0.0):
        self.rng = np.random.default_rng(cocotb.RANDOM_SEED)
        dut._log.info("test seed %d (run seed: COCOTB_RANDOM_SEED=%s)", cocotb.RANDOM_SEED,
                      os.environ.get("COCOTB_RANDOM_SEED"))
        self.driver = NpuDriver(dut, self.rng, stall=stall)
        self.coverage = coverage.Coverage()
        self.log = dut._log

    async def start(self) -> "Bench":
        await self.driver.start()
        self.n, self.k_max = self.driver.n, min(self.driver.a_depth, self.driver.b_depth)
        return self

    def matrix(self, rows: int, cols: int) -> np.ndarray:
        return self.rng.integers(-128, 128, size=(rows, cols), dtype=np.int64).astype(np.int8)

    async def check(self, op: Operation) -> int:
        """Run ``op``, compare with the golden model, record coverage; the CYCLES count."""
        self.coverage.sample(op, n=self.n, k_max=self.k_max, stall=self.driver.stall)
        outcome = await self.driver.run(op)
        want = expected(op)
        wrong = np.argwhere(outcome.c != want)
        assert not len(wrong), (
            f"{len(wrong)} of {want.size} outputs differ for M,K,N={op.a.shape[0]},"
            f"{op.a.shape[1]},{op.b.shape[1]} mult={op.mult} shift={op.shift} relu={op.relu}; "
            f"first at {tuple(wrong[0])}: got {outcome.c[tuple(wrong[0])]}, "
            f"want {want[tuple(wrong[0])]}")
        return outcome.cycles

    def finish(self) -> None:
        counts = self.coverage.save()
        self.log.info("functional coverage so far (%s):\n%s", self.coverage.path,
                      coverage.report(counts))

    def scale_for(self, k: int) -> tuple[int, int]:
        """A multiplier and shift that scale sums of K random products to a spread of about 40.

        A product of two uniform int8 values has a standard deviation of about 74 x 74, so the
        sum of K of them about 5,400 x sqrt(K); the tails still saturate now and then.
        """
        mult = int(self.rng.integers(1 << 10, 1 << 14))
        shift = round(math.log2(mult * 5400 * math.sqrt(k) / 40))
        return mult, shift


@cocotb.test(**TIMEOUT)
async def zeros_and_identity(dut):
    """A x 0 = 0; A x I = A (MULT 1, SHIFT 0) with ragged M; I x B = B."""
    bench = await Bench(dut).start()
    n = bench.n
    await bench.check(Operation(a=bench.matrix(n + 1, 3), b=np.zeros((3, n), np.int8)))
    a = bench.matrix(2 * n + 1, min(n + 1, bench.k_max // 3))  # three row blocks must fit
    await bench.check(Operation(a=a, b=np.eye(a.shape[1], dtype=np.int8)))
    b = bench.matrix(n - 1, n + 2)
    await bench.check(Operation(a=np.eye(n - 1, dtype=np.int8), b=b))
    bench.finish()


@cocotb.test(**TIMEOUT)
async def extreme_sums_at_max_k(dut):
    """-128 x -128 and -128 x 127 summed over the largest K, exact and saturating both ways."""
    bench = await Bench(dut).start()
    n, k = bench.n, bench.k_max
    low = np.full((n, k), -128, np.int8)
    top = k * 16384  # largest sum: exact through SHIFT so that it lands on 127 or below
    shift = max(0, (top.bit_length() - 7))
    await bench.check(Operation(a=low, b=np.full((k, n), -128, np.int8), shift=shift))
    await bench.check(Operation(a=low, b=np.full((k, n), -128, np.int8), load_a=False))
    mixed = np.where(np.arange(n)[None, :] % 2, 127, -128).astype(np.int8).repeat(k, 0)
    await bench.check(Operation(a=low, b=mixed, load_a=False))
    await bench.check(Operation(a=low, b=mixed, load_a=False, load_b=False, relu=True, mult=3,
                                shift=2))
    bench.finish()


@cocotb.test(**TIMEOUT)
async def rounding_ties_and_shift_limits(dut):
    """Exact halfway cases round up (towards +inf) at several shifts, up to SHIFT 47."""
    bench = await Bench(dut).start()
    a = np.array([[1], [-1], [3], [-3], [5], [-5]], np.int8)
    b = np.array([[1, 2, 3, 127]], np.int8)
    for shift in (1, 2, 3):
        await bench.check(Operation(a=a, b=b, mult=1, shift=shift))
    await bench.check(Operation(a=a, b=b, mult=65535, shift=47, load_a=False, load_b=False))
    bench.finish()


@cocotb.test(**TIMEOUT)
async def random_shapes_with_back_pressure(dut):
    """Constrained-random shapes (ragged ones included), quantization and stream stalls."""
    bench = await Bench(dut, stall=STALL).start()
    n, k_max = bench.n, bench.k_max
    for index in range(RANDOM_OPS):
        k = int(bench.rng.integers(1, k_max + 1))
        max_blocks_a = bench.driver.a_depth // k
        max_blocks_b = bench.driver.b_depth // k
        m_rows = int(bench.rng.integers(1, min(max_blocks_a, 3) * n + 1))
        n_cols = int(bench.rng.integers(1, min(max_blocks_b, 3) * n + 1))
        mult, shift = bench.scale_for(k)
        op = Operation(a=bench.matrix(m_rows, k), b=bench.matrix(k, n_cols), mult=mult,
                       shift=shift, relu=bool(bench.rng.integers(2)))
        dut._log.info("random op %d: M,K,N=%d,%d,%d mult=%d shift=%d relu=%s", index, m_rows, k,
                      n_cols, mult, shift, op.relu)
        await bench.check(op)
    bench.finish()


@cocotb.test(**TIMEOUT)
async def resident_operands_at_buffer_offsets(dut):
    """Two weight sets at different B_BASE stay in the buffer; A is reused from A_BASE."""
    bench = await Bench(dut).start()
    n = bench.n
    k = max(1, min(bench.k_max // 2, 2 * n))
    a = bench.matrix(n, k)
    b0, b1 = bench.matrix(k, n), bench.matrix(k, n)
    await bench.check(Operation(a=a, b=b0, a_base=k, b_base=0, mult=300, shift=10))
    await bench.check(Operation(a=a, b=b1, a_base=k, b_base=k, mult=300, shift=10, load_a=False))
    await bench.check(Operation(a=a, b=b0, a_base=k, b_base=0, mult=500, shift=11,
                                load_a=False, load_b=False))
    bench.finish()


@cocotb.test(**TIMEOUT)
async def reset_in_the_middle(dut):
    """A reset during loading and another during computing leave a core that works."""
    bench = await Bench(dut, stall=0.2).start()
    n, k = bench.n, bench.k_max // 2
    driver = bench.driver
    for wait_cycles, load in ((5, True), (12, False)):
        op = Operation(a=bench.matrix(2 * n, k), b=bench.matrix(k, n), mult=100, shift=12)
        if not load:
            await bench.check(op)  # operands in the buffers, so the next start computes at once
        await driver.configure(2 * n, k, n, mult=100, shift=12)
        await driver.write(CTRL, START | (LOAD_A | LOAD_B) * load)
        sender = cocotb.start_soon(driver.send("a_in", op.a)) if load else None
        await ClockCycles(dut.clk, wait_cycles)
        assert await driver.read(STATUS) & BUSY, "the core should be busy when reset hits"
        if sender is not None:
            sender.cancel()
        dut.a_in__valid.value = 0
        await driver.reset()
        assert await driver.read(STATUS) == 0, "STATUS after reset"
        await bench.check(op)
    bench.finish()


@cocotb.test(**TIMEOUT)
async def illegal_settings_raise_error(dut):
    """Illegal CSR values set ERROR with their cause, never BUSY; a legal start then works."""
    bench = await Bench(dut).start()
    driver, n = bench.driver, bench.n
    cases = [
        ("zero M", dict(m=0, k=1, n=1), 1),
        ("zero K", dict(m=1, k=0, n=1), 1),
        ("zero N", dict(m=1, k=1, n=0), 1),
        ("shift 48", dict(m=1, k=1, n=1, shift=48), 2),
        ("K deeper than the A buffer", dict(m=1, k=driver.a_depth + 1, n=1), 3),
        ("A past the buffer end", dict(m=n + 1, k=driver.a_depth // 2 + 1, n=1), 3),
        ("A_BASE past the end", dict(m=1, k=1, n=1, a_base=driver.a_depth), 3),
        ("B past the buffer end", dict(m=1, k=driver.b_depth // 2 + 1, n=2 * n), 4),
        ("B_BASE past the end", dict(m=1, k=2, n=1, b_base=driver.b_depth - 1), 4),
    ]
    for label, setting, cause in cases:
        setting = dict(setting)
        await driver.configure(setting.pop("m"), setting.pop("k"), setting.pop("n"), **setting)
        await driver.write(CTRL, START | LOAD_A | LOAD_B)
        status = await driver.wait_idle(64)
        assert status & (BUSY | DONE | ERROR) == ERROR, f"{label}: STATUS {status:#x}"
        assert status >> 8 & 0xF == cause, f"{label}: cause {status >> 8 & 0xF}, want {cause}"
        await driver.write(STATUS, ERROR)
        assert await driver.read(STATUS) == 0, f"{label}: ERROR did not clear"
    op = Operation(a=bench.matrix(2, 3), b=bench.matrix(3, 2), mult=200, shift=9)
    await driver.configure(2, 3, 2, mult=200, shift=9)
    await driver.write(CTRL, START | LOAD_A | LOAD_B)
    await driver.write(CTRL, START)  # start while busy: ignored, flagged
    status = await driver.read(STATUS)
    assert status & (BUSY | ERROR) == BUSY | ERROR and status >> 8 & 0xF == 5, hex(status)
    await driver.write(STATUS, ERROR)
    sender = cocotb.start_soon(driver.send("b_in", op.b))
    await driver.send("a_in", op.a)
    await sender
    stream = await driver.receive(4)
    status = await driver.wait_idle(64)
    assert status & (DONE | ERROR) == DONE, hex(status)
    got = np.empty(4, np.int64)
    got[golden.tile_order(2, 2, n)] = stream
    assert (got.reshape(2, 2) == expected(op)).all(), (got, expected(op))
    await driver.write(STATUS, DONE)
    assert await driver.read(STATUS) == 0
    bench.finish()
