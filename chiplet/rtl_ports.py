"""Tie a die to its RTL: parse the top module's ports with pyverilog and compare them with the ports
the die declares (names, directions, widths).

The Verilog comes from a file (``verilog`` + ``top``) or is generated from a kchip design
(``design``: a built-in design name such as ``npu_core`` or a design TOML) with
``amaranth.back.verilog.convert(..., emit_src=False, strip_internal_attrs=True)``, the form
pyverilog can parse; attribute instances ``(* ... *)`` are removed before parsing (pyverilog rejects
them in statements). Files are preprocessed with ``iverilog -E``. pyverilog writes its parser tables
to a directory and takes about 2 s to build them, so one parser, built in a private temporary
directory, serves the whole process.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kchip.chiplet.checks import Violation
from kchip.chiplet.model import RtlBinding, System
from kchip.tools import iverilog
from kchip.tools.base import Invocation, ToolError, ToolMissing


class RtlUnavailable(Exception):
    """A tool the port check needs (the Verilog preprocessor) is not installed: the check is skipped,
    with this reason."""


class RtlError(Exception):
    """The RTL cannot be read: a reference to a missing file or an unknown design, a parse error, a
    missing top module, a failing generator."""


@dataclass(frozen=True)
class Port:
    """A top-level port: direction and width in bits (None when the width is not a constant)."""

    name: str
    direction: str
    width: int | None
    width_text: str = ""


@dataclass(frozen=True)
class Skip:
    """A check that could not run, and why."""

    check: str
    subject: str
    reason: str


#: Verilog attribute instances ``(* ... *)`` (not ``@(*)``): pyverilog cannot parse them before a
#: statement, as Yosys writes ``(* full_case *)``, and they never change a port.
_ATTRIBUTE = re.compile(r"\(\*(?!\)).*?\*\)", re.DOTALL)


@lru_cache(maxsize=1)
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="kchip-pyverilog-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@lru_cache(maxsize=1)
def _parser():
    """One pyverilog parser per process; its tables go to a private directory, not the cwd."""
    from pyverilog.vparser.parser import VerilogParser

    return VerilogParser(outputdir=str(_workdir() / "tables"), debug=False)


def _constant(node) -> int | None:
    """The value of a constant width expression (literals and + - * / **), else None."""
    from pyverilog.vparser import ast

    if isinstance(node, ast.IntConst):
        text = node.value.replace("_", "").lower()
        match = re.fullmatch(r"(?:\d*)'s?([bodh])([0-9a-f]+)", text)
        if match:
            return int(match.group(2), {"b": 2, "o": 8, "d": 10, "h": 16}[match.group(1)])
        return int(text) if text.isdigit() else None
    operations = {ast.Plus: lambda a, b: a + b, ast.Minus: lambda a, b: a - b,
                  ast.Times: lambda a, b: a * b, ast.Divide: lambda a, b: a // b if b else None,
                  ast.Power: lambda a, b: a ** b}
    if type(node) in operations:
        left, right = _constant(node.left), _constant(node.right)
        return None if left is None or right is None else operations[type(node)](left, right)
    return None


def _text(node) -> str:
    """Short source-like text of a width bound, for messages."""
    if hasattr(node, "left") and hasattr(node, "right"):
        return f"{_text(node.left)} {type(node).__name__.lower()} {_text(node.right)}"
    return str(getattr(node, "value", getattr(node, "name", node)))


def _port(name: str, direction: str, width_node) -> Port:
    if width_node is None:
        return Port(name, direction, 1, "1")
    msb, lsb = _constant(width_node.msb), _constant(width_node.lsb)
    text = f"[{_text(width_node.msb)}:{_text(width_node.lsb)}]"
    return Port(name, direction, None if msb is None or lsb is None else abs(msb - lsb) + 1, text)


def parse_ports(verilog: Path | list[Path], top: str) -> dict[str, Port]:
    """The ports of module ``top`` in the given Verilog file(s), in declaration order."""
    from pyverilog.vparser import ast
    from pyverilog.vparser.lexer import VerilogLexer
    from pyverilog.vparser.parser import ParseError

    files = [Path(f) for f in (verilog if isinstance(verilog, list) else [verilog])]
    work = Path(tempfile.mkdtemp(dir=_workdir()))
    preprocessed = work / "preprocessed.v"
    try:
        Invocation(work).run(iverilog.TOOL, ["-E", "-o", str(preprocessed), *map(str, files)],
                             log_name="iverilog-E.log", cwd=work)
    except ToolMissing as exc:
        raise RtlUnavailable(str(exc)) from None
    except ToolError as exc:
        raise RtlError(f"the preprocessor failed on {', '.join(map(str, files))}: {exc}") from None
    parser = _parser()
    parser.lexer = VerilogLexer(error_func=parser._lexer_error_func)
    parser.lexer.build()
    try:
        source = parser.parse(_ATTRIBUTE.sub(" ", preprocessed.read_text()))
    except ParseError as exc:
        raise RtlError(f"pyverilog cannot parse {', '.join(map(str, files))}: {exc}") from None
    modules = {d.name: d for d in source.description.definitions if isinstance(d, ast.ModuleDef)}
    if top not in modules:
        raise RtlError(f"module {top!r} is not in {', '.join(map(str, files))}; modules there: "
                       f"{', '.join(modules) or 'none'}")
    module = modules[top]
    kinds = {ast.Input: "input", ast.Output: "output", ast.Inout: "inout"}
    ports: dict[str, Port] = {}
    order = []
    for item in module.portlist.ports if module.portlist else ():
        if isinstance(item, ast.Ioport):
            ports[item.first.name] = _port(item.first.name, kinds[type(item.first)], item.first.width)
            order.append(item.first.name)
        else:
            order.append(item.name)
    for item in module.items:
        if isinstance(item, ast.Decl):
            for decl in item.list:
                if type(decl) in kinds:
                    ports[decl.name] = _port(decl.name, kinds[type(decl)], decl.width)
    return {name: ports[name] for name in order if name in ports}


def _generate(generator: str, parameters: dict, top: str) -> Path:
    from kchip.design.amaranth import build, to_verilog

    try:
        text = to_verilog(build(generator, parameters, "source.amaranth"), top)
    except Exception as exc:  # the generator's own error, shown to the user as such
        raise RtlError(f"generator {generator!r} with {parameters!r} failed: "
                       f"{type(exc).__name__}: {exc}") from None
    path = Path(tempfile.mkdtemp(dir=_workdir())) / f"{top}.v"
    path.write_text(text)
    return path


def resolve_verilog(binding: RtlBinding) -> tuple[list[Path], str]:
    """The Verilog files and top module a binding refers to; RtlError when the file or design it
    names does not exist."""
    if binding.verilog is not None:
        if not binding.verilog.is_file():
            raise RtlError(f"Verilog file {str(binding.verilog)!r} does not exist")
        return [binding.verilog], binding.top
    from kchip.design import DesignError, builtin_designs, resolve_design

    if not binding.design.endswith(".toml") and binding.design not in builtin_designs():
        raise RtlError(f"kchip design {binding.design!r} does not exist: no "
                       f"rtl/{binding.design}/design.toml; built-in designs: "
                       f"{', '.join(builtin_designs()) or 'none'}")
    try:
        design = resolve_design(binding.design)
    except DesignError as exc:
        raise RtlError(str(exc)) from None
    top = binding.top or design.top
    if design.verilog:
        return list(design.verilog), top
    return [_generate(design.generator, design.parameters, top)], top


def compare_ports(die: str, declared: dict[str, tuple[str, int]], actual: dict[str, Port],
                  ignore: tuple[str, ...], where: str) -> list[Violation]:
    """Differences between a die's declared ports and the RTL top's ports, one violation each."""
    found = []
    for name, (direction, width) in declared.items():
        port = actual.get(name)
        if port is None:
            found.append(Violation("rtl_ports", f"die {die}",
                                   f"die {die}: declared port {name!r} ({direction}, {width} bits) is "
                                   f"not a port of {where}"))
        elif port.direction != direction or port.width != width:
            real = f"{port.width} bits" if port.width is not None else f"width {port.width_text}"
            found.append(Violation("rtl_ports", f"die {die}",
                                   f"die {die}: port {name!r} is declared {direction}, {width} bits; "
                                   f"{where} has {port.direction}, {real}"))
    for name, port in actual.items():
        if name not in declared and name not in ignore:
            found.append(Violation("rtl_ports", f"die {die}",
                                   f"die {die}: {where} has port {name!r} ({port.direction}, "
                                   f"{port.width} bits) that the die does not declare"))
    return found


def check_rtl_ports(system: System) -> tuple[list[Violation], list[Skip]]:
    """Compare every die that names its RTL with that RTL's top-level ports."""
    found, skipped = [], []
    for die in system.dies.values():
        if die.rtl is None:
            continue
        try:
            files, top = resolve_verilog(die.rtl)
            actual = parse_ports(files, top)
        except RtlUnavailable as exc:
            skipped.append(Skip("rtl_ports", f"die {die.name}",
                                f"die {die.name}: RTL port check skipped: {exc}"))
            continue
        except RtlError as exc:
            found.append(Violation("rtl_ports", f"die {die.name}",
                                   f"die {die.name}: RTL cannot be read: {exc}"))
            continue
        where = f"RTL top {top!r} ({', '.join(f.name for f in files)})"
        found += compare_ports(die.name, die.rtl.ports, actual, die.rtl.ignore, where)
    return found, skipped
