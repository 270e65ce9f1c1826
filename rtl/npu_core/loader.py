"""Stream a row-major int8 matrix into n buffer banks, laid out for the systolic array."""

from amaranth import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

#: Which index of the row-major matrix picks the bank.
BANKED_BY = ("rows", "columns")


class BankedLoader(wiring.Component):
    """Write ``data`` beats into ``n`` banks so that bank r holds line l (l mod n = r) of the
    matrix at words ``base + (l // n) * k + i``, i = 0 .. k - 1.

    With ``banked_by="rows"`` the stream is an M x K matrix (A) and its rows are the lines; with
    ``"columns"`` it is a K x N matrix (B) and its columns are the lines. ``start`` begins a load
    of ``lines`` x ``k`` beats (``lines``, ``k`` and ``base`` must stay put while ``busy``); the
    write goes to ``addr``/``wdata`` of the bank whose bit of ``we`` is set.
    """

    def __init__(self, *, n: int, depth: int, max_lines: int, banked_by: str):
        if banked_by not in BANKED_BY:
            raise ValueError(f"BankedLoader banked_by must be one of {', '.join(BANKED_BY)}, "
                             f"not {banked_by!r}")
        self.n, self.depth, self.banked_by = n, depth, banked_by
        super().__init__({
            "start": In(1),
            "lines": In(range(max_lines + 1)), "k": In(range(depth + 1)),
            "base": In(range(depth)),
            "data": In(stream.Signature(signed(8))),
            "busy": Out(1),
            "addr": Out(range(depth)), "wdata": Out(signed(8)), "we": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.n
        line = Signal.like(self.lines)          # index of the current line (row of A, column of B)
        step = Signal.like(self.k)              # index along K
        bank = Signal(range(n))                 # line mod n
        block = Signal(range(self.depth + 1))   # (line // n) * k
        take = Signal()
        m.d.comb += [
            self.data.ready.eq(self.busy),
            take.eq(self.data.valid & self.busy),
            self.addr.eq(self.base + block + step),
            self.wdata.eq(self.data.payload),
            self.we.eq(take << bank),
        ]
        last_line = line == self.lines - 1
        last_step = step == self.k - 1

        def next_line():
            statements = [line.eq(line + 1)]
            with m.If(bank == n - 1):
                m.d.sync += [bank.eq(0), block.eq(block + self.k)]
            with m.Else():
                m.d.sync += bank.eq(bank + 1)
            return statements

        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), line.eq(0), step.eq(0), bank.eq(0), block.eq(0)]
        with m.Elif(take):
            if self.banked_by == "rows":        # A row by row: K beats per line
                with m.If(last_step):
                    m.d.sync += [step.eq(0), *next_line()]
                    with m.If(last_line):
                        m.d.sync += self.busy.eq(0)
                with m.Else():
                    m.d.sync += step.eq(step + 1)
            else:                               # B row by row: one beat of every line per step
                with m.If(last_line):
                    m.d.sync += [line.eq(0), bank.eq(0), block.eq(0), step.eq(step + 1)]
                    with m.If(last_step):
                        m.d.sync += self.busy.eq(0)
                with m.Else():
                    m.d.sync += next_line()
        return m
