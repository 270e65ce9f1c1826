"""``tt_um_kchip_npu``: the NPU core on a Tiny Tapeout tile, driven through a byte protocol.

A Tiny Tapeout tile has 8 inputs (``ui_in``), 8 outputs (``uo_out``), 8 bidirectional pins
(``uio_in``/``uio_out``/``uio_oe``), ``ena``, ``clk`` and the active-low reset ``rst_n``; the core's
Wishbone port and three streams need about 100. :class:`TinyTapeoutNpu` carries all of them over
the 8-bit ports. Every exchange with the host is one *transfer*: the host offers a byte on
``ui_in`` and the design answers, through a four-phase REQ/ACK handshake on two ``uio`` pins.

Pins
----

=========  ===  ===========================================================================
pin        dir  use
=========  ===  ===========================================================================
ui_in      in   the host's byte of the transfer
uo_out     out  the reply byte: set by DATA and POP transfers, unchanged by the others
uio[0]     in   REQ, the host's strobe (passes a two-flip-flop synchroniser)
uio[2:1]   in   KIND of the transfer: 0 CMD, 1 DATA, 2 A (operand of A), 3 B (operand of B)
uio[3]     out  ACK, the design's answer to REQ
uio[4]     out  A_READY: the core is loading A (an A transfer will complete at once)
uio[5]     out  B_READY: the core is loading B
uio[6]     out  C_VALID: a result byte is waiting (a POP will complete at once)
uio[7]     in   unused
=========  ===  ===========================================================================

``uio_oe`` is constant ``0x78`` (pins 3 to 6 drive). ``ena`` is not used. ``rst_n`` low resets
the whole design, core and protocol, on a rising ``clk`` edge (a synchronous reset).

Handshake (four-phase, so the host may run on its own clock)
------------------------------------------------------------

1. The host waits until ACK is low, sets ``ui_in`` and KIND, and raises REQ (at the same time as
   the byte or later: the design looks at the byte from the third ``clk`` edge after REQ rises).
2. The design does what the transfer asks. Transfers that feed or drain the core wait for it:
   an A or B transfer until the core takes the byte, a POP until a result is there.
3. The design raises ACK. ``uo_out`` changes (if at all) on the same ``clk`` edge and then holds
   until the next transfer's ACK. The host must keep ``ui_in`` and KIND until it sees ACK high.
4. The host reads ``uo_out`` if it needs it, and lowers REQ; the design lowers ACK on the third
   ``clk`` edge after that. The transfer is over when the host sees ACK low.

A transfer takes about 8 ``clk`` cycles with a host that answers within a cycle.

Transfers
---------

- **DATA** (KIND 1): shifts the 32-bit DATA register down by a byte, the host's byte entering at
  the top (``DATA = ui_in << 24 | DATA >> 8``), and replies with the byte that left (bits 7:0).
  Four DATA transfers therefore load a word least significant byte first, and read out a word
  that a READ left in DATA least significant byte first.
- **A** / **B** (KIND 2 / 3): one int8 beat on the core's ``a_in`` / ``b_in`` stream.
- **CMD** (KIND 0): the byte is a command, high nibble the operation, low nibble ``r`` a
  register word address (the register map is in :mod:`kchip.rtl.npu_core.core`):

  ====  ========  =========================================================================
  byte  command   effect
  ====  ========  =========================================================================
  0x1r  WRITE r   Wishbone write of DATA to register ``r``; ACK after the bus ``ack``
  0x2r  READ r    Wishbone read of register ``r`` into DATA; ACK after the bus ``ack``
  0x3x  POP       take one result byte from ``c_out``; the reply is that byte (int8)
  else  NOP       nothing (``0x00`` is the conventional NOP)
  ====  ========  =========================================================================

What the host does for C = requantize(A x B)
--------------------------------------------

1. For each setting register (M, K, N, A_BASE, B_BASE, QUANT): four DATA transfers with the
   value's bytes, least significant first, then ``WRITE r`` (five transfers per register).
2. Four DATA transfers with ``START | LOAD_A | LOAD_B`` (``0x07``, ``0x00``, ``0x00``, ``0x00``),
   then ``WRITE 0`` (CTRL).
3. M x K A transfers (A row-major), then K x N B transfers (B row-major): the two loads run side
   by side in the core, so either order, or interleaving them, works.
4. M x N POP commands; the replies are C in the core's tile order (n x n tiles in row-major tile
   order, each tile row by row, elements outside C skipped).
5. ``READ 1`` (STATUS) and four DATA transfers: DONE (bit 1) set, BUSY and ERROR clear.

A transfer the core never completes (an operand nobody loads, a POP with no result coming)
leaves REQ unanswered; only ``rst_n`` ends it. A_READY, B_READY and C_VALID let a careful host
avoid that. Commands cannot be left half-done: every transfer stands alone.
"""

from amaranth import Cat, ClockDomain, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from kchip.rtl.npu_core.core import NpuCore

#: The Verilog module name: Tiny Tapeout tops are ``tt_um_<github user>_<project>``.
TOP = "tt_um_kchip_npu"

#: Array sizes for Tiny Tapeout tiles: up to n = 4, whose core in ``design.toml`` (137,450 um2 of
#: cells) routes at 25 % utilisation, which the largest tile (8x4, 704,700 um2) still allows.
SIZES = (2, 3, 4)
#: Words per buffer bank: flip-flops, n x 8 of them per word and operand.
DEPTH_RANGE = (2, 16)


class Pin:
    """Bit positions on the ``uio`` pins."""

    REQ, KIND, ACK, A_READY, B_READY, C_VALID = 0, 1, 3, 4, 5, 6
    #: ``uio_oe``: the pins the design drives.
    OUTPUTS = 1 << ACK | 1 << A_READY | 1 << B_READY | 1 << C_VALID


class Kind:
    """What a transfer is, on ``uio[2:1]``."""

    CMD, DATA, A, B = range(4)


class Op:
    """The operation in the high nibble of a command byte."""

    WRITE, READ, POP = 1, 2, 3


class TinyTapeoutNpu(wiring.Component):
    """``NpuCore(n=n, a_depth=a_depth, b_depth=b_depth)`` behind the Tiny Tapeout pins.

    Converted to Verilog as module :data:`TOP`; the byte protocol is in the module documentation.
    The design's clock domain is ``clk`` with the synchronous reset ``~rst_n``.
    """

    def __init__(self, *, n: int = 2, a_depth: int = 4, b_depth: int = 4):
        if not isinstance(n, int) or isinstance(n, bool) or n not in SIZES:
            raise ValueError(f"{TOP} n must be one of {', '.join(map(str, SIZES))} (larger arrays "
                             f"outgrow the largest Tiny Tapeout tile), not {n!r}")
        low, high = DEPTH_RANGE
        for name, depth in (("a_depth", a_depth), ("b_depth", b_depth)):
            if not isinstance(depth, int) or isinstance(depth, bool) or not low <= depth <= high:
                raise ValueError(f"{TOP} {name} must be an integer from {low} to {high} (words "
                                 f"per bank, in flip-flops), not {depth!r}")
        self.n, self.a_depth, self.b_depth = n, a_depth, b_depth
        super().__init__({
            "ui_in": In(8), "uo_out": Out(8),
            "uio_in": In(8), "uio_out": Out(8), "uio_oe": Out(8),
            "ena": In(1), "clk": In(1), "rst_n": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += [sync.clk.eq(self.clk), sync.rst.eq(~self.rst_n)]
        m.submodules.core = core = NpuCore(n=self.n, a_depth=self.a_depth, b_depth=self.b_depth)

        req_meta, req = Signal(), Signal()
        m.d.sync += [req_meta.eq(self.uio_in[Pin.REQ]), req.eq(req_meta)]
        pending, ack, done = Signal(), Signal(), Signal()
        data, reply = Signal(32), Signal(8)
        kind, op = self.uio_in[Pin.KIND:Pin.KIND + 2], self.ui_in[4:]
        m.d.comb += [
            self.uo_out.eq(reply),
            self.uio_out.eq(Cat(Const(0, Pin.ACK), ack, core.a_in.ready, core.b_in.ready,
                                core.c_out.valid)),
            self.uio_oe.eq(Pin.OUTPUTS),
            core.a_in.payload.eq(self.ui_in),
            core.b_in.payload.eq(self.ui_in),
            core.wb.adr.eq(self.ui_in[:4]),
            core.wb.dat_w.eq(data),
            core.wb.we.eq(op == Op.WRITE),
        ]
        with m.If(pending):
            with m.Switch(kind):
                with m.Case(Kind.DATA):
                    m.d.comb += done.eq(1)
                    m.d.sync += [data.eq(Cat(data[8:], self.ui_in)), reply.eq(data[:8])]
                with m.Case(Kind.A):
                    m.d.comb += [core.a_in.valid.eq(1), done.eq(core.a_in.ready)]
                with m.Case(Kind.B):
                    m.d.comb += [core.b_in.valid.eq(1), done.eq(core.b_in.ready)]
                with m.Case(Kind.CMD):
                    with m.Switch(op):
                        with m.Case(Op.WRITE, Op.READ):
                            m.d.comb += [core.wb.cyc.eq(1), core.wb.stb.eq(1),
                                         done.eq(core.wb.ack)]
                            with m.If(core.wb.ack & (op == Op.READ)):
                                m.d.sync += data.eq(core.wb.dat_r)
                        with m.Case(Op.POP):
                            m.d.comb += [core.c_out.ready.eq(1), done.eq(core.c_out.valid)]
                            with m.If(core.c_out.valid):
                                m.d.sync += reply.eq(core.c_out.payload)
                        with m.Default():
                            m.d.comb += done.eq(1)
        with m.If(done):
            m.d.sync += [pending.eq(0), ack.eq(1)]
        with m.Elif(req & ~pending & ~ack):
            m.d.sync += pending.eq(1)
        with m.If(ack & ~req):
            m.d.sync += ack.eq(0)
        return m
