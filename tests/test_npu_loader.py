# amaranth: UnusedElaboratable=no
"""BankedLoader in amaranth.sim: where every streamed element lands, with stalls."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from kchip.rtl.npu_core.loader import BankedLoader


def load(banked_by, matrix, n, k, base, depth=32, seed=0):
    """Stream ``matrix`` row-major through the loader; the banks' contents afterwards."""
    lines = matrix.shape[0] if banked_by == "rows" else matrix.shape[1]
    dut = BankedLoader(n=n, depth=depth, max_lines=n * depth, banked_by=banked_by)
    banks = np.full((n, depth), 999)
    rng = np.random.default_rng(seed)

    async def bench(ctx):
        ctx.set(dut.lines, lines)
        ctx.set(dut.k, k)
        ctx.set(dut.base, base)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        beats = [int(v) for v in matrix.reshape(-1)]
        while beats:
            offer = rng.random() < 0.7
            ctx.set(dut.data.valid, offer)
            ctx.set(dut.data.payload, beats[0])
            if offer and ctx.get(dut.data.ready):
                we = ctx.get(dut.we)
                assert bin(we).count("1") == 1
                banks[we.bit_length() - 1, ctx.get(dut.addr)] = ctx.get(dut.wdata)
                beats.pop(0)
            await ctx.tick()
        ctx.set(dut.data.valid, 0)
        assert not ctx.get(dut.busy) and not ctx.get(dut.data.ready)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return banks


@pytest.mark.parametrize("n, m, k, base", [(4, 6, 3, 2), (3, 7, 4, 0), (2, 1, 5, 1)])
def test_rows_of_a_go_to_bank_row_mod_n(n, m, k, base):
    a = np.arange(m * k).reshape(m, k) - 60
    banks = load("rows", a, n, k, base)
    for row in range(m):
        for i in range(k):
            assert banks[row % n, base + (row // n) * k + i] == a[row, i]


@pytest.mark.parametrize("n, k, cols, base", [(4, 3, 6, 2), (3, 4, 7, 0), (2, 5, 1, 1)])
def test_columns_of_b_go_to_bank_column_mod_n(n, k, cols, base):
    b = np.arange(k * cols).reshape(k, cols) - 50
    banks = load("columns", b, n, k, base)
    for col in range(cols):
        for i in range(k):
            assert banks[col % n, base + (col // n) * k + i] == b[i, col]


def test_bad_banking_is_refused():
    with pytest.raises(ValueError, match="banked_by must be one of rows, columns, not 'diagonal'"):
        BankedLoader(n=2, depth=4, max_lines=8, banked_by="diagonal")
