"""A DRAM controller with an all-bank processing-in-memory extension that keeps every timing rule.

Structure, per clock cycle at most one command is issued, chosen in this order:

1. **Refresh.** A free-running timer makes a refresh due every ``tREFI - drain`` cycles, where drain
   (:attr:`DramTiming.refresh_drain_cycles`) bounds the wait for open banks to close. While a refresh
   is due nothing else is issued: PREA once every bank may be precharged, then REF. The REF-to-REF
   interval therefore never exceeds tREFI.
2. **All-bank engine.** Mode changes, all-bank writes and PIM instructions are executed one at a time
   from a single slot, after the request queue has drained: precharge all, ACT the row in every bank
   (or a reserved mode row), then the column command carrying the PIM instruction.
3. **Request queue** (single-bank mode), FR-FCFS over an open-page policy: the oldest request whose
   column command is ready (a row hit) first; otherwise the oldest request whose PRE or ACT is ready.
   A row is not closed while a queued request still hits it, and a request never passes an older one
   to the same address, so every read returns the last write. A request that has been the oldest for
   ``starvation_limit`` cycles is served next, so a stream of row hits cannot starve a miss.

Timing rules are enforced with saturating down-counters ("cycles until allowed") per bank, per bank
group and for the whole device, loaded on every command with the gap the rule demands.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from .geometry import ADDRESS_MAPS, Geometry
from .isa import PIM_LANE_BITS, RESERVED_ROWS, Command, Mode, PimOp, RequestKind, mode_row
from .timing import DramTiming, timing_preset


def _check_int(name: str, value, valid: tuple[int, ...] | range) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in valid:
        shown = (f"{valid.start}..{valid.stop - 1}" if isinstance(valid, range)
                 else ", ".join(map(str, valid)))
        raise ValueError(f"PimController {name} = {value!r} is not valid; expected one of {shown}")


class _Countdown:
    """A saturating 'cycles until allowed' counter; :meth:`load` requests a gap, :meth:`update` ticks."""

    def __init__(self, name: str, gaps: list[int]):
        self.signal = Signal(range(max(gaps + [1])), name=name)
        self.loads: list[tuple] = []

    def load(self, condition, gap: int) -> None:
        if gap > 1:
            self.loads.append((condition, gap))

    @property
    def ready(self):
        return self.signal == 0

    def update(self, m: Module) -> None:
        value = Mux(self.signal == 0, 0, self.signal - 1)
        for condition, gap in self.loads:
            value = Mux(condition & (value < gap - 1), gap - 1, value)
        m.d.sync += self.signal.eq(value)


class PimController(wiring.Component):
    """DRAM controller with FR-FCFS scheduling, refresh and an all-bank PIM engine.

    Host port: a request is taken when ``req_valid & req_ready``; ``req_ready`` depends only on
    internal state (a finishing all-bank request frees the slot for the next one in the same
    cycle). ``req_kind`` selects READ / WRITE (``req_addr``, ``req_wdata``), PIM (``req_pim_op``,
    ``req_pim_dst``, ``req_pim_src``, ``req_addr`` for row and column, ``req_wdata`` for BCAST) or
    MODE (``req_mode``). Read data comes back on ``rsp_*`` with the request's tag,
    possibly out of order. An illegal request (wrong kind for the mode, a reserved mode row, an
    unknown op or mode) is dropped and its tag reported on ``rej_*`` the next cycle.

    DRAM port: ``cmd`` with bank, row, column, write data and the PIM instruction lanes; the device
    returns read data on ``rd_valid``/``rd_data`` in command order.

    Parameters are keyword-only: ``timing`` (a preset name or :class:`DramTiming`), ``banks``,
    ``bank_groups``, ``row_bits``, ``col_bits``, ``data_width`` (a multiple of 16, the PIM lanes),
    ``queue_depth``, ``tag_bits``, ``pim_regs``, ``address_map`` (field order of ``req_addr``
    from the top: ``row_bank_col`` keeps a sequential stream in one row, ``row_col_bank`` spreads it
    over the banks) and ``starvation_limit`` (cycles the oldest request may wait before it is
    served strictly first).
    """

    def __init__(self, *, timing: str | DramTiming = "hbm2", banks: int = 4, bank_groups: int = 2,
                 row_bits: int = 8, col_bits: int = 4, data_width: int = 16, queue_depth: int = 4,
                 tag_bits: int = 4, pim_regs: int = 4, address_map: str = "row_bank_col",
                 starvation_limit: int = 64):
        if not isinstance(timing, DramTiming):
            timing = timing_preset(timing)
        _check_int("banks", banks, (2, 4, 8, 16))
        _check_int("bank_groups", bank_groups, tuple(g for g in (1, 2, 4) if g <= banks))
        _check_int("row_bits", row_bits, range(3, 17))
        _check_int("col_bits", col_bits, range(1, 11))
        _check_int("data_width", data_width, tuple(range(PIM_LANE_BITS, 257, PIM_LANE_BITS)))
        _check_int("queue_depth", queue_depth, range(2, 17))
        _check_int("tag_bits", tag_bits, range(1, 9))
        _check_int("pim_regs", pim_regs, (2, 4, 8))
        _check_int("starvation_limit", starvation_limit, range(4, 4097))
        if address_map not in ADDRESS_MAPS:
            raise ValueError(f"PimController address_map = {address_map!r} is not valid; expected "
                             f"one of {', '.join(ADDRESS_MAPS)}")
        self.timing, self.banks, self.bank_groups = timing, banks, bank_groups
        self.row_bits, self.col_bits, self.data_width = row_bits, col_bits, data_width
        self.queue_depth, self.tag_bits, self.pim_regs = queue_depth, tag_bits, pim_regs
        self.starvation_limit = starvation_limit
        self.address_map = address_map
        self.geometry = Geometry(banks=banks, bank_groups=bank_groups, row_bits=row_bits,
                                 col_bits=col_bits, data_width=data_width, pim_regs=pim_regs,
                                 address_map=address_map)
        self.bank_bits, self.addr_bits = self.geometry.bank_bits, self.geometry.addr_bits
        self.reg_bits = (pim_regs - 1).bit_length()
        #: Reads in flight at most: one per tCCD_S over the read latency, plus one.
        self.read_fifo_depth = -(-timing.CL // timing.tCCD_S) + 2
        super().__init__({
            "req_valid": In(1), "req_ready": Out(1), "req_kind": In(RequestKind),
            "req_addr": In(self.addr_bits), "req_wdata": In(data_width), "req_tag": In(tag_bits),
            "req_pim_op": In(PimOp), "req_pim_dst": In(self.reg_bits),
            "req_pim_src": In(self.reg_bits), "req_mode": In(Mode),
            "rsp_valid": Out(1), "rsp_tag": Out(tag_bits), "rsp_data": Out(data_width),
            "rej_valid": Out(1), "rej_tag": Out(tag_bits),
            "busy": Out(1), "mode": Out(Mode),
            "cmd": Out(Command), "cmd_bank": Out(self.bank_bits), "cmd_row": Out(row_bits),
            "cmd_col": Out(col_bits), "cmd_wdata": Out(data_width), "cmd_pim_op": Out(PimOp),
            "cmd_pim_dst": Out(self.reg_bits), "cmd_pim_src": Out(self.reg_bits),
            "rd_valid": In(1), "rd_data": In(data_width),
        })

    @property
    def refresh_period(self) -> int:
        """Cycles between refreshes becoming due: tREFI less the worst-case drain."""
        return self.timing.tREFI - self.timing.refresh_drain_cycles

    def _decode(self, addr):
        cb, bb = self.col_bits, self.bank_bits
        if self.address_map == "row_bank_col":
            return addr[cb:cb + bb], addr[cb + bb:], addr[:cb]
        return addr[:bb], addr[cb + bb:], addr[bb:bb + cb]

    def elaborate(self, platform):
        m = Module()
        t = self.timing
        banks, groups = range(self.banks), range(self.bank_groups)
        group_bits = (self.bank_groups - 1).bit_length()

        def group_of(bank):
            return bank[:group_bits] if group_bits else Const(0, 1)

        # ---- state ------------------------------------------------------------------------------
        mode = Signal(Mode)
        bank_open = [Signal(name=f"bank{b}_open") for b in banks]
        bank_row = [Signal(self.row_bits, name=f"bank{b}_row") for b in banks]
        act_wait = [_Countdown(f"bank{b}_act_wait", [t.tRC, t.tRP, t.tRFC]) for b in banks]
        col_wait = [_Countdown(f"bank{b}_col_wait", [t.tRCD]) for b in banks]
        pre_wait = [_Countdown(f"bank{b}_pre_wait", [t.tRAS, t.tRTP, t.write_to_precharge])
                    for b in banks]
        grp_act = [_Countdown(f"group{g}_act_wait", [t.tRRD_L]) for g in groups]
        grp_rd = [_Countdown(f"group{g}_rd_wait", [t.tCCD_L, t.write_to_read_l]) for g in groups]
        grp_wr = [_Countdown(f"group{g}_wr_wait", [t.tCCD_L]) for g in groups]
        any_act = _Countdown("act_wait", [t.tRRD_S])
        any_rd = _Countdown("rd_wait", [t.tCCD_S, t.write_to_read_s])
        any_wr = _Countdown("wr_wait", [t.tCCD_S, t.read_to_write])
        faw = [_Countdown(f"faw{k}", [t.tFAW]) for k in range(4)]   # faw[0]: newest activation
        counters = act_wait + col_wait + pre_wait + grp_act + grp_rd + grp_wr + [any_act, any_rd,
                                                                                   any_wr]

        m.submodules.read_tags = read_tags = fifo.SyncFIFO(width=self.tag_bits,
                                                            depth=self.read_fifo_depth)

        # ---- what may be issued this cycle -------------------------------------------------------
        a_open, a_row = Array(bank_open), Array(bank_row)
        a_act, a_col, a_pre = (Array(c.signal for c in cs) for cs in (act_wait, col_wait, pre_wait))
        a_grp_act = Array(c.signal for c in grp_act)
        grp_rd_ok = Array(c.ready & any_rd.ready for c in grp_rd)
        grp_wr_ok = Array(c.ready & any_wr.ready for c in grp_wr)
        any_open = Cat(bank_open).any()
        all_pre_ok = Cat(c.ready for c in pre_wait).all()
        all_act_ok = (Cat(c.ready for c in act_wait + grp_act).all() & any_act.ready
                      & faw[0].ready)
        all_rd_ok = Cat(c.ready for c in col_wait).all() & Cat(grp_rd_ok).all()
        all_wr_ok = Cat(c.ready for c in col_wait).all() & Cat(grp_wr_ok).all()

        def single_act_ok(bank):
            return ((a_act[bank] == 0) & (a_grp_act[group_of(bank)] == 0) & any_act.ready
                    & faw[3].ready)

        # ---- the issued command (combinational), applied to state below ---------------------------
        issue = Signal(Command)
        issue_all = Signal()          # ACT/RD/WR applies to every bank (all-bank modes)
        issue_bank = Signal(self.bank_bits)
        issue_row = Signal(self.row_bits)
        issue_col = Signal(self.col_bits)
        issue_wdata = Signal(self.data_width)
        issue_op = Signal(PimOp)
        issue_dst = Signal(self.reg_bits)
        issue_src = Signal(self.reg_bits)
        issue_tag = Signal(self.tag_bits)
        remove = Signal()
        remove_index = Signal(range(self.queue_depth))
        retire_slot = Signal()
        finish_refresh = Signal()

        # ---- refresh timer -----------------------------------------------------------------------
        refresh_timer = Signal(range(self.refresh_period + 1), init=self.refresh_period)
        refresh_due = Signal()
        with m.If(refresh_timer == 1):
            m.d.sync += [refresh_timer.eq(self.refresh_period), refresh_due.eq(1)]
        with m.Else():
            m.d.sync += refresh_timer.eq(refresh_timer - 1)
        with m.If(finish_refresh):
            m.d.sync += refresh_due.eq(0)

        # ---- request queue (entry 0 is the oldest) -----------------------------------------------
        depth = self.queue_depth
        q_valid = [Signal(name=f"q{i}_valid") for i in range(depth)]
        q_write = [Signal(name=f"q{i}_write") for i in range(depth)]
        q_bank = [Signal(self.bank_bits, name=f"q{i}_bank") for i in range(depth)]
        q_row = [Signal(self.row_bits, name=f"q{i}_row") for i in range(depth)]
        q_col = [Signal(self.col_bits, name=f"q{i}_col") for i in range(depth)]
        q_data = [Signal(self.data_width, name=f"q{i}_data") for i in range(depth)]
        q_tag = [Signal(self.tag_bits, name=f"q{i}_tag") for i in range(depth)]
        q_count = Signal(range(depth + 1))

        hit = [q_valid[i] & a_open[q_bank[i]] & (a_row[q_bank[i]] == q_row[i]) for i in range(depth)]
        row_in_use = [Cat(hit[i] & (q_bank[i] == b) for i in range(depth)).any() for b in banks]
        a_row_in_use = Array(row_in_use)
        # Starvation cap: once the oldest request has waited `starvation_limit` cycles, only it may be
        # served, and it may close a row that younger requests still hit.
        head_age = Signal(range(self.starvation_limit + 1))
        head_starved = head_age == self.starvation_limit
        with m.If(~q_valid[0] | (remove & (remove_index == 0))):
            m.d.sync += head_age.eq(0)
        with m.Elif(~head_starved):
            m.d.sync += head_age.eq(head_age + 1)
        col_ready, row_cmd_ready = [], []
        for i in range(depth):
            eligible = Const(1) if i == 0 else ~head_starved
            older_same = Cat(q_valid[j] & (q_bank[j] == q_bank[i]) & (q_row[j] == q_row[i])
                             & (q_col[j] == q_col[i]) for j in range(i)).any() if i else Const(0)
            group = group_of(q_bank[i])
            col_ok = Mux(q_write[i], grp_wr_ok[group], grp_rd_ok[group] & read_tags.w_rdy)
            col_ready.append(eligible & hit[i] & ~older_same & (a_col[q_bank[i]] == 0) & col_ok)
            row_free = ~a_row_in_use[q_bank[i]] | (head_starved if i == 0 else Const(0))
            pre_ok = (q_valid[i] & a_open[q_bank[i]] & (a_row[q_bank[i]] != q_row[i]) & row_free
                      & (a_pre[q_bank[i]] == 0))
            act_ok = q_valid[i] & ~a_open[q_bank[i]] & single_act_ok(q_bank[i])
            row_cmd_ready.append(eligible & (pre_ok | act_ok))

        # ---- all-bank engine slot ----------------------------------------------------------------
        slot_valid = Signal()
        slot_kind = Signal(RequestKind)
        slot_row = Signal(self.row_bits)
        slot_col = Signal(self.col_bits)
        slot_data = Signal(self.data_width)
        slot_op = Signal(PimOp)
        slot_dst = Signal(self.reg_bits)
        slot_src = Signal(self.reg_bits)
        slot_mode = Signal(Mode)

        mode_v = mode.as_value()
        step_up = slot_mode.as_value() > mode_v
        next_mode = Mux(step_up, mode_v + 1, mode_v - 1)
        next_mode_row = Signal(self.row_bits)
        with m.Switch(next_mode):
            for md in Mode:
                with m.Case(md.value):
                    m.d.comb += next_mode_row.eq(mode_row(md, self.row_bits))
        slot_is_write = (slot_kind == RequestKind.WRITE) | (slot_op == PimOp.STORE) | (
            slot_op == PimOp.BCAST)

        # ---- choose the command ------------------------------------------------------------------
        with m.If(refresh_due):
            with m.If(any_open):
                with m.If(all_pre_ok):
                    m.d.comb += issue.eq(Command.PREA)
            with m.Elif(Cat(c.ready for c in act_wait).all()):
                m.d.comb += [issue.eq(Command.REF), finish_refresh.eq(1)]
        with m.Elif(slot_valid & (q_count == 0)):
            m.d.comb += [issue_all.eq(mode != Mode.SINGLE_BANK), issue_row.eq(slot_row),
                         issue_col.eq(slot_col), issue_wdata.eq(slot_data), issue_op.eq(slot_op),
                         issue_dst.eq(slot_dst), issue_src.eq(slot_src)]
            with m.If(slot_kind == RequestKind.MODE):
                with m.If(mode == slot_mode):
                    m.d.comb += retire_slot.eq(1)
                with m.Elif(any_open):
                    with m.If(all_pre_ok):
                        m.d.comb += issue.eq(Command.PREA)
                with m.Elif(Mux(mode == Mode.SINGLE_BANK, single_act_ok(Const(0, self.bank_bits)),
                                all_act_ok)):
                    m.d.comb += [issue.eq(Command.ACT), issue_row.eq(next_mode_row)]
            with m.Elif(bank_open[0] & (bank_row[0] == slot_row)):
                with m.If(slot_is_write & all_wr_ok):
                    m.d.comb += [issue.eq(Command.WR), retire_slot.eq(1)]
                with m.Elif(~slot_is_write & all_rd_ok):
                    m.d.comb += [issue.eq(Command.RD), retire_slot.eq(1)]
            with m.Elif(any_open):
                with m.If(all_pre_ok):
                    m.d.comb += issue.eq(Command.PREA)
            with m.Elif(all_act_ok):
                m.d.comb += issue.eq(Command.ACT)
        with m.Else():
            # FR-FCFS: the last assignment wins, so walk from the youngest to the oldest entry.
            with m.If(Cat(col_ready).any()):
                for i in reversed(range(depth)):
                    with m.If(col_ready[i]):
                        m.d.comb += [issue.eq(Mux(q_write[i], Command.WR, Command.RD)),
                                     issue_bank.eq(q_bank[i]), issue_row.eq(q_row[i]),
                                     issue_col.eq(q_col[i]), issue_wdata.eq(q_data[i]),
                                     issue_tag.eq(q_tag[i]), remove.eq(1), remove_index.eq(i)]
            with m.Else():
                for i in reversed(range(depth)):
                    with m.If(row_cmd_ready[i]):
                        m.d.comb += [issue.eq(Mux(a_open[q_bank[i]], Command.PRE, Command.ACT)),
                                     issue_bank.eq(q_bank[i]), issue_row.eq(q_row[i])]

        # ---- apply the command to bank state and timing counters -------------------------------
        is_act, is_rd, is_wr = issue == Command.ACT, issue == Command.RD, issue == Command.WR
        is_ref = issue == Command.REF
        for b in banks:
            here = issue_all | (issue_bank == b)
            act, rd, wr = is_act & here, is_rd & here, is_wr & here
            pre = (issue == Command.PREA) | ((issue == Command.PRE) & here)
            with m.If(act):
                m.d.sync += [bank_open[b].eq(1), bank_row[b].eq(issue_row)]
            with m.If(pre):
                m.d.sync += bank_open[b].eq(0)
            act_wait[b].load(act, t.tRC)
            act_wait[b].load(pre, t.tRP)
            act_wait[b].load(is_ref, t.tRFC)
            col_wait[b].load(act, t.tRCD)
            pre_wait[b].load(act, t.tRAS)
            pre_wait[b].load(rd, t.tRTP)
            pre_wait[b].load(wr, t.write_to_precharge)
        for g in groups:
            here = issue_all | (group_of(issue_bank) == g)
            grp_act[g].load(is_act & here, t.tRRD_L)
            grp_rd[g].load((is_rd | is_wr) & here, t.tCCD_L)
            grp_rd[g].load(is_wr & here, t.write_to_read_l)
            grp_wr[g].load((is_rd | is_wr) & here, t.tCCD_L)
        any_act.load(is_act, t.tRRD_S)
        any_rd.load(is_rd | is_wr, t.tCCD_S)
        any_rd.load(is_wr, t.write_to_read_s)
        any_wr.load(is_rd | is_wr, t.tCCD_S)
        any_wr.load(is_rd, t.read_to_write)
        for counter in counters:
            counter.update(m)
        for k, counter in enumerate(faw):
            older = faw[k - 1].signal if k else None
            with m.If(is_act & issue_all):
                m.d.sync += counter.signal.eq(t.tFAW - 1)
            with m.Elif(is_act):
                m.d.sync += counter.signal.eq(t.tFAW - 1 if k == 0 else
                                              Mux(older == 0, 0, older - 1))
            with m.Else():
                m.d.sync += counter.signal.eq(Mux(counter.ready, 0, counter.signal - 1))

        # A precharge of bank 0 while a mode row is open there completes a mode change.
        closes_bank0 = (issue == Command.PREA) | ((issue == Command.PRE)
                                                   & (issue_all | (issue_bank == 0)))
        with m.If(closes_bank0 & bank_open[0]):
            for md in Mode:
                with m.If(bank_row[0] == mode_row(md, self.row_bits)):
                    m.d.sync += mode.eq(md)

        m.d.sync += [self.cmd.eq(issue), self.cmd_bank.eq(issue_bank), self.cmd_row.eq(issue_row),
                     self.cmd_col.eq(issue_col), self.cmd_wdata.eq(issue_wdata),
                     self.cmd_pim_op.eq(issue_op), self.cmd_pim_dst.eq(issue_dst),
                     self.cmd_pim_src.eq(issue_src)]

        # ---- read data return --------------------------------------------------------------------
        m.d.comb += [read_tags.w_en.eq(is_rd & ~issue_all), read_tags.w_data.eq(issue_tag),
                     read_tags.r_en.eq(self.rd_valid)]
        m.d.sync += [self.rsp_valid.eq(self.rd_valid & read_tags.r_rdy),
                     self.rsp_tag.eq(read_tags.r_data), self.rsp_data.eq(self.rd_data)]

        # ---- host requests -----------------------------------------------------------------------
        req_bank, req_row, req_col = self._decode(self.req_addr)
        accept = Signal()
        m.d.comb += [self.req_ready.eq((~slot_valid | retire_slot) & (q_count < depth)),
                     accept.eq(self.req_valid & self.req_ready)]
        user_row = req_row < (1 << self.row_bits) - RESERVED_ROWS
        kind = self.req_kind
        legal = Signal()
        with m.Switch(kind):
            with m.Case(RequestKind.READ):
                m.d.comb += legal.eq(user_row & (mode == Mode.SINGLE_BANK))
            with m.Case(RequestKind.WRITE):
                m.d.comb += legal.eq(user_row & (mode != Mode.ALL_BANK_PIM))
            with m.Case(RequestKind.PIM):
                m.d.comb += legal.eq(user_row & (mode == Mode.ALL_BANK_PIM)
                                     & (self.req_pim_op.as_value() <= max(op.value for op in PimOp)))
            with m.Case(RequestKind.MODE):
                m.d.comb += legal.eq(self.req_mode.as_value() < len(Mode))
        to_queue = accept & legal & (mode == Mode.SINGLE_BANK) & (
            (kind == RequestKind.READ) | (kind == RequestKind.WRITE))
        to_slot = accept & legal & ~to_queue
        m.d.sync += [self.rej_valid.eq(accept & ~legal), self.rej_tag.eq(self.req_tag)]

        with m.If(to_slot):
            m.d.sync += [slot_valid.eq(1), slot_kind.eq(kind), slot_row.eq(req_row),
                         slot_col.eq(req_col), slot_data.eq(self.req_wdata),
                         slot_op.eq(Mux(kind == RequestKind.WRITE, PimOp.STORE, self.req_pim_op)),
                         slot_dst.eq(self.req_pim_dst), slot_src.eq(self.req_pim_src),
                         slot_mode.eq(self.req_mode)]
        with m.Elif(retire_slot):
            m.d.sync += slot_valid.eq(0)

        # Queue: drop the issued entry by shifting the younger ones down, append at the tail.
        tail = q_count - remove
        for i in range(depth):
            shift = remove & (i >= remove_index)
            fields = (q_valid, q_write, q_bank, q_row, q_col, q_data, q_tag)
            for f in fields:
                above = f[i + 1] if i + 1 < depth else Const(0, len(f[i]))
                m.d.sync += f[i].eq(Mux(shift, above, f[i]))
            with m.If(to_queue & (tail == i)):
                m.d.sync += [q_valid[i].eq(1), q_write[i].eq(kind == RequestKind.WRITE),
                             q_bank[i].eq(req_bank), q_row[i].eq(req_row), q_col[i].eq(req_col),
                             q_data[i].eq(self.req_wdata), q_tag[i].eq(self.req_tag)]
        m.d.sync += q_count.eq(q_count - remove + to_queue)

        m.d.comb += [self.mode.eq(mode),
                     self.busy.eq((q_count != 0) | slot_valid | read_tags.r_rdy)]
        return m
