"""The standard-cell CDL rewritten into the device form magic's extraction produces.

Magic extracts transistors as subcircuit instances whose model carries the PDK's device prefix
(on SKY130 ``X0 d g s b sky130_fd_pr__nfet_01v8 w=.. l=..``) and the tie cell's shorts as a resistor
model (``sky130_fd_pr__res_generic_po``), while the PDK's CDL writes ``M`` cards with bare model
names and a multiplier (``m=2``), ``short`` resistors, and ``/`` before subcircuit names; the
descriptor's ``[lvs]`` table names both (:class:`Devices`). :func:`write_lvs_cdl` rewrites each of those so that
netgen compares like with like: ``m=`` is folded into ``w`` (netgen merges the layout's parallel
fingers by adding their widths), or, for cells drawn with separate finger stacks, expanded.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

_SCALE = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "meg": 1e6,
          "g": 1e9, "t": 1e12}


@dataclass(frozen=True)
class Devices:
    """How the layout's extraction names devices: the model prefix the CDL leaves out, and the
    resistor model of the library's shorts."""

    prefix: str
    short_resistor: str


def spice_number(text: str) -> float:
    """A SPICE number with an optional scale suffix (``0.65``, ``650000u``, ``1.2meg``)."""
    match = re.fullmatch(r"([-+]?[0-9.]+(?:e[-+]?\d+)?)(meg|[fpnumkgt])?[a-z]*", text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a SPICE number")
    return float(match.group(1)) * _SCALE.get(match.group(2) or "", 1.0)


def _cards(text: str) -> list[str]:
    """Netlist lines with ``+`` continuation lines joined to the card they continue."""
    cards: list[str] = []
    for line in text.splitlines():
        if line.startswith("+") and cards:
            cards[-1] += " " + line[1:].strip()
        else:
            cards.append(line)
    return cards


@dataclass(frozen=True)
class _Transistor:
    name: str
    drain: str
    gate: str
    source: str
    bulk: str
    model: str
    width: float
    length: float
    fingers: int

    @classmethod
    def parse(cls, card: str) -> "_Transistor":
        name, drain, gate, source, bulk, model, *rest = card.split()
        params = dict(item.split("=", 1) for item in rest if "=" in item)
        if "w" not in params or "l" not in params:
            raise ValueError(f"transistor card without w= and l=: {card!r}")
        fingers = spice_number(params.get("m", "1"))
        if fingers != int(fingers) or fingers < 1:
            raise ValueError(f"transistor card with a multiplier that is not a whole number: {card!r}")
        return cls(name[1:], drain, gate, source, bulk, model, spice_number(params["w"]),
                   spice_number(params["l"]), int(fingers))

    def card(self, prefix: str, *, suffix: str = "", width: float | None = None,
             rename: dict[str, str] | None = None) -> str:
        """The device as magic extracts it, its model with ``prefix``."""
        nets = [(rename or {}).get(net, net) for net in (self.drain, self.gate, self.source, self.bulk)]
        return (f"X{self.name}{suffix} {' '.join(nets)} {prefix}{self.model} "
                f"w={self.width if width is None else width:.6g} l={self.length:.6g}")


def stack_nets(header: str, body: list[str]) -> dict[str, int]:
    """Inner nets of a subcircuit's finger stacks, with their finger count: internal nets, on no
    gate, joining the source/drain of exactly two transistors with the same finger count > 1. A
    layout may draw such a net once for all fingers or once per group of fingers."""
    ports = {p for p in header.split()[2:] if "=" not in p}
    transistors = [_Transistor.parse(c) for c in body if c.split() and c[0] in "Mm"]
    touching: dict[str, list[_Transistor]] = {}
    gates = {t.gate for t in transistors}
    for t in transistors:
        for net in {t.drain, t.source}:
            touching.setdefault(net, []).append(t)
    return {net: devices[0].fingers for net, devices in sorted(touching.items())
            if net not in ports and net not in gates and len(devices) == 2
            and len({d.fingers for d in devices}) == 1 and devices[0].fingers > 1}


def finger_groups(fingers: int, largest: int | None = None) -> list[tuple[int, ...]]:
    """Every way to split ``fingers`` into groups (partitions, largest group first)."""
    largest = fingers if largest is None else largest
    if fingers == 0:
        return [()]
    return [(first, *rest) for first in range(min(fingers, largest), 0, -1)
            for rest in finger_groups(fingers - first, first)]


def _group_of(groups: Sequence[int], finger: int) -> int:
    """Index of the group finger number ``finger`` falls in (groups take fingers in order)."""
    for index, end in enumerate(itertools.accumulate(groups)):
        if finger < end:
            return index
    raise ValueError(f"finger {finger} is beyond the groups {tuple(groups)}")


def subckt_cards(body: list[str], devices: Devices, split: Mapping[str, Sequence[int]] | None = None) -> list[str]:
    """A subcircuit's cards in magic's device form.

    ``split`` maps a stack net to finger groups (``{"sndA1": (2, 1, 1)}``): each transistor on it
    becomes one device per finger, and the net one net per group (``sndA1_g0``, ...).
    """
    split = {net: groups for net, groups in (split or {}).items() if len(groups) > 1}
    cards = []
    for card in body:
        if not (card.split() and card[0] in "Mm"):
            cards.append(rewrite_card(card, devices))
            continue
        t = _Transistor.parse(card)
        if split.keys() & {t.drain, t.source}:
            cards += [t.card(devices.prefix, suffix=f"_f{k}",
                             rename={net: f"{net}_g{_group_of(groups, k)}" for net, groups in split.items()})
                      for k in range(t.fingers)]
        else:
            cards.append(t.card(devices.prefix, width=t.width * t.fingers))
    return cards


def subckt_text(name: str, header: str, body: list[str], devices: Devices,
                split: Mapping[str, Sequence[int]] | None = None) -> str:
    """One subcircuit in magic's device form (see :func:`subckt_cards`), ``.SUBCKT`` to ``.ENDS``."""
    return "\n".join([header, *subckt_cards(body, devices, split), f".ENDS {name}", ""]) + "\n"


def read_subckts(source: Path) -> dict[str, tuple[str, list[str]]]:
    """``{name: (header card, body cards)}`` for every subcircuit of a CDL file."""
    subckts: dict[str, tuple[str, list[str]]] = {}
    body: list[str] | None = None
    for card in _cards(Path(source).read_text()):
        tokens = card.split()
        keyword = tokens[0].lower() if tokens else ""
        if keyword == ".subckt":
            body = []
            subckts[tokens[1]] = (card, body)
        elif keyword == ".ends":
            body = None
        elif body is not None and tokens and not tokens[0].startswith("*"):
            body.append(card)
    return subckts


def transistor_models(source: Path, devices: Devices) -> set[str]:
    """The transistor models of a CDL file (its ``M`` cards) as the layout's extraction names them
    (with the device prefix): the devices whose source and drain netgen may swap and whose
    parallel fingers it merges."""
    return {f"{devices.prefix}{_Transistor.parse(card).model}"
            for _, body in read_subckts(source).values() for card in body if card[0] in "Mm"}


def rewrite_card(card: str, devices: Devices) -> str:
    """One CDL card in magic's device form (cards that need no change come back unchanged)."""
    tokens = card.split()
    if not tokens:
        return card
    kind = tokens[0][0].upper()
    if kind == "M":
        transistor = _Transistor.parse(card)
        return transistor.card(devices.prefix, width=transistor.width * transistor.fingers)
    if kind == "R" and len(tokens) == 4 and tokens[3].lower() == "short":
        return f"R{tokens[0][1:]} {tokens[1]} {tokens[2]} {devices.short_resistor}"
    if kind == "X" and "/" in tokens:
        return " ".join(token for token in tokens if token != "/")
    return card


def write_lvs_cdl(source: Path, dest: Path, devices: Devices,
                  split: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
                  replace: Mapping[str, str] | None = None) -> Path:
    """Rewrite the CDL ``source`` into ``dest`` (written atomically); return ``dest``.

    Transistors with ``m=N`` become one device N times as wide, except those on the stack nets
    given finger groups in ``split[cell]`` (see :func:`subckt_cards`), the way some layouts draw
    them: ``a21oi_2`` has its n-stack's inner net once per finger, ``a21oi_4`` once for all four,
    ``a211oi_4`` its p-stack's in groups of 2, 1 and 1. netgen merges parallel devices but not
    parallel stacks, so the netlist has to follow the layout.
    ``replace`` gives subcircuit texts to use instead of the CDL's, by subcircuit name.
    """
    split, replace = split or {}, replace or {}
    text = "".join(replace.get(name) or subckt_text(name, header, body, devices, split.get(name, ()))
                   for name, (header, body) in read_subckts(source).items())
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, dest)
    return dest
