"""cocotb harness: the device model on the controller's command bus, and a host that sends requests.

Everything happens on the falling clock edge, half a cycle away from the controller's registers:
the command registered at the last rising edge is handed to the model, read data due from the model
is driven for the next rising edge, responses are collected, and the next request is presented.
``req_ready`` depends only on the controller's state, so the value read at a falling edge is the one
the next rising edge will see.

Both directions use the model's own reading of the documented port encoding (:mod:`.encoding`): the
``cmd`` code goes to the model undecoded, and host requests are driven with the documented codes
(:func:`.encoding.port_code`: enum fields by name, plain integers as they are). A request is any
object with the fields of the RTL's host request record (``kind``, ``addr``, ``wdata``, ``op``,
``dst``, ``src``, ``mode``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from . import build_geometry, build_model
from .encoding import BankMode, Cmd, HostKind, PimOpcode, port_code

CLOCK_NS = 10


@dataclass
class RunOutcome:
    """What came back for one batch of requests, by position in the batch."""

    read_data: dict[int, int] = field(default_factory=dict)
    read_cycles: dict[int, int] = field(default_factory=dict)
    rejected: set[int] = field(default_factory=set)
    cycles: int = 0
    first_cycle: int = 0


class Harness:
    """Drives one controller instance; :attr:`model` is the device it talks to."""

    def __init__(self, dut, config: dict):
        self.dut = dut
        self.geometry = build_geometry(config)
        self.model = build_model(config)
        self.cycle = 0
        self._tags = 1 << config["controller"]["tag_bits"]

    async def reset(self) -> None:
        dut = self.dut
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        for name in ("req_valid", "req_kind", "req_addr", "req_wdata", "req_tag", "req_pim_op",
                     "req_pim_dst", "req_pim_src", "req_mode", "rd_valid", "rd_data"):
            getattr(dut, name).value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        await FallingEdge(dut.clk)
        dut.rst.value = 0

    def _present(self, request, tag: int) -> None:
        dut = self.dut
        dut.req_valid.value = int(request is not None)
        if request is not None:
            dut.req_kind.value = port_code(request.kind, HostKind)
            dut.req_addr.value = request.addr
            dut.req_wdata.value = request.wdata
            dut.req_tag.value = tag
            dut.req_pim_op.value = port_code(request.op, PimOpcode)
            dut.req_pim_dst.value = request.dst
            dut.req_pim_src.value = request.src
            dut.req_mode.value = port_code(request.mode, BankMode)

    def _device_cycle(self) -> None:
        dut = self.dut
        command = int(dut.cmd.value)
        if command == Cmd.NOP:
            data = self.model.step(self.cycle, command)
        else:
            data = self.model.step(
                self.cycle, command, bank=int(dut.cmd_bank.value),
                row=int(dut.cmd_row.value), col=int(dut.cmd_col.value),
                wdata=int(dut.cmd_wdata.value), pim_op=int(dut.cmd_pim_op.value),
                pim_dst=int(dut.cmd_pim_dst.value), pim_src=int(dut.cmd_pim_src.value))
        dut.rd_valid.value = int(data is not None)
        if data is not None:
            dut.rd_data.value = data

    async def run(self, requests: list, *, max_cycles: int = 200_000) -> RunOutcome:
        """Send ``requests`` in order and wait until the controller is idle again."""
        dut = self.dut
        outcome = RunOutcome(first_cycle=self.cycle)
        pending = deque(enumerate(requests))
        by_tag: dict[int, int] = {}          # tag -> index, while a read or a possible reject is out
        reads_out: set[int] = set()
        offered: tuple[int, object, int] | None = None
        offered_ready = False
        next_tag = 0
        recent: deque[tuple[int, int]] = deque()  # (cycle accepted, tag) of non-reads
        while True:
            await FallingEdge(dut.clk)
            self.cycle += 1
            self._device_cycle()
            if offered is not None and offered_ready:
                index, request, tag = offered
                by_tag[tag] = index
                if port_code(request.kind, HostKind) == HostKind.READ:
                    reads_out.add(tag)
                else:
                    recent.append((self.cycle, tag))
                offered = None
            if int(dut.rsp_valid.value):
                tag = int(dut.rsp_tag.value)
                index = by_tag.pop(tag)
                reads_out.discard(tag)
                outcome.read_data[index] = int(dut.rsp_data.value)
                outcome.read_cycles[index] = self.cycle
            if int(dut.rej_valid.value):
                tag = int(dut.rej_tag.value)
                outcome.rejected.add(by_tag.pop(tag))
                reads_out.discard(tag)
            while recent and recent[0][0] < self.cycle:
                by_tag.pop(recent.popleft()[1], None)
            if offered is None and pending and next_tag not in by_tag:
                index, request = pending.popleft()
                offered = (index, request, next_tag)
                next_tag = (next_tag + 1) % self._tags
            self._present(offered[1] if offered else None, offered[2] if offered else 0)
            offered_ready = bool(int(dut.req_ready.value))
            if (offered is None and not pending and not reads_out and not recent
                    and not int(dut.busy.value)):
                break
            if self.cycle - outcome.first_cycle > max_cycles:
                raise AssertionError(f"controller still busy after {max_cycles} cycles "
                                     f"({len(pending)} requests not sent, {len(reads_out)} reads "
                                     f"unanswered){self._violations_text('; the model saw ')}")
        outcome.cycles = self.cycle - outcome.first_cycle
        return outcome

    async def idle(self, cycles: int) -> None:
        """Let the controller run (refreshing) without requests."""
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
            self.cycle += 1
            self._device_cycle()

    def check_model(self) -> None:
        """Fail with the first violations the model recorded, if any."""
        self.model.finish(self.cycle)
        if self.model.violations:
            raise AssertionError(self._violations_text())

    def _violations_text(self, prefix: str = "") -> str:
        """The count and the first ten violations the model recorded, or "" if there are none."""
        violations = self.model.violations
        if not violations:
            return ""
        shown = "\n  ".join(map(str, violations[:10]))
        return f"{prefix}{len(violations)} DRAM rule violation(s):\n  {shown}"
