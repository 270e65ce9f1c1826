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

Magic also skips, with no more than a line on stderr, every rule statement it cannot parse (an
option newer than the installed magic, a usage it does not know): :func:`rejected_rules` maps
magic's complaints about the ``drc`` section (each names a line of the loaded copy) back to the rule
statements and their messages, so that those rules are reported as not checked too.

The ``extract`` section can name a device class newer than the installed magic as well: magic then
logs "Illegal device" and extracts no device there, the device's layer being left as a plain
conductor of the net it sits on. A diode declared as a ``dsubcircuit`` (the PDK descriptor names
the one it affects) is such a class in magic 8.3.105; the copy writes it in the older ``ndiode``
class (:func:`diode_subcircuit_as_ndiode`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

CIF_RULE_KEYWORDS = ("cifmaxwidth", "cifspacing", "cifarea")
#: parameters magic's diode classes give a device: its area and perimeter (``w``/``l`` come out 0)
DIODE_PARAMETERS = ("a=a", "p=p")


@dataclass(frozen=True)
class TechRule:
    """One DRC rule of the tech file: its statement keyword and the message magic reports."""

    keyword: str
    description: str

    @property
    def rule_id(self) -> str:
        """The foundry rule name at the end of the message, e.g. ``LU.2`` or ``met1.7``."""
        return rule_id(self.description)


@dataclass(frozen=True)
class RejectedRule(TechRule):
    """A rule statement of the ``drc`` section that magic complained about while loading the tech
    file: ``line`` is the (1-based) line magic named, ``reason`` its message(s). ``description`` is
    the rule's message, or ``tech line N: <statement>`` when the statement has none."""

    line: int
    reason: str


def rule_id(description: str) -> str:
    """The last parenthesised group of a magic DRC message (``"... (met1.2)"`` -> ``met1.2``); the
    whole message when it names no rule (no group, or an empty one as in ``"... NPN area ()"``)."""
    found = re.findall(r"\(([^()]*)\)", description)
    return found[-1].strip() if found and found[-1].strip() else description.strip()


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


def _section(lines: list[str], name: str) -> tuple[int, int] | None:
    """Line span of section ``name`` (from its header to its ``end``), None when there is none."""
    for number, line in enumerate(lines):
        if line.strip() == name:
            for last in range(number + 1, len(lines)):
                if lines[last].strip() == "end":
                    return number, last
    return None


def _drc_section(lines: list[str]) -> tuple[int, int]:
    """Line span of the ``drc`` section (from its header to its ``end``)."""
    span = _section(lines, "drc")
    if span is None:
        raise ValueError("the tech file has no 'drc ... end' section")
    return span


def diode_subcircuit_as_ndiode(statement: str) -> str:
    """An extract-section ``device dsubcircuit`` statement in magic 8.3.105's ``ndiode`` class;
    any other statement comes back unchanged.

    ``device dsubcircuit NAME DEV-TYPES TERM-TYPES [SUB] PARAMS`` (a class of newer magic) is a
    two-terminal subcircuit written with the ``TERM-TYPES`` node first: a diode whose device layer is
    its cathode, the order the CDL has (``DD1 VSS A dantenna``). ``device ndiode NAME DEV-TYPES
    TERM-TYPES [SUB]`` takes the same arguments and writes the same nodes in the same order, as a
    ``D`` card. Magic's diode classes give a device its area and perimeter, not a width and length
    (8.3.105 writes ``w=0 l=0``), so ``w``/``l`` parameters become :data:`DIODE_PARAMETERS`.
    """
    tokens = statement.split()
    if tokens[:2] != ["device", "dsubcircuit"]:
        return statement
    kept = [t for t in tokens[2:] if t.split("=", 1)[0] not in ("w", "l")]
    keys = {t.split("=", 1)[0] for t in kept if "=" in t}
    added = [p for p in DIODE_PARAMETERS if p.split("=", 1)[0] not in keys]
    return " ".join(["device", "ndiode", *kept, *added])


def _variants(text: str) -> set[str]:
    """``(fast),(full)`` or ``(fast,full)`` -> ``{"fast", "full"}``; ``*`` -> ``{"*"}``."""
    return {name.strip("() ") for name in text.split(",") if name.strip("() ")} or {"*"}


def _in_style(lines: list[str], spans: list[tuple[int, int]], style: str | None) -> list[bool]:
    """For each statement of a ``drc`` section: whether magic reads it for DRC style ``style``
    (``drc(full)``: style ``drc``, variant ``full``), following its ``style NAME variants ...`` and
    ``variants ...`` lines. Every statement counts when ``style`` is None or not declared there."""
    words = [" ".join(line.strip().rstrip("\\") for line in lines[a:b]).split() for a, b in spans]
    declared = set()
    for statement in words:
        if len(statement) >= 2 and statement[0] == "style":
            variants = _variants(statement[3]) if len(statement) >= 4 and statement[2] == "variants" else {""}
            declared |= {f"{statement[1]}({v})" if v else statement[1] for v in variants}
    if style is None or style not in declared:
        return [True] * len(spans)
    name, variant = (style[:-1].split("(", 1) + [""])[:2] if style.endswith(")") else (style, "")
    inside, active, keep = False, True, []
    for statement in words:
        keyword = statement[0] if statement else ""
        if keyword == "style":
            inside, active = len(statement) >= 2 and statement[1] == name, True
        elif keyword == "variants" and len(statement) >= 2:
            allowed = _variants(" ".join(statement[1:]))
            active = "*" in allowed or variant in allowed
        keep.append(inside and (active or keyword in ("style", "variants")))
    return keep


def rejected_rules(tech: Path, errors, style: str | None = None, *,
                   kept_message: str = "", kept_companion: str = "") -> tuple[RejectedRule, ...]:
    """The statements of ``tech``'s ``drc`` section that magic complained about, in file order.

    ``errors``: ``(line, message)`` pairs of magic's complaints about the ``drc`` section (1-based
    lines of ``tech``, the file magic loaded; repeats are merged). A complaint on a line of a
    continued statement counts for the whole statement; statements outside DRC style ``style`` are
    left out (magic reads the section once per style it loads). A statement whose complaints are
    ``kept_message`` (plus any ``kept_companion``) only is one magic still added, and is left out.
    A complaint that names no line of the section comes back with the raw line as its description.
    """
    lines = Path(tech).read_text().splitlines()
    first, last = _drc_section(lines)
    spans = [(first + a, first + b) for a, b in _statements(lines[first:last])]
    wanted = _in_style(lines, spans, style)
    by_statement: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for line, message in errors:
        index = line - 1
        span = next((s for s in spans if s[0] <= index < s[1]), (index, index + 1))
        if (line, message) not in by_statement.setdefault(span, []):
            by_statement[span].append((line, message))
    rejected = []
    for span, complaints in sorted(by_statement.items()):
        messages = [message for _, message in complaints]
        if span in spans and not wanted[spans.index(span)]:
            continue
        if kept_message and any(m.startswith(kept_message) for m in messages) and all(
                m.startswith(kept_message) or (kept_companion and m.startswith(kept_companion)) for m in messages):
            continue
        text = " ".join(lines[n].strip().rstrip("\\").strip() for n in range(*span) if 0 <= n < len(lines))
        keyword = text.split(maxsplit=1)[0] if text else ""
        quoted = re.search(r'"([^"]*)"?', text) if span in spans else None
        line = complaints[0][0]
        description = quoted.group(1).strip() if quoted else f"tech line {line}: {text or '(no such line)'}"
        reason = "; ".join(dict.fromkeys(f"line {n}: {m}" for n, m in complaints))
        rejected.append(RejectedRule(keyword, description, line, reason))
    return tuple(rejected)


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


def derive_magic_tech(source: Path, dest: Path, *, drop_cif_rules: bool,
                      leave_out: Collection[str] = ()) -> tuple[TechRule, ...]:
    """Write a loadable copy of ``source`` to ``dest`` (its ``include`` parts inlined); return the DRC
    rules left out (each once, in file order).

    The ``requires magic-...`` line is always removed, and every ``device dsubcircuit`` statement of
    the ``extract`` section is written in the ``ndiode`` class (:func:`diode_subcircuit_as_ndiode`),
    which magic 8.3.105 reads. With ``drop_cif_rules`` every
    ``cifmaxwidth``/``cifspacing``/``cifarea`` rule of the ``drc`` section is removed as well. Every
    rule statement whose message names a rule id of ``leave_out`` (``"... (M1.e)"``) is removed too,
    whatever its keyword: those rules are checked another way.
    """
    lines = _inlined(Path(source))
    first, last = _drc_section(lines)
    keep = [not re.match(r"\s*requires\s+magic-", line) for line in lines]
    dropped = []
    leave_out = set(leave_out)
    for start, end in _statements(lines[first:last]):
        statement = " ".join(line.strip().rstrip("\\") for line in lines[first + start:first + end])
        keyword = statement.split(maxsplit=1)[0] if statement.strip() else ""
        message = re.search(r'"([^"]*)"?', statement)
        rule = TechRule(keyword, message.group(1) if message else statement)
        left_out = bool(message) and rule.rule_id in leave_out
        if (drop_cif_rules and keyword in CIF_RULE_KEYWORDS) or left_out:
            if not (left_out and rule in dropped):
                dropped.append(rule)
            for number in range(first + start, first + end):
                keep[number] = False
    extract = _section(lines, "extract") or (0, 0)
    for start, end in _statements(lines[extract[0]:extract[1]]):
        span = range(extract[0] + start, extract[0] + end)
        statement = " ".join(lines[number].strip().rstrip("\\") for number in span)
        rewritten = diode_subcircuit_as_ndiode(statement)
        if rewritten != statement:
            lines[span[0]] = f" {rewritten}\n"
            for number in span[1:]:
                keep[number] = False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text("".join(line for line, kept in zip(lines, keep) if kept))
    os.replace(tmp, dest)
    return tuple(dropped)
