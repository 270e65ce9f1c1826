"""The parts of LEF the physical flow needs: routing layers, fixed vias, sites and cell macros.

Coordinates are converted to integer nanometres (SKY130's manufacturing grid is 5 nm), so geometry
checks are exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

Rect = tuple[int, int, int, int]


def nm(value: str | float) -> int:
    """Micrometres (as text or number) to integer nanometres."""
    return int(round(float(value) * 1000))


@dataclass
class RoutingLayer:
    name: str
    direction: str
    pitch: int
    offset: int
    width: int
    spacing: int
    min_area_nm2: int = 0


@dataclass
class ViaDef:
    """A fixed via: its cut layer and the rectangle it draws on each of its three layers."""

    name: str
    rects: dict[str, Rect]

    def cut(self, cut_layers: list[str]) -> tuple[str, Rect]:
        """The cut layer and its rectangle."""
        return next((layer, rect) for layer, rect in self.rects.items() if layer in cut_layers)


@dataclass
class Pin:
    name: str
    direction: str
    use: str
    shapes: list[tuple[str, Rect]]


@dataclass
class Macro:
    name: str
    width: int
    height: int
    pins: dict[str, Pin] = field(default_factory=dict)
    obstructions: list[tuple[str, Rect]] = field(default_factory=list)

    def signal_pins(self) -> dict[str, Pin]:
        return {n: p for n, p in self.pins.items() if p.use not in ("POWER", "GROUND")}


@dataclass
class Technology:
    """Routing layers in order from the lowest, fixed vias and sites of a tech LEF."""

    layers: dict[str, RoutingLayer]
    cut_layers: list[str]
    cut_spacing: dict[str, int]
    vias: dict[str, ViaDef]
    sites: dict[str, tuple[int, int]]

    def via_between(self, lower: str, upper: str, name_suffix: str = "_PR") -> ViaDef:
        """The default ``*_PR`` via joining two layers (li1-met1 and up)."""
        for via in self.vias.values():
            metals = set(via.rects) - set(self.cut_layers)
            if metals == {lower, upper} and via.name.endswith(name_suffix):
                return via
        raise KeyError(f"no via {name_suffix!r} between {lower!r} and {upper!r} in the tech LEF")


def _blocks(text: str, keyword: str):
    """Yield (name, body) of every ``KEYWORD name ... END name`` block."""
    pattern = re.compile(rf"^\s*{keyword}\s+(\S+)(.*?)^\s*END\s+\1\s*$", re.M | re.S)
    for match in pattern.finditer(text):
        yield match.group(1), match.group(2)


def _rects(body: str) -> list[tuple[str, Rect]]:
    """(layer, rect) for every RECT in a PORT, OBS or VIA body, tracking the current LAYER."""
    shapes, layer = [], None
    tokens = body.replace(";", " ; ").split()
    for i, token in enumerate(tokens):
        if token == "LAYER":
            layer = tokens[i + 1]
        elif token == "RECT":
            values = [t for t in tokens[i + 1:i + 7] if t not in ("MASK",)][:4]
            x0, y0, x1, y1 = (nm(v) for v in values)
            shapes.append((layer, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
    return shapes


def _number(body: str, keyword: str, default: float = 0.0) -> float:
    match = re.search(rf"^\s*{keyword}\s+([-\d.eE+]+)", body, re.M)
    return float(match.group(1)) if match else default


def read_technology(path: Path) -> Technology:
    """Routing layers, cut layers, fixed vias and sites from a tech LEF."""
    text = Path(path).read_text()
    layers: dict[str, RoutingLayer] = {}
    cuts: list[str] = []
    cut_spacing: dict[str, int] = {}
    for name, body in _blocks(text, "LAYER"):
        kind = re.search(r"TYPE\s+(\w+)", body)
        kind = kind.group(1) if kind else ""
        if kind == "CUT":
            cuts.append(name)
            cut_spacing[name] = nm(_number(body, "SPACING"))
        if kind != "ROUTING":
            continue
        pitch = re.search(r"^\s*PITCH\s+([\d.]+)", body, re.M)
        offset = re.search(r"^\s*OFFSET\s+([\d.]+)", body, re.M)
        table = re.search(r"SPACINGTABLE.*?WIDTH\s+0\s+([\d.]+)", body, re.S)
        spacing = re.search(r"^\s*SPACING\s+([\d.]+)\s*;", body, re.M)
        layers[name] = RoutingLayer(
            name=name,
            direction=re.search(r"DIRECTION\s+(\w+)", body).group(1),
            pitch=nm(pitch.group(1)), offset=nm(offset.group(1)) if offset else 0,
            width=nm(re.search(r"^\s*WIDTH\s+([\d.]+)", body, re.M).group(1)),
            spacing=nm((table or spacing).group(1)) if (table or spacing) else 0,
            min_area_nm2=int(round(_number(body, "AREA") * 1e6)),
        )
    vias = {}
    for name, body in _blocks(text, "VIA"):
        rects = {layer: rect for layer, rect in _rects(body)}
        if rects:
            vias[name] = ViaDef(name, rects)
    sites = {}
    for name, body in _blocks(text, "SITE"):
        size = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", body)
        sites[name] = (nm(size.group(1)), nm(size.group(2)))
    return Technology(layers, cuts, cut_spacing, vias, sites)


def read_macros(path: Path) -> dict[str, Macro]:
    """Every MACRO of a cell LEF with its size, pins (shapes per layer) and obstructions."""
    text = Path(path).read_text()
    macros = {}
    for name, body in _blocks(text, "MACRO"):
        size = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", body)
        macro = Macro(name, nm(size.group(1)), nm(size.group(2)))
        for pin_name, pin_body in _blocks(body, "PIN"):
            direction = re.search(r"DIRECTION\s+(\w+)", pin_body)
            use = re.search(r"USE\s+(\w+)", pin_body)
            shapes = [s for port in re.findall(r"PORT(.*?)END", pin_body, re.S) for s in _rects(port)]
            macro.pins[pin_name] = Pin(pin_name, direction.group(1) if direction else "INOUT",
                                       use.group(1) if use else "SIGNAL", shapes)
        obs = re.search(r"^\s*OBS(.*?)^\s*END\s*$", body, re.M | re.S)
        if obs:
            macro.obstructions = _rects(obs.group(1))
        macros[name] = macro
    return macros
