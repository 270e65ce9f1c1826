"""The output unit: an accumulator sum scaled back to int8."""

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from kchip.rtl.npu_core.pe import check_acc_width

#: Width of the unsigned multiplier and the largest right shift the unit implements.
MULT_WIDTH = 16
SHIFT_MAX = 47


class Requantizer(wiring.Component):
    """``y = clamp((acc * mult + round) >> shift, -128, 127)``, then ``max(y, 0)`` with ``relu``.

    ``mult`` is unsigned (16 bits), ``shift`` from 0 to 47 is an arithmetic right shift, and
    ``round`` is ``2**(shift-1)`` (0 when ``shift`` is 0): round to nearest, ties towards plus
    infinity (-2.5 becomes -2, 2.5 becomes 3). Purely combinational; the caller registers ``y``.
    ``shift`` values above 47 are not valid (the core rejects them before they get here).
    """

    def __init__(self, *, acc_width: int = 22):
        check_acc_width("Requantizer", acc_width)
        self.acc_width = acc_width
        super().__init__({
            "acc": In(signed(acc_width)),
            "mult": In(MULT_WIDTH),
            "shift": In(range(SHIFT_MAX + 1)),
            "relu": In(1),
            "y": Out(signed(8)),
        })

    def elaborate(self, platform):
        m = Module()
        width = max(self.acc_width + MULT_WIDTH + 1, SHIFT_MAX) + 1
        product = Signal(signed(width))
        rounding = Signal(signed(width))
        shifted = Signal(signed(width))
        m.d.comb += [
            product.eq(self.acc * self.mult),
            rounding.eq((Const(1, 1) << self.shift) >> 1),
            shifted.eq((product + rounding) >> self.shift),
        ]
        low = Mux(self.relu, 0, -128)
        with m.If(shifted > 127):
            m.d.comb += self.y.eq(127)
        with m.Elif(shifted < low):
            m.d.comb += self.y.eq(low)
        with m.Else():
            m.d.comb += self.y.eq(shifted)
        return m
