"""The N x N output-stationary systolic array, with the input skew that feeds it."""

from amaranth import Cat, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from kchip.rtl.npu_core.pe import ProcessingElement, check_acc_width

#: Array sizes the generator accepts.
SIZE_RANGE = (2, 16)


def check_size(owner: str, n) -> None:
    """Raise a clear error unless ``n`` is a supported array size."""
    low, high = SIZE_RANGE
    if not isinstance(n, int) or isinstance(n, bool) or not low <= n <= high:
        raise ValueError(f"{owner} n must be an integer from {low} to {high}, not {n!r}")


class SystolicArray(wiring.Component):
    """``n`` x ``n`` PEs; PE (i, j) accumulates C[i][j] = sum over k of A[i][k] * B[k][j].

    Each cycle with ``en``, column k of an A tile arrives on ``a`` (one int8 per row) and row k of
    a B tile on ``b`` (one per column), together with ``valid``, ``first`` (k = 0) and ``last``
    (k = K - 1). Row i is delayed by i registers and column j by j, so that A[i][k] meets B[k][j]
    in PE (i, j) at cycle k + i + j. Tiles may follow each other without a gap: a PE starts the
    next tile's sum on ``first`` while ``result`` keeps the previous one.

    ``origin_last`` is high while the ``last`` step of a tile is at PE (0, 0) (the cycle in which
    it overwrites ``result[0][0]``); ``corner_last`` while it is at PE (n-1, n-1) (after this
    cycle all ``result``s hold the tile). Two tiles' ``last`` steps must be at least 2n - 1
    cycles apart so that a tile is complete before the next one starts overwriting it.
    """

    def __init__(self, *, n: int = 4, acc_width: int = 22):
        check_size("SystolicArray", n)
        check_acc_width("SystolicArray", acc_width)
        self.n, self.acc_width = n, acc_width
        super().__init__({
            "en": In(1),
            "a": In(data.ArrayLayout(signed(8), n)),
            "b": In(data.ArrayLayout(signed(8), n)),
            "valid": In(1), "first": In(1), "last": In(1),
            "result": Out(data.ArrayLayout(data.ArrayLayout(signed(acc_width), n), n)),
            "origin_last": Out(1),
            "corner_last": Out(1),
        })

    def _delayed(self, m: Module, value, cycles: int, name: str):
        """``value`` seen through ``cycles`` registers that only move while ``en`` is high."""
        for stage in range(cycles):
            register = Signal(value.shape(), name=f"{name}_d{stage + 1}")
            with m.If(self.en):
                m.d.sync += register.eq(value)
            value = register
        return value

    def elaborate(self, platform):
        m = Module()
        n = self.n
        pes = [[ProcessingElement(acc_width=self.acc_width) for _ in range(n)] for _ in range(n)]
        flags = Signal(3)
        m.d.comb += flags.eq(Cat(self.valid, self.first, self.last))
        flag_taps = [flags]
        for row in range(1, n):
            flag_taps.append(self._delayed(m, flag_taps[-1], 1, f"flags{row}"))
        for i in range(n):
            for j in range(n):
                pe = pes[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                m.d.comb += [pe.en.eq(self.en), self.result[i][j].eq(pe.result)]
                if j == 0:
                    valid, first, last = flag_taps[i][0], flag_taps[i][1], flag_taps[i][2]
                    m.d.comb += [
                        pe.a_in.eq(self._delayed(m, self.a[i], i, f"a{i}")),
                        pe.valid_in.eq(valid), pe.first_in.eq(first), pe.last_in.eq(last),
                    ]
                else:
                    left = pes[i][j - 1]
                    m.d.comb += [
                        pe.a_in.eq(left.a_out), pe.valid_in.eq(left.valid_out),
                        pe.first_in.eq(left.first_out), pe.last_in.eq(left.last_out),
                    ]
                if i == 0:
                    m.d.comb += pe.b_in.eq(self._delayed(m, self.b[j], j, f"b{j}"))
                else:
                    m.d.comb += pe.b_in.eq(pes[i - 1][j].b_out)
        origin, corner = pes[0][0], pes[n - 1][n - 1]
        m.d.comb += [
            self.origin_last.eq(origin.valid_in & origin.last_in),
            self.corner_last.eq(corner.valid_in & corner.last_in),
        ]
        return m
