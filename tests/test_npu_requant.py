# amaranth: UnusedElaboratable=no
"""Requantizer in amaranth.sim against the independent numpy golden model."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from kchip.rtl.npu_core.requant import SHIFT_MAX, Requantizer
from kchip.verification.npu_core.golden import requantize

ACC_WIDTH = 22


def cases():
    rng = random.Random(11)
    top, bottom = 2 ** (ACC_WIDTH - 1) - 1, -(2 ** (ACC_WIDTH - 1))
    fixed = [(acc, mult, shift, relu)
             for acc in (0, 1, -1, 3, -3, 5, -5, top, bottom, 127, -128, 128, -129)
             for mult, shift in ((1, 0), (1, 1), (1, 2), (3, 1), (65535, 47), (65535, 0),
                                 (1000, 17), (12345, 30))
             for relu in (0, 1)]
    randoms = [(rng.randrange(bottom, top + 1), rng.randrange(2**16), rng.randrange(SHIFT_MAX + 1),
                rng.randrange(2)) for _ in range(400)]
    return fixed + randoms


def test_matches_golden_model():
    dut = Requantizer(acc_width=ACC_WIDTH)
    checked = []

    async def bench(ctx):
        for acc, mult, shift, relu in cases():
            ctx.set(dut.acc, acc)
            ctx.set(dut.mult, mult)
            ctx.set(dut.shift, shift)
            ctx.set(dut.relu, relu)
            await ctx.delay(1e-9)
            want = int(requantize(np.array([acc]), mult, shift, bool(relu))[0])
            assert ctx.get(dut.y) == want, (acc, mult, shift, relu)
            checked.append(want)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert {127, -128, 0}.issubset(checked) and len(checked) == len(cases())


def test_bad_acc_width_is_refused():
    with pytest.raises(ValueError, match="Requantizer acc_width .* not 8"):
        Requantizer(acc_width=8)
