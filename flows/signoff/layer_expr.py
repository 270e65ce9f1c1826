"""Derived layers for the KLayout layout-rule checks, written as short expressions in PDK data.

A PDK descriptor's ``[layout_rules.derived]`` names layers a rule deck derives from drawing layers,
e.g. ``nactiv = "Activ - (pSD | nSD.block)"``. The grammar is deliberately small:

- a name is a layer of the KLayout layer-properties file (``Activ``, ``nSD.block``), another derived
  layer, or ``extent`` (the top cell's bounding box);
- ``&`` (and), ``|`` (or), ``-`` (not) and ``^`` (xor) combine left to right, all with the same
  precedence, as a KLayout deck's chained calls do; parentheses group;
- the polygon selections ``A interacting B``, ``not_interacting``, ``covering``, ``inside``,
  ``not_inside``, ``outside``, ``not_outside`` (KLayout's methods of those names: the polygons of A,
  whole, that relate so to B) and ``A abutting B`` (polygons of A sharing part of an edge with B)
  take the same place as the operators;
- ``holes(X)`` are the holes of X, ``non_squares(X)`` its polygons that are not squares.

:func:`parse` checks the text once (so a descriptor error names the key at load time);
:func:`evaluate` computes the region from a lookup of names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import klayout.db as kdb

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>[&|^()\-]))")

#: the binary operators and selections, and what they make of two regions
OPERATORS: dict[str, Callable[[kdb.Region, kdb.Region], kdb.Region]] = {
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "-": lambda a, b: a - b, "^": lambda a, b: a ^ b,
    "interacting": kdb.Region.interacting, "not_interacting": kdb.Region.not_interacting,
    "covering": kdb.Region.covering, "inside": kdb.Region.inside, "not_inside": kdb.Region.not_inside,
    "outside": kdb.Region.outside, "not_outside": kdb.Region.not_outside,
    "abutting": lambda a, b: a.interacting(a.edges() & b.edges()),
}

#: the functions of one region
FUNCTIONS: dict[str, Callable[[kdb.Region], kdb.Region]] = {
    "holes": lambda region: region.holes(),
    "non_squares": lambda region: region.non_squares(),
}


class LayerExprError(ValueError):
    """An expression that does not follow the grammar; the message shows where."""


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Call:
    function: str
    argument: "Node"


@dataclass(frozen=True)
class Binary:
    operator: str
    left: "Node"
    right: "Node"


Node = Name | Call | Binary


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise LayerExprError(f"{text!r}: unexpected {text[position:].strip()[:12]!r} at character "
                                 f"{position}; valid: layer names, {' '.join(OPERATORS)}, parentheses, "
                                 f"{', '.join(f'{f}(...)' for f in FUNCTIONS)}")
        tokens.append(match.group("name") or match.group("op"))
        position = match.end()
    return tokens


def parse(text: str) -> Node:
    """The tree of ``text``; :class:`LayerExprError` if it is not a valid expression."""
    tokens = _tokens(text)
    if not tokens:
        raise LayerExprError(f"{text!r}: empty expression")
    node, rest = _expression(text, tokens)
    if rest:
        raise LayerExprError(f"{text!r}: unexpected {rest[0]!r} after a complete expression")
    return node


def _expression(text: str, tokens: list[str]) -> tuple[Node, list[str]]:
    node, tokens = _operand(text, tokens)
    while tokens and tokens[0] in OPERATORS:
        operator = tokens[0]
        right, tokens = _operand(text, tokens[1:])
        node = Binary(operator, node, right)
    return node, tokens


def _operand(text: str, tokens: list[str]) -> tuple[Node, list[str]]:
    if not tokens:
        raise LayerExprError(f"{text!r}: ends where a layer name or '(' is expected")
    head, tokens = tokens[0], tokens[1:]
    if head == "(":
        node, tokens = _expression(text, tokens)
        return node, _expect(text, tokens, ")")
    if head in OPERATORS or head == ")":
        raise LayerExprError(f"{text!r}: {head!r} where a layer name or '(' is expected")
    if tokens and tokens[0] == "(":
        if head not in FUNCTIONS:
            raise LayerExprError(f"{text!r}: unknown function {head!r}; valid: {', '.join(FUNCTIONS)}")
        argument, tokens = _expression(text, tokens[1:])
        return Call(head, argument), _expect(text, tokens, ")")
    return Name(head), tokens


def _expect(text: str, tokens: list[str], token: str) -> list[str]:
    if not tokens or tokens[0] != token:
        found = repr(tokens[0]) if tokens else "the end"
        raise LayerExprError(f"{text!r}: expected {token!r}, found {found}")
    return tokens[1:]


def names(node: Node) -> set[str]:
    """Every name the expression reads."""
    if isinstance(node, Name):
        return {node.name}
    if isinstance(node, Call):
        return names(node.argument)
    return names(node.left) | names(node.right)


def evaluate(node: Node, lookup: Callable[[str], kdb.Region]) -> kdb.Region:
    """The region of ``node``, with each name's region from ``lookup``."""
    if isinstance(node, Name):
        return lookup(node.name)
    if isinstance(node, Call):
        return FUNCTIONS[node.function](evaluate(node.argument, lookup))
    return OPERATORS[node.operator](evaluate(node.left, lookup), evaluate(node.right, lookup))
