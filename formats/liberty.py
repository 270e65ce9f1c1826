"""Liberty files: the cells a library offers (area, sequential or not, pin loads and load limits),
the library's capacitance unit and default limits, and dont_use filtering.

Only the structure the flow needs is read: the ``cell (...) { ... }`` groups at library level, found
by counting braces outside strings and comments. Everything else is copied byte for byte.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|/\*.*?\*/|[{}]', re.S)
_CELL_HEADER = re.compile(r'\bcell\s*\(\s*"?([^"()\s]+)"?\s*\)\s*$')
_AREA = re.compile(r"(?<![\w])area\s*:\s*([-+0-9.eE]+)")
_FLOP = re.compile(r"(?<![\w])ff\s*\(")
_LATCH = re.compile(r"(?<![\w])latch\s*\(")
_PIN = re.compile(r'(?<![\w])pin\s*\(\s*"?([^"()\s]+)"?\s*\)\s*\{')
_DIRECTION = re.compile(r'(?<![\w])direction\s*:\s*"?(\w+)"?')
_CAPACITANCE = re.compile(r"(?<![\w])capacitance\s*:\s*([-+0-9.eE]+)")
_FUNCTION = re.compile(r'(?<![\w])function\s*:\s*"([^"]*)"')
_CLOCK = re.compile(r'(?<![\w])clock\s*:\s*"?true"?')
_MAX_CAPACITANCE = re.compile(r"(?<![\w])max_capacitance\s*:\s*([-+0-9.eE]+)")
_DEFAULT_MAX_CAPACITANCE = re.compile(r"(?<![\w])default_max_capacitance\s*:\s*([-+0-9.eE]+)")
_LOAD_UNIT = re.compile(r'(?<![\w])capacitive_load_unit\s*\(\s*([-+0-9.eE]+)\s*,\s*"?(\w+)"?\s*\)')
#: the capacitance units a liberty ``capacitive_load_unit`` may name, in farads
_FARADS = {"ff": 1e-15, "pf": 1e-12}


class LibertyError(ValueError):
    """A liberty file whose group structure cannot be read."""


@dataclass(frozen=True)
class LibertyPin:
    """A cell pin: ``direction`` as the liberty says (input, output, inout, internal), capacitance and
    the largest load it may drive (``max_capacitance``, None when the pin sets none) in the library's
    capacitive load unit (:class:`LibraryUnits`)."""

    name: str
    direction: str
    capacitance: float
    max_capacitance: float | None = None
    #: an output's Boolean function as the liberty writes it (None for inputs and state outputs
    #: without one)
    function: str | None = None
    #: the liberty marks it a clock pin (``clock : true``)
    clock: bool = False


@dataclass(frozen=True)
class LibraryUnits:
    """The library's capacitive load unit in farads and its ``default_max_capacitance`` (in that
    unit; None when the library sets none)."""

    capacitance_f: float
    default_max_capacitance: float | None


@dataclass(frozen=True)
class LibertyCell:
    """One library cell: its name, area in um2, whether it holds state, and its pins."""

    name: str
    area_um2: float
    is_flop: bool
    is_latch: bool
    pins: dict[str, LibertyPin]

    def pins_by_direction(self, direction: str) -> list[str]:
        return [pin.name for pin in self.pins.values() if pin.direction == direction]

    @property
    def is_sequential(self) -> bool:
        return self.is_flop or self.is_latch


def _cell_spans(text: str, origin: str) -> list[tuple[str, int, int]]:
    """``(name, start, end)`` of every library-level cell group; start is its line's beginning."""
    spans, depth, open_cell = [], 0, None
    for token in _TOKEN.finditer(text):
        char = token.group()
        if char == "{":
            depth += 1
            if depth == 2:
                line_start = text.rfind("\n", 0, token.start()) + 1
                header = _CELL_HEADER.search(text, line_start, token.start())
                open_cell = (header.group(1), line_start) if header else None
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise LibertyError(f"{origin}: unbalanced '}}' at offset {token.start()}")
            if depth == 1 and open_cell:
                end = token.end()
                if text.startswith("\n", end):
                    end += 1
                spans.append((*open_cell, end))
                open_cell = None
    if depth != 0:
        raise LibertyError(f"{origin}: {depth} unclosed '{{' at the end of the file")
    if not spans:
        raise LibertyError(f"{origin}: no cell groups found; is it a liberty file?")
    return spans


def _pins(body: str) -> dict[str, LibertyPin]:
    """Pins of one cell body; a pin's attributes are read up to the next pin group. The first
    group of a name wins (scan cells repeat their pins inside ``test_cell``)."""
    heads = list(_PIN.finditer(body))
    pins = {}
    for head, following in zip(heads, heads[1:] + [None]):
        text = body[head.end():following.start() if following else len(body)]
        direction, capacitance = _DIRECTION.search(text), _CAPACITANCE.search(text)
        limit, function = _MAX_CAPACITANCE.search(text), _FUNCTION.search(text)
        pins.setdefault(head.group(1), LibertyPin(
            head.group(1), direction.group(1) if direction else "unknown",
            float(capacitance.group(1)) if capacitance else 0.0,
            float(limit.group(1)) if limit else None, function.group(1) if function else None,
            _CLOCK.search(text) is not None))
    return pins


def _describe(name: str, body: str) -> LibertyCell:
    area = _AREA.search(body)
    return LibertyCell(name=name, area_um2=float(area.group(1)) if area else 0.0,
                       is_flop=_FLOP.search(body) is not None, is_latch=_LATCH.search(body) is not None,
                       pins=_pins(body))


def read_cells(path: Path) -> dict[str, LibertyCell]:
    """Every cell of the liberty file at ``path`` by name (parsed once per file version)."""
    stat = os.stat(path)
    return dict(_read_cells(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _read_cells(path: str, mtime_ns: int, size: int) -> dict[str, LibertyCell]:
    text = Path(path).read_text()
    return {name: _describe(name, text[start:end]) for name, start, end in _cell_spans(text, path)}


def max_load_pf(cell: LibertyCell, pin: str, units: LibraryUnits) -> float | None:
    """The largest load ``pin`` of ``cell`` may drive, in pF: its ``max_capacitance``, else the
    library's default; None when the liberty sets neither."""
    limit = cell.pins[pin].max_capacitance if pin in cell.pins else None
    limit = limit if limit is not None else units.default_max_capacitance
    return None if limit is None else limit * units.capacitance_f / 1e-12


def read_units(path: Path) -> LibraryUnits:
    """The capacitive load unit and default max capacitance from the library header of ``path``
    (the text before its first cell); LibertyError when the unit is missing or unknown."""
    text = Path(path).read_text()
    header = text[:_cell_spans(text, str(path))[0][1]]
    unit = _LOAD_UNIT.search(header)
    if unit is None or unit.group(2).lower() not in _FARADS:
        found = unit.group(0) if unit else "nothing"
        raise LibertyError(f"{path}: capacitive_load_unit is {found!r}; expected one in "
                           f"{sorted(_FARADS)}, such as capacitive_load_unit (1, pf)")
    default = _DEFAULT_MAX_CAPACITANCE.search(header)
    return LibraryUnits(float(unit.group(1)) * _FARADS[unit.group(2).lower()],
                        float(default.group(1)) if default else None)


def write_filtered_liberty(source: Path, dest: Path,
                           drop: Callable[[str], bool]) -> dict[str, LibertyCell]:
    """Copy ``source`` to ``dest`` without the cells for which ``drop(name)`` is true.

    The file is written under a temporary name and renamed. Returns the cells that were kept.
    """
    text = Path(source).read_text()
    kept: dict[str, LibertyCell] = {}
    pieces, position = [], 0
    for name, start, end in _cell_spans(text, str(source)):
        if drop(name):
            pieces.append(text[position:start])
            position = end
        else:
            kept[name] = _describe(name, text[start:end])
    pieces.append(text[position:])
    if not kept:
        raise LibertyError(f"{source}: every cell was filtered out; check the dont_use patterns")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text("".join(pieces))
    os.replace(tmp, dest)
    return kept
