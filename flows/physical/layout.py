"""The physical view passed between stages: the netlist with placement, pins, power and routes.

A :class:`Layout` is saved as JSON (``<top>.layout.json``); every coordinate is an integer in
nanometres. The gate-level netlist comes from yosys' JSON and is written back as Verilog after the
physical stages have added clock buffers, tap and fill cells.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kchip.formats.lef import Rect

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def grown(rect: Rect, margin: int) -> Rect:
    """``rect`` grown by ``margin`` on every side."""
    return rect[0] - margin, rect[1] - margin, rect[2] + margin, rect[3] + margin


def overlaps(a: Rect, b: Rect, spacing: int = 0) -> bool:
    """True when ``a`` and ``b`` overlap, or come closer than ``spacing`` to each other."""
    return a[0] - spacing < b[2] and b[0] < a[2] + spacing and a[1] - spacing < b[3] and b[1] < a[3] + spacing


def plain_name(name: str) -> str:
    """``name`` with every character a Verilog simple identifier cannot hold replaced by ``_``
    (``acc[3]`` becomes ``acc_3_``), for the nets and cells the flow adds."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if _PLAIN.match(text) else f"_{text}"


@dataclass
class Instance:
    """A standard cell: its connections and, once placed, its lower-left corner and orientation."""

    cell: str
    conns: dict[str, str]
    role: str = "logic"
    x: int | None = None
    y: int | None = None
    orient: str = "N"
    fixed: bool = False


@dataclass
class Port:
    """One bit of a top-level port and, once the floorplan placed it, its pin shape."""

    name: str
    direction: str
    net: str
    layer: str | None = None
    rect: Rect | None = None
    side: str | None = None


@dataclass
class Shape:
    net: str
    layer: str
    rect: Rect


@dataclass
class Via:
    net: str
    via: str
    x: int
    y: int


@dataclass
class Layout:
    top: str
    ports: list[Port]
    instances: dict[str, Instance]
    die: Rect | None = None
    core: Rect | None = None
    #: site width and row height (nm), set by the floorplan from the process rules
    site: tuple[int, int] | None = None
    rows: list[tuple[int, str]] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    vias: list[Via] = field(default_factory=list)
    clock_net: str | None = None
    #: what the flow decided for the design on its own (a die grown for its pins, ...), in words
    decisions: list[str] = field(default_factory=list)

    def nets(self) -> dict[str, list[tuple[str, str]]]:
        """Every signal net with its (instance, pin) terminals; top ports appear as ('', port)."""
        nets: dict[str, list[tuple[str, str]]] = {}
        for port in self.ports:
            nets.setdefault(port.net, []).append(("", port.name))
        for name, inst in self.instances.items():
            for pin, net in inst.conns.items():
                nets.setdefault(net, []).append((name, pin))
        return nets

    def save(self, path: Path) -> None:
        """Write atomically as JSON."""
        tmp = Path(f"{path}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(self), separators=(",", ":")))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Layout":
        data = json.loads(Path(path).read_text())
        data["ports"] = [Port(**{**p, "rect": tuple(p["rect"]) if p["rect"] else None})
                         for p in data["ports"]]
        data["instances"] = {n: Instance(**i) for n, i in data["instances"].items()}
        data["shapes"] = [Shape(s["net"], s["layer"], tuple(s["rect"])) for s in data["shapes"]]
        data["vias"] = [Via(**v) for v in data["vias"]]
        data["rows"] = [tuple(r) for r in data["rows"]]
        for key in ("die", "core", "site"):
            if data[key] is not None:
                data[key] = tuple(data[key])
        return cls(**data)


def _bit_name(name: str, index: int, width: int) -> str:
    return f"{name}[{index}]" if width > 1 else name


def from_yosys_json(path: Path, top: str) -> Layout:
    """The netlist of module ``top`` in a yosys ``write_json`` file, with readable net names.

    Port bits keep their port's name (``acc[3]``); other nets keep a plain yosys name where one
    exists, else become ``_<bit>_``. Constant connections are rejected: synthesis must tie them to
    tie cells.
    """
    data = json.loads(Path(path).read_text())
    if top not in data.get("modules", {}):
        raise ValueError(f"{path}: no module {top!r}; modules: {', '.join(data.get('modules', {}))}")
    module = data["modules"][top]
    names: dict[int, str] = {}
    ports = []
    for port_name, port in module["ports"].items():
        width = len(port["bits"])
        for index, bit in enumerate(port["bits"]):
            if isinstance(bit, str):
                raise ValueError(f"{path}: port {port_name}[{index}] is tied to constant {bit!r}; "
                                 "synthesis must drive it from a tie cell")
            bit_name = _bit_name(port_name, index, width)
            names.setdefault(bit, bit_name)
            ports.append(Port(bit_name, port["direction"], names[bit]))
    for net_name, net in sorted(module["netnames"].items(), key=lambda kv: kv[1].get("hide_name", 0)):
        if net.get("hide_name") or len(net["bits"]) != 1 or not _PLAIN.match(net_name):
            continue
        bit = net["bits"][0]
        if isinstance(bit, int):
            names.setdefault(bit, net_name)
    instances = {}
    for cell_name, cell in module["cells"].items():
        conns = {}
        for pin, bits in cell["connections"].items():
            if len(bits) != 1 or isinstance(bits[0], str):
                raise ValueError(f"{path}: cell {cell_name} ({cell['type']}) pin {pin} is connected "
                                 f"to {bits!r}; expected one net bit")
            conns[pin] = names.setdefault(bits[0], f"_{bits[0]}_")
        inst_name = cell_name if _PLAIN.match(cell_name) else f"_c{len(instances)}_"
        instances[inst_name] = Instance(cell["type"], conns)
    return Layout(top=top, ports=ports, instances=instances)


def write_verilog(layout: Layout, path: Path, *, include_roles: tuple[str, ...] = ("logic", "clock")) -> None:
    """The gate-level netlist as structural Verilog (cells of the given roles), written atomically."""
    buses: dict[str, tuple[str, int]] = {}
    for port in layout.ports:
        base, _, index = port.name.partition("[")
        width = int(index[:-1]) + 1 if index else 1
        direction = port.direction
        buses[base] = (direction, max(width, buses.get(base, (direction, 0))[1]))
    lines = [f"module {layout.top} ({', '.join(buses)});"]
    for base, (direction, width) in buses.items():
        bus = f"[{width - 1}:0] " if width > 1 or any(p.name == f"{base}[0]" for p in layout.ports) else ""
        lines.append(f"  {direction} {bus}{base};")
    port_nets = {p.net for p in layout.ports}
    wires = sorted({net for inst in layout.instances.values() if inst.role in include_roles
                    for net in inst.conns.values()} - port_nets)
    lines += [f"  wire {net};" for net in wires]
    for port in layout.ports:
        if port.net != port.name:
            lines.append(f"  assign {port.name} = {port.net};" if port.direction == "output"
                         else f"  assign {port.net} = {port.name};")
    for name, inst in sorted(layout.instances.items()):
        if inst.role not in include_roles:
            continue
        conns = ", ".join(f".{pin}({net})" for pin, net in sorted(inst.conns.items()))
        lines.append(f"  {inst.cell} {name} ({conns});")
    lines.append("endmodule")
    ports = {p.name for p in layout.ports}
    illegal = sorted(n for n in set(wires) | port_nets if n not in ports and not _PLAIN.match(n))
    if illegal:
        raise ValueError(f"{path}: net names that are not Verilog identifiers: {illegal[:5]!r}")
    tmp = Path(f"{path}.tmp{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
