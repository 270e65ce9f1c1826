"""cocotb tests of ``tt_um_kchip_npu`` through its Tiny Tapeout pins only, against the numpy
golden model of :mod:`kchip.verification.npu_core.golden`.

Environment (optional): ``KCHIP_TT_NPU_OPS`` random GEMMs in ``random_gemms`` (default 10),
``KCHIP_TT_NPU_DELAY`` the host's largest pause in clock cycles between handshake steps
(default 3).
"""

from __future__ import annotations

import math
import os

import cocotb
import numpy as np

from kchip.verification.npu_core.driver import (
    A_DEPTH, ARRAY_N, B_BASE, B_DEPTH, BUSY, CTRL, DONE, ERROR, K, LOAD_A, LOAD_B, M, N, QUANT,
    START, STATUS, Operation)
from kchip.verification.npu_core.tt_driver import (
    A, A_READY, B, B_READY, C_VALID, CMD, DATA, NOP, POP, UIO_OE, WRITE, TtNpuHost)

RANDOM_OPS = int(os.environ.get("KCHIP_TT_NPU_OPS", "10"))
DELAY = int(os.environ.get("KCHIP_TT_NPU_DELAY", "3"))
TIMEOUT = {"timeout_time": 20, "timeout_unit": "ms"}  # 2,000,000 cycles: a hang fails quickly


async def started_host(dut) -> TtNpuHost:
    """A host seeded with the test's seed (logged), after reset and the INFO reads."""
    dut._log.info("test seed %d (run seed: COCOTB_RANDOM_SEED=%s)", cocotb.RANDOM_SEED,
                  os.environ.get("COCOTB_RANDOM_SEED"))
    host = TtNpuHost(dut, np.random.default_rng(cocotb.RANDOM_SEED), delay=DELAY)
    await host.start()
    dut._log.info("core n=%d a_depth=%d b_depth=%d", host.n, host.a_depth, host.b_depth)
    assert 2 <= host.n <= 16 and 2 <= min(host.a_depth, host.b_depth) <= max(
        host.a_depth, host.b_depth) <= 65536, (
        f"implausible INFO registers: ARRAY_N {host.n:#x}, A_DEPTH {host.a_depth:#x}, "
        f"B_DEPTH {host.b_depth:#x}")
    return host


def matrix(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.integers(-128, 128, size=(rows, cols)).astype(np.int8)


async def check(host: TtNpuHost, op: Operation) -> None:
    """Run ``op`` through the pins and compare C with the golden model."""
    got, want = (await host.run(op)).c, op.expected()
    wrong = [tuple(int(i) for i in index) for index in np.argwhere(got != want)]
    assert not wrong, (
        f"{len(wrong)} of {want.size} outputs differ for M,K,N={op.a.shape[0]},{op.a.shape[1]},"
        f"{op.b.shape[1]} mult={op.mult} shift={op.shift} relu={op.relu}; first at "
        f"{wrong[0]}: got {got[wrong[0]]}, want {want[wrong[0]]}")


@cocotb.test(**TIMEOUT)
async def pins_and_registers(dut):
    """Idle pins, ``uio_oe``, register writes read back byte-exact, NOPs, the reply register."""
    host = await started_host(dut)
    assert int(dut.uio_oe.value) == UIO_OE, f"uio_oe {int(dut.uio_oe.value):#04x}"
    assert not any(host.pin(bit) for bit in (A_READY, B_READY, C_VALID)), "flags after reset"
    fields = {M: 0xFFFF, K: 0xFFFF, N: 0xFFFF, B_BASE: 0xFFFF, QUANT: 0x013F_FFFF}
    for address, mask in fields.items():
        value = int(host.rng.integers(1 << 32))
        await host.write(address, value)
        read = await host.read(address)
        assert read == value & mask, f"register {address}: wrote {value:#010x}, read {read:#010x}"
    value = 0x8C4B_2A19  # four different bytes: a byte order slip shows in the message
    await host.write(QUANT, value)
    read = await host.read(QUANT)
    assert read == value & fields[QUANT], f"QUANT {read:#010x}, want {value & fields[QUANT]:#010x}"
    reply = await host.transfer(DATA, 0x5E)
    for command in (NOP, 0x4F, 0xF3, WRITE | 15):
        assert await host.transfer(CMD, command) == reply, f"command {command:#04x} changed uo_out"
    assert await host.read(ARRAY_N) == host.n and await host.read(B_DEPTH) == host.b_depth
    assert await host.read(STATUS) == 0


@cocotb.test(**TIMEOUT)
async def random_gemms(dut):
    """Full buffers at the deepest K, random shapes that fit the buffers, quantization and ReLU;
    then the last operands again, resident in the buffers."""
    host = await started_host(dut)
    rng, n, k_max = host.rng, host.n, min(host.a_depth, host.b_depth)
    for index in range(RANDOM_OPS):
        k = k_max if index == 0 else int(rng.integers(1, k_max + 1))
        rows, cols = n * (host.a_depth // k), n * (host.b_depth // k)
        if index:
            rows, cols = int(rng.integers(1, rows + 1)), int(rng.integers(1, cols + 1))
        mult = int(rng.integers(1 << 10, 1 << 14))
        shift = round(math.log2(mult * 5400 * math.sqrt(k) / 40))  # outputs spread ~40
        op = Operation(a=matrix(rng, rows, k), b=matrix(rng, k, cols), mult=mult, shift=shift,
                       relu=bool(rng.integers(2)))
        dut._log.info("GEMM %d: M,K,N=%d,%d,%d mult=%d shift=%d relu=%s", index, rows, k, cols,
                      mult, shift, op.relu)
        await check(host, op)
    dut._log.info("resident operands, new quantization")
    await check(host, Operation(a=op.a, b=op.b, mult=op.mult, shift=op.shift - 1, relu=False,
                                load_a=False, load_b=False))
    dut._log.info("%d transfers", host.transfers)


@cocotb.test(**TIMEOUT)
async def errors_and_reset(dut):
    """An illegal shape sets ERROR (cause 3), which clears; ``rst_n`` low in the middle of a load
    leaves a design whose next GEMM is right."""
    host = await started_host(dut)
    rng, n = host.rng, host.n
    await host.configure(1, host.a_depth + 1, 1)
    await host.write(CTRL, START | LOAD_A | LOAD_B)
    status = await host.wait_idle()
    assert status & (BUSY | DONE | ERROR) == ERROR and status >> 8 & 0xF == 3, (
        f"STATUS {status:#x} after a START with K > A_DEPTH, want ERROR with cause 3")
    await host.write(STATUS, ERROR)
    assert await host.read(STATUS) == 0, "ERROR did not clear"
    k = max(1, host.a_depth // 2)
    op = Operation(a=matrix(rng, 2 * n, k), b=matrix(rng, k, n), mult=300, shift=11)
    await host.configure(2 * n, k, n, mult=300, shift=11)
    await host.write(CTRL, START | LOAD_A | LOAD_B)
    for value in op.a.reshape(-1)[:3]:
        await host.transfer(A, int(value))
    assert host.pin(A_READY) and host.pin(B_READY), "the loads should be under way"
    await host.reset()
    assert not any(host.pin(bit) for bit in (A_READY, B_READY, C_VALID)), "flags after reset"
    assert await host.read(STATUS) == 0 and await host.read(A_DEPTH) == host.a_depth
    await check(host, op)
    assert await host.read(STATUS) == DONE


@cocotb.test(**TIMEOUT)
async def transfers_wait_for_the_core(dut):
    """An operand nobody loads and a POP with no result stay unanswered until ``rst_n``; so does
    a B operand while only A is loading. The design then works."""
    host = await started_host(dut)
    rng, n = host.rng, host.n
    for kind, byte in ((A, 0x11), (B, 0x22), (CMD, POP)):
        await host.expect_no_ack(kind, byte, 300)
        await host.reset()
    op = Operation(a=matrix(rng, n, 2), b=matrix(rng, 2, n), mult=700, shift=12)
    await host.configure(n, 2, n, mult=700, shift=12)
    await host.write(CTRL, START | LOAD_A)
    await host.expect_no_ack(B, 0x33, 300)
    assert host.pin(A_READY) and not host.pin(B_READY), "only A should be loading"
    await host.reset()
    assert await host.read(STATUS) == 0
    await check(host, op)
