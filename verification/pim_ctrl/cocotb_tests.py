"""cocotb tests of the PIM controller against the checking device model.

Each test seeds its own generator from ``cocotb.RANDOM_SEED`` (derived from the run seed that
``kchip.verification.runner`` prints), so a failing run replays exactly. Sizes come from the
environment: ``KCHIP_PIM_REQUESTS`` (random traffic) and ``KCHIP_PIM_GEMV`` ("outputs x inputs").

Requests are built with the RTL's host request record (and, for GEMV, its host-side planner); every
check uses the model's own encoding (:mod:`.encoding`), numpy, or the program-order scoreboard.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np

from kchip.rtl.pim_ctrl.gemv import GemvPlan
from kchip.rtl.pim_ctrl.isa import Request, RequestKind

from . import config_from_env
from .encoding import RESERVED_ROWS, BankMode, Cmd, PimOpcode, lanes_of, word_of
from .harness import Harness


async def _started(dut) -> Harness:
    harness = Harness(dut, config_from_env())
    await harness.reset()
    dut._log.info("test seed %d", cocotb.RANDOM_SEED)
    return harness


def _random_traffic(harness: Harness, rng: random.Random, count: int) -> list[Request]:
    """Reads and writes over two or three rows per bank: row hits, misses and bank conflicts."""
    ctrl = harness.geometry
    user_rows = (1 << ctrl.row_bits) - RESERVED_ROWS
    rows = {bank: rng.sample(range(user_rows), 3) for bank in range(ctrl.banks)}
    requests = []
    for _ in range(count):
        bank = rng.randrange(ctrl.banks)
        addr = ctrl.join_address(bank, rng.choice(rows[bank]), rng.randrange(1 << ctrl.col_bits))
        if rng.random() < 0.5:
            requests.append(Request(RequestKind.WRITE, addr, rng.getrandbits(ctrl.data_width)))
        else:
            requests.append(Request(RequestKind.READ, addr))
    return requests


def _expected_reads(requests: list[Request]) -> dict[int, int]:
    """Program-order scoreboard: each read must return the last earlier write to its address."""
    memory, expected = {}, {}
    for index, request in enumerate(requests):
        if request.kind is RequestKind.WRITE:
            memory[request.addr] = request.wdata
        elif request.kind is RequestKind.READ:
            expected[index] = memory.get(request.addr, 0)
    return expected


@cocotb.test()
async def random_traffic(dut):
    """Mixed traffic keeps every rule, returns the last write, and refreshes within tREFI."""
    harness = await _started(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    requests = _random_traffic(harness, rng, int(os.environ.get("KCHIP_PIM_REQUESTS", "600")))
    outcome = await harness.run(requests)
    model, tREFI = harness.model, harness.model.timing.tREFI
    await harness.idle(max(0, 2 * tREFI + 50 - harness.cycle))  # at least two refresh intervals
    harness.check_model()
    expected = _expected_reads(requests)
    wrong = {i: (outcome.read_data.get(i), e) for i, e in expected.items()
             if outcome.read_data.get(i) != e}
    assert not wrong, f"{len(wrong)} read(s) returned the wrong data (got, expected): " \
                      f"{dict(list(wrong.items())[:5])}"
    assert not outcome.rejected, f"legal requests rejected: {sorted(outcome.rejected)}"
    counts = model.counts
    columns = counts[Cmd.RD] + counts[Cmd.WR]
    assert columns == len(requests), f"{columns} column commands for {len(requests)} requests"
    assert 0 < counts[Cmd.ACT] < columns, f"no mix of row hits and misses: {counts}"
    assert counts[Cmd.PRE] > 0, f"no bank conflicts exercised: {counts}"
    assert len(model.refresh_cycles) >= harness.cycle // tREFI, (
        f"{len(model.refresh_cycles)} refreshes in {harness.cycle} cycles (tREFI {tREFI})")
    gaps = np.diff([0] + model.refresh_cycles)
    dut._log.info("%d requests in %d cycles, %s, refresh gaps max %d (tREFI %d)", len(requests),
                  outcome.cycles, {c.name: n for c, n in counts.items() if n}, gaps.max(), tREFI)


@cocotb.test()
async def gemv_offload(dut):
    """y = W x computed by the PIM units matches numpy bit for bit (int16 wrap-around)."""
    harness = await _started(dut)
    outputs, inputs = map(int, os.environ.get("KCHIP_PIM_GEMV", "24x30").split("x"))
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    weights = rng.integers(-2 ** 15, 2 ** 15, size=(outputs, inputs), dtype=np.int64)
    x = rng.integers(-2 ** 15, 2 ** 15, size=inputs, dtype=np.int64)
    expected = ((weights @ x) & 0xFFFF).astype(np.uint16).view(np.int16)
    plan = GemvPlan(harness.geometry, outputs, inputs, base_row=5)
    for (bank, row, col), word in plan.weight_words(weights).items():
        harness.model.write_word(bank, row, col, word)
    requests = plan.offload_requests(x)
    outcome = await harness.run(requests)
    harness.check_model()
    assert not outcome.rejected, f"offload requests rejected: {sorted(outcome.rejected)}"
    first_read = len(requests) - outputs
    y = plan.reduce([outcome.read_data[first_read + i] for i in range(outputs)])
    mismatches = [(i, y[i], int(expected[i])) for i in range(outputs) if y[i] != expected[i]]
    assert not mismatches, f"GEMV mismatches (index, PIM, numpy): {mismatches[:5]}"
    assert harness.model.mode is BankMode.SINGLE_BANK
    dut._log.info("GEMV %dx%d in %d cycles", outputs, inputs, outcome.cycles)


@cocotb.test()
async def mode_changes(dut):
    """Mode changes step SB <-> AB <-> AB-PIM; an all-bank write lands in every bank."""
    harness = await _started(dut)
    ctrl = harness.geometry
    row, col, value = 7, 3, 0x1234_5678_9ABC_DEF0 & ((1 << ctrl.data_width) - 1)
    addr = ctrl.join_address(0, row, col)
    reads = [Request(RequestKind.READ, ctrl.join_address(b, row, col)) for b in range(ctrl.banks)]
    sequence = ([Request(RequestKind.MODE, mode=BankMode.ALL_BANK),
                 Request(RequestKind.WRITE, addr, value),
                 Request(RequestKind.MODE, mode=BankMode.SINGLE_BANK)] + reads
                + [Request(RequestKind.MODE, mode=BankMode.ALL_BANK_PIM),
                   Request(RequestKind.MODE, mode=BankMode.SINGLE_BANK)])
    outcome = await harness.run(sequence)
    harness.check_model()
    assert not outcome.rejected
    assert [outcome.read_data[3 + b] for b in range(ctrl.banks)] == [value] * ctrl.banks
    steps = [(old.name, new.name) for _, old, new in harness.model.mode_changes]
    SB, AB, ABP = (m.name for m in BankMode)
    assert steps == [(SB, AB), (AB, SB), (SB, AB), (AB, ABP), (ABP, AB), (AB, SB)], steps
    assert int(dut.mode.value) == harness.model.mode == BankMode.SINGLE_BANK, (
        f"controller's mode port {int(dut.mode.value)}, model {harness.model.mode!r}")


@cocotb.test()
async def illegal_requests_rejected(dut):
    """Requests that do not fit the mode, mode rows, unknown ops and modes are rejected."""
    harness = await _started(dut)
    ctrl = harness.geometry
    mode_row = (1 << ctrl.row_bits) - 1
    ok = ctrl.join_address(1, 2, 3)
    R, K = Request, RequestKind
    sequence = [
        R(K.PIM, ok, op=PimOpcode.MAC, dst=1),             # 0: PIM op in single-bank mode
        R(K.READ, ctrl.join_address(0, mode_row, 0)),      # 1: a mode row
        R(K.WRITE, ctrl.join_address(2, mode_row, 1), 5),  # 2: a mode row
        R(K.MODE, mode=3),                                 # 3: no such mode
        R(K.WRITE, ok, 0x55),                              # 4: legal
        R(K.READ, ok),                                     # 5: legal, returns 0x55
        R(K.MODE, mode=BankMode.ALL_BANK_PIM),             # 6: legal
        R(K.READ, ok),                                     # 7: a read in PIM mode
        R(K.WRITE, ok, 1),                                 # 8: a write in PIM mode
        R(K.PIM, ok, op=7),                                # 9: no such PIM op
        R(K.MODE, mode=BankMode.SINGLE_BANK),              # 10: legal
        R(K.READ, ok),                                     # 11: legal, still 0x55
    ]
    outcome = await harness.run(sequence)
    harness.check_model()
    assert outcome.rejected == {0, 1, 2, 3, 7, 8, 9}, sorted(outcome.rejected)
    assert outcome.read_data == {5: 0x55, 11: 0x55}, outcome.read_data
    counts = harness.model.counts
    assert counts[Cmd.RD] == 2 and counts[Cmd.WR] == 1, counts


@cocotb.test()
async def pim_elementwise_ops(dut):
    """LOAD, ADD, MUL and STORE in every bank, read back in single-bank mode, match numpy."""
    harness = await _started(dut)
    geo = harness.geometry
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    a_row, b_row, out_row = 3, 4, 6
    a = rng.integers(0, 1 << 16, size=(geo.banks, geo.lanes), dtype=np.uint16)
    b = rng.integers(0, 1 << 16, size=(geo.banks, 2, geo.lanes), dtype=np.uint16)
    for bank in range(geo.banks):
        harness.model.write_word(bank, a_row, 0, word_of(a[bank].tolist()))
        for col in range(2):
            harness.model.write_word(bank, b_row, col, word_of(b[bank, col].tolist()))
    at = geo.join_address
    P, K = PimOpcode, RequestKind
    sequence = [
        Request(K.MODE, mode=BankMode.ALL_BANK_PIM),
        Request(K.PIM, at(0, a_row, 0), op=P.LOAD, dst=0),             # r0 = a
        Request(K.PIM, at(0, b_row, 0), op=P.ADD, dst=1, src=0),       # r1 = b0 + a
        Request(K.PIM, at(0, b_row, 1), op=P.MUL, dst=2, src=0),       # r2 = b1 * a
        Request(K.PIM, at(0, out_row, 0), op=P.STORE, src=1),
        Request(K.PIM, at(0, out_row, 1), op=P.STORE, src=2),
        Request(K.MODE, mode=BankMode.SINGLE_BANK),
    ] + [Request(K.READ, at(bank, out_row, col)) for bank in range(geo.banks) for col in range(2)]
    outcome = await harness.run(sequence)
    harness.check_model()
    assert not outcome.rejected
    for bank in range(geo.banks):
        added = lanes_of(outcome.read_data[7 + 2 * bank], geo.lanes)
        multiplied = lanes_of(outcome.read_data[8 + 2 * bank], geo.lanes)
        assert added == (b[bank, 0] + a[bank]).tolist(), (bank, added)
        assert multiplied == (b[bank, 1] * a[bank]).tolist(), (bank, multiplied)


@cocotb.test()
async def row_hits_cannot_starve_a_miss(dut):
    """A conflicting read behind a long stream of row hits is served within the starvation cap.

    The host has ``2**tag_bits`` tags, so it stalls by itself once the unanswered miss holds the
    last free tag (31 hits with 5-bit tags); the cap must act well before that.
    """
    harness = await _started(dut)
    geo = harness.geometry
    hits = [Request(RequestKind.READ, geo.join_address(0, 1, i % (1 << geo.col_bits)))
            for i in range(200)]
    sequence = [Request(RequestKind.WRITE, geo.join_address(0, 1, 0), 7),
                Request(RequestKind.READ, geo.join_address(0, 2, 0))] + hits
    outcome = await harness.run(sequence)
    harness.check_model()
    miss_done = outcome.read_cycles[1]
    served_before = sum(1 for i in range(2, len(sequence)) if outcome.read_cycles[i] < miss_done)
    limit = config_from_env()["controller"]["starvation_limit"]
    dut._log.info("%d row hits served before the miss (starvation limit %d)", served_before, limit)
    assert served_before <= limit // harness.model.timing.tCCD_L + 2, (
        f"{served_before} row hits served before the older miss (starvation limit {limit} cycles)")
    assert outcome.read_data[1] == 0 and all(outcome.read_data[i] in (0, 7) for i in range(2, 202))
