"""Timing constraints (SDC) for a single-clock design.

:class:`Constraints` holds the few numbers a block-level flow needs: the clock and its period, the
external input/output delays, the cell assumed to drive the inputs and the load on the outputs.
:func:`pdk_constraints` derives the driver and load from the PDK's liberty; :func:`write_sdc` writes
the file OpenSTA reads.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kchip.formats.liberty import read_cells

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
DEFAULT_IO_FRACTION = 0.2
DEFAULT_LOAD_FANOUT = 4


class ConstraintError(ValueError):
    """Constraints that cannot be written; the message shows the bad value and what is valid."""


_PIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*/[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class GeneratedClock:
    """A clock a register makes: the register's clock pin (``instance/pin``), whose clock is the
    master, and its output pin where the generated clock starts, divided by 1."""

    source_pin: str
    output_pin: str

    def __post_init__(self):
        for name in ("source_pin", "output_pin"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _PIN.match(value):
                raise ConstraintError(f"generated clock {name} = {value!r} is not an 'instance/pin' name "
                                      "of plain identifiers")


@dataclass(frozen=True)
class Constraints:
    """A single-clock constraint set; times in ns, capacitance in pF.

    ``clock_port`` None makes a virtual clock (a purely combinational design still gets its
    input-to-output paths timed). ``propagated_clock`` asks the timer to compute the clock network
    delay through the clock tree instead of assuming an ideal clock.
    """

    clock_port: str | None
    period_ns: float
    input_delay_ns: float
    output_delay_ns: float
    driving_cell: str
    driving_pin: str
    output_load_pf: float
    clock_name: str = "core_clock"
    clock_uncertainty_ns: float = 0.0
    clock_transition_ns: float = 0.15
    propagated_clock: bool = False
    generated_clocks: tuple[GeneratedClock, ...] = ()

    def __post_init__(self):
        identifiers = ["clock_name", "driving_cell", "driving_pin"]
        if self.clock_port is not None:
            identifiers.append("clock_port")
        for name in identifiers:
            value = getattr(self, name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ConstraintError(f"constraint {name} = {value!r} is not a plain identifier "
                                      "(letters, digits, '_' and '$', not starting with a digit)")
        if not _finite(self.period_ns) or self.period_ns <= 0:
            raise ConstraintError(f"constraint period_ns = {self.period_ns!r} must be a positive number")
        for name in ("input_delay_ns", "output_delay_ns"):
            value = getattr(self, name)
            if not _finite(value) or not 0 <= value < self.period_ns:
                raise ConstraintError(f"constraint {name} = {value!r} must be from 0 up to the period "
                                      f"({self.period_ns} ns)")
        for name in ("output_load_pf", "clock_uncertainty_ns", "clock_transition_ns"):
            value = getattr(self, name)
            if not _finite(value) or value < 0:
                raise ConstraintError(f"constraint {name} = {value!r} must be a number >= 0")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pdk_constraints(pdk, clock_port: str | None, period_ns: float, *, corner: str | None = None,
                    io_fraction: float = DEFAULT_IO_FRACTION, load_fanout: int = DEFAULT_LOAD_FANOUT,
                    propagated_clock: bool = False, generated_clocks: tuple[GeneratedClock, ...] = ()) -> Constraints:
    """Constraints with inputs driven by the PDK's buffer cell and outputs loaded by ``load_fanout``
    of its inputs; input and output delays are ``io_fraction`` of the period each. ``corner`` is a
    liberty corner of the PDK (default: its signoff corner)."""
    if not _finite(io_fraction) or not 0 <= io_fraction < 0.5:
        raise ConstraintError(f"io_fraction = {io_fraction!r} must be from 0 to below 0.5")
    if not isinstance(load_fanout, int) or load_fanout < 0:
        raise ConstraintError(f"load_fanout = {load_fanout!r} must be an integer >= 0")
    liberty = pdk.liberty(corner)
    buffer_name = pdk.stdcell["buffer_cell"]
    buffer = read_cells(liberty).get(buffer_name)
    if buffer is None:
        raise ConstraintError(f"PDK {pdk.name}: buffer_cell {buffer_name!r} is not in {liberty}")
    inputs, outputs = buffer.pins_by_direction("input"), buffer.pins_by_direction("output")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConstraintError(f"PDK {pdk.name}: buffer_cell {buffer_name!r} must have one input and "
                              f"one output pin, its pins are {sorted(buffer.pins)}")
    return Constraints(
        clock_port=clock_port, period_ns=period_ns, input_delay_ns=round(io_fraction * period_ns, 6),
        output_delay_ns=round(io_fraction * period_ns, 6), driving_cell=buffer_name,
        driving_pin=outputs[0], output_load_pf=round(load_fanout * buffer.pins[inputs[0]].capacitance, 6),
        propagated_clock=propagated_clock, generated_clocks=tuple(generated_clocks))


def sdc_text(c: Constraints) -> str:
    """The SDC commands for ``c`` (OpenSTA dialect: ``delete_from_list`` removes the clock port)."""
    if c.clock_port is not None:
        port = f"[get_ports {{{c.clock_port}}}]"
        clock = [f"create_clock -name {c.clock_name} -period {c.period_ns:g} {port}",
                 f"set data_inputs [delete_from_list [all_inputs] {port}]"]
    else:
        clock = [f"create_clock -name {c.clock_name} -period {c.period_ns:g}",
                 "set data_inputs [all_inputs]"]
    lines = [
        f"# kchip constraints: {c.period_ns:g} ns clock "
        f"{'on port ' + c.clock_port if c.clock_port else '(virtual)'}; units ns and pF",
        *clock,
        f"set_clock_uncertainty {c.clock_uncertainty_ns:g} [get_clocks {c.clock_name}]",
        f"set_clock_transition {c.clock_transition_ns:g} [get_clocks {c.clock_name}]",
        f"set_input_delay {c.input_delay_ns:g} -clock {c.clock_name} $data_inputs",
        f"set_output_delay {c.output_delay_ns:g} -clock {c.clock_name} [all_outputs]",
        f"set_driving_cell -lib_cell {c.driving_cell} -pin {c.driving_pin} $data_inputs",
        f"set_load {c.output_load_pf:g} [all_outputs]",
    ]
    for k, generated in enumerate(c.generated_clocks):
        lines.append(f"create_generated_clock -name {c.clock_name}_gen{k} -source [get_pins {{{generated.source_pin}}}] "
                     f"-divide_by 1 [get_pins {{{generated.output_pin}}}]")
    if c.propagated_clock:
        lines.append("set_propagated_clock [all_clocks]")
    return "\n".join(lines) + "\n"


def write_sdc(constraints: Constraints, path: str | os.PathLike) -> Path:
    """Write the SDC for ``constraints`` to ``path`` (temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(sdc_text(constraints))
    os.replace(tmp, path)
    return path
