"""The one LEF reader: the parts of LEF the flow needs. Routing layers, fixed vias, sites and cell
macros, the process-antenna data (layer rules from the tech LEF, pin gate and diffusion areas from the
cell LEF), and the wire and via parasitics (sheet resistance, area and edge capacitance per routing
layer, resistance per cut) with the UNITS they are stated in.

Coordinates are converted to integer nanometres (the tech LEF's MANUFACTURINGGRID is a whole number
of them), so geometry checks are exact. Antenna areas stay in square micrometres and ratios are unitless, as LEF states them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

Rect = tuple[int, int, int, int]

#: the units the parasitics must be stated in (UNITS quantity -> unit, at scale 1)
PARASITIC_UNITS = {"CAPACITANCE": "PICOFARADS", "RESISTANCE": "OHMS"}


class LefError(ValueError):
    """A LEF that states something the reader does not support; the message names the file and value."""


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
    thickness: int = 0
    #: the wider spacings of the layer's SPACINGTABLE PARALLELRUNLENGTH: (width, run, spacing) in nm,
    #: the spacing to a shape wider than ``width`` beside which a wire runs longer than ``run``
    wide_spacing: tuple[tuple[int, int, int], ...] = ()
    #: RESISTANCE RPERSQ, CAPACITANCE CPERSQDIST and EDGECAPACITANCE as the LEF states them (ohm per
    #: square, pF per um2, pF per um of edge in :data:`PARASITIC_UNITS`); None when the layer has none
    rpersq: float | None = None
    cpersqdist: float | None = None
    edge_capacitance: float | None = None


@dataclass
class ViaDef:
    """A fixed via: its cut layer and the rectangle it draws on each of its three layers."""

    name: str
    rects: dict[str, Rect]

    def cut(self, cut_layers: list[str]) -> tuple[str, Rect]:
        """The cut layer and its rectangle."""
        return next((layer, rect) for layer, rect in self.rects.items() if layer in cut_layers)


#: a piecewise-linear table of (diffusion area in um2, allowed ratio) points
Pwl = tuple[tuple[float, float], ...]


@dataclass
class AntennaRule:
    """The default-oxide (OXIDE1) antenna rule of one layer, as the tech LEF states it.

    None means the LEF does not give that ratio. The ``diff_*`` ratios apply when the metal is
    connected to diffusion; a single LEF value is kept as a one-point table. ``unsupported`` names
    the OXIDE1 ANTENNA statements of the layer that are not modelled here (for example
    ANTENNAAREAMINUSDIFF), so a checker can refuse a technology it would get wrong.
    """

    area_ratio: float | None = None
    side_area_ratio: float | None = None
    cum_area_ratio: float | None = None
    cum_side_area_ratio: float | None = None
    diff_area_ratio: Pwl | None = None
    diff_side_area_ratio: Pwl | None = None
    cum_diff_area_ratio: Pwl | None = None
    cum_diff_side_area_ratio: Pwl | None = None
    area_factor: float = 1.0
    area_factor_diff_only: bool = False
    side_area_factor: float = 1.0
    side_area_factor_diff_only: bool = False
    unsupported: tuple[str, ...] = ()


@dataclass
class Pin:
    name: str
    direction: str
    use: str
    shapes: list[tuple[str, Rect]]
    #: ANTENNAGATEAREA and ANTENNADIFFAREA (um2, the largest when given per layer; 0 when absent)
    gate_area: float = 0.0
    diff_area: float = 0.0


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
    """Routing layers in order from the lowest, fixed vias, sites and parasitics of a tech LEF."""

    layers: dict[str, RoutingLayer]
    cut_layers: list[str]
    cut_spacing: dict[str, int]
    vias: dict[str, ViaDef]
    sites: dict[str, tuple[int, int]]
    #: routing and cut layers in the tech LEF's order (from the bottom), and their antenna rules
    layer_order: list[str] = field(default_factory=list)
    antenna: dict[str, AntennaRule] = field(default_factory=dict)
    #: MANUFACTURINGGRID in nm (0 when the LEF gives none)
    manufacturing_grid: int = 0
    #: RESISTANCE per cut of each cut layer that states one, as the LEF states it
    cut_resistance: dict[str, float] = field(default_factory=dict)
    #: the UNITS statements: quantity -> (unit, scale as written), e.g. ``"RESISTANCE": ("OHMS", "1")``
    units: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the file read, named in errors
    source: Path | None = None

    def check_parasitic_units(self) -> None:
        """Raise :class:`LefError` unless the LEF states resistance and capacitance in
        :data:`PARASITIC_UNITS` at scale 1; a LEF whose UNITS do not mention them passes."""
        for quantity, expected in PARASITIC_UNITS.items():
            unit, scale = self.units.get(quantity, (expected, "1"))
            if unit != expected or float(scale) != 1:
                raise LefError(f"{self.source}: UNITS {quantity} {unit} {scale} is not supported; "
                               f"expected {expected} 1")

    def via_between(self, lower: str, upper: str, name_suffix: str) -> ViaDef:
        """The via named ``*<name_suffix>`` joining two layers. Where several do (a tech LEF may offer
        each orientation and longer variants), the one whose metal runs along each layer's
        preferred direction, then the smallest (:meth:`vias_between`)."""
        return self.vias_between(lower, upper, name_suffix)[0]

    def vias_between(self, lower: str, upper: str, name_suffix: str) -> list[ViaDef]:
        """Every via named ``*<name_suffix>`` joining two layers, best first: metal along each layer's
        preferred direction, then the smallest metal. KeyError when there is none."""
        found = [via for via in self.vias.values()
                 if set(via.rects) - set(self.cut_layers) == {lower, upper} and via.name.endswith(name_suffix)]
        if not found:
            raise KeyError(f"no via {name_suffix!r} between {lower!r} and {upper!r} in the tech LEF")

        def fit(via: ViaDef) -> tuple[int, int]:
            along, area = 0, 0
            for layer in (lower, upper):
                x0, y0, x1, y1 = via.rects[layer]
                if layer in self.layers:
                    horizontal = self.layers[layer].direction == "HORIZONTAL"
                    along += (x1 - x0 > y1 - y0) if horizontal else (y1 - y0 > x1 - x0)
                area += (x1 - x0) * (y1 - y0)
            return -along, area

        return sorted(found, key=fit)


def _blocks(text: str, keyword: str):
    """Yield (name, body) of every ``KEYWORD name ... END name`` block; the keyword in any case
    (IHP's tech LEF writes ``Via``), the name whole (a ``MACRO Cat... STRING ;`` property
    definition is not a macro ``C`` ending at some pin's ``END C``). A line ending in ``;`` is a
    statement, not a block's start: a macro's ``SITE unithd ;`` does not open a search for an
    ``END unithd`` to the end of the file (which made reading a large cell LEF quadratic)."""
    pattern = re.compile(rf"^\s*(?i:{keyword})\s+(\S+)(?!\S)(?![^\n]*;)(.*?)^\s*END\s+\1\s*$", re.M | re.S)
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


def _statements(body: str):
    """The token lists of the ``;``-terminated statements of a LEF body, comments removed."""
    for statement in re.sub(r"#[^\n]*", "", body).split(";"):
        tokens = statement.replace("(", " ( ").replace(")", " ) ").split()
        if tokens:
            yield tokens


def _oxide1(body: str):
    """The ANTENNA statements of ``body`` that belong to the default oxide model (OXIDE1)."""
    model = "OXIDE1"
    for tokens in _statements(body):
        if tokens[0] == "ANTENNAMODEL":
            model = tokens[1]
        elif tokens[0].startswith("ANTENNA") and model == "OXIDE1":
            yield tokens


def _ratio_table(tokens: list[str]) -> Pwl:
    """``v`` or ``PWL ( ( d1 r1 ) ( d2 r2 ) ... )`` as a table of points."""
    if tokens[1] != "PWL":
        return ((0.0, float(tokens[1])),)
    numbers = [float(t) for t in tokens[2:] if t not in ("(", ")")]
    return tuple(zip(numbers[0::2], numbers[1::2]))


_SCALAR_RATIOS = {"ANTENNAAREARATIO": "area_ratio", "ANTENNASIDEAREARATIO": "side_area_ratio",
                  "ANTENNACUMAREARATIO": "cum_area_ratio", "ANTENNACUMSIDEAREARATIO": "cum_side_area_ratio"}
_TABLE_RATIOS = {"ANTENNADIFFAREARATIO": "diff_area_ratio", "ANTENNADIFFSIDEAREARATIO": "diff_side_area_ratio",
                 "ANTENNACUMDIFFAREARATIO": "cum_diff_area_ratio",
                 "ANTENNACUMDIFFSIDEAREARATIO": "cum_diff_side_area_ratio"}
_FACTORS = {"ANTENNAAREAFACTOR": "area_factor", "ANTENNASIDEAREAFACTOR": "side_area_factor"}


def read_antenna_rule(body: str) -> AntennaRule | None:
    """The OXIDE1 antenna rule of a LAYER body, or None when it states none."""
    statements = list(_oxide1(body))
    if not statements:
        return None
    rule, unsupported = AntennaRule(), []
    for tokens in statements:
        keyword = tokens[0]
        if keyword in _SCALAR_RATIOS:
            setattr(rule, _SCALAR_RATIOS[keyword], float(tokens[1]))
        elif keyword in _TABLE_RATIOS:
            setattr(rule, _TABLE_RATIOS[keyword], _ratio_table(tokens))
        elif keyword in _FACTORS:
            setattr(rule, _FACTORS[keyword], float(tokens[1]))
            setattr(rule, f"{_FACTORS[keyword]}_diff_only", "DIFFUSEONLY" in tokens)
        else:
            unsupported.append(keyword)
    rule.unsupported = tuple(unsupported)
    return rule


def _spacing_table(body: str) -> list[tuple[int, int, int]]:
    """The (width, run, spacing) entries, in nm, of a layer's SPACINGTABLE PARALLELRUNLENGTH (none
    without one), row by row: the first is the spacing of the narrowest line over the shortest run."""
    table = re.search(r"SPACINGTABLE\s+PARALLELRUNLENGTH\s+([^;]*);", body, re.S)
    if not table:
        return []
    runs_text, *rows = re.split(r"\bWIDTH\b", table.group(1))
    runs = [nm(v) for v in runs_text.split()]
    entries = [[nm(v) for v in row.split()] for row in rows]
    return [(row[0], run, spacing) for row in entries for run, spacing in zip(runs, row[1:])]


def _parasitics(body: str) -> dict[str, float]:
    """The first RESISTANCE RPERSQ, CAPACITANCE CPERSQDIST, EDGECAPACITANCE and (cut) RESISTANCE
    value of a LAYER body, comments left out, keyed by the statement's words before the value."""
    found: dict[str, float] = {}
    for tokens in _statements(body):
        key = " ".join(tokens[:-1])
        if key in ("RESISTANCE RPERSQ", "CAPACITANCE CPERSQDIST", "EDGECAPACITANCE", "RESISTANCE"):
            found.setdefault(key, float(tokens[-1]))
    return found


def _units(text: str) -> dict[str, tuple[str, str]]:
    """The ``quantity unit scale`` statements of the UNITS section, the first of each quantity."""
    block = re.search(r"^\s*UNITS\b(.*?)^\s*END\s+UNITS", text, re.M | re.S)
    units: dict[str, tuple[str, str]] = {}
    for tokens in _statements(block.group(1) if block else ""):
        if len(tokens) == 3:
            units.setdefault(tokens[0], (tokens[1], tokens[2]))
    return units


def read_technology(path: Path) -> Technology:
    """Routing layers, cut layers, fixed vias, sites and parasitics from a tech LEF."""
    text = Path(path).read_text()
    layers: dict[str, RoutingLayer] = {}
    cuts: list[str] = []
    cut_spacing: dict[str, int] = {}
    cut_resistance: dict[str, float] = {}
    order: list[str] = []
    antenna: dict[str, AntennaRule] = {}
    for name, body in _blocks(text, "LAYER"):
        kind = re.search(r"TYPE\s+(\w+)", body)
        kind = kind.group(1) if kind else ""
        if kind in ("CUT", "ROUTING"):
            order.append(name)
            rule = read_antenna_rule(body)
            if rule is not None:
                antenna[name] = rule
            rc = _parasitics(body)
        if kind == "CUT":
            cuts.append(name)
            cut_spacing[name] = nm(_number(body, "SPACING"))
            if "RESISTANCE" in rc:
                cut_resistance[name] = rc["RESISTANCE"]
        if kind != "ROUTING":
            continue
        pitch = re.search(r"^\s*PITCH\s+([\d.]+)", body, re.M)
        offset = re.search(r"^\s*OFFSET\s+([\d.]+)", body, re.M)
        table = _spacing_table(body)
        spacing = re.search(r"^\s*SPACING\s+([\d.]+)\s*;", body, re.M)
        narrowest = table[0][2] if table else nm(spacing.group(1)) if spacing else 0
        layers[name] = RoutingLayer(
            name=name,
            direction=re.search(r"DIRECTION\s+(\w+)", body).group(1),
            pitch=nm(pitch.group(1)), offset=nm(offset.group(1)) if offset else 0,
            width=nm(re.search(r"^\s*WIDTH\s+([\d.]+)", body, re.M).group(1)),
            spacing=narrowest,
            min_area_nm2=int(round(_number(body, "AREA") * 1e6)),
            thickness=nm(_number(body, "THICKNESS")),
            wide_spacing=tuple(entry for entry in table if entry[2] > narrowest),
            rpersq=rc.get("RESISTANCE RPERSQ"), cpersqdist=rc.get("CAPACITANCE CPERSQDIST"),
            edge_capacitance=rc.get("EDGECAPACITANCE"),
        )
    vias = {}
    for name, body in _blocks(text, "VIA"):
        shapes = _rects(body)
        rects = {layer: rect for layer, rect in shapes}
        if rects and len(rects) == len(shapes):  # one rectangle per layer: no multi-cut vias
            vias[name] = ViaDef(name, rects)
    return Technology(layers, cuts, cut_spacing, vias, _sites(text), order, antenna,
                      nm(_number(text, "MANUFACTURINGGRID")), cut_resistance, _units(text), Path(path))


def _sites(text: str) -> dict[str, tuple[int, int]]:
    sites = {}
    for name, body in _blocks(text, "SITE"):
        size = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", body)
        if size:  # a macro's ``SITE name ;`` refers to a site and defines none
            sites[name] = (nm(size.group(1)), nm(size.group(2)))
    return sites


def read_sites(path: Path) -> dict[str, tuple[int, int]]:
    """Every SITE of a LEF file (width, height in nm): a cell LEF may define its own (IHP's does)."""
    return _sites(Path(path).read_text())


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
            areas = {"ANTENNAGATEAREA": 0.0, "ANTENNADIFFAREA": 0.0}
            for tokens in _oxide1(pin_body.split("PORT")[0]):
                if tokens[0] in areas:
                    areas[tokens[0]] = max(areas[tokens[0]], float(tokens[1]))
            macro.pins[pin_name] = Pin(pin_name, direction.group(1) if direction else "INOUT",
                                       use.group(1) if use else "SIGNAL", shapes,
                                       areas["ANTENNAGATEAREA"], areas["ANTENNADIFFAREA"])
        obs = re.search(r"^\s*OBS(.*?)^\s*END\s*$", body, re.M | re.S)
        if obs:
            macro.obstructions = _rects(obs.group(1))
        macros[name] = macro
    return macros
