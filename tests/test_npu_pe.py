# amaranth: UnusedElaboratable=no
"""ProcessingElement in amaranth.sim against a plain Python model of its registers."""

import random

import pytest
from amaranth.sim import Simulator

from kchip.rtl.npu_core.pe import ProcessingElement, accumulator_width


def test_accumulator_width_bound():
    assert accumulator_width(1) == 16 and accumulator_width(31) == 20
    for k in (1, 7, 8, 64, 1000, 65536):
        width = accumulator_width(k)
        assert k * 128 * 128 <= 2 ** (width - 1) - 1       # K x (-128) x (-128) fits
        assert -k * 128 * 127 >= -(2 ** (width - 1))
        assert k * 128 * 128 > 2 ** (width - 2) - 1          # and one bit less would not


@pytest.mark.parametrize("bad", [15, 49, "22", 22.0, True])
def test_bad_acc_width_is_refused(bad):
    message = f"acc_width must be an integer from 16 to 48, not {bad!r}"
    with pytest.raises(ValueError, match=message):
        ProcessingElement(acc_width=bad)


def test_accumulates_tiles_and_passes_operands_on():
    dut = ProcessingElement(acc_width=20)
    rng = random.Random(3)
    steps = []
    for _ in range(300):
        steps.append(dict(en=rng.random() < 0.8, a=rng.randrange(-128, 128),
                          b=rng.randrange(-128, 128), valid=rng.random() < 0.9,
                          first=rng.random() < 0.15, last=rng.random() < 0.15))
    steps += [dict(en=1, a=-128, b=-128, valid=1, first=k == 0, last=k == 30) for k in range(31)]

    async def bench(ctx):
        total = result = 0
        outputs = dict(a=0, b=0, valid=0, first=0, last=0)
        for step in steps:
            for name in ("a", "b", "valid", "first", "last"):
                ctx.set(getattr(dut, f"{name}_in"), step[name])
            ctx.set(dut.en, step["en"])
            await ctx.tick()
            if step["en"]:
                outputs = {name: int(step[name]) for name in outputs}
                if step["valid"]:
                    total = (0 if step["first"] else total) + step["a"] * step["b"]
                    total = (total + 2**19) % 2**20 - 2**19
                    if step["last"]:
                        result = total
            for name, value in outputs.items():
                assert ctx.get(getattr(dut, f"{name}_out")) == value, (name, step)
            assert ctx.get(dut.result) == result, step
        assert result == 31 * 16384  # the largest sum 20 bits hold: accumulator_width(31) == 20

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
