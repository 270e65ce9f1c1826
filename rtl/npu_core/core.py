"""The NPU core: C = requantize(A x B) for int8 matrices, driven by a CPU over Wishbone.

Dataflow: output-stationary. Each N x N tile of C stays in the PEs while the whole K
dimension streams through, so a 64x64x64 product at N=4 is 256 tiles of 64 busy cycles each and
the array never waits for partial sums to be written back; tiles follow each other without a gap
because each PE keeps the finished sum in a result register while it starts the next one. (A
weight-stationary array would need the partial sums of every output row to leave the array and
come back, i.e. a wide accumulator memory, for every K larger than N.)

Buffers: A lives in N banks (bank r holds rows m with m mod N = r, row block m // N at word
``A_BASE + (m // N) * K + k``), B in N banks by column (bank c holds columns with n mod N = c, at
``B_BASE + (n // N) * K + k``), so that every cycle each bank gives one operand to its array row
or column. Accumulators are ``15 + k_max.bit_length()`` bits wide (k_max = the smaller buffer
depth, the largest K the buffers can hold): never overflowing, even for K x (-128) x (-128).

Programming model (Wishbone B4 classic slave, 32-bit data and granularity, word addresses, one
wait state: ``ack`` is registered; no ``sel``, ``err`` or bursts):

=====  ========  ===========================================================================
word   name      fields
=====  ========  ===========================================================================
0      CTRL      write: bit 0 START, bit 1 LOAD_A, bit 2 LOAD_B (operands come on a_in/b_in)
1      STATUS    bit 0 BUSY, bit 1 DONE, bit 2 ERROR, bits 11:8 error cause; write 1 to bit 1
                 or bit 2 to clear it
2-4    M, K, N   the shape (16 bits each): C (M x N) = A (M x K) x B (K x N)
5, 6   A_BASE,   first buffer word of A / B in every bank (16 bits)
       B_BASE
7      QUANT     bits 15:0 MULT (unsigned), bits 21:16 SHIFT (0..47), bit 24 RELU
8      CYCLES    read: clock cycles from the last START to DONE
9-11   ARRAY_N,  read: the generator parameters n, a_depth, b_depth
       A_DEPTH,
       B_DEPTH
=====  ========  ===========================================================================

Writes to words 2-7 are ignored while BUSY. START with an illegal setting sets ERROR and the
cause instead of BUSY: 1 a zero dimension, 2 SHIFT above 47, 3 A does not fit in its buffer
(``A_BASE + ceil(M/N) * K > a_depth``), 4 B does not fit, 5 START while BUSY (ignored).

Streams (``amaranth.lib.stream``, valid/ready, one int8 per beat): with LOAD_A, A arrives on
``a_in`` in row-major order (M x K beats); with LOAD_B, B on ``b_in`` row-major (K x N beats);
without them the buffers keep what an earlier operation loaded. Results leave on ``c_out`` tile
by tile: tiles in row-major order of tile position (N-row blocks outer, N-column blocks inner),
inside a tile row by row, elements outside C (edge tiles) skipped; M x N beats in all.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from kchip.rtl.npu_core.array import SystolicArray, check_size
from kchip.rtl.npu_core.pe import accumulator_width
from kchip.rtl.npu_core.requant import SHIFT_MAX, Requantizer

#: Buffer depths (words per bank) the generator accepts.
DEPTH_RANGE = (2, 65536)
DIM_WIDTH = 16


class Reg:
    """Word addresses of the control and status registers."""

    CTRL, STATUS, M, K, N, A_BASE, B_BASE, QUANT, CYCLES, ARRAY_N, A_DEPTH, B_DEPTH = range(12)


class Error:
    """Error causes reported in STATUS bits 11:8."""

    NONE, ZERO_DIMENSION, BAD_SHIFT, A_TOO_BIG, B_TOO_BIG, START_WHILE_BUSY = range(6)


def wishbone_signature(addr_width: int = 4) -> wiring.Signature:
    """A Wishbone B4 classic bus with 32-bit data, seen from the initiator (the CPU side)."""
    return wiring.Signature({
        "cyc": Out(1), "stb": Out(1), "we": Out(1), "adr": Out(addr_width),
        "dat_w": Out(32), "dat_r": In(32), "ack": In(1),
    })


class NpuCore(wiring.Component):
    """An ``n`` x ``n`` int8 systolic-array matrix engine with operand buffers and requantizer.

    ``a_depth`` and ``b_depth`` are words per bank (``n`` banks each, one int8 per word).
    See the module documentation for the registers, streams and data layout.
    """

    def __init__(self, *, n: int = 4, a_depth: int = 64, b_depth: int = 64):
        check_size("NpuCore", n)
        for name, depth in (("a_depth", a_depth), ("b_depth", b_depth)):
            low, high = DEPTH_RANGE
            if not isinstance(depth, int) or isinstance(depth, bool) or not low <= depth <= high:
                raise ValueError(f"NpuCore {name} must be an integer from {low} to {high} "
                                 f"(words per bank), not {depth!r}")
        self.n, self.a_depth, self.b_depth = n, a_depth, b_depth
        self.k_max = min(a_depth, b_depth)
        self.acc_width = accumulator_width(self.k_max)
        super().__init__({
            "wb": In(wishbone_signature()),
            "a_in": In(stream.Signature(signed(8))),
            "b_in": In(stream.Signature(signed(8))),
            "c_out": Out(stream.Signature(signed(8))),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.n
        wide = DIM_WIDTH + 2

        # -- registers -----------------------------------------------------------------------
        shape_m, shape_k, shape_n = (Signal(DIM_WIDTH, name=x) for x in ("shape_m", "shape_k",
                                                                          "shape_n"))
        a_base, b_base = Signal(DIM_WIDTH), Signal(DIM_WIDTH)
        mult, shift, relu = Signal(16), Signal(6), Signal(1)
        load_a, load_b = Signal(), Signal()
        busy, done, error = Signal(), Signal(), Signal()
        cause = Signal(4)
        cycles = Signal(32)
        start = Signal()

        # -- Wishbone slave ------------------------------------------------------------------
        wb = self.wb
        access = Signal()
        m.d.comb += access.eq(wb.cyc & wb.stb & ~wb.ack)
        m.d.sync += wb.ack.eq(access)
        readable = {
            Reg.CTRL: Cat(Const(0, 1), load_a, load_b),
            Reg.STATUS: Cat(busy, done, error, Const(0, 5), cause),
            Reg.M: shape_m, Reg.K: shape_k, Reg.N: shape_n,
            Reg.A_BASE: a_base, Reg.B_BASE: b_base,
            Reg.QUANT: Cat(mult, shift, Const(0, 2), relu),
            Reg.CYCLES: cycles,
            Reg.ARRAY_N: Const(n, 32), Reg.A_DEPTH: Const(self.a_depth, 32),
            Reg.B_DEPTH: Const(self.b_depth, 32),
        }
        with m.If(access):
            with m.Switch(wb.adr):
                for address, value in readable.items():
                    with m.Case(address):
                        m.d.sync += wb.dat_r.eq(value)
                with m.Default():
                    m.d.sync += wb.dat_r.eq(0)
        write = Signal()
        m.d.comb += [write.eq(access & wb.we),
                     start.eq(write & (wb.adr == Reg.CTRL) & wb.dat_w[0])]
        with m.If(write & ~busy):
            with m.Switch(wb.adr):
                for address, target in ((Reg.M, shape_m), (Reg.K, shape_k), (Reg.N, shape_n),
                                        (Reg.A_BASE, a_base), (Reg.B_BASE, b_base)):
                    with m.Case(address):
                        m.d.sync += target.eq(wb.dat_w)
                with m.Case(Reg.QUANT):
                    m.d.sync += [mult.eq(wb.dat_w[0:16]), shift.eq(wb.dat_w[16:22]),
                                 relu.eq(wb.dat_w[24])]
                with m.Case(Reg.CTRL):
                    m.d.sync += [load_a.eq(wb.dat_w[1]), load_b.eq(wb.dat_w[2])]
        with m.If(write & (wb.adr == Reg.STATUS)):
            with m.If(wb.dat_w[1]):
                m.d.sync += done.eq(0)
            with m.If(wb.dat_w[2]):
                m.d.sync += [error.eq(0), cause.eq(Error.NONE)]
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)

        # -- buffers ---------------------------------------------------------------------------
        a_banks = [memory.Memory(shape=signed(8), depth=self.a_depth, init=[]) for _ in range(n)]
        b_banks = [memory.Memory(shape=signed(8), depth=self.b_depth, init=[]) for _ in range(n)]
        for index, bank in enumerate(a_banks):
            m.submodules[f"a_bank{index}"] = bank
        for index, bank in enumerate(b_banks):
            m.submodules[f"b_bank{index}"] = bank
        a_writes = [bank.write_port() for bank in a_banks]
        b_writes = [bank.write_port() for bank in b_banks]
        a_reads = [bank.read_port() for bank in a_banks]
        b_reads = [bank.read_port() for bank in b_banks]

        # -- array, drain and requantizer ----------------------------------------------------
        m.submodules.array = array = SystolicArray(n=n, acc_width=self.acc_width)
        m.submodules.requant = requant = Requantizer(acc_width=self.acc_width)
        advance = Signal()
        drain_busy = Signal()
        m.d.comb += advance.eq(~(array.origin_last & drain_busy))
        m.d.comb += array.en.eq(advance)
        for bank_port in a_reads + b_reads:
            m.d.comb += bank_port.en.eq(advance)
        m.d.comb += [array.a[r].eq(port.data) for r, port in enumerate(a_reads)]
        m.d.comb += [array.b[c].eq(port.data) for c, port in enumerate(b_reads)]

        # -- the validated operation, in registers only as wide as the buffers allow ---------
        rows, cols = range(n * self.a_depth + 1), range(n * self.b_depth + 1)
        depth_k, steps = range(self.k_max + 1), range(max(self.k_max, 2 * n - 1) + 1)
        job_m, job_k, job_n = Signal(rows), Signal(depth_k), Signal(cols)
        job_a, job_b = Signal(range(self.a_depth)), Signal(range(self.b_depth))

        # -- operand loaders -----------------------------------------------------------------
        la_m, la_k, la_bank = Signal(rows), Signal(depth_k), Signal(range(n))
        lb_n, lb_k, lb_bank = Signal(cols), Signal(depth_k), Signal(range(n))
        la_row, lb_col = Signal(range(self.a_depth + 1)), Signal(range(self.b_depth + 1))
        a_loading, b_loading = Signal(), Signal()
        m.d.comb += [self.a_in.ready.eq(a_loading), self.b_in.ready.eq(b_loading)]
        a_take = self.a_in.valid & a_loading
        b_take = self.b_in.valid & b_loading
        for r, port in enumerate(a_writes):
            m.d.comb += [port.addr.eq(job_a + la_row + la_k), port.data.eq(self.a_in.payload),
                         port.en.eq(a_take & (la_bank == r))]
        for c, port in enumerate(b_writes):
            m.d.comb += [port.addr.eq(job_b + lb_col + lb_k), port.data.eq(self.b_in.payload),
                         port.en.eq(b_take & (lb_bank == c))]
        with m.If(a_take):
            with m.If(la_k == job_k - 1):
                m.d.sync += [la_k.eq(0), la_m.eq(la_m + 1)]
                with m.If(la_m == job_m - 1):
                    m.d.sync += a_loading.eq(0)
                with m.If(la_bank == n - 1):
                    m.d.sync += [la_bank.eq(0), la_row.eq(la_row + job_k)]
                with m.Else():
                    m.d.sync += la_bank.eq(la_bank + 1)
            with m.Else():
                m.d.sync += la_k.eq(la_k + 1)
        with m.If(b_take):
            with m.If(lb_n == job_n - 1):
                m.d.sync += [lb_n.eq(0), lb_bank.eq(0), lb_col.eq(0), lb_k.eq(lb_k + 1)]
                with m.If(lb_k == job_k - 1):
                    m.d.sync += b_loading.eq(0)
            with m.Else():
                m.d.sync += lb_n.eq(lb_n + 1)
                with m.If(lb_bank == n - 1):
                    m.d.sync += [lb_bank.eq(0), lb_col.eq(lb_col + job_k)]
                with m.Else():
                    m.d.sync += lb_bank.eq(lb_bank + 1)

        # -- feeder: issues buffer reads tile by tile -----------------------------------------
        period = Signal(steps)
        m.d.comb += period.eq(Mux(job_k < 2 * n - 1, 2 * n - 1, job_k))
        f_k, f_m0, f_n0 = Signal(steps), Signal(rows), Signal(cols)
        f_arow, f_bcol = Signal(range(self.a_depth + 1)), Signal(range(self.b_depth + 1))
        feeding = Signal()
        issue_valid = Signal()
        m.d.comb += issue_valid.eq(feeding & (f_k < job_k))
        for port in a_reads:
            m.d.comb += port.addr.eq(job_a + f_arow + f_k)
        for port in b_reads:
            m.d.comb += port.addr.eq(job_b + f_bcol + f_k)
        with m.If(advance):
            m.d.sync += [array.valid.eq(issue_valid), array.first.eq(issue_valid & (f_k == 0)),
                         array.last.eq(issue_valid & (f_k == job_k - 1))]
            with m.If(feeding):
                with m.If(f_k == period - 1):
                    m.d.sync += f_k.eq(0)
                    with m.If(f_n0 + n >= job_n):
                        m.d.sync += [f_n0.eq(0), f_bcol.eq(0), f_m0.eq(f_m0 + n),
                                     f_arow.eq(f_arow + job_k)]
                        with m.If(f_m0 + n >= job_m):
                            m.d.sync += feeding.eq(0)
                    with m.Else():
                        m.d.sync += [f_n0.eq(f_n0 + n), f_bcol.eq(f_bcol + job_k)]
                with m.Else():
                    m.d.sync += f_k.eq(f_k + 1)

        # -- drain: picks finished sums one by one, requantizes them into c_out ---------------
        d_i, d_j = Signal(range(n)), Signal(range(n))
        d_m0, d_n0 = Signal(rows), Signal(cols)
        drained_all = Signal()
        pick = Signal(signed(self.acc_width))
        pick_valid = Signal()
        move = Signal()
        m.d.comb += [
            move.eq(~self.c_out.valid | self.c_out.ready),
            requant.acc.eq(pick), requant.mult.eq(mult), requant.shift.eq(shift),
            requant.relu.eq(relu),
        ]
        results = Signal(data.ArrayLayout(data.ArrayLayout(signed(self.acc_width), n), n))
        m.d.comb += results.eq(array.result)
        with m.If(move):
            m.d.sync += [self.c_out.payload.eq(requant.y), self.c_out.valid.eq(pick_valid),
                         pick_valid.eq(0)]
            with m.If(drain_busy):
                m.d.sync += [pick.eq(results[d_i][d_j]),
                             pick_valid.eq((d_m0 + d_i < job_m) & (d_n0 + d_j < job_n))]
                with m.If(d_j == n - 1):
                    m.d.sync += d_j.eq(0)
                    with m.If(d_i == n - 1):
                        m.d.sync += [d_i.eq(0), drain_busy.eq(0)]
                        with m.If(d_n0 + n >= job_n):
                            m.d.sync += [d_n0.eq(0), d_m0.eq(d_m0 + n)]
                            with m.If(d_m0 + n >= job_m):
                                m.d.sync += drained_all.eq(1)
                        with m.Else():
                            m.d.sync += d_n0.eq(d_n0 + n)
                    with m.Else():
                        m.d.sync += d_i.eq(d_i + 1)
                with m.Else():
                    m.d.sync += d_j.eq(d_j + 1)
        with m.If(array.corner_last & advance):
            m.d.sync += drain_busy.eq(1)

        # -- sequencer -------------------------------------------------------------------------
        check_row = Signal(wide)
        a_end, b_end = Signal(wide + 1), Signal(wide + 1)

        def fail(code):
            return [error.eq(1), cause.eq(code)]

        with m.FSM(name="sequencer"):
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += [done.eq(0), error.eq(0), cause.eq(Error.NONE)]
                    with m.If((shape_m == 0) | (shape_k == 0) | (shape_n == 0)):
                        m.d.sync += fail(Error.ZERO_DIMENSION)
                    with m.Elif(shift > SHIFT_MAX):
                        m.d.sync += fail(Error.BAD_SHIFT)
                    with m.Else():
                        m.d.sync += [busy.eq(1), cycles.eq(0), check_row.eq(0),
                                     a_end.eq(a_base), b_end.eq(b_base)]
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(a_end > self.a_depth):
                    m.d.sync += [busy.eq(0), *fail(Error.A_TOO_BIG)]
                    m.next = "IDLE"
                with m.Elif(b_end > self.b_depth):
                    m.d.sync += [busy.eq(0), *fail(Error.B_TOO_BIG)]
                    m.next = "IDLE"
                with m.Elif((check_row >= shape_m) & (check_row >= shape_n)):
                    m.d.sync += [
                        job_m.eq(shape_m), job_k.eq(shape_k), job_n.eq(shape_n),
                        job_a.eq(a_base), job_b.eq(b_base),
                        a_loading.eq(load_a), b_loading.eq(load_b),
                        la_m.eq(0), la_k.eq(0), la_bank.eq(0), la_row.eq(0),
                        lb_n.eq(0), lb_k.eq(0), lb_bank.eq(0), lb_col.eq(0),
                    ]
                    m.next = "LOAD"
                with m.Else():
                    m.d.sync += check_row.eq(check_row + n)
                    with m.If(check_row < shape_m):
                        m.d.sync += a_end.eq(a_end + shape_k)
                    with m.If(check_row < shape_n):
                        m.d.sync += b_end.eq(b_end + shape_k)
            with m.State("LOAD"):
                with m.If(~a_loading & ~b_loading):
                    m.d.sync += [feeding.eq(1), f_k.eq(0), f_m0.eq(0), f_n0.eq(0), f_arow.eq(0),
                                 f_bcol.eq(0), d_i.eq(0), d_j.eq(0), d_m0.eq(0), d_n0.eq(0),
                                 drained_all.eq(0)]
                    m.next = "COMPUTE"
            with m.State("COMPUTE"):
                with m.If(drained_all & ~pick_valid & ~self.c_out.valid):
                    m.d.sync += [busy.eq(0), done.eq(1)]
                    m.next = "IDLE"
        with m.If(start & busy):
            m.d.sync += fail(Error.START_WHILE_BUSY)
        return m
