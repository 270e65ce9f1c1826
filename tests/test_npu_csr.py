"""ControlRegisters in amaranth.sim: a Wishbone master reads, writes and watches the pulses."""

from amaranth.sim import Simulator

from kchip.rtl.npu_core.csr import ControlRegisters, Reg


def run(bench_body):
    dut = ControlRegisters(n=4, a_depth=8, b_depth=12)
    pulses = []

    async def access(ctx, address, value=None):
        """One Wishbone classic cycle; the read data (or None for a write)."""
        bus = dut.bus
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        ctx.set(bus.we, value is not None)
        ctx.set(bus.adr, address)
        ctx.set(bus.dat_w, value or 0)
        for _ in range(4):
            seen = (ctx.get(dut.start), ctx.get(dut.clear_done), ctx.get(dut.clear_error))
            if any(seen):
                pulses.append(seen)
            await ctx.tick()
            if ctx.get(bus.ack):
                break
        else:
            raise AssertionError(f"no ack for word {address}")
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        data = ctx.get(bus.dat_r)
        await ctx.tick()
        return None if value is not None else data

    async def bench(ctx):
        await bench_body(ctx, dut, access)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return pulses


def test_settings_read_back_and_constants():
    async def body(ctx, dut, access):
        for address, value in ((Reg.M, 5), (Reg.K, 0xFFFF), (Reg.N, 7), (Reg.A_BASE, 3),
                               (Reg.B_BASE, 9)):
            await access(ctx, address, value)
            assert await access(ctx, address) == value
        await access(ctx, Reg.QUANT, 1234 | 47 << 16 | 1 << 24)
        assert ctx.get(dut.mult) == 1234 and ctx.get(dut.shift) == 47 and ctx.get(dut.relu)
        assert await access(ctx, Reg.QUANT) == 1234 | 47 << 16 | 1 << 24
        assert [await access(ctx, a) for a in (Reg.ARRAY_N, Reg.A_DEPTH, Reg.B_DEPTH)] == [4, 8, 12]
        assert await access(ctx, 15) == 0

    assert run(body) == []


def test_pulses_status_and_busy_lock():
    async def body(ctx, dut, access):
        await access(ctx, Reg.CTRL, 0b111)
        assert ctx.get(dut.load_a) and ctx.get(dut.load_b)
        ctx.set(dut.busy, 1)
        ctx.set(dut.done, 1)
        ctx.set(dut.cause, 5)
        ctx.set(dut.cycles, 123456)
        await access(ctx, Reg.M, 77)                     # ignored while busy
        await access(ctx, Reg.CTRL, 0b001)               # LOAD bits kept while busy
        assert ctx.get(dut.m) == 0 and ctx.get(dut.load_a)
        assert await access(ctx, Reg.STATUS) == 1 | 2 | 5 << 8
        assert await access(ctx, Reg.CYCLES) == 123456
        await access(ctx, Reg.STATUS, 0b110)

    assert run(body) == [(1, 0, 0), (1, 0, 0), (0, 1, 1)]
