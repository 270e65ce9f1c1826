"""A magic tech file derived at run time from the PDK's, so that the installed magic can load it.

open_pdks' ``sky130A.tech`` declares ``requires magic-8.3.111`` in its ``version`` section; an older
magic (Debian ships 8.3.105) refuses the whole file, runs with an empty technology and crashes
(segmentation fault) on ``drc style drc(full)``. The derived copy drops that requirement; with it
gone, 8.3.105 ran the full deck on every library cell and on generated blocks of up to 6,000 cells
without crashing. On request the copy also leaves out the 26 DRC rules that magic evaluates by
generating CIF layers during the check (``cifmaxwidth``/``cifspacing``: latch-up tap distance,
n-well taps, metal holes, wide-metal halos, ...): that code path is where magic 8.3.x has crashed on
some layouts (RTimothyEdwards/magic#92), and it is the slower part of the check. The rules left out
are returned so that they can be checked another way and named in the report. (``cifarea`` rules,
none in SKY130's deck, are CIF-layer rules too and are left out with them.)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CIF_RULE_KEYWORDS = ("cifmaxwidth", "cifspacing", "cifarea")


@dataclass(frozen=True)
class TechRule:
    """One DRC rule of the tech file: its statement keyword and the message magic reports."""

    keyword: str
    description: str

    @property
    def rule_id(self) -> str:
        """The foundry rule name at the end of the message, e.g. ``LU.2`` or ``met1.7``."""
        return rule_id(self.description)


def rule_id(description: str) -> str:
    """The last parenthesised group of a magic DRC message (``"... (met1.2)"`` -> ``met1.2``)."""
    found = re.findall(r"\(([^()]*)\)", description)
    return found[-1].strip() if found else description.strip()


def _statements(lines: list[str]) -> list[tuple[int, int]]:
    """Line spans ``[start, end)`` of the tech file's statements (a trailing ``\\`` continues one)."""
    spans, start = [], 0
    while start < len(lines):
        end = start + 1
        while lines[end - 1].rstrip().endswith("\\") and end < len(lines):
            end += 1
        spans.append((start, end))
        start = end
    return spans


def _drc_section(lines: list[str]) -> tuple[int, int]:
    """Line span of the ``drc`` section (from its header to its ``end``)."""
    for number, line in enumerate(lines):
        if line.strip() == "drc":
            for last in range(number + 1, len(lines)):
                if lines[last].strip() == "end":
                    return number, last
    raise ValueError("the tech file has no 'drc ... end' section")


def _inlined(source: Path, seen: tuple[Path, ...] = ()) -> list[str]:
    """The lines of ``source`` with every ``include NAME`` replaced by the lines of ``NAME`` (or
    ``NAME.tech``) beside it, so that the copy loads from any folder (IHP's tech file is split into
    parts this way)."""
    lines = []
    for line in source.read_text().splitlines(keepends=True):
        included = re.match(r"\s*include\s+(\S+)\s*$", line)
        if not included:
            lines.append(line)
            continue
        part = next((path for path in (source.parent / included.group(1), source.parent / f"{included.group(1)}.tech")
                     if path.is_file()), None)
        if part is None or part.resolve() in seen:
            raise ValueError(f"{source}: {line.strip()!r} names no tech file beside it"
                             if part is None else f"{source}: {line.strip()!r} includes itself")
        lines += _inlined(part, (*seen, source.resolve()))
    return [line if line.endswith("\n") else line + "\n" for line in lines]


def derive_magic_tech(source: Path, dest: Path, *, drop_cif_rules: bool) -> tuple[TechRule, ...]:
    """Write a loadable copy of ``source`` to ``dest`` (its ``include`` parts inlined); return the DRC
    rules left out.

    The ``requires magic-...`` line is always removed. With ``drop_cif_rules`` every
    ``cifmaxwidth``/``cifspacing``/``cifarea`` rule of the ``drc`` section is removed as well.
    """
    lines = _inlined(Path(source))
    first, last = _drc_section(lines)
    keep = [not re.match(r"\s*requires\s+magic-", line) for line in lines]
    dropped = []
    if drop_cif_rules:
        for start, end in _statements(lines[first:last]):
            statement = " ".join(line.strip().rstrip("\\") for line in lines[first + start:first + end])
            keyword = statement.split(maxsplit=1)[0] if statement.strip() else ""
            if keyword in CIF_RULE_KEYWORDS:
                message = re.search(r'"([^"]*)"?', statement)
                dropped.append(TechRule(keyword, message.group(1) if message else statement))
                for number in range(first + start, first + end):
                    keep[number] = False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text("".join(line for line, kept in zip(lines, keep) if kept))
    os.replace(tmp, dest)
    return tuple(dropped)
