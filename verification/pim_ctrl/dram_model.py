"""A DRAM device with all-bank PIM units, written from the standards, that checks every command.

The model is fed one command per cycle (``NOP`` included) from the controller's command bus, as the
raw port codes. It decodes them with its own reading of the documented port encoding
(:mod:`.encoding`), keeps the array contents and the PIM registers, returns read data ``CL`` cycles
after a RD, and checks each command against the JEDEC rules before executing it, with timing from
its own JEDEC table (:mod:`.jedec`). Nothing is shared with the RTL, so an RTL encoding or timing
value that differs from the documentation or the standard shows up as a broken rule or wrong data.

A broken rule is recorded as a :class:`Violation` naming the cycle, the command, the rule and the
required and actual gap; the command is still executed, so one mistake does not hide the next. Every
rule, including the composite gaps (write-to-read, read-to-write, write recovery), is stated here
from the JEDEC definitions, as "the last X to this bank/group/device was at least N cycles ago".

Device conventions beyond JEDEC, as in the published all-bank PIM designs:

- In the all-bank modes an ACT opens the row in every bank and counts as four activations for tFAW;
  RD/WR/PRE act on every bank.
- A precharge that closes bank 0 while a mode row is open switches the mode one step
  (:func:`.encoding.mode_row`); any other transition is a violation.
- Refresh: the gap from power-up to the first REF and between REFs must not exceed tREFI.
- A code on ``cmd`` that names no command is a violation and is executed as a NOP.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .encoding import (LANE_BITS, READ_OPS, BankMode, Cmd, PimOpcode, bank_group, lanes_of,
                       mode_row, word_of)
from .jedec import CycleTiming

NEVER = -(10 ** 9)


@dataclass(frozen=True)
class Violation:
    """One broken rule."""

    cycle: int
    command: str
    rule: str
    required: int | str
    actual: int | str

    def __str__(self) -> str:
        return (f"cycle {self.cycle}: {self.command} breaks {self.rule}: required "
                f"{self.required}, actual {self.actual}")


@dataclass
class _Bank:
    open_row: int | None = None
    last_act: int = NEVER
    last_pre: int = NEVER
    last_rd: int = NEVER
    last_wr: int = NEVER
    cells: dict = field(default_factory=dict)
    grf: list = field(default_factory=list)


class DramModel:
    """The device: ``banks`` banks of ``2**row_bits`` rows of ``2**col_bits`` words of ``data_width``."""

    def __init__(self, timing: CycleTiming, *, banks: int, bank_groups: int, row_bits: int,
                 col_bits: int, data_width: int, pim_regs: int):
        self.timing, self.bank_groups = timing, bank_groups
        self.row_bits, self.col_bits = row_bits, col_bits
        self.lanes = data_width // LANE_BITS
        self.banks = [_Bank(grf=[0] * pim_regs) for _ in range(banks)]
        self.mode = BankMode.SINGLE_BANK
        self.violations: list[Violation] = []
        self.mode_changes: list[tuple[int, BankMode, BankMode]] = []
        self.counts = {c: 0 for c in Cmd}
        self.refresh_cycles: list[int] = []
        self._pending_reads: deque[tuple[int, int]] = deque()
        self._last_act_group = [NEVER] * bank_groups
        self._last_col_group = [NEVER] * bank_groups
        self._last_wr_group = [NEVER] * bank_groups
        self._last_act = self._last_col = self._last_rd = self._last_wr = NEVER
        self._last_ref = NEVER
        self._refresh_window_start = 0
        self._refresh_late = False
        self._activations: deque[tuple[int, int]] = deque()
        burst = timing.burst_cycles
        #: Composite gaps in JEDEC terms: write data ends WL + BL/2 after the WR command.
        self._wtr_s = timing.CWL + burst + timing.tWTR_S
        self._wtr_l = timing.CWL + burst + timing.tWTR_L
        self._write_recovery = timing.CWL + burst + timing.tWR
        #: Read-to-write: RL + BL/2 + 2 tCK of bus turnaround - WL.
        self._rtw = timing.CL + burst + 2 - timing.CWL

    # ---- the bus ---------------------------------------------------------------------------------
    def step(self, cycle: int, command: int, *, bank: int = 0, row: int = 0, col: int = 0,
             wdata: int = 0, pim_op: int = 0, pim_dst: int = 0, pim_src: int = 0) -> int | None:
        """Take the ``cmd`` code seen at ``cycle``; return read data due at this cycle, if any."""
        self._check_refresh_deadline(cycle)
        try:
            command = Cmd(command)
        except ValueError:
            self._violate(cycle, f"cmd code {command}", "command encoding",
                          ", ".join(f"{c.name} = {c.value}" for c in Cmd), command)
            command = Cmd.NOP
        if command is not Cmd.NOP:
            self.counts[command] += 1
            targets = (list(range(len(self.banks))) if self.mode is not BankMode.SINGLE_BANK
                       else [bank])
            label = self._label(command, bank, row, col, pim_op)
            handler = getattr(self, f"_{command.name.lower()}")
            handler(cycle, label, targets, row=row, col=col, wdata=wdata,
                    op=pim_op, dst=pim_dst, src=pim_src)
        if self._pending_reads and self._pending_reads[0][0] == cycle:
            return self._pending_reads.popleft()[1]
        return None

    def finish(self, cycle: int) -> None:
        """End of simulation: checks the refresh deadline once more."""
        self._check_refresh_deadline(cycle)

    def read_word(self, bank: int, row: int, col: int) -> int:
        """Array contents, for checking results (0 where never written)."""
        return self.banks[bank].cells.get((row, col), 0)

    def write_word(self, bank: int, row: int, col: int, value: int) -> None:
        """Back-door write, for preloading data."""
        self.banks[bank].cells[(row, col)] = value

    # ---- rules -----------------------------------------------------------------------------------
    def _label(self, command: Cmd, bank, row, col, op) -> str:
        every_bank = self.mode is not BankMode.SINGLE_BANK or command in (Cmd.PREA, Cmd.REF)
        where = "all banks" if every_bank else f"bank {bank}"
        text = f"{command.name} {where}"
        if command is Cmd.ACT:
            text += f" row {row}"
        if command in (Cmd.RD, Cmd.WR):
            text += f" row {row} col {col}"
            if self.mode is BankMode.ALL_BANK_PIM:
                text += f" ({PimOpcode(op).name if op in PimOpcode._value2member_map_ else op})"
        return text

    def _violate(self, cycle, label, rule, required, actual) -> None:
        self.violations.append(Violation(cycle, label, rule, required, actual))

    def _gap(self, cycle, label, rule, since, required) -> None:
        if cycle - since < required:
            self._violate(cycle, label, rule, required, cycle - since)

    def _check_refresh_deadline(self, cycle) -> None:
        since = cycle - self._refresh_window_start
        if not self._refresh_late and since > self.timing.tREFI:
            self._refresh_late = True
            self._violate(cycle, "(no REF)", "tREFI", self.timing.tREFI, since)

    def _groups(self, targets) -> set[int]:
        return {bank_group(b, self.bank_groups) for b in targets}

    # ---- commands --------------------------------------------------------------------------------
    def _act(self, cycle, label, targets, *, row, **_):
        t = self.timing
        for b in targets:
            bank = self.banks[b]
            if bank.open_row is not None:
                self._violate(cycle, label, f"bank {b} already open", "closed",
                              f"row {bank.open_row} open")
            self._gap(cycle, label, f"tRC (bank {b})", bank.last_act, t.tRC)
            self._gap(cycle, label, f"tRP (bank {b})", bank.last_pre, t.tRP)
        self._gap(cycle, label, "tRFC", self._last_ref, t.tRFC)
        self._gap(cycle, label, "tRRD_S", self._last_act, t.tRRD_S)
        for g in self._groups(targets):
            self._gap(cycle, label, f"tRRD_L (group {g})", self._last_act_group[g], t.tRRD_L)
        weight = 4 if len(targets) > 1 else 1
        while self._activations and cycle - self._activations[0][0] >= t.tFAW:
            self._activations.popleft()
        in_window = sum(w for _, w in self._activations)
        if in_window + weight > 4:
            self._violate(cycle, label, "tFAW", "at most 4 activations in the window",
                          f"{in_window + weight} activations within {t.tFAW} cycles")
        self._activations.append((cycle, weight))
        for b in targets:
            self.banks[b].open_row, self.banks[b].last_act = row, cycle
        for g in self._groups(targets):
            self._last_act_group[g] = cycle
        self._last_act = cycle

    def _column_checks(self, cycle, label, targets, row):
        t = self.timing
        for b in targets:
            bank = self.banks[b]
            if bank.open_row != row:
                self._violate(cycle, label, f"bank {b} row open", f"row {row}",
                              "closed" if bank.open_row is None else f"row {bank.open_row}")
            self._gap(cycle, label, f"tRCD (bank {b})", bank.last_act, t.tRCD)
        self._gap(cycle, label, "tCCD_S", self._last_col, t.tCCD_S)
        for g in self._groups(targets):
            self._gap(cycle, label, f"tCCD_L (group {g})", self._last_col_group[g], t.tCCD_L)

    def _column_done(self, cycle, targets):
        for g in self._groups(targets):
            self._last_col_group[g] = cycle
        self._last_col = cycle

    def _rd(self, cycle, label, targets, *, row, col, op, dst, src, **_):
        t = self.timing
        self._column_checks(cycle, label, targets, row)
        self._gap(cycle, label, "tWTR_S (WL + BL/2 + tWTR_S)", self._last_wr, self._wtr_s)
        for g in self._groups(targets):
            self._gap(cycle, label, f"tWTR_L (WL + BL/2 + tWTR_L, group {g})",
                      self._last_wr_group[g], self._wtr_l)
        for b in targets:
            self.banks[b].last_rd = cycle
        self._column_done(cycle, targets)
        self._last_rd = cycle
        if self.mode is BankMode.SINGLE_BANK:
            bank = self.banks[targets[0]]
            self._pending_reads.append((cycle + t.CL, bank.cells.get((row, col), 0)))
        elif self.mode is BankMode.ALL_BANK:
            self._violate(cycle, label, "mode", "no RD in all-bank mode", "RD")
        elif op not in READ_OPS:
            self._violate(cycle, label, "PIM op on RD", "MAC, ADD, MUL or LOAD", op)
        else:
            for b in targets:
                self._pim_read_op(self.banks[b], PimOpcode(op), row, col, dst, src)

    def _wr(self, cycle, label, targets, *, row, col, wdata, op, dst, src, **_):
        t = self.timing
        self._column_checks(cycle, label, targets, row)
        self._gap(cycle, label, "read-to-write (RL + BL/2 + 2 - WL)", self._last_rd,
                  self._rtw)
        for b in targets:
            self.banks[b].last_wr = cycle
        for g in self._groups(targets):
            self._last_wr_group[g] = cycle
        self._column_done(cycle, targets)
        self._last_wr = cycle
        if self.mode is not BankMode.ALL_BANK_PIM:
            for b in targets:
                self.banks[b].cells[(row, col)] = wdata
        elif op == PimOpcode.STORE:
            for b in targets:
                self.banks[b].cells[(row, col)] = self.banks[b].grf[src]
        elif op == PimOpcode.BCAST:
            for b in targets:
                self.banks[b].grf[dst] = wdata
        else:
            self._violate(cycle, label, "PIM op on WR", "STORE or BCAST", op)

    def _precharge(self, cycle, label, targets):
        t = self.timing
        closing_mode_row = None
        for b in targets:
            bank = self.banks[b]
            if bank.open_row is not None:
                self._gap(cycle, label, f"tRAS (bank {b})", bank.last_act, t.tRAS)
            self._gap(cycle, label, f"tRTP (bank {b})", bank.last_rd, t.tRTP)
            self._gap(cycle, label, f"tWR (WL + BL/2 + tWR, bank {b})", bank.last_wr,
                      self._write_recovery)
            if b == 0 and bank.open_row is not None:
                closing_mode_row = bank.open_row
            bank.open_row, bank.last_pre = None, cycle
        for target in BankMode:
            if closing_mode_row == mode_row(target, self.row_bits):
                if abs(target.value - self.mode.value) != 1:
                    self._violate(cycle, label, "mode transition", "one step",
                                  f"{self.mode.name} -> {target.name}")
                self.mode_changes.append((cycle, self.mode, target))
                self.mode = target

    def _pre(self, cycle, label, targets, **_):
        self._precharge(cycle, label, targets)

    def _prea(self, cycle, label, targets, **_):
        self._precharge(cycle, label, list(range(len(self.banks))))

    def _ref(self, cycle, label, targets, **_):
        t = self.timing
        for b, bank in enumerate(self.banks):
            if bank.open_row is not None:
                self._violate(cycle, label, f"bank {b} precharged", "closed",
                              f"row {bank.open_row} open")
            self._gap(cycle, label, f"tRP (bank {b})", bank.last_pre, t.tRP)
        self._gap(cycle, label, "tRFC", self._last_ref, t.tRFC)
        self.refresh_cycles.append(cycle)
        self._last_ref = self._refresh_window_start = cycle
        self._refresh_late = False

    # ---- PIM units -------------------------------------------------------------------------------
    def _pim_read_op(self, bank: _Bank, op: PimOpcode, row, col, dst, src):
        cell = lanes_of(bank.cells.get((row, col), 0), self.lanes)
        reg = lanes_of(bank.grf[src], self.lanes)
        acc = lanes_of(bank.grf[dst], self.lanes)
        if op is PimOpcode.MAC:
            result = [a + c * r for a, c, r in zip(acc, cell, reg)]
        elif op is PimOpcode.ADD:
            result = [c + r for c, r in zip(cell, reg)]
        elif op is PimOpcode.MUL:
            result = [c * r for c, r in zip(cell, reg)]
        else:
            result = cell
        bank.grf[dst] = word_of(result)
