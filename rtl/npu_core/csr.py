"""The NPU core's control and status registers behind a Wishbone B4 classic slave port."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Width of the shape and base-address registers.
FIELD_WIDTH = 16
MULT_WIDTH = 16
SHIFT_WIDTH = 6


class Reg:
    """Word addresses of the registers (see the table in :mod:`kchip.rtl.npu_core.core`)."""

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


class ControlRegisters(wiring.Component):
    """Register file: decodes ``bus`` accesses into fields, pulses and status reads.

    One wait state: ``ack`` (and ``dat_r``) are registered, so an access takes two cycles; no
    ``sel``, ``err`` or bursts (32-bit granularity). Writes to the operation's settings (words 2-7
    and the LOAD bits of CTRL) are ignored while ``busy``. A write to CTRL with bit 0 set pulses
    ``start`` for one cycle; writing 1 to STATUS bit 1 / bit 2 pulses ``clear_done`` /
    ``clear_error``. ``busy``, ``done``, ``error``, ``cause`` and ``cycles`` are kept by the
    sequencer and only read here; ``n``, ``a_depth`` and ``b_depth`` are read-only constants.
    """

    def __init__(self, *, n: int, a_depth: int, b_depth: int):
        self.constants = {Reg.ARRAY_N: n, Reg.A_DEPTH: a_depth, Reg.B_DEPTH: b_depth}
        super().__init__({
            "bus": In(wishbone_signature()),
            "m": Out(FIELD_WIDTH), "k": Out(FIELD_WIDTH), "n": Out(FIELD_WIDTH),
            "a_base": Out(FIELD_WIDTH), "b_base": Out(FIELD_WIDTH),
            "mult": Out(MULT_WIDTH), "shift": Out(SHIFT_WIDTH), "relu": Out(1),
            "load_a": Out(1), "load_b": Out(1),
            "start": Out(1), "clear_done": Out(1), "clear_error": Out(1),
            "busy": In(1), "done": In(1), "error": In(1), "cause": In(4), "cycles": In(32),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        access, write = Signal(), Signal()
        m.d.comb += [access.eq(bus.cyc & bus.stb & ~bus.ack), write.eq(access & bus.we)]
        m.d.sync += bus.ack.eq(access)

        readable = {
            Reg.CTRL: Cat(Const(0, 1), self.load_a, self.load_b),
            Reg.STATUS: Cat(self.busy, self.done, self.error, Const(0, 5), self.cause),
            Reg.M: self.m, Reg.K: self.k, Reg.N: self.n,
            Reg.A_BASE: self.a_base, Reg.B_BASE: self.b_base,
            Reg.QUANT: Cat(self.mult, self.shift, Const(0, 8 - SHIFT_WIDTH), self.relu),
            Reg.CYCLES: self.cycles,
            **{address: Const(value, 32) for address, value in self.constants.items()},
        }
        with m.If(access):
            with m.Switch(bus.adr):
                for address, value in readable.items():
                    with m.Case(address):
                        m.d.sync += bus.dat_r.eq(value)
                with m.Default():
                    m.d.sync += bus.dat_r.eq(0)

        settings = {Reg.M: self.m, Reg.K: self.k, Reg.N: self.n, Reg.A_BASE: self.a_base,
                    Reg.B_BASE: self.b_base}
        with m.If(write & ~self.busy):
            with m.Switch(bus.adr):
                for address, field in settings.items():
                    with m.Case(address):
                        m.d.sync += field.eq(bus.dat_w)
                with m.Case(Reg.QUANT):
                    m.d.sync += [self.mult.eq(bus.dat_w[:MULT_WIDTH]),
                                 self.shift.eq(bus.dat_w[16:16 + SHIFT_WIDTH]),
                                 self.relu.eq(bus.dat_w[24])]
                with m.Case(Reg.CTRL):
                    m.d.sync += [self.load_a.eq(bus.dat_w[1]), self.load_b.eq(bus.dat_w[2])]
        m.d.comb += [
            self.start.eq(write & (bus.adr == Reg.CTRL) & bus.dat_w[0]),
            self.clear_done.eq(write & (bus.adr == Reg.STATUS) & bus.dat_w[1]),
            self.clear_error.eq(write & (bus.adr == Reg.STATUS) & bus.dat_w[2]),
        ]
        return m
