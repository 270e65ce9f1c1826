"""The process rules the physical and signoff stages read: one object from the tech LEF and
``pdk/<name>.toml``.

The tech LEF gives what it states (per routing layer: direction, pitch, offset, width, spacing and
minimum area; the cut layers and fixed vias; sites; the manufacturing grid; antenna rules); the
descriptor names which of those the flow uses (the cells' pin layer, the routing layers bottom up,
the via family, the site, the port and power-strap layers) and everything a LEF does not hold (the
tap, fill, diode, tie and buffer cells with their pins, the corners, the signoff decks and their
styles). :func:`load_rules` checks the descriptor against the LEF and the cell library and names
the file, the key, the bad value and what would be valid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from kchip.formats.lef import (Macro, RoutingLayer, Technology, ViaDef, read_macros, read_sites,
                                      read_technology)
from kchip.pdk import Pdk, PdkError


@dataclass(frozen=True)
class Cells:
    """The library cells the flow places by itself, and the pins it connects."""

    #: the well-tap cell and the largest distance from a cell to a tap; None for a library whose
    #: cells tie their own wells
    tap: str | None
    tap_max_distance_um: float | None
    fill: tuple[str, ...]
    diode: str
    diode_pin: str
    #: the cell driving constant ones, and the one driving zeros (the same cell where the library
    #: has a single tie cell with both pins)
    tie: str
    tie_high_pin: str
    tie_low: str
    tie_low_pin: str
    clock_buffers: tuple[str, ...]
    buffer: str
    fanout_buffer: str
    #: delay cells for hold repair, shortest delay first (same pins as the buffers)
    hold_cells: tuple[str, ...]
    buffer_input: str
    buffer_output: str
    power_pin: str
    ground_pin: str
    nwell_pin: str
    pwell_pin: str
    physical_only: tuple[str, ...]


@dataclass(frozen=True)
class Signoff:
    """Signoff decks and their styles: magic's tech file, DRC and extraction styles, the device
    models of the CDL, the corners and the one signoff times at."""

    corner: str
    corners: tuple[str, ...]
    magic_tech_name: str
    magic_drc_style: str
    magic_extract_style: str
    device_prefix: str
    short_resistor: str
    # what magic's DRC does with the rules it evaluates through generated CIF layers ("auto", "keep",
    # "drop"; see kchip.flows.signoff.drc) and, when the descriptor sets it, why
    magic_cif_rules: str = "auto"
    magic_cif_rules_reason: str = ""


@dataclass(frozen=True)
class ProcessRules:
    """Everything process-specific the flow uses, in integer nm where it is a length."""

    pdk: str
    descriptor: Path
    tech: Technology
    pin_layer: str
    routing_layers: tuple[str, ...]
    via_suffix: str
    grid: int
    site_name: str
    site: tuple[int, int]
    horizontal_port_layer: str
    vertical_port_layer: str
    strap_layer: str
    hole_fill_nm2: int
    cells: Cells
    signoff: Signoff
    layout_rules: dict

    # -- the tech LEF, as the physical modules read it --------------------------------------------
    @property
    def layers(self) -> dict[str, RoutingLayer]:
        return self.tech.layers

    @property
    def cut_layers(self) -> list[str]:
        return self.tech.cut_layers

    @property
    def cut_spacing(self) -> dict[str, int]:
        return self.tech.cut_spacing

    @property
    def vias(self) -> dict[str, ViaDef]:
        return self.tech.vias

    @property
    def sites(self) -> dict[str, tuple[int, int]]:
        return self.tech.sites

    @property
    def layer_order(self) -> list[str]:
        return self.tech.layer_order

    @property
    def antenna(self) -> dict:
        return self.tech.antenna

    # -- derived ------------------------------------------------------------------------------------
    def via(self, lower: str, upper: str) -> ViaDef:
        """The descriptor's via family's via joining ``lower`` and ``upper``."""
        return self.tech.via_between(lower, upper, self.via_suffix)

    @property
    def horizontal(self) -> tuple[bool, ...]:
        """Per routing layer: whether it runs horizontally."""
        return tuple(self.layers[name].direction == "HORIZONTAL" for name in self.routing_layers)

    def _first(self, horizontal: bool) -> RoutingLayer:
        return next(self.layers[n] for n, h in zip(self.routing_layers, self.horizontal) if h == horizontal)

    @property
    def origin(self) -> tuple[int, int]:
        """The routing grid's first node: offsets of the lowest vertical (x) and horizontal (y) layers."""
        return self._first(False).offset, self._first(True).offset

    @property
    def step(self) -> tuple[int, int]:
        """The routing grid's column and row pitch: the lowest vertical and horizontal layers' pitch."""
        return self._first(False).pitch, self._first(True).pitch

    @property
    def node_stride(self) -> tuple[tuple[int, int], ...]:
        """Per routing layer, every how many grid columns and rows it has a node: across its tracks
        its pitch over the grid step; along them, where the layer below has a node."""
        dx, dy = self.step
        strides, below = [], (1, 1)
        for name, horizontal in zip(self.routing_layers, self.horizontal):
            pitch = self.layers[name].pitch
            below = (below[0], pitch // dy) if horizontal else (pitch // dx, below[1])
            strides.append(below)
        return tuple(strides)

    def snap(self, value: int) -> int:
        """``value`` (nm) rounded down to the manufacturing grid."""
        return value // self.grid * self.grid


def _fail(descriptor: Path, key: str, problem: str) -> PdkError:
    return PdkError(f"{descriptor}: {key}: {problem}")


class _Reader:
    """Typed look-ups in the descriptor, failing with the file, the key and what is valid."""

    def __init__(self, descriptor: Path, data: dict):
        self.descriptor, self.data = descriptor, data

    def get(self, key: str, kind: type | tuple[type, ...]):
        value: object = self.data
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise _fail(self.descriptor, key, f"missing; expected {_kind_name(kind)}")
            value = value[part]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise _fail(self.descriptor, key, f"{value!r} is not {_kind_name(kind)}")
        return value

    def has(self, key: str) -> bool:
        """Whether the descriptor sets ``key`` (for optional entries)."""
        value: object = self.data
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        return True

    def names(self, key: str, valid) -> tuple[str, ...]:
        values = self.get(key, list)
        for value in values:
            self.choice(key, value, valid)
        if not values:
            raise _fail(self.descriptor, key, f"empty; valid entries: {', '.join(sorted(valid))}")
        return tuple(values)

    def choice(self, key: str, value, valid) -> str:
        if not isinstance(value, str) or value not in valid:
            shown = sorted(valid)
            more = f" (and {len(shown) - 40} more)" if len(shown) > 40 else ""
            raise _fail(self.descriptor, key, f"{value!r} is not valid; valid: {', '.join(shown[:40])}{more}")
        return value

    def name(self, key: str, valid) -> str:
        return self.choice(key, self.get(key, str), valid)


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        return "a number"
    words = {str: "a string", list: "a list", dict: "a table", float: "a number", int: "an integer",
             bool: "true or false"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _pin(reader: _Reader, key: str, cells, macros: dict[str, Macro]) -> str:
    """The pin named at ``key``, checked to exist on every one of ``cells``."""
    pin = reader.get(key, str)
    for cell in cells:
        if pin not in macros[cell].pins:
            raise _fail(reader.descriptor, key, f"{pin!r} is not a pin of {cell}; valid: "
                        f"{', '.join(sorted(macros[cell].pins))}")
    return pin


def _cells(reader: _Reader, macros: dict[str, Macro]) -> Cells:
    name = functools.partial(reader.name, valid=macros)
    buffers = reader.names("stdcell.clock_buffers", macros)
    buffer, fanout = name("stdcell.buffer_cell"), name("stdcell.fanout_buffer")
    tap = name("stdcell.tap_cell") if reader.has("stdcell.tap_cell") else None
    diode, tie = name("stdcell.diode_cell"), name("stdcell.tie_cell")
    tie_low = name("stdcell.tie_low_cell") if reader.has("stdcell.tie_low_cell") else tie
    holds = reader.names("stdcell.hold_cells", macros)
    every_buffer = (*buffers, buffer, fanout, *holds)
    fill = reader.names("stdcell.fill_cells", macros)
    power = list(macros[tap or fill[0]].pins)
    return Cells(
        tap=tap, tap_max_distance_um=float(reader.get("stdcell.tap_max_distance_um", (int, float))) if tap else None,
        fill=fill, diode=diode,
        diode_pin=_pin(reader, "stdcell.diode_pin", [diode], macros), tie=tie,
        tie_high_pin=_pin(reader, "stdcell.tie_high_pin", [tie], macros),
        tie_low=tie_low, tie_low_pin=_pin(reader, "stdcell.tie_low_pin", [tie_low], macros),
        clock_buffers=buffers, buffer=buffer, fanout_buffer=fanout, hold_cells=holds,
        buffer_input=_pin(reader, "stdcell.buffer_input_pin", every_buffer, macros),
        buffer_output=_pin(reader, "stdcell.buffer_output_pin", every_buffer, macros),
        power_pin=reader.name("stdcell.power_pin", power), ground_pin=reader.name("stdcell.ground_pin", power),
        nwell_pin=reader.get("stdcell.nwell_pin", str), pwell_pin=reader.get("stdcell.pwell_pin", str),
        physical_only=tuple(reader.get("lvs.physical_only_cells", list)))


def _signoff(reader: _Reader, pdk: Pdk) -> Signoff:
    corners = tuple(reader.get("stdcell.liberty", dict))
    return Signoff(
        corner=reader.name("signoff.corner", corners), corners=corners,
        magic_tech_name=pdk.magic_tech.stem,
        magic_drc_style=reader.get("signoff.magic_drc_style", str),
        magic_extract_style=reader.get("signoff.magic_extract_style", str),
        device_prefix=reader.get("lvs.device_prefix", str), short_resistor=reader.get("lvs.short_resistor", str),
        **_magic_cif_rules(reader))


MAGIC_CIF_RULE_POLICIES = ("auto", "keep", "drop")


def _magic_cif_rules(reader: _Reader) -> dict[str, str]:
    """The optional ``signoff.magic_cif_rules`` policy; a policy other than "auto" needs its reason in
    ``signoff.magic_cif_rules_reason``, which the DRC report repeats next to the rules left out."""
    if not reader.has("signoff.magic_cif_rules"):
        return {}
    policy = reader.choice("signoff.magic_cif_rules", reader.get("signoff.magic_cif_rules", str),
                           MAGIC_CIF_RULE_POLICIES)
    reason = reader.get("signoff.magic_cif_rules_reason", str).strip() if policy != "auto" else ""
    if policy != "auto" and not reason:
        raise _fail(reader.descriptor, "signoff.magic_cif_rules_reason", "empty; say why the rules are "
                    f"{'left out' if policy == 'drop' else 'kept'}")
    return {"magic_cif_rules": policy, "magic_cif_rules_reason": reason}


def build_rules(pdk: Pdk, descriptor: Path, tech: Technology, macros: dict[str, Macro]) -> ProcessRules:
    """The process rules of ``pdk``: its descriptor's data (read from ``descriptor``) checked
    against the tech LEF ``tech`` and the cells ``macros``."""
    reader = _Reader(descriptor, pdk.data)
    routing = list(tech.layers)
    pin_layer = reader.name("routing.pin_layer", routing)
    layers = reader.names("routing.layers", routing)
    order = [routing.index(layer) for layer in (pin_layer, *layers)]
    if order != list(range(order[0], order[0] + len(order))):
        raise _fail(descriptor, "routing.layers", f"{list(layers)!r} must be the routing layers right above "
                    f"routing.pin_layer = {pin_layer!r}, bottom up, without gaps; the tech LEF's order: "
                    f"{', '.join(routing)}")
    directions = {tech.layers[name].direction for name in layers[:2]}
    if directions != {"HORIZONTAL", "VERTICAL"}:
        raise _fail(descriptor, "routing.layers", f"the first two layers {list(layers[:2])!r} must run in "
                    f"different directions (the tech LEF gives {sorted(directions)})")
    suffix = reader.get("routing.via_suffix", str)
    if not tech.vias:
        raise PdkError(f"{pdk.tech_lef} defines no fixed VIA; the router needs one joining each pair of "
                       f"{', '.join((pin_layer, *layers))} (named *{suffix!r} as {descriptor} routing.via_suffix "
                       "says)")
    for lower, upper in zip((pin_layer, *layers), layers):
        try:
            tech.via_between(lower, upper, suffix)
        except KeyError:
            raise _fail(descriptor, "routing.via_suffix", f"{suffix!r}: no via of that name joins {lower} and "
                        f"{upper} in the tech LEF; its vias: {', '.join(sorted(tech.vias)[:12])} ...") from None
    if tech.manufacturing_grid <= 0:
        raise PdkError(f"{pdk.tech_lef}: no MANUFACTURINGGRID statement; the flow needs the grid")
    site = reader.name("stdcell.site", tech.sites)
    horizontal = [n for n in layers if tech.layers[n].direction == "HORIZONTAL"]
    vertical = [n for n in layers if tech.layers[n].direction == "VERTICAL"]
    return ProcessRules(
        pdk=pdk.name, descriptor=descriptor, tech=tech, pin_layer=pin_layer, routing_layers=layers,
        via_suffix=suffix, grid=tech.manufacturing_grid, site_name=site, site=tech.sites[site],
        horizontal_port_layer=reader.name("routing.horizontal_port_layer", horizontal),
        vertical_port_layer=reader.name("routing.vertical_port_layer", vertical),
        strap_layer=reader.name("routing.strap_layer", vertical),
        hole_fill_nm2=round(reader.get("routing.fill_holes_below_um2", (int, float)) * 1e6),
        cells=_cells(reader, macros), signoff=_signoff(reader, pdk),
        layout_rules=reader.get("layout_rules", dict))


_LOADED: dict[tuple, ProcessRules] = {}


def load_rules(pdk: Pdk) -> ProcessRules:
    """The process rules of a loaded PDK (built once per process, PDK root and descriptor version)."""
    descriptor = pdk.descriptor
    key = (pdk.name, pdk.root, descriptor, descriptor.stat().st_mtime_ns)
    if key not in _LOADED:
        tech = read_technology(pdk.tech_lef)
        tech.sites = {**read_sites(pdk.lef), **tech.sites}
        _LOADED[key] = build_rules(pdk, descriptor, tech, read_macros(pdk.lef))
    return _LOADED[key]
