"""kchip.verification.pim_ctrl.dram_model: the checking device model, driven by hand-made commands.

Each rule is broken once on purpose; the model must name it with the required and the actual gap.
"""

import pytest

from kchip.verification.pim_ctrl import jedec
from kchip.verification.pim_ctrl.dram_model import DramModel
from kchip.verification.pim_ctrl.encoding import (BankMode, Cmd, PimOpcode, lanes_of, mode_row,
                                                  word_of)

T = jedec.timing("hbm2")
ACT, RD, WR, PRE, PREA, REF = Cmd.ACT, Cmd.RD, Cmd.WR, Cmd.PRE, Cmd.PREA, Cmd.REF
#: JEDEC composite gaps: write data ends WL + BL/2 after the WR command.
WRITE_TO_READ_L = T.CWL + T.burst_cycles + T.tWTR_L
WRITE_RECOVERY = T.CWL + T.burst_cycles + T.tWR


def _model():
    return DramModel(T, banks=4, bank_groups=2, row_bits=8, col_bits=4, data_width=64, pim_regs=4)


def _drive(model, commands):
    data = {}
    for cycle, command, fields in commands:
        got = model.step(cycle, command, **fields)
        if got is not None:
            data[cycle] = got
    return data


def _rules(model):
    return [(v.rule.split(" (")[0], v.required, v.actual) for v in model.violations]


def test_a_legal_sequence_keeps_data_and_breaks_nothing():
    model = _model()
    act, wr = 10, 10 + T.tRCD
    rd = wr + WRITE_TO_READ_L
    data = _drive(model, [(act, ACT, dict(bank=1, row=3)),
                          (wr, WR, dict(bank=1, row=3, col=2, wdata=0xABCD)),
                          (rd, RD, dict(bank=1, row=3, col=2))])
    for cycle in range(rd + 1, rd + T.CL + 1):
        got = model.step(cycle, Cmd.NOP)
        if got is not None:
            data[cycle] = got
    assert data == {rd + T.CL: 0xABCD}
    assert model.violations == []


@pytest.mark.parametrize("commands, rule, required, actual", [
    ([(0, ACT, dict(bank=0, row=1)), (T.tRCD - 3, RD, dict(bank=0, row=1, col=0))],
     "tRCD", T.tRCD, T.tRCD - 3),
    ([(0, ACT, dict(bank=0, row=1)), (T.tRAS - 1, PRE, dict(bank=0))], "tRAS", T.tRAS, T.tRAS - 1),
    ([(0, ACT, dict(bank=0, row=1)), (T.tRAS, PRE, dict(bank=0)),
      (T.tRAS + 2, ACT, dict(bank=0, row=2))], "tRP", T.tRP, 2),
    ([(0, ACT, dict(bank=0, row=1)), (1, ACT, dict(bank=1, row=1))], "tRRD_S", T.tRRD_S, 1),
    ([(0, ACT, dict(bank=0, row=1)), (T.tRRD_S, ACT, dict(bank=2, row=1))],
     "tRRD_L", T.tRRD_L, T.tRRD_S),
    ([(i * T.tRRD_L, ACT, dict(bank=i, row=1)) for i in range(4)]
     + [(40, PRE, dict(bank=0)), (4 * T.tRRD_L, ACT, dict(bank=0, row=2))],
     "tFAW", "at most 4 activations in the window", f"5 activations within {T.tFAW} cycles"),
    ([(0, ACT, dict(bank=0, row=1)), (20, WR, dict(bank=0, row=1, col=0)),
      (21 + T.tCCD_S, RD, dict(bank=0, row=1, col=1))],
     "tWTR_L", WRITE_TO_READ_L, 1 + T.tCCD_S),
    ([(0, ACT, dict(bank=0, row=1)), (20, RD, dict(bank=0, row=1, col=0)),
      (21, RD, dict(bank=0, row=1, col=1))], "tCCD_S", T.tCCD_S, 1),
    ([(0, ACT, dict(bank=0, row=1)), (20, WR, dict(bank=0, row=1, col=0)),
      (T.tRAS + 1, PRE, dict(bank=0))], "tWR", WRITE_RECOVERY, T.tRAS + 1 - 20),
    ([(0, ACT, dict(bank=0, row=1)), (T.tRAS, REF, {})], "bank 0 precharged", "closed",
     "row 1 open"),
    ([(0, REF, {}), (T.tRFC - 1, ACT, dict(bank=0, row=1))], "tRFC", T.tRFC, T.tRFC - 1),
    ([(0, RD, dict(bank=2, row=4, col=0))], "bank 2 row open", "row 4", "closed"),
])
def test_each_broken_rule_is_reported_with_its_gap(commands, rule, required, actual):
    model = _model()
    _drive(model, commands)
    assert (rule, required, actual) in _rules(model), model.violations


def test_a_violation_names_cycle_command_rule_and_gaps():
    model = _model()
    _drive(model, [(5, ACT, dict(bank=3, row=9)), (9, RD, dict(bank=3, row=9, col=1))])
    assert str(model.violations[0]) == ("cycle 9: RD bank 3 row 9 col 1 breaks tRCD (bank 3): "
                                        "required 14, actual 4")


def test_a_late_refresh_is_reported_once():
    model = _model()
    for cycle in range(T.tREFI + 5):
        model.step(cycle, Cmd.NOP)
    assert _rules(model) == [("tREFI", T.tREFI, T.tREFI + 1)]


def _enter(model, cycle, mode):
    row = mode_row(mode, model.row_bits)
    _drive(model, [(cycle, ACT, dict(bank=0, row=row)), (cycle + T.tRAS, PRE, dict(bank=0))])
    return cycle + T.tRAS + T.tRC


def test_mode_rows_step_through_the_modes_and_a_jump_is_illegal():
    model = _model()
    cycle = _enter(model, 0, BankMode.ALL_BANK)
    cycle = _enter(model, cycle, BankMode.ALL_BANK_PIM)
    assert model.mode is BankMode.ALL_BANK_PIM and model.violations == []
    _enter(model, cycle, BankMode.SINGLE_BANK)
    assert ("mode transition", "one step", "ALL_BANK_PIM -> SINGLE_BANK") in _rules(model)


def test_all_bank_activation_counts_four_times_for_tfaw():
    model = _model()
    cycle = _enter(model, 0, BankMode.ALL_BANK)
    _drive(model, [(cycle, ACT, dict(row=1)), (cycle + T.tRAS, PRE, {}),
                   (cycle + T.tRC, ACT, dict(row=2))])
    assert model.violations == []
    model = _model()
    cycle = _enter(model, 0, BankMode.ALL_BANK) + 100
    _drive(model, [(cycle, ACT, dict(bank=1, row=1)), (cycle + T.tRRD_L, ACT, dict(row=1))])
    assert any(rule == "tFAW" for rule, _, _ in _rules(model)), model.violations


def test_pim_units_compute_lane_by_lane_with_wraparound():
    """BCAST, MUL, MAC, ADD and LOAD on every bank's registers."""
    model = _model()
    cycle = _enter(model, 0, BankMode.ALL_BANK)
    cycle = _enter(model, cycle, BankMode.ALL_BANK_PIM)
    for bank in range(4):
        model.write_word(bank, 5, 0, word_of([bank + 1, -2, 300, 0x7FFF]))
    x = word_of([3, 4, 300, 2])
    step = WRITE_TO_READ_L
    _drive(model, [
        (cycle, ACT, dict(row=5)),
        (cycle + T.tRCD, WR, dict(row=5, col=0, wdata=x, pim_op=PimOpcode.BCAST, pim_dst=0)),
        (cycle + T.tRCD + step, RD, dict(row=5, col=0, pim_op=PimOpcode.MUL, pim_dst=1,
                                         pim_src=0)),
        (cycle + T.tRCD + step + 2, RD, dict(row=5, col=0, pim_op=PimOpcode.MAC, pim_dst=1,
                                             pim_src=0)),
        (cycle + T.tRCD + step + 4, RD, dict(row=5, col=0, pim_op=PimOpcode.ADD, pim_dst=2,
                                             pim_src=1)),
        (cycle + T.tRCD + step + 6, RD, dict(row=5, col=0, pim_op=PimOpcode.LOAD, pim_dst=3)),
    ])
    assert model.violations == []
    for bank in range(4):
        product = [2 * (bank + 1) * 3, 2 * -2 * 4, 2 * 300 * 300, 2 * 0x7FFF * 2]
        assert lanes_of(model.banks[bank].grf[1], 4) == [v & 0xFFFF for v in product]
        cell = [bank + 1, -2, 300, 0x7FFF]
        assert lanes_of(model.banks[bank].grf[2], 4) == [(c + p) & 0xFFFF
                                                        for c, p in zip(cell, product)]
        assert lanes_of(model.banks[bank].grf[3], 4) == [c & 0xFFFF for c in cell]


def test_a_pim_op_on_the_wrong_command_is_reported():
    model = _model()
    cycle = _enter(model, 0, BankMode.ALL_BANK)
    cycle = _enter(model, cycle, BankMode.ALL_BANK_PIM)
    _drive(model, [(cycle, ACT, dict(row=5)),
                   (cycle + T.tRCD, RD, dict(row=5, col=0, pim_op=PimOpcode.STORE))])
    assert ("PIM op on RD", "MAC, ADD, MUL or LOAD", PimOpcode.STORE) in _rules(model)


def test_a_code_that_names_no_command_is_reported_and_ignored():
    model = _model()
    _drive(model, [(0, 7, dict(bank=1, row=3))])
    assert _rules(model) == [("command encoding", "NOP = 0, ACT = 1, RD = 2, WR = 3, PRE = 4, "
                              "PREA = 5, REF = 6", 7)]
    assert all(bank.open_row is None for bank in model.banks)
