"""One processing element of the output-stationary systolic array."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Smallest and largest accumulator width a PE accepts.
ACC_WIDTH_RANGE = (16, 48)


def check_acc_width(owner: str, acc_width) -> None:
    """Raise a clear error unless ``acc_width`` is an accumulator width the PE supports."""
    low, high = ACC_WIDTH_RANGE
    if (not isinstance(acc_width, int) or isinstance(acc_width, bool)
            or not low <= acc_width <= high):
        raise ValueError(f"{owner} acc_width must be an integer from {low} to {high}, "
                         f"not {acc_width!r}")


def accumulator_width(k_max: int) -> int:
    """Bits an accumulator needs so that ``k_max`` int8 x int8 products can never overflow it.

    The largest product is (-128) x (-128) = 2**14 and the smallest is -128 x 127 > -2**14, so K
    products lie in [-K * 2**14, K * 2**14]; ``15 + k_max.bit_length()`` signed bits hold that,
    because K < 2**bit_length(K).
    """
    if not isinstance(k_max, int) or isinstance(k_max, bool) or k_max < 1:
        raise ValueError(f"k_max must be a positive integer, not {k_max!r}")
    return 15 + k_max.bit_length()


class ProcessingElement(wiring.Component):
    """Multiply the int8 operands flowing through and accumulate the products in place.

    ``a`` enters from the left and leaves right, ``b`` enters from the top and leaves below, each
    one register later, together with the flags ``valid``, ``first`` and ``last`` that travel with
    ``a``. Every cycle with ``en`` (the array's global advance) and ``valid``, the accumulator
    becomes ``a * b`` (on ``first``) or ``acc + a * b``; on ``last`` the finished sum is also
    copied to ``result``, where it stays until the next ``last``: the accumulator is then free to
    start the next tile the very next cycle. Without ``en`` nothing changes.
    """

    def __init__(self, *, acc_width: int = 22):
        check_acc_width("ProcessingElement", acc_width)
        self.acc_width = acc_width
        super().__init__({
            "en": In(1),
            "a_in": In(signed(8)), "b_in": In(signed(8)),
            "valid_in": In(1), "first_in": In(1), "last_in": In(1),
            "a_out": Out(signed(8)), "b_out": Out(signed(8)),
            "valid_out": Out(1), "first_out": Out(1), "last_out": Out(1),
            "result": Out(signed(acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        total = Signal(signed(self.acc_width))
        sum_ = Signal(signed(self.acc_width))
        m.d.comb += sum_.eq(Mux(self.first_in, 0, total) + self.a_in * self.b_in)
        with m.If(self.en):
            m.d.sync += [
                self.a_out.eq(self.a_in), self.b_out.eq(self.b_in),
                self.valid_out.eq(self.valid_in), self.first_out.eq(self.first_in),
                self.last_out.eq(self.last_in),
            ]
            with m.If(self.valid_in):
                m.d.sync += total.eq(sum_)
                with m.If(self.last_in):
                    m.d.sync += self.result.eq(sum_)
        return m
