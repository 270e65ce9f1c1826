"""A multi-lane int8 multiply-accumulator: ``acc[i] += a[i] * b[i]`` on every enabled cycle."""

from amaranth import Elaboratable, Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


class Mac(wiring.Component):
    """``lanes`` signed int8 products accumulated into ``acc_width``-bit two's-complement sums.

    ``clear`` zeroes every accumulator (and wins over ``en``). An accumulator of width W holds
    2**(W-15) products of -128 x -128 before it can overflow; 20 bits allow 32 of them.
    """

    def __init__(self, *, lanes: int = 4, acc_width: int = 20):
        if not isinstance(lanes, int) or not 1 <= lanes <= 16:
            raise ValueError(f"Mac lanes must be an integer from 1 to 16, not {lanes!r}")
        if not isinstance(acc_width, int) or not 16 <= acc_width <= 48:
            raise ValueError(f"Mac acc_width must be an integer from 16 to 48, not {acc_width!r}")
        self.lanes, self.acc_width = lanes, acc_width
        super().__init__({
            "en": In(1),
            "clear": In(1),
            "a": In(data.ArrayLayout(signed(8), lanes)),
            "b": In(data.ArrayLayout(signed(8), lanes)),
            "acc": Out(data.ArrayLayout(signed(acc_width), lanes)),
        })

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        for lane in range(self.lanes):
            with m.If(self.clear):
                m.d.sync += self.acc[lane].eq(0)
            with m.Elif(self.en):
                m.d.sync += self.acc[lane].eq(self.acc[lane] + self.a[lane] * self.b[lane])
        return m
