"""OpenSTA: the hold and setup slack of every register data pin, before routing.

:func:`endpoint_slacks` times a placed netlist with a propagated clock, with each net's wire
capacitance set to an estimate from the placement (``set_load`` on the net, since no SPEF exists
yet), and returns the worst hold (min) and setup (max) slack at every register data pin and output
port, the inputs a hold repair works on, and on request the worst setup slack of every cell's
outputs, which a setup repair works on, and the pins over their maximum transition. The script and its output live in ``workdir``; it shares the Tcl
quoting of :mod:`kchip.tools.opensta`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kchip.tools.base import Invocation, ToolError
from kchip.tools.opensta import _MARK, TOOL, _list_read_path, _parse_marked, _slack, _tcl_path


@dataclass(frozen=True)
class PlacedTiming:
    """Slacks (ns) of one timing run: per endpoint, and per cell (worst setup slack of its
    outputs; only cells on a constrained path, and only when asked for)."""

    endpoints: dict[str, "EndpointSlack"]
    cells: dict[str, float]
    #: pins whose transition is over their limit (liberty ``max_transition``)
    slew_pins: tuple[str, ...] = ()

    @property
    def setup_ws(self) -> float | None:
        return min((s.setup for s in self.endpoints.values() if s.setup is not None), default=None)

    @property
    def setup_tns(self) -> float:
        return sum(min(0.0, s.setup) for s in self.endpoints.values() if s.setup is not None)


@dataclass(frozen=True)
class EndpointSlack:
    """The worst hold and setup slack (ns) of rise and fall at one register data pin; None when
    no path reaches it in that check."""

    hold: float | None
    setup: float | None


def endpoints_script(netlist_v: Path, top: str, liberty: Path, sdc: Path, workdir: Path,
                     wire_loads: dict[str, float], *, cell_slacks: bool = False, propagated: bool = True) -> str:
    """The Tcl script: every net of ``wire_loads`` gets that wire capacitance (pF), then one
    ``KCHIP pin <name> <hold> <setup>`` line per register data pin and output port and, with
    ``cell_slacks``, one ``KCHIP cell <instance> <setup>`` line per cell with a finite slack. The
    clocks are propagated unless ``propagated`` is false (before a clock tree exists)."""
    cells = f"""
    foreach cell [get_cells *] {{
        set worst 1e30
        foreach pin [get_pins -quiet -of_objects $cell] {{
            if {{[get_property $pin direction] ne "output"}} {{ continue }}
            set worst [expr {{min($worst, [get_property $pin max_rise_slack], [get_property $pin max_fall_slack])}}]
        }}
        if {{$worst < 1e29}} {{ puts "{_MARK} cell [get_full_name $cell] $worst" }}
    }}""" if cell_slacks else ""
    loads = "\n".join(f"  {{{net}}} {pf:.6g}" for net, pf in sorted(wire_loads.items())
                      if "{" not in net and "}" not in net and "\\" not in net)
    return f"""\
# kchip endpoint slacks of {top} (placement estimate of the wires)
# net and wire capacitance (pF), as one list: 18k set_load commands in the procedure's body took
# Tcl 10 s to compile
set kchip_wire_loads {{
{loads}
}}

proc kchip_run {{}} {{
    read_liberty {_list_read_path(liberty, workdir, "read_liberty")}
    read_verilog {_tcl_path(netlist_v)}
    link_design {top}
    read_sdc {_tcl_path(sdc, read_by_tcl=True)}
    {"set_propagated_clock [all_clocks]" if propagated else "# ideal clocks"}
    foreach {{net pf}} $::kchip_wire_loads {{
        set_load $pf [get_nets -quiet $net]
    }}
    foreach pin [all_registers -data_pins] {{
        set hold [expr {{min([get_property $pin min_rise_slack], [get_property $pin min_fall_slack])}}]
        set setup [expr {{min([get_property $pin max_rise_slack], [get_property $pin max_fall_slack])}}]
        puts "{_MARK} pin [get_full_name $pin] $hold $setup"
    }}
    foreach port [all_outputs] {{
        set hold [expr {{min([get_property $port min_rise_slack], [get_property $port min_fall_slack])}}]
        set setup [expr {{min([get_property $port max_rise_slack], [get_property $port max_fall_slack])}}]
        puts "{_MARK} pin [get_full_name $port] $hold $setup"
    }}{cells}
    foreach pin [sta::pin_slew_limit_violations [sta::cmd_corner] max] {{
        puts "{_MARK} slew [get_full_name $pin]"
    }}
    puts "{_MARK} end"
}}

if {{[catch kchip_run message]}} {{
    puts "{_MARK} error $message"
    exit 1
}}
exit 0
"""


def endpoint_slacks(netlist_v: str | os.PathLike, top: str, pdk, sdc: str | os.PathLike,
                    workdir: str | os.PathLike, invocation: Invocation, wire_loads: dict[str, float], *,
                    corner: str | None = None, log_name: str = "endpoints.log",
                    cell_slacks: bool = False, propagated: bool = True) -> PlacedTiming:
    """Hold and setup slack at every register data pin (``instance/pin``) and output port of
    ``top`` (and, with ``cell_slacks``, every cell's setup slack), timed with the PDK's liberty at
    ``corner``, a propagated clock (ideal when not ``propagated``) and ``wire_loads`` (net -> pF)."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "endpoints.tcl"
    script.write_text(endpoints_script(Path(netlist_v).resolve(), top, pdk.liberty(corner), Path(sdc).resolve(),
                                       workdir, wire_loads, cell_slacks=cell_slacks,
                                       propagated=propagated))
    output = invocation.run(TOOL, ["-no_splash", "-exit", script.name], log_name=log_name, cwd=workdir,
                            ok_codes=(0, 1))
    values, sections = _parse_marked(output)
    if "error" in values or "end" not in values:
        raise ToolError(f"OpenSTA failed timing the endpoints of {top!r}: "
                        f"{values.get('error', 'no results printed')}\nscript: {script}\nlog: "
                        f"{invocation.folder / log_name}")
    endpoints, cells, slews = {}, {}, []
    for key in sections:
        if key.startswith("pin "):
            name, hold, setup = key.split()[1:4]
            endpoints[name] = EndpointSlack(_slack(hold), _slack(setup))
        elif key.startswith("cell "):
            name, setup = key.split()[1:3]
            cells[name] = float(setup)
        elif key.startswith("slew "):
            slews.append(key.split()[1])
    return PlacedTiming(endpoints, cells, tuple(slews))

