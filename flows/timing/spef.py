"""Parasitics (SPEF, IEEE 1481) from routed wires, with R and C taken from the tech LEF.

The router describes each net as a graph: :class:`Segment` wires and :class:`ViaHop` cuts between
hashable node keys (such as ``(layer_index, x_nm, y_nm)``), and :class:`PinNode` entries that say
which node touches which instance pin or top port. Every segment gets the layer's sheet resistance
times its length in squares, and area plus fringe capacitance split half to each end; every via gets
the cut layer's resistance. A node that carries a pin is named after that pin, so the timer can walk
from driver to load through the resistors.

Names go through a ``*NAME_MAP`` (``*1``, ``*2`` ...). Characters other than letters, digits and
``_`` are escaped with a backslash, except a trailing ``[n]`` bus subscript, which matches the bus
bits of the Verilog netlist (OpenSTA 2.0.17 reads both forms).
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Iterable

import networkx

from kchip.formats.lef import LefError, read_technology

DIRECTIONS = ("I", "O", "B")
_BUS_BIT = re.compile(r"^(.*?)(\[\d+\])$")
_SAFE = re.compile(r"[A-Za-z0-9_]")


class SpefError(ValueError):
    """A routed net or tech LEF that cannot become parasitics; the message names the net and value."""


@dataclass(frozen=True)
class Segment:
    """A straight wire on routing ``layer`` between nodes ``a`` and ``b``."""

    a: Hashable
    b: Hashable
    layer: str
    length_um: float
    width_um: float


@dataclass(frozen=True)
class ViaHop:
    """A via between nodes ``a`` and ``b`` through ``cut_layer`` (one cut)."""

    a: Hashable
    b: Hashable
    cut_layer: str


@dataclass(frozen=True)
class PinNode:
    """``node`` touches ``ref``: ``"inst:PIN"`` for an instance pin, or a top port's name.

    ``direction`` is seen from the cell or port: "I" input, "O" output, "B" bidirectional.
    """

    node: Hashable
    ref: str
    direction: str

    @property
    def is_port(self) -> bool:
        return ":" not in self.ref


@dataclass
class RoutedNet:
    """One routed net: its wires, vias and the pins they connect."""

    name: str
    segments: list[Segment] = field(default_factory=list)
    vias: list[ViaHop] = field(default_factory=list)
    pins: list[PinNode] = field(default_factory=list)


@dataclass(frozen=True)
class WireParasitics:
    """Parasitics of a routing layer: ohm per square, pF per um2 of area and pF per um of edge."""

    name: str
    ohm_per_square: float
    area_pf_per_um2: float
    edge_pf_per_um: float


@dataclass(frozen=True)
class LayerParasitics:
    """What the tech LEF says about wire and via parasitics, by layer name."""

    routing: dict[str, WireParasitics]
    cut_ohms: dict[str, float]

    def segment_rc(self, segment: Segment, net: str) -> tuple[float, float]:
        """Resistance in ohm and capacitance in pF of one segment."""
        layer = self.routing.get(segment.layer)
        if layer is None:
            raise SpefError(f"net {net!r}: segment layer {segment.layer!r} has no RESISTANCE RPERSQ "
                            f"and CAPACITANCE in the tech LEF; routing layers: {', '.join(self.routing)}")
        length, width = segment.length_um, segment.width_um
        r = layer.ohm_per_square * length / width
        c = layer.area_pf_per_um2 * length * width + 2 * layer.edge_pf_per_um * length
        return r, c

    def via_r(self, via: ViaHop, net: str) -> float:
        if via.cut_layer not in self.cut_ohms:
            raise SpefError(f"net {net!r}: via cut layer {via.cut_layer!r} has no RESISTANCE in the "
                            f"tech LEF; cut layers with one: {', '.join(self.cut_ohms)}")
        return self.cut_ohms[via.cut_layer]


def read_layer_parasitics(tech_lef: str | os.PathLike) -> LayerParasitics:
    """Routing-layer RPERSQ, CPERSQDIST and EDGECAPACITANCE, and cut-layer RESISTANCE per cut, as
    :func:`~kchip.formats.lef.read_technology` reads them; a routing layer lacking any of the three
    is left out.

    The tech LEF must state capacitance in picofarads and resistance in ohms (its UNITS section).
    """
    tech = read_technology(Path(tech_lef))
    try:
        tech.check_parasitic_units()
    except LefError as exc:
        raise SpefError(str(exc)) from exc
    routing = {name: WireParasitics(name, layer.rpersq, layer.cpersqdist, layer.edge_capacitance)
               for name, layer in tech.layers.items()
               if None not in (layer.rpersq, layer.cpersqdist, layer.edge_capacitance)}
    if not routing:
        raise SpefError(f"{tech_lef}: no ROUTING layer with RESISTANCE RPERSQ, CAPACITANCE CPERSQDIST "
                        "and EDGECAPACITANCE")
    return LayerParasitics(routing, dict(tech.cut_resistance))


def spef_escape(name: str) -> str:
    """``name`` as a SPEF identifier: special characters backslash-escaped, a bus subscript kept."""
    bus = _BUS_BIT.match(name)
    stem, subscript = (bus.group(1), bus.group(2)) if bus else (name, "")
    return "".join(c if _SAFE.match(c) else "\\" + c for c in stem) + subscript


def _check_net(net: RoutedNet) -> None:
    """Reject nets the timer would misread: bad values, unknown pins, pieces no pin reaches."""
    if not net.pins:
        raise SpefError(f"net {net.name!r} has no pins")
    for pin in net.pins:
        if pin.direction not in DIRECTIONS:
            raise SpefError(f"net {net.name!r}: pin {pin.ref!r} direction {pin.direction!r} is not one "
                            f"of {', '.join(DIRECTIONS)}")
        if pin.ref.count(":") > 1 or pin.ref.startswith(":") or pin.ref.endswith(":"):
            raise SpefError(f"net {net.name!r}: pin ref {pin.ref!r} must be 'instance:PIN' or a port name")
    for segment in net.segments:
        length, width = segment.length_um, segment.width_um
        if not (_finite(length) and _finite(width) and length >= 0 and width > 0):
            raise SpefError(f"net {net.name!r}: segment {segment.a!r} -> {segment.b!r} has length_um = "
                            f"{length!r} and width_um = {width!r}; both must be finite numbers, the "
                            "length >= 0 and the width > 0")
    graph = networkx.Graph()
    graph.add_edges_from([(s.a, s.b) for s in net.segments] + [(v.a, v.b) for v in net.vias])
    if graph.number_of_nodes() == 0:
        if len({p.node for p in net.pins}) > 1:
            raise SpefError(f"net {net.name!r} has {len(net.pins)} pins at different nodes and no wires")
        return
    for pin in net.pins:
        if pin.node not in graph:
            raise SpefError(f"net {net.name!r}: pin {pin.ref!r} sits at node {pin.node!r}, which no "
                            "segment or via reaches")
    pin_nodes = {p.node for p in net.pins}
    pieces = list(networkx.connected_components(graph))
    for piece in pieces:
        if not piece & pin_nodes:
            raise SpefError(f"net {net.name!r}: wires at nodes {sorted(map(repr, piece))[:4]} are not "
                            "connected to any pin of the net (a dangling piece)")
    if len(pieces) > 1:
        raise SpefError(f"net {net.name!r} is open: its pins are in {len(pieces)} separate pieces of wire")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _NameMap:
    """``*N`` indices for names, in first-use order."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        return f"*{self.index.setdefault(name, len(self.index) + 1)}"

    def pin(self, ref: str) -> str:
        if ":" not in ref:
            return self(ref)
        instance, pin = ref.split(":")
        return f"{self(instance)}:{spef_escape(pin)}"


def spef_text(nets: Iterable[RoutedNet], design: str, parasitics: LayerParasitics) -> str:
    """The SPEF for ``nets`` of ``design``: R in ohm, C in fF, pin capacitance left to the liberty."""
    names = _NameMap()
    ports: dict[str, str] = {}
    blocks = []
    for net in nets:
        _check_net(net)
        blocks.append(_d_net(net, names, parasitics, ports))
    header = [
        '*SPEF "IEEE 1481-1998"', f'*DESIGN "{design}"', '*DATE "not recorded"', '*VENDOR "kchip"',
        '*PROGRAM "kchip.flows.timing.spef"', '*VERSION "1"', '*DESIGN_FLOW "PIN_CAP NONE"',
        "*DIVIDER /", "*DELIMITER :", "*BUS_DELIMITER [ ]",
        "*T_UNIT 1 NS", "*C_UNIT 1 FF", "*R_UNIT 1 OHM", "*L_UNIT 1 HENRY", "",
        "*NAME_MAP", *(f"*{i} {spef_escape(name)}" for name, i in names.index.items()), "",
        "*PORTS", *(f"{names(port)} {direction}" for port, direction in ports.items()), "",
    ]
    return "\n".join(header + blocks) + "\n"


def _d_net(net: RoutedNet, names: _NameMap, parasitics: LayerParasitics, ports: dict[str, str]) -> str:
    net_id = names(net.name)
    node_names: dict[Hashable, str] = {}
    merges = []
    for pin in net.pins:
        spef_name = names.pin(pin.ref)
        if pin.is_port:
            ports.setdefault(pin.ref, pin.direction)
        if pin.node in node_names:
            merges.append((node_names[pin.node], spef_name))
        else:
            node_names[pin.node] = spef_name
    internal = 0

    def node(key) -> str:
        nonlocal internal
        if key not in node_names:
            internal += 1
            node_names[key] = f"{net_id}:{internal}"
        return node_names[key]

    caps: dict[str, float] = defaultdict(float)
    resistors = [(a, b, 0.0) for a, b in merges]
    for segment in net.segments:
        r, c = parasitics.segment_rc(segment, net.name)
        a, b = node(segment.a), node(segment.b)
        caps[a] += c / 2
        caps[b] += c / 2
        resistors.append((a, b, r))
    for via in net.vias:
        resistors.append((node(via.a), node(via.b), parasitics.via_r(via, net.name)))
    fF = 1000.0  # the tech LEF's pF, written in the SPEF's fF unit
    conn = [f"*{'P' if p.is_port else 'I'} {names.pin(p.ref)} {p.direction}" for p in net.pins]
    lines = [f"*D_NET {net_id} {sum(caps.values()) * fF:.6g}", "*CONN", *conn]
    if caps:
        lines += ["*CAP", *(f"{i} {n} {c * fF:.6g}" for i, (n, c) in enumerate(caps.items(), 1))]
    if resistors:
        lines += ["*RES", *(f"{i} {a} {b} {r:.6g}" for i, (a, b, r) in enumerate(resistors, 1))]
    return "\n".join(lines + ["*END", ""])


def write_spef(nets: Iterable[RoutedNet], design: str, tech_lef: str | os.PathLike,
               path: str | os.PathLike) -> Path:
    """Write the SPEF for ``nets`` to ``path`` (temporary name, then renamed)."""
    text = spef_text(nets, design, read_layer_parasitics(tech_lef))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
