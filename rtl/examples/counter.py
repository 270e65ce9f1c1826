"""An up-counter with enable: the smallest design that exercises every flow stage."""

from amaranth import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class Counter(wiring.Component):
    """``count`` increments every cycle while ``en`` is high and wraps at 2**width."""

    def __init__(self, *, width: int = 8):
        if not isinstance(width, int) or not 1 <= width <= 64:
            raise ValueError(f"Counter width must be an integer from 1 to 64, not {width!r}")
        self.width = width
        super().__init__({"en": In(1), "count": Out(width)})

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m
