# amaranth: UnusedElaboratable=no
"""SystolicArray in amaranth.sim: back-to-back tiles, stalls and bubbles, checked with numpy."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from kchip.rtl.npu_core.array import SystolicArray


def run_tiles(n: int, tiles: list[tuple[np.ndarray, np.ndarray]], seed: int) -> list[np.ndarray]:
    """Feed the tiles back to back (with random stalls) and read each finished tile.

    Bubbles go in only where a tile's last column would follow the previous one's by fewer than
    2n - 1 steps, the spacing the array requires.
    """
    dut = SystolicArray(n=n, acc_width=24)
    rng = np.random.default_rng(seed)
    period = 2 * n - 1
    schedule = []          # (a column, b row, first, last) or None for a bubble
    last = -period         # the step of the previous tile's last column
    for a, b in tiles:
        k = a.shape[1]
        schedule += [None] * max(0, last + period - (len(schedule) + k - 1))
        schedule += [(a[:, i], b[i, :], i == 0, i == k - 1) for i in range(k)]
        last = len(schedule) - 1
    schedule += [None] * (2 * n + 2)
    finished = []

    async def bench(ctx):
        step = 0
        while step < len(schedule):
            en = rng.random() > 0.25
            entry = schedule[step]
            ctx.set(dut.en, en)
            ctx.set(dut.valid, entry is not None)
            if entry is not None:
                column, row, first, last = entry
                for i in range(n):
                    ctx.set(dut.a[i], int(column[i]))
                    ctx.set(dut.b[i], int(row[i]))
                ctx.set(dut.first, first)
                ctx.set(dut.last, last)
            corner = ctx.get(dut.corner_last)
            await ctx.tick()
            if en and corner:
                finished.append(np.array([[ctx.get(dut.result[i][j]) for j in range(n)]
                                          for i in range(n)]))
            step += en

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return finished


@pytest.mark.parametrize("n, ks", [(2, [1, 3, 2]), (4, [9, 1, 7, 16]), (3, [5, 5])])
def test_tiles_back_to_back(n, ks):
    rng = np.random.default_rng(n)
    tiles = [(rng.integers(-128, 128, (n, k)), rng.integers(-128, 128, (k, n))) for k in ks]
    tiles[0] = (np.full((n, ks[0]), -128), np.full((ks[0], n), -128))
    finished = run_tiles(n, tiles, seed=len(ks))
    assert len(finished) == len(tiles)
    for (a, b), got in zip(tiles, finished):
        assert (got == a @ b).all()


@pytest.mark.parametrize("n", [1, 17, 4.0])
def test_bad_size_is_refused(n):
    message = f"SystolicArray n must be an integer from 2 to 16, not {n!r}"
    with pytest.raises(ValueError, match=message):
        SystolicArray(n=n)
