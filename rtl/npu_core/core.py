"""The NPU core: C = requantize(A x B) for int8 matrices, driven by a CPU over Wishbone.

``n`` is the array size (n x n PEs); M, K and N are the shape of the product.

Dataflow: output-stationary. Each n x n tile of C stays in the PEs while the whole K
dimension streams through, so a 64x64x64 product at n=4 is 256 tiles of 64 busy cycles each and
the array never waits for partial sums to be written back; tiles follow each other without a gap
because each PE keeps the finished sum in a result register while it starts the next one. (A
weight-stationary array would need the partial sums of every output row to leave the array and
come back, i.e. a wide accumulator memory, for every K larger than n.)

Buffers: A lives in n banks (bank r holds the rows i with i mod n = r, at words
``A_BASE + (i // n) * K + k``), B in n banks by column (bank c holds the columns j with
j mod n = c, at ``B_BASE + (j // n) * K + k``), so that every cycle each bank gives one operand to its array row
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
8      CYCLES    read: clock cycles from the last START to DONE (settings check included)
9-11   ARRAY_N,  read: the generator parameters n, a_depth, b_depth
       A_DEPTH,
       B_DEPTH
=====  ========  ===========================================================================

Writes to words 2-7 are ignored while BUSY. START with an illegal setting sets ERROR and the
cause instead of BUSY: 1 a zero dimension, 2 SHIFT above 47, 3 A does not fit in its buffer
(``A_BASE + ceil(M/n) * K > a_depth``), 4 B does not fit (``B_BASE + ceil(N/n) * K >
b_depth``), 5 START while BUSY (the running operation goes on).

Streams (``amaranth.lib.stream``, valid/ready, one int8 per beat): with LOAD_A, A arrives on
``a_in`` in row-major order (M x K beats); with LOAD_B, B on ``b_in`` row-major (K x N beats);
without them the buffers keep what an earlier operation loaded. Results leave on ``c_out`` tile
by tile: tiles in row-major order of tile position (n-row blocks outer, n-column blocks inner),
inside a tile row by row, elements outside C (edge tiles) skipped; M x N beats in all.
"""

from dataclasses import dataclass

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from kchip.rtl.npu_core.array import SystolicArray, check_size
from kchip.rtl.npu_core.csr import FIELD_WIDTH, ControlRegisters, Error, wishbone_signature
from kchip.rtl.npu_core.loader import BankedLoader
from kchip.rtl.npu_core.pe import accumulator_width
from kchip.rtl.npu_core.requant import SHIFT_MAX, Requantizer

#: Buffer depths (words per bank) the generator accepts.
DEPTH_RANGE = (2, 65536)

@dataclass(frozen=True)
class _Job:
    """The validated operation, in registers only as wide as the buffers allow."""

    m: Signal
    k: Signal
    n: Signal
    a_base: Signal
    b_base: Signal
    mult: Signal
    shift: Signal
    relu: Signal


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
        m.submodules.csr = csr = ControlRegisters(n=n, a_depth=self.a_depth,
                                                  b_depth=self.b_depth)
        wiring.connect(m, wiring.flipped(self.wb), csr.bus)
        m.submodules.array = array = SystolicArray(n=n, acc_width=self.acc_width)
        m.submodules.requant = requant = Requantizer(acc_width=self.acc_width)
        loaders = {}
        for name, depth, lines, banked_by in (("a", self.a_depth, n * self.a_depth, "rows"),
                                              ("b", self.b_depth, n * self.b_depth, "columns")):
            loaders[name] = BankedLoader(n=n, depth=depth, max_lines=lines, banked_by=banked_by)
            m.submodules[f"{name}_loader"] = loaders[name]
        wiring.connect(m, wiring.flipped(self.a_in), loaders["a"].data)
        wiring.connect(m, wiring.flipped(self.b_in), loaders["b"].data)

        job = _Job(
            m=Signal(range(n * self.a_depth + 1)), k=Signal(range(self.k_max + 1)),
            n=Signal(range(n * self.b_depth + 1)),
            a_base=Signal(range(self.a_depth)), b_base=Signal(range(self.b_depth)),
            mult=Signal.like(csr.mult), shift=Signal(range(SHIFT_MAX + 1)), relu=Signal())
        for loader, lines, base in ((loaders["a"], job.m, job.a_base),
                                    (loaders["b"], job.n, job.b_base)):
            m.d.comb += [loader.lines.eq(lines), loader.k.eq(job.k), loader.base.eq(base)]
        m.d.comb += [requant.mult.eq(job.mult), requant.shift.eq(job.shift),
                     requant.relu.eq(job.relu)]

        advance, begin = Signal(), Signal()
        m.d.comb += array.en.eq(advance)
        a_reads = self._buffer(m, "a", self.a_depth, loaders["a"], advance)
        b_reads = self._buffer(m, "b", self.b_depth, loaders["b"], advance)
        m.d.comb += [array.a[r].eq(port.data) for r, port in enumerate(a_reads)]
        m.d.comb += [array.b[c].eq(port.data) for c, port in enumerate(b_reads)]
        self._feeder(m, job, begin, advance, array, a_reads, b_reads)
        draining, finished = self._drain(m, job, begin, advance, array, requant)
        m.d.comb += advance.eq(~(array.origin_last & draining))
        self._sequencer(m, csr, job, loaders, begin, finished)
        return m

    def _buffer(self, m, name, depth, loader, advance):
        """``n`` banks written by ``loader``; their read ports, which move only on ``advance``."""
        reads = []
        for index in range(self.n):
            bank = memory.Memory(shape=signed(8), depth=depth, init=[])
            m.submodules[f"{name}_bank{index}"] = bank
            write, read = bank.write_port(), bank.read_port()
            m.d.comb += [write.addr.eq(loader.addr), write.data.eq(loader.wdata),
                         write.en.eq(loader.we[index]), read.en.eq(advance)]
            reads.append(read)
        return reads

    def _feeder(self, m, job, begin, advance, array, a_reads, b_reads):
        """Read the buffers tile by tile (row blocks outer, column blocks inner, K inner-most).

        All banks read the same word; the array skews rows and columns. A tile takes
        max(K, 2n - 1) steps, the last ones bubbles when K is short, so that one tile is finished
        before the next one's last step reaches PE (0, 0).
        """
        n = self.n
        steps = range(max(self.k_max, 2 * n - 1) + 1)
        period, step = Signal(steps), Signal(steps)
        row0, col0 = Signal.like(job.m), Signal.like(job.n)
        a_block, b_block = Signal(range(self.a_depth + 1)), Signal(range(self.b_depth + 1))
        feeding, issue = Signal(), Signal()
        m.d.comb += [
            period.eq(Mux(job.k < 2 * n - 1, 2 * n - 1, job.k)),
            issue.eq(feeding & (step < job.k)),
            *(port.addr.eq(job.a_base + a_block + step) for port in a_reads),
            *(port.addr.eq(job.b_base + b_block + step) for port in b_reads),
        ]
        with m.If(begin):
            m.d.sync += [feeding.eq(1), step.eq(0), row0.eq(0), col0.eq(0), a_block.eq(0),
                         b_block.eq(0)]
        with m.Elif(advance):
            m.d.sync += [array.valid.eq(issue), array.first.eq(issue & (step == 0)),
                         array.last.eq(issue & (step == job.k - 1))]
            with m.If(feeding & (step == period - 1)):
                m.d.sync += step.eq(0)
                with m.If(col0 + n >= job.n):
                    m.d.sync += [col0.eq(0), b_block.eq(0), row0.eq(row0 + n),
                                 a_block.eq(a_block + job.k)]
                    with m.If(row0 + n >= job.m):
                        m.d.sync += feeding.eq(0)
                with m.Else():
                    m.d.sync += [col0.eq(col0 + n), b_block.eq(b_block + job.k)]
            with m.Elif(feeding):
                m.d.sync += step.eq(step + 1)

    def _drain(self, m, job, begin, advance, array, requant):
        """Move each finished tile, element by element, through the requantizer to ``c_out``.

        Two registers deep (pick the sum, then the requantized byte on ``c_out``), both moving
        only when ``c_out`` is empty or taken. Elements outside C are picked but not sent.
        Returns ``draining`` (a tile is being read out: the next must not overwrite it) and
        ``finished`` (the operation's last byte has left).
        """
        n = self.n
        row, col = Signal(range(n)), Signal(range(n))
        row0, col0 = Signal.like(job.m), Signal.like(job.n)
        draining, drained_all, finished = Signal(), Signal(), Signal()
        pick, pick_valid, move = Signal(signed(self.acc_width)), Signal(), Signal()
        results = Signal(data.ArrayLayout(data.ArrayLayout(signed(self.acc_width), n), n))
        m.d.comb += [
            move.eq(~self.c_out.valid | self.c_out.ready),
            requant.acc.eq(pick),
            results.eq(array.result),
            finished.eq(drained_all & ~pick_valid & ~self.c_out.valid),
        ]
        with m.If(move):
            m.d.sync += [self.c_out.payload.eq(requant.y), self.c_out.valid.eq(pick_valid),
                         pick_valid.eq(0)]
            with m.If(draining):
                m.d.sync += [pick.eq(results[row][col]),
                             pick_valid.eq((row0 + row < job.m) & (col0 + col < job.n)),
                             col.eq(col + 1)]
                with m.If(col == n - 1):
                    m.d.sync += [col.eq(0), row.eq(row + 1)]
                    with m.If(row == n - 1):
                        m.d.sync += [row.eq(0), draining.eq(0)]
                        with m.If(col0 + n >= job.n):
                            m.d.sync += [col0.eq(0), row0.eq(row0 + n)]
                            with m.If(row0 + n >= job.m):
                                m.d.sync += drained_all.eq(1)
                        with m.Else():
                            m.d.sync += col0.eq(col0 + n)
        with m.If(array.corner_last & advance):
            m.d.sync += draining.eq(1)
        with m.If(begin):
            m.d.sync += [row.eq(0), col.eq(0), row0.eq(0), col0.eq(0), drained_all.eq(0)]
        return draining, finished

    def _sequencer(self, m, csr, job, loaders, begin, finished):
        """IDLE -> CHECK (is every setting legal?) -> LOAD (operand streams) -> COMPUTE -> IDLE.

        CHECK walks the row and column blocks adding K per block to the end address of A and B,
        so no divider or multiplier is needed; it stops at the first block past a buffer's end.
        Keeps BUSY, DONE, ERROR, the cause and the cycle count shown in STATUS and CYCLES.
        """
        n, wide = self.n, FIELD_WIDTH + 2
        busy, done, error = Signal(), Signal(), Signal()
        cause, cycles = Signal(4), Signal(32)
        m.d.comb += [csr.busy.eq(busy), csr.done.eq(done), csr.error.eq(error),
                     csr.cause.eq(cause), csr.cycles.eq(cycles)]
        with m.If(csr.clear_done):
            m.d.sync += done.eq(0)
        with m.If(csr.clear_error):
            m.d.sync += [error.eq(0), cause.eq(Error.NONE)]
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)

        block0 = Signal(wide)
        a_end, b_end = Signal(wide + 1), Signal(wide + 1)
        launch = Signal()

        def fail(code):
            return [error.eq(1), cause.eq(code)]

        with m.FSM(name="sequencer"):
            with m.State("IDLE"):
                with m.If(csr.start):
                    m.d.sync += [done.eq(0), error.eq(0), cause.eq(Error.NONE)]
                    with m.If((csr.m == 0) | (csr.k == 0) | (csr.n == 0)):
                        m.d.sync += fail(Error.ZERO_DIMENSION)
                    with m.Elif(csr.shift > SHIFT_MAX):
                        m.d.sync += fail(Error.BAD_SHIFT)
                    with m.Else():
                        m.d.sync += [busy.eq(1), cycles.eq(0), block0.eq(0),
                                     a_end.eq(csr.a_base), b_end.eq(csr.b_base)]
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(a_end > self.a_depth):
                    m.d.sync += [busy.eq(0), *fail(Error.A_TOO_BIG)]
                    m.next = "IDLE"
                with m.Elif(b_end > self.b_depth):
                    m.d.sync += [busy.eq(0), *fail(Error.B_TOO_BIG)]
                    m.next = "IDLE"
                with m.Elif((block0 >= csr.m) & (block0 >= csr.n)):
                    m.d.comb += launch.eq(1)
                    m.d.sync += [job.m.eq(csr.m), job.k.eq(csr.k), job.n.eq(csr.n),
                                 job.a_base.eq(csr.a_base), job.b_base.eq(csr.b_base),
                                 job.mult.eq(csr.mult), job.shift.eq(csr.shift),
                                 job.relu.eq(csr.relu)]
                    m.next = "LOAD"
                with m.Else():
                    m.d.sync += block0.eq(block0 + n)
                    with m.If(block0 < csr.m):
                        m.d.sync += a_end.eq(a_end + csr.k)
                    with m.If(block0 < csr.n):
                        m.d.sync += b_end.eq(b_end + csr.k)
            with m.State("LOAD"):
                with m.If(~loaders["a"].busy & ~loaders["b"].busy):
                    m.d.comb += begin.eq(1)
                    m.next = "COMPUTE"
            with m.State("COMPUTE"):
                with m.If(finished):
                    m.d.sync += [busy.eq(0), done.eq(1)]
                    m.next = "IDLE"
        m.d.comb += [loaders["a"].start.eq(launch & csr.load_a),
                     loaders["b"].start.eq(launch & csr.load_b)]
        with m.If(csr.start & busy):
            m.d.sync += fail(Error.START_WHILE_BUSY)
