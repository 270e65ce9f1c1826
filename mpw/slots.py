"""Shuttle slots: where a design goes on a multi-project wafer run, from the data in ``pdk/shuttles``.

Each shuttle is one TOML file, ``pdk/shuttles/<name>.toml``, of one of three kinds:

- ``tiles``: a menu of tile sizes (Tiny Tapeout); the die of a size follows from the tile pitches, and
  every size carries the same signal-pin template on one edge and a power-stripe rule;
- ``fixed``: one slot with a fixed die (the Caravel user area);
- ``area``: any rectangular die up to a maximum area, ``WxH`` in um chosen by the user.

Geometry is held in integer database units of the shuttle (``dbu_um``, 1 nm), so that generated die
and pin rectangles compare exactly with a template DEF or a GDS. A slot is named ``shuttle:size``
(``tt-sky130:1x1``, ``caravel-sky130``, ``ihp-sg13g2-2mm2:1000x1500``).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SHUTTLE_DIR = Path(__file__).resolve().parent.parent / "pdk" / "shuttles"

GdsLayer = tuple[int, int]
Rect = tuple[int, int, int, int]

KINDS = ("tiles", "fixed", "area")


class ShuttleError(ValueError):
    """An unknown shuttle or slot, a size that does not fit, or a malformed shuttle file; the message
    says what would be valid."""


@dataclass(frozen=True)
class Metal:
    """A routing layer: GDS layer/datatype of its drawing, pin and label (text) purposes."""

    name: str
    drawing: GdsLayer
    pin: GdsLayer
    label: GdsLayer


@dataclass(frozen=True)
class Pin:
    """A template pin: ``rect`` (x1, y1, x2, y2) in database units on the metal ``layer``."""

    name: str
    layer: str
    rect: Rect
    direction: str
    use: str = "SIGNAL"


@dataclass(frozen=True)
class PowerRule:
    """Power pins: stripes of ``nets`` on ``layer`` at least ``min_width`` wide, each reaching to
    within ``max_edge_gap`` of both die edges across the stripe direction (database units)."""

    nets: tuple[str, ...]
    layer: str
    orientation: str
    min_width: int
    max_edge_gap: int


@dataclass(frozen=True)
class Slot:
    """One place on a shuttle: its die (x1, y1, x2, y2 in database units), signal-pin template and
    power rule (none for slots without a template)."""

    shuttle: Shuttle = field(repr=False, compare=False)
    size: str
    die: Rect
    pins: tuple[Pin, ...] = ()
    power: PowerRule | None = None

    @property
    def spec(self) -> str:
        """The slot's name, ``shuttle:size``."""
        return f"{self.shuttle.name}:{self.size}"

    @property
    def die_um(self) -> tuple[float, float, float, float]:
        return tuple(self.shuttle.um(v) for v in self.die)

    @property
    def width_um(self) -> float:
        return self.shuttle.um(self.die[2] - self.die[0])

    @property
    def height_um(self) -> float:
        return self.shuttle.um(self.die[3] - self.die[1])

    @property
    def area_um2(self) -> float:
        return self.width_um * self.height_um

    def pin(self, name: str) -> Pin:
        for pin in self.pins:
            if pin.name == name:
                return pin
        raise ShuttleError(f"slot {self.spec} has no pin {name!r}")


@dataclass(frozen=True)
class Shuttle:
    """A shuttle read from its TOML file; :meth:`slot` gives the slot of one size."""

    name: str
    description: str
    pdk: str
    kind: str
    dbu_um: float
    top_cell: str
    deliverables: tuple[str, ...]
    boundary_name: str
    boundary_layer: GdsLayer
    metals: dict[str, Metal]
    allowed: dict[GdsLayer, str]
    forbidden: dict[GdsLayer, str]
    data: dict = field(repr=False, compare=False)

    def dbu(self, um: float) -> int:
        """``um`` in the shuttle's database units."""
        return round(um / self.dbu_um)

    def um(self, dbu: int) -> float:
        """``dbu`` database units in um, rounded to the database unit."""
        return round(dbu * self.dbu_um, 6)

    @property
    def sizes(self) -> list[str]:
        """The slot sizes on offer; empty for an ``area`` shuttle (any ``WxH`` up to its maximum)."""
        if self.kind == "tiles":
            return list(self.data["tiles"]["sizes"])
        if self.kind == "fixed":
            return [self.data["fixed"]["size"]]
        return []

    @property
    def max_area_um2(self) -> float | None:
        return float(self.data["area"]["max_area_um2"]) if self.kind == "area" else None

    def layer_name(self, layer: GdsLayer) -> str:
        """A readable name of a GDS layer/datatype: ``met4.pin``, ``met5``, ``prBoundary``, or ``71/99``."""
        for metal in self.metals.values():
            for purpose in ("drawing", "pin", "label"):
                if getattr(metal, purpose) == layer:
                    return metal.name if purpose == "drawing" else f"{metal.name}.{purpose}"
        if layer == self.boundary_layer:
            return self.boundary_name
        return self.forbidden.get(layer) or self.allowed.get(layer) or f"{layer[0]}/{layer[1]}"

    def allowed_layers(self) -> set[GdsLayer]:
        """Every GDS layer/datatype a design on this shuttle may draw: the metals' purposes, the
        boundary and the listed layers."""
        layers = {self.boundary_layer, *self.allowed}
        for metal in self.metals.values():
            layers |= {metal.drawing, metal.pin, metal.label}
        return layers

    def slot(self, size: str | None = None) -> Slot:
        """The slot of ``size`` (``CxR`` tiles, ``WxH`` um on an area shuttle; a fixed shuttle's one
        slot when None)."""
        if self.kind == "tiles":
            return self._tile_slot(size)
        if self.kind == "fixed":
            fixed = self.data["fixed"]
            if size not in (None, fixed["size"]):
                raise ShuttleError(f"shuttle {self.name} has one slot, {fixed['size']!r}, not {size!r}")
            width, height = fixed["die_um"]
            return Slot(self, fixed["size"], (0, 0, self.dbu(width), self.dbu(height)))
        return self._area_slot(size)

    def slots(self) -> list[Slot]:
        """Every slot on offer, smallest die area first (empty for an ``area`` shuttle)."""
        return sorted((self.slot(size) for size in self.sizes), key=lambda s: s.area_um2)

    def smallest_fitting(self, area_um2: float | None = None, *, cell_area_um2: float | None = None,
                         utilization: float | None = None) -> Slot:
        """The smallest slot whose die area is at least ``area_um2``, or ``cell_area_um2 /
        utilization``. On an area shuttle: the smallest square die (side rounded up to the database
        unit) within the maximum area."""
        if (area_um2 is None) == (cell_area_um2 is None):
            raise ShuttleError("give either area_um2, or cell_area_um2 and utilization")
        if cell_area_um2 is not None:
            if utilization is None or not 0 < utilization <= 1:
                raise ShuttleError(f"utilization must be in (0, 1], got {utilization!r}")
            area_um2 = cell_area_um2 / utilization
        if area_um2 <= 0:
            raise ShuttleError(f"area must be positive, got {area_um2!r} um2")
        if self.kind == "area":
            side = self.um(math.ceil(math.sqrt(area_um2) / self.dbu_um))
            if side * side > self.max_area_um2:
                raise ShuttleError(f"{area_um2:.0f} um2 does not fit shuttle {self.name} "
                                   f"(at most {self.max_area_um2:.0f} um2)")
            return self.slot(f"{side:g}x{side:g}")
        slots = self.slots()
        for slot in slots:
            if slot.area_um2 >= area_um2:
                return slot
        raise ShuttleError(f"{area_um2:.0f} um2 does not fit shuttle {self.name}: its largest slot "
                           f"{slots[-1].size} has {slots[-1].area_um2:.0f} um2")

    def _tile_slot(self, size: str | None) -> Slot:
        if size not in self.sizes:
            wrong = "needs a tile size, shuttle:size" if size is None else f"has no tile size {size!r}"
            raise ShuttleError(f"shuttle {self.name} {wrong}; sizes: "
                               f"{', '.join(self.sizes)}")
        tiles = self.data["tiles"]
        columns, rows = (int(n) for n in size.split("x"))
        width = columns * self.dbu(tiles["column_pitch_um"]) - self.dbu(tiles["column_gap_um"])
        height = (rows * self.dbu(tiles["row_pitch_um"]) - self.dbu(tiles["row_gap_um"])
                  + self.dbu(tiles["mux_channel_um"]) * ((rows - 1) // tiles["rows_per_half"]))
        power = self.data["power"]
        rule = PowerRule(tuple(power["nets"]), power["layer"], power["orientation"],
                         self.dbu(power["min_width_um"]), self.dbu(power["max_edge_gap_um"]))
        return Slot(self, size, (0, 0, width, height), self._template_pins(height), rule)

    def _template_pins(self, die_height: int) -> tuple[Pin, ...]:
        """The signal pins along the top edge, left to right from the first pin centre."""
        spec = self.data["pins"]
        width, height, pitch = (self.dbu(spec[k]) for k in ("width_um", "height_um", "pitch_um"))
        first = self.dbu(spec["first_center_x_um"])
        names = []
        for group in spec["order"]:
            bits = group.get("bits")
            bus = [f"{group['name']}[{bit}]" for bit in range(bits - 1, -1, -1)] if bits else [group["name"]]
            names += [(name, group["direction"]) for name in bus]
        pins = []
        for index, (name, direction) in enumerate(names):
            x1 = first + index * pitch - width // 2
            pins.append(Pin(name, spec["layer"], (x1, die_height - height, x1 + width, die_height), direction))
        return tuple(pins)

    def _area_slot(self, size: str | None) -> Slot:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)", size or "")
        if not match:
            raise ShuttleError(f"shuttle {self.name} takes a die size WxH in um (e.g. 1000x1500), "
                               f"not {size!r}")
        width, height = (self.dbu(float(v)) for v in match.groups())
        if width <= 0 or height <= 0:
            raise ShuttleError(f"die {size} of shuttle {self.name} must have a positive width and height")
        if width * height * self.dbu_um ** 2 > self.max_area_um2 * (1 + 1e-12):
            raise ShuttleError(f"die {size} um is {width * height * self.dbu_um ** 2:.0f} um2, more than "
                               f"the {self.max_area_um2:.0f} um2 of shuttle {self.name}")
        return Slot(self, f"{self.um(width):g}x{self.um(height):g}", (0, 0, width, height))


def available_shuttles() -> list[str]:
    """Names of the shuttles kchip has a definition for."""
    return sorted(p.stem for p in SHUTTLE_DIR.glob("*.toml"))


def _pair(value, where: str) -> GdsLayer:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise ShuttleError(f"{where}: expected [layer, datatype], got {value!r}")
    return (value[0], value[1])


def _named_layers(table: dict, where: str) -> dict[GdsLayer, str]:
    return {_pair(pair, f"{where}.{name}"): name for name, pairs in table.items() for pair in pairs}


def load_shuttle(name: str) -> Shuttle:
    """The shuttle ``pdk/shuttles/<name>.toml``."""
    path = SHUTTLE_DIR / f"{name}.toml"
    if not path.is_file():
        raise ShuttleError(f"unknown shuttle {name!r}; shuttles: {', '.join(available_shuttles())}")
    data = tomllib.loads(path.read_text())
    try:
        head, layers = data["shuttle"], data["layers"]
        if head["kind"] not in KINDS:
            raise ShuttleError(f"{path}: kind {head['kind']!r} is not one of {', '.join(KINDS)}")
        for table in {"tiles": ("tiles", "pins", "power"), "fixed": ("fixed",), "area": ("area",)}[head["kind"]]:
            if table not in data:
                raise ShuttleError(f"{path}: a {head['kind']} shuttle needs a [{table}] table")
        metals = {n: Metal(n, _pair(m["drawing"], f"{path}: {n}.drawing"), _pair(m["pin"], f"{path}: {n}.pin"),
                           _pair(m["label"], f"{path}: {n}.label")) for n, m in layers["metals"].items()}
        shuttle = Shuttle(head["name"], head["description"], head["pdk"], head["kind"], float(head["dbu_um"]),
                          head["top_cell"], tuple(head["deliverables"]), data["boundary"]["name"],
                          _pair(data["boundary"]["layer"], f"{path}: boundary.layer"), metals,
                          _named_layers(layers.get("allowed", {}), f"{path}: layers.allowed"),
                          _named_layers(layers.get("forbidden", {}), f"{path}: layers.forbidden"), data)
    except KeyError as exc:
        raise ShuttleError(f"{path}: missing key {exc.args[0]!r}") from None
    if shuttle.name != name:
        raise ShuttleError(f"{path}: shuttle.name is {shuttle.name!r}, expected {name!r} (the file name)")
    if shuttle.kind == "tiles":
        for layer in (data["pins"]["layer"], data["power"]["layer"]):
            if layer not in metals:
                raise ShuttleError(f"{path}: layer {layer!r} is not in [layers.metals]")
        if data["pins"]["edge"] != "top" or data["power"]["orientation"] != "vertical":
            raise ShuttleError(f"{path}: only pins on the top edge and vertical power stripes are supported")
    clash = shuttle.forbidden.keys() & shuttle.allowed_layers()
    if clash:
        raise ShuttleError(f"{path}: layers both allowed and forbidden: {sorted(clash)}")
    return shuttle


def parse_slot_spec(spec: str) -> Slot:
    """The slot named ``shuttle[:size]``, e.g. ``tt-sky130:1x1``."""
    name, _, size = spec.partition(":")
    return load_shuttle(name).slot(size or None)
