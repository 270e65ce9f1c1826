"""DEF 5.8 of a placed or routed :class:`~kchip.flows.physical.layout.Layout`, to read with the LEF it
was made from (the PDK's tech LEF and cell LEF, named in the file's first line).

The file holds the die (``DIEAREA``), the rows, the routing tracks the LEF defines (``PITCH`` and
``OFFSET`` of each routing layer along its direction, as a router reading the DEF takes them; kchip's
own router puts its upper layers on a grid derived from the lowest two, which these need not match),
every cell (``COMPONENTS``, with its lower-left corner and orientation as the layout keeps them), the
top-level pins, the supply nets (``SPECIALNETS``: every supply shape as ``+ RECT``, every supply via
as ``+ VIA``; the supply shapes on the highest layer that holds any are also the supply ``PINS``, as
in the GDS) and the signal nets with their connections and, once routed, their wiring. A wire of the
layer's default width is a path of two points (regular wiring extends half a width past each point);
any other rectangle the router drew (pads, patches that close notches) is a ``RECT`` routing point,
and every via a routing point with the LEF via's name. Coordinates are the layout's integer
nanometres (``UNITS DISTANCE MICRONS 1000``), so the DEF reproduces the layout's geometry exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kchip.pdk.rules import load_rules
from kchip.formats.files import write_atomic

VERSION = "5.8"
DBU_PER_MICRON = 1000
#: characters a DEF name holds only escaped
_SPECIAL = re.compile(r"([;#\\])")


@dataclass(frozen=True)
class Supply:
    """A supply net: its DEF ``USE`` (POWER or GROUND) and the cell pins it connects."""

    use: str
    cell_pins: tuple[str, ...]


def _name(name: str) -> str:
    """``name`` with DEF's special characters escaped (bus brackets are DEF's BUSBITCHARS)."""
    return _SPECIAL.sub(r"\\\1", name)


def _wire(layer: str, rect: tuple[int, int, int, int], width: int) -> str:
    """One rectangle as regular wiring: a path when it is a wire of ``width`` (the layer's default),
    else a RECT relative to its lower-left corner."""
    x0, y0, x1, y1 = rect
    half = width // 2
    if width % 2 == 0 and y1 - y0 == width and x1 - x0 > width:
        y = y0 + half
        return f"{layer} ( {x0 + half} {y} ) ( {x1 - half} * )"
    if width % 2 == 0 and x1 - x0 == width and y1 - y0 > width:
        x = x0 + half
        return f"{layer} ( {x} {y0 + half} ) ( * {y1 - half} )"
    return f"{layer} ( {x0} {y0} ) RECT ( 0 0 {x1 - x0} {y1 - y0} )"


def _via_layers(tech) -> dict[str, str]:
    """Each LEF via's lowest routing layer, the layer its routing point is written on."""
    order = {name: index for index, name in enumerate(tech.layer_order)}
    return {name: min((layer for layer in via.rects if layer in tech.layers), key=lambda n: order.get(n, 0))
            for name, via in tech.vias.items()}


def _tracks(tech, die: tuple[int, int, int, int]) -> list[str]:
    """The LEF's tracks (PITCH and OFFSET along the DIRECTION of every routing layer) over ``die``."""
    lines = []
    for name, layer in tech.layers.items():
        vertical = layer.direction == "VERTICAL"
        span = (die[2] if vertical else die[3]) - layer.offset
        if layer.pitch > 0 and span >= 0:
            lines.append(f"TRACKS {'X' if vertical else 'Y'} {layer.offset} DO {span // layer.pitch + 1} "
                         f"STEP {layer.pitch} LAYER {name} ;")
    return lines


def _header(layout, tech, site: str, lefs: list[str]) -> list[str]:
    lines = [f"# read with LEF: {' '.join(lefs)}"] if lefs else []
    lines += [f"VERSION {VERSION} ;", 'DIVIDERCHAR "/" ;', 'BUSBITCHARS "[]" ;', f"DESIGN {_name(layout.top)} ;",
             f"UNITS DISTANCE MICRONS {DBU_PER_MICRON} ;", ""]
    if layout.die:
        x0, y0, x1, y1 = layout.die
        lines += [f"DIEAREA ( {x0} {y0} ) ( {x1} {y1} ) ;", ""]
    if layout.rows and layout.core:
        site_w, _ = tech.sites[site]
        x0, _, x1, _ = layout.core
        lines += [f"ROW ROW_{index} {site} {x0} {y} {orient} DO {(x1 - x0) // site_w} BY 1 STEP {site_w} 0 ;"
                  for index, (y, orient) in enumerate(layout.rows)]
        lines.append("")
    if layout.die:
        lines += [*_tracks(tech, layout.die), ""]
    return lines


def _components(layout) -> list[str]:
    lines = [f"COMPONENTS {len(layout.instances)} ;"]
    for name, inst in sorted(layout.instances.items()):
        state = "UNPLACED" if inst.x is None else \
            f"{'FIXED' if inst.fixed else 'PLACED'} ( {inst.x} {inst.y} ) {inst.orient}"
        lines.append(f"- {_name(name)} {inst.cell} + {state} ;")
    return lines + ["END COMPONENTS", ""]


def _pins(layout, supplies: dict[str, Supply], top_layer: str | None) -> list[str]:
    entries = []
    for port in layout.ports:
        entry = (f"- {_name(port.name)} + NET {_name(port.net)} + DIRECTION {port.direction.upper()} "
                 f"+ USE SIGNAL")
        if port.rect is not None:
            x0, y0, x1, y1 = port.rect
            entry += f"\n  + LAYER {port.layer} ( 0 0 ) ( {x1 - x0} {y1 - y0} ) + FIXED ( {x0} {y0} ) N"
        entries.append(entry + " ;")
    for net, supply in supplies.items():
        rects = [s.rect for s in layout.shapes if s.net == net and s.layer == top_layer]
        if not rects:
            continue
        ports = "".join(f"\n  + PORT + LAYER {top_layer} ( 0 0 ) ( {x1 - x0} {y1 - y0} ) + FIXED ( {x0} {y0} ) N"
                        for x0, y0, x1, y1 in rects)
        entries.append(f"- {_name(net)} + NET {_name(net)} + SPECIAL + DIRECTION INOUT + USE {supply.use}{ports} ;")
    return [f"PINS {len(entries)} ;", *entries, "END PINS", ""]


def _special_nets(layout, supplies: dict[str, Supply]) -> list[str]:
    lines = [f"SPECIALNETS {len(supplies)} ;"]
    for net, supply in supplies.items():
        lines.append(f"- {_name(net)}" + "".join(f" ( * {pin} )" for pin in supply.cell_pins)
                     + f" + USE {supply.use}")
        lines += [f"  + RECT {s.layer} ( {s.rect[0]} {s.rect[1]} ) ( {s.rect[2]} {s.rect[3]} )"
                  for s in layout.shapes if s.net == net]
        lines += [f"  + VIA {v.via} ( {v.x} {v.y} )" for v in layout.vias if v.net == net]
        lines.append("  ;")
    return lines + ["END SPECIALNETS", ""]


def _nets(layout, tech, supplies: dict[str, Supply]) -> list[str]:
    widths = {name: layer.width for name, layer in tech.layers.items()}
    via_layer = _via_layers(tech)
    wiring: dict[str, list[str]] = {}
    for shape in layout.shapes:
        wiring.setdefault(shape.net, []).append(_wire(shape.layer, shape.rect, widths[shape.layer]))
    for via in layout.vias:
        wiring.setdefault(via.net, []).append(f"{via_layer[via.via]} ( {via.x} {via.y} ) {via.via}")
    nets = {net: terms for net, terms in layout.nets().items() if net not in supplies}
    nets.update({net: [] for net in wiring if net not in nets and net not in supplies})
    lines = [f"NETS {len(nets)} ;"]
    for net in sorted(nets):
        terms = " ".join(f"( PIN {_name(pin)} )" if not inst else f"( {_name(inst)} {pin} )"
                         for inst, pin in nets[net])
        lines.append(f"- {_name(net)} {terms}".rstrip())
        routes = wiring.get(net, [])
        if routes:
            lines.append(f"  + ROUTED {routes[0]}")
            lines += [f"    NEW {route}" for route in routes[1:]]
        lines.append("  ;")
    return lines + ["END NETS", ""]


def def_text(layout, tech, *, site: str, supplies: dict[str, Supply], lefs: list[str] = ()) -> str:
    """The DEF of ``layout`` (a :class:`~kchip.flows.physical.layout.Layout`) for the LEF ``tech``
    (:class:`~kchip.formats.lef.Technology`); ``site`` names the rows' site, ``supplies`` the
    supply nets, which go to SPECIALNETS; ``lefs`` (the LEF files to read it with) go into a comment."""
    supply_layers = [s.layer for s in layout.shapes if s.net in supplies]
    order = {name: index for index, name in enumerate(tech.layer_order)}
    top_layer = max(supply_layers, key=lambda n: order.get(n, 0)) if supply_layers else None
    lines = [*_header(layout, tech, site, list(lefs)), *_components(layout), *_pins(layout, supplies, top_layer),
             *_special_nets(layout, supplies), *_nets(layout, tech, supplies), "END DESIGN"]
    return "\n".join(lines) + "\n"


def write_def(path: Path, layout, tech, *, site: str, supplies: dict[str, Supply], lefs: list[str] = ()) -> Path:
    """Write :func:`def_text` to ``path`` atomically; return ``path``."""
    write_atomic(path, def_text(layout, tech, site=site, supplies=supplies, lefs=lefs))
    return path


def write_pdk_def(path: Path, layout, pdk) -> Path:
    """Write ``layout`` as DEF for ``pdk``'s (a :class:`~kchip.pdk.Pdk`) tech LEF and cell LEF, with its
    site and its supply nets (the cells' power and n-well pins on one, ground and p-well on the other)."""
    cells = pdk.stdcell
    supplies = {cells["power_pin"]: Supply("POWER", (cells["power_pin"], cells["nwell_pin"])),
                cells["ground_pin"]: Supply("GROUND", (cells["ground_pin"], cells["pwell_pin"]))}
    lefs = [str(Path(pdk.name) / cells[key]) for key in ("tech_lef", "lef")]
    return write_def(path, layout, load_rules(pdk).tech, site=cells["site"], supplies=supplies, lefs=lefs)
