"""OpenSTA: static timing analysis with liberty, SPEF parasitics and a propagated clock.

:func:`run_sta` times a gate-level netlist against an SDC file and returns setup and hold slack, the
worst paths as text, the pins of the worst setup path, the setup slack at every pin (in a file), the
clock latency at every register clock pin, the unconstrained endpoints, the pins over their max
transition and the load every cell output drives (in a file; this version of OpenSTA has no
max-capacitance check, so the limits are compared by :mod:`kchip.flows.timing.drv`). It is written for OpenSTA
2.0.17 (Debian 12), which has no ``report_clock_latency``: the latency is read from
``report_arrival`` at each register clock pin, and the skew is the spread of those latencies (global
skew); that version's ``report_clock_skew`` reported 0 on a design whose clock pins differed by 0.14
ns. OpenSTA keeps going after a failing command and exits 0, so the script runs inside a Tcl
``catch`` and reports failure itself. OpenSTA pastes the ``-exit`` file name unquoted into a Tcl
``source`` command, which silently loses a script whose path holds a space or a non-ASCII character,
so the script is named relative to the folder OpenSTA runs in.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from kchip.tools.base import Invocation, ToolError, ToolSpec

TOOL = ToolSpec(
    name="opensta",
    executables=("sta",),
    version_args=("-version",),
    version_pattern=r"(\d+)\.(\d+)\.(\d+)",
    min_version=(2, 0),
    install_hint="apt-get install opensta",
    source="Debian package opensta",
)

METRIC_UNITS = {
    "timing__setup__ws": "ns",
    "timing__setup__tns": "ns",
    "timing__hold__ws": "ns",
    "timing__hold__tns": "ns",
    "timing__unconstrained__count": "endpoints",
    "timing__constant_endpoints__count": "endpoints",
    "clock__skew__worst": "ns",
    "clock__insertion__max": "ns",
    "clock__insertion__min": "ns",
    "timing__drv__max_slew__count": "pins",
}
_MARK = "KCHIP"
_UNBOUNDED = 1e29


@dataclass(frozen=True)
class StaResult:
    """What one OpenSTA run measured; times in ns. A slack is None when no path was constrained;
    ``clock_latencies`` (register clock pin -> latency) is empty with an ideal clock."""

    setup_ws: float | None
    setup_tns: float
    hold_ws: float | None
    hold_tns: float
    clock_latencies: dict[str, float]
    unconstrained_endpoints: int
    unconstrained_names: tuple[str, ...]
    #: endpoints without a timing path because a constant drives them: not counted as unconstrained
    constant_endpoints: tuple[str, ...]
    setup_paths: str
    hold_paths: str
    #: the pins of the worst setup path's data path, from its start point (an input port or the
    #: launching register's clock pin) to its end point (ports by their name)
    worst_setup_path: tuple[str, ...]
    #: ``pin rise fall`` per line: the worst setup slack of every pin (ns; INF where unconstrained)
    pin_slacks: Path
    #: pins whose transition exceeds their max_transition limit (the liberty's or its default)
    slew_violations: int
    #: OpenSTA's listing of those pins (limit, transition, slack)
    slew_report: Path
    #: ``driver_pin cell pin load_farads`` per line: every cell output and the capacitance it drives
    #: (pins and wire, the larger of rise and fall)
    net_loads: Path
    warnings: list[str]
    script: Path
    log: Path
    seconds: float
    units: dict[str, str] = field(default_factory=lambda: dict(METRIC_UNITS))

    @property
    def insertion_max(self) -> float | None:
        return max(self.clock_latencies.values(), default=None)

    @property
    def insertion_min(self) -> float | None:
        return min(self.clock_latencies.values(), default=None)

    @property
    def skew(self) -> float | None:
        """Global clock skew: latest minus earliest register clock pin."""
        if not self.clock_latencies:
            return None
        return round(self.insertion_max - self.insertion_min, 6)

    @property
    def metrics(self) -> dict[str, float]:
        """Flat metrics (see ``units``); quantities that could not be measured are left out."""
        values = {
            "timing__setup__ws": self.setup_ws,
            "timing__setup__tns": self.setup_tns,
            "timing__hold__ws": self.hold_ws,
            "timing__hold__tns": self.hold_tns,
            "timing__unconstrained__count": float(self.unconstrained_endpoints),
            "timing__constant_endpoints__count": float(len(self.constant_endpoints)),
            "clock__skew__worst": self.skew,
            "clock__insertion__max": self.insertion_max,
            "clock__insertion__min": self.insertion_min,
            "timing__drv__max_slew__count": float(self.slew_violations),
        }
        return {name: value for name, value in values.items() if value is not None}


def _tcl_path(path: Path, *, read_by_tcl: bool = False) -> str:
    """``path`` as one double-quoted Tcl word for an OpenSTA file command, also inside a braced
    procedure body.

    OpenSTA's Tcl reads the script as ISO 8859-1. Commands that open the file in C++ (read_liberty,
    read_verilog, read_spef, ``>`` redirection) get the name in Tcl's own UTF-8, so a non-ASCII
    character is written as a ``\\uXXXX`` escape; commands that open it through Tcl (read_sdc,
    ``read_by_tcl``) convert the name back to ISO 8859-1, so it is written as it is. Characters
    beyond U+FFFF, which this Tcl cannot hold, are refused.
    """
    text = str(path)
    bad = sorted({c for c in text if ord(c) > 0xFFFF})
    if bad:
        raise ValueError(f"path {text!r} cannot be passed to OpenSTA: it contains {bad!r}, and its Tcl "
                         "holds no character beyond U+FFFF")

    def word_char(c: str) -> str:
        if c in '\\$[]"{}':
            return "\\" + c
        return c if c.isascii() or read_by_tcl else f"\\u{ord(c):04x}"

    return '"' + "".join(map(word_char, text)) + '"'


def _list_read_path(path: Path, workdir: Path, command: str) -> str:
    """``path`` for OpenSTA 2.0's read_liberty or read_spef (``command``), relative to ``workdir``.

    Both take the file name as the text of their argument list, which Tcl braces or escapes when it
    holds a space or one of ``{}[]$;"\\``, so that it names no file. Relative to the folder OpenSTA
    runs in, the run folder's own name is out of the way; ValueError if the path still holds one.
    """
    relative = Path(os.path.relpath(path, workdir))
    bad = sorted(set(str(relative)) & set(' \t{}[]$;"\\'))
    if bad:
        raise ValueError(f"OpenSTA's {command} cannot read {str(path)!r}: it reads its argument list as "
                         f"the file name, and Tcl quotes {bad!r} in a list; use a path without them")
    return _tcl_path(relative)


def sta_script(netlist_v: Path, top: str, liberty: Path, sdc: Path, workdir: Path, *,
               spef: Path | None, propagated: bool, path_count: int, wires: bool = True) -> str:
    """The OpenSTA Tcl script; results are printed as ``KCHIP <key> <value>`` lines.

    Without ``wires`` every net's wire capacitance is set to 0 (pins only, no wire-load model), the
    reference against which routed timing is judged.

    Clock pin latencies are only read with a propagated clock: with an ideal clock,
    ``report_arrival`` still shows wire-load delay on the clock net that the timing checks ignore.
    """
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", top):
        raise ValueError(f"top = {top!r} is not a plain Verilog module name")
    clock_mode = ("set" if propagated else "unset") + "_propagated_clock [all_clocks]"
    read_spef = (f'puts "{_MARK} spef_read [read_spef {_list_read_path(spef, workdir, "read_spef")}]"'
                 if spef else "" if wires else "set_load 0 [get_nets *]")
    report = f"-group_count {path_count} -endpoint_count 1 -format full_clock_expanded " \
             "-fields {slew cap input_pin net} -digits 3"
    return f"""\
# kchip static timing analysis of {top}
# an endpoint driven by a constant (a tie cell) has no timing path and needs none
proc kchip_constant {{name}} {{
    foreach pin [get_pins -quiet $name] {{
        if {{![catch {{sta::pin_sim_logic_value $pin}} v]}} {{ return [expr {{$v eq "0" || $v eq "1"}}] }}
    }}
    foreach port [get_ports -quiet $name] {{
        foreach pin [get_pins -quiet -of_objects [get_nets -quiet $name]] {{
            if {{![catch {{sta::pin_sim_logic_value $pin}} v] && ($v eq "0" || $v eq "1")}} {{ return 1 }}
        }}
    }}
    return 0
}}

proc kchip_report_values {{}} {{
    puts "{_MARK} setup_ws [sta::worst_slack -max]"
    puts "{_MARK} setup_tns [sta::total_negative_slack -max]"
    puts "{_MARK} hold_ws [sta::worst_slack -min]"
    puts "{_MARK} hold_tns [sta::total_negative_slack -min]"
    set names {{}}
    set constant {{}}
    foreach problem [sta::check_timing_cmd 0 0 0 0 1 0 0] {{
        foreach name [lrange $problem 1 end] {{
            if {{[kchip_constant $name]}} {{ lappend constant $name }} else {{ lappend names $name }}
        }}
    }}
    # the worst setup path's data path: its pins back to the launching register's clock pin
    foreach pin [all_registers -clock_pins] {{ set register_clock([get_full_name $pin]) 1 }}
    set worst [lindex [find_timing_paths -path_delay max -group_count 1 -endpoint_count 1] 0]
    set pins {{}}
    if {{$worst ne ""}} {{
        foreach pin [[$worst path] pins] {{
            set name [get_full_name $pin]
            set pins [linsert $pins 0 $name]
            if {{[info exists register_clock($name)]}} {{ break }}
        }}
    }}
    puts "{_MARK} worst_setup_path [join $pins]"
    set slacks [open {_tcl_path(workdir / "pin_slack.txt", read_by_tcl=True)} w]
    foreach pin [get_pins *] {{
        puts $slacks "[get_full_name $pin] [get_property $pin max_rise_slack] [get_property $pin max_fall_slack]"
    }}
    close $slacks
    set corner [sta::cmd_corner]
    set loads [open {_tcl_path(workdir / "net_load.txt", read_by_tcl=True)} w]
    foreach net [get_nets *] {{
        foreach pin [get_pins -quiet -of_objects $net] {{
            if {{[$pin is_driver]}} {{
                # a black box's pin has no capacitance (NaN): run_sta refuses such netlists anyway
                if {{[catch {{expr {{max([$net capacitance rise $corner max], [$net capacitance fall $corner max])}}}} load]}} {{
                    continue
                }}
                puts $loads "[get_full_name $pin] [get_property [$pin instance] ref_name] [get_property $pin lib_pin_name] $load"
            }}
        }}
    }}
    close $loads
    report_check_types -max_transition -all_violators -digits 3 > {_tcl_path(workdir / "slew_violations.rpt")}
    puts "{_MARK} slew_violations [llength [sta::pin_slew_limit_violations $corner max]]"
    puts "{_MARK} unconstrained [llength $names]"
    puts "{_MARK} unconstrained_names [join $names]"
    puts "{_MARK} constant_endpoints [join $constant]"
    if {{{int(propagated)}}} {{
        foreach pin [all_registers -clock_pins] {{
            puts "{_MARK} clock_pin [get_full_name $pin]"
            report_arrival $pin
        }}
    }}
    puts "{_MARK} end"
}}

proc kchip_run {{}} {{
    set ::sta_report_default_digits 4
    read_liberty {_list_read_path(liberty, workdir, "read_liberty")}
    read_verilog {_tcl_path(netlist_v)}
    link_design {top}
    read_sdc {_tcl_path(sdc, read_by_tcl=True)}
    {clock_mode}
    {read_spef}
    report_checks -path_delay max {report} > {_tcl_path(workdir / "setup_paths.rpt")}
    report_checks -path_delay min {report} > {_tcl_path(workdir / "hold_paths.rpt")}
    kchip_report_values
}}

if {{[catch kchip_run message]}} {{
    puts "{_MARK} error $message"
    exit 1
}}
exit 0
"""


def run_sta(netlist_v: str | os.PathLike, top: str, pdk, sdc: str | os.PathLike,
            workdir: str | os.PathLike, invocation: Invocation, spef: str | os.PathLike | None = None,
            propagated: bool = True, *, corner: str | None = None, path_count: int = 5,
            allow_spef_warnings: bool = False, wires: bool = True) -> StaResult:
    """Time ``top`` in ``netlist_v`` against ``sdc`` with the PDK's full liberty at ``corner``.

    ``propagated`` computes the clock network delay (use it once a clock tree exists); otherwise the
    clock is ideal. Without ``wires`` (and no ``spef``), nets carry only their pins' capacitance. With
    ``spef``, wire parasitics are annotated; a warning while reading the SPEF
    (such as a net or pin name the netlist lacks) is an error unless ``allow_spef_warnings``. A cell
    missing from the liberty is always an error (OpenSTA would make it an untimed black box).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    inputs = {"netlist": Path(netlist_v).resolve(), "SDC": Path(sdc).resolve()}
    if spef is not None:
        inputs["SPEF"] = Path(spef).resolve()
    for what, path in inputs.items():
        if not path.is_file():
            raise FileNotFoundError(f"STA of {top!r}: {what} file {str(path)!r} does not exist")
    if spef is not None and not wires:
        raise ValueError("run_sta: a SPEF file and wires=False contradict each other")
    if not isinstance(path_count, int) or path_count < 1:
        raise ValueError(f"path_count = {path_count!r} must be a positive integer")
    script = workdir / "sta.tcl"
    script.write_text(sta_script(inputs["netlist"], top, pdk.liberty(corner), inputs["SDC"], workdir,
                                 spef=inputs.get("SPEF"), propagated=propagated, path_count=path_count,
                                 wires=wires))
    for report in ("setup_paths.rpt", "hold_paths.rpt", "pin_slack.txt", "net_load.txt", "slew_violations.rpt"):
        (workdir / report).unlink(missing_ok=True)
    started = time.perf_counter()
    log_name = "sta.log" if wires else "sta_without_wires.log"
    output = invocation.run(TOOL, ["-no_splash", "-exit", script.name], log_name=log_name,
                            cwd=workdir, ok_codes=(0, 1))
    seconds = time.perf_counter() - started
    values, sections = _parse_marked(output)
    log = invocation.folder / log_name
    warnings = [line for line in output.splitlines() if line.startswith("Warning")]
    black_boxes = [line for line in warnings if "Creating black box" in line]
    if black_boxes:
        raise ToolError(f"OpenSTA found cells of {inputs['netlist']} that are not in "
                        f"{pdk.liberty(corner)}, so their paths would go untimed:\n"
                        + "\n".join(black_boxes[:20]) + f"\nlog: {log}")
    if "error" in values or "end" not in sections:
        raise ToolError(f"OpenSTA failed on {top!r}: {values.get('error', 'no results printed')}\n"
                        f"script: {script}\nlog: {log}")
    spef_warnings = (_spef_warnings(output, values, Path(os.path.relpath(inputs["SPEF"], workdir)))
                     if spef is not None else [])
    if spef_warnings and not allow_spef_warnings:
        raise ToolError(f"OpenSTA warned while reading {spef}:\n" + "\n".join(spef_warnings[:20])
                        + f"\nlog: {log}")
    return StaResult(
        setup_ws=_slack(values["setup_ws"]), setup_tns=float(values["setup_tns"]),
        hold_ws=_slack(values["hold_ws"]), hold_tns=float(values["hold_tns"]),
        clock_latencies=_clock_latencies(sections),
        unconstrained_endpoints=int(values["unconstrained"]),
        unconstrained_names=tuple(values.get("unconstrained_names", "").split()),
        constant_endpoints=tuple(values.get("constant_endpoints", "").split()),
        setup_paths=(workdir / "setup_paths.rpt").read_text(),
        hold_paths=(workdir / "hold_paths.rpt").read_text(),
        worst_setup_path=tuple(values.get("worst_setup_path", "").split()), pin_slacks=workdir / "pin_slack.txt",
        slew_violations=int(values["slew_violations"]), slew_report=workdir / "slew_violations.rpt",
        net_loads=workdir / "net_load.txt",
        warnings=warnings, script=script, log=log, seconds=seconds)


def _parse_marked(output: str) -> tuple[dict[str, str], dict[str, str]]:
    """``KCHIP key value`` lines as values, and the text after each ``KCHIP`` line as sections."""
    values: dict[str, str] = {}
    sections: dict[str, str] = {}
    current: str | None = None
    for line in output.splitlines():
        if line.startswith(_MARK + " "):
            key, _, value = line[len(_MARK) + 1:].partition(" ")
            values[key] = value
            current = line[len(_MARK) + 1:]
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return values, sections


def _slack(text: str) -> float | None:
    value = float(text)
    return None if abs(value) >= _UNBOUNDED or math.isinf(value) else value


def _clock_latencies(sections: dict[str, str]) -> dict[str, float]:
    """Latency of each register clock pin after its clock's rising edge (the later transition)."""
    latencies = {}
    for key, text in sections.items():
        if not key.startswith("clock_pin "):
            continue
        pin_values = []
        for line in text.splitlines():
            edge = re.match(r"^\s*\(\S+ \^\)\s+r\s+(\S+):(\S+)\s+f\s+(\S+):(\S+)", line)
            if edge:
                pin_values += [float(v) for v in edge.groups() if "INF" not in v]
        if pin_values:
            latencies[key.removeprefix("clock_pin ")] = max(pin_values)
    return latencies


def _spef_warnings(output: str, values: dict[str, str], spef: Path) -> list[str]:
    """Warnings and errors OpenSTA printed about the SPEF file (named ``spef`` as the script gave
    it; they go to stderr, which the log holds after the results), and a note when ``read_spef``
    did not report success."""
    problems = [line for line in output.splitlines()
                if re.match(r"^(Warning|Error)", line) and str(spef) in line]
    if values.get("spef_read") != "1":
        problems.append(f"read_spef returned {values.get('spef_read')!r} instead of 1")
    return problems
