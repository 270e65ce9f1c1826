"""A chiplet system as its file describes it: dies with interfaces, links between interfaces, demands.

Example (YAML; the same structure works as TOML with ``[[dies]]`` tables)::

    system: K-AP
    interconnect_power_budget_w: 12
    dies:
      - name: ap
        role: ap                      # ap | npu | memory | io | other
        node: SF5
        package: silicon-interposer   # a package type of standards.yaml
        width_mm: 10                  # north/south edge length
        height_mm: 8                  # east/west edge length
        power_w: 15
        interfaces:
          - {name: d2d_npu0, standard: ucie-advanced, modules: 1, module_width: 64,
             rate_gtps: 32, bump_pitch_um: 45, edge: east}
    links:
      - {name: ap-npu0, ends: [ap.d2d_npu0, npu0.d2d_ap], length_mm: 1.5}
    demands:
      - {name: weights, from: pim0, to: npu0, gbyte_per_s: 200, latency_budget_ns: 20}

Structural mistakes (unknown keys, wrong types, negative or non-finite figures, dangling or doubly
used interfaces, unknown standards) raise :class:`SystemInputError` naming the file, the entry and the
reason. Figures a standard does not allow (a rate, a width, a pitch) load fine and are reported by the
checks. YAML numbers in exponent form without a dot (``2e3``, ``1e-9``) are floats, as in YAML 1.2.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from kchip.chiplet.standards import Library, LinkStandard, PackageType, load_library

ROLES = ("ap", "npu", "memory", "io", "other")
EDGES = ("north", "east", "south", "west")
DIRECTIONS = ("input", "output", "inout")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_FLOAT_TAG = "tag:yaml.org,2002:float"
#: YAML 1.1 floats plus the exponent forms YAML 1.2 adds (``2e3`` without a dot, ``1.5e3`` without
#: an exponent sign); a plain integer still matches the int resolver, never this one.
_FLOAT = re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.VERBOSE)


class SystemInputError(ValueError):
    """A system file that cannot be read; the message names the file, entry and reason."""


@dataclass(frozen=True)
class Interface:
    """One PHY on a die: a number of modules of one standard on one die edge."""

    die: str
    name: str
    standard: LinkStandard
    modules: int
    module_width: int
    rate_gtps: float
    bump_pitch_um: float
    edge: str

    @property
    def key(self) -> str:
        return f"{self.die}.{self.name}"

    @property
    def lanes(self) -> int:
        return self.modules * self.module_width

    def footprint(self) -> tuple[float, float]:
        """(shoreline mm, bump area mm2) of this PHY."""
        return self.standard.footprint(self.modules, self.module_width, self.bump_pitch_um)


@dataclass(frozen=True)
class RtlBinding:
    """Where a die's RTL top comes from and the ports the die declares for it."""

    design: str | None
    verilog: Path | None
    top: str | None
    ports: dict[str, tuple[str, int]] = field(hash=False)
    ignore: tuple[str, ...] = ("clk", "rst")


@dataclass(frozen=True)
class Die:
    """A die: its role, geometry, package and PHYs."""

    name: str
    role: str
    node: str
    package: PackageType
    width_mm: float
    height_mm: float
    power_w: float
    forwards: bool
    forward_latency_ns: float
    redundancy: int
    interconnect_power_budget_w: float | None
    interfaces: dict[str, Interface] = field(hash=False)
    rtl: RtlBinding | None = None

    @property
    def area_mm2(self) -> float:
        return self.width_mm * self.height_mm

    def edge_length(self, edge: str) -> float:
        return self.width_mm if edge in ("north", "south") else self.height_mm


@dataclass(frozen=True)
class Link:
    """A die-to-die link between two interfaces; it runs at the lower width and rate of its ends."""

    name: str
    a: Interface
    b: Interface
    length_mm: float | None

    @property
    def standard(self) -> LinkStandard:
        return self.a.standard

    @property
    def lanes(self) -> int:
        return min(self.a.lanes, self.b.lanes)

    @property
    def rate_gtps(self) -> float:
        return min(self.a.rate_gtps, self.b.rate_gtps)

    @property
    def capacity_gbyte_s(self) -> float:
        """GB/s per direction (full duplex) or shared by both directions (half duplex)."""
        return self.lanes * self.rate_gtps / 8

    @property
    def energy_pj_per_bit(self) -> float:
        return self.standard.energy_at(self.rate_gtps)

    def describe(self) -> str:
        """The standard, width and rate, e.g. ``ucie-advanced x64 @ 32 GT/s``."""
        return f"{self.standard.name} x{self.lanes} @ {self.rate_gtps:g} GT/s"


@dataclass(frozen=True)
class Demand:
    """Traffic that must flow from one die to another, optionally on a pinned route of links."""

    name: str
    source: str
    target: str
    gbyte_per_s: float
    latency_budget_ns: float | None
    route: tuple[str, ...] | None = None


@dataclass
class System:
    """A validated chiplet system."""

    name: str
    file: Path | None
    ap: str
    dies: dict[str, Die]
    links: list[Link]
    demands: list[Demand]
    interconnect_power_budget_w: float | None
    library: Library


class _Entry:
    """Reads one mapping of the file, checking each key, and says where a bad value sits."""

    def __init__(self, file: str, where: str, data: Any):
        self.file, self.where = file, where
        if not isinstance(data, dict):
            self.fail(f"must be a mapping of keys, got {data!r}")
        self.data, self.seen = data, set()

    def fail(self, reason: str):
        raise SystemInputError(f"{self.file}: {self.where}: {reason}")

    def get(self, key: str, kind: str, *, default: Any = ..., check: Callable[[Any], bool] | None = None,
            allowed: str = "") -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                self.fail(f"missing required key {key!r} ({allowed or kind})")
            return default
        value = self.data[key]
        types = {"string": (str,), "number": (int, float), "integer": (int,), "bool": (bool,),
                 "list": (list,), "mapping": (dict,)}[kind]
        if (isinstance(value, bool) and kind != "bool") or not isinstance(value, types):
            self.fail(f"key {key!r} = {value!r} has the wrong type; expected {allowed or kind}")
        if kind in ("number", "integer") and not _finite(value):
            self.fail(f"key {key!r} = {value!r} is not a finite number; expected a finite number: "
                      f"{allowed or kind}")
        if check is not None and not check(value):
            self.fail(f"key {key!r} = {value!r} is not valid; expected {allowed}")
        return value

    def done(self, valid: tuple[str, ...] | None = None):
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r}; valid keys: {', '.join(valid or sorted(self.seen))}")


def _finite(v) -> bool:
    """Neither inf nor nan, and an integer small enough to be a float (the figures are computed as
    floats)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _positive(v) -> bool:
    return v > 0


def _non_negative(v) -> bool:
    return v >= 0


def _name(v) -> bool:
    return _NAME.match(v) is not None


def _entries(top: _Entry, key: str, *, required: bool = True) -> list[tuple[str, Any]]:
    items = top.get(key, "list", default=... if required else [], allowed=f"a list of {key}")
    return [(f"{key}[{i}]", item) for i, item in enumerate(items)]


def _read_interface(file: str, where: str, data: Any, die: str, library: Library) -> Interface:
    e = _Entry(file, where, data)
    name = e.get("name", "string", check=_name, allowed="an identifier")
    e.where = f"{where} ({die}.{name})"
    std_name = e.get("standard", "string")
    if std_name not in library.standards:
        e.fail(f"key 'standard' = {std_name!r} is not a known link standard; known: "
               f"{', '.join(library.standards)}")
    iface = Interface(
        die=die, name=name, standard=library.standards[std_name],
        modules=e.get("modules", "integer", default=1, check=_positive, allowed="a positive integer"),
        module_width=e.get("module_width", "integer", default=library.standards[std_name].full_width,
                           check=_positive, allowed="a positive number of lanes"),
        rate_gtps=float(e.get("rate_gtps", "number", check=_positive, allowed="GT/s above 0")),
        bump_pitch_um=float(e.get("bump_pitch_um", "number", check=_positive,
                                  allowed="micrometres above 0")),
        edge=e.get("edge", "string", check=lambda v: v in EDGES, allowed=" | ".join(EDGES)),
    )
    e.done()
    return iface


def _read_rtl(file: str, where: str, data: Any, base: Path) -> RtlBinding:
    e = _Entry(file, where, data)
    design = e.get("design", "string", default=None, allowed="a built-in design name or design TOML")
    verilog = e.get("verilog", "string", default=None, allowed="a Verilog file path")
    top = e.get("top", "string", default=None, check=_name, allowed="a Verilog module name")
    if (design is None) == (verilog is None):
        e.fail("needs exactly one of 'design' (a kchip design) or 'verilog' (a file, with 'top')")
    if verilog is not None and top is None:
        e.fail("'verilog' needs 'top', the module whose ports are checked")
    ports = {}
    for port, spec in e.get("ports", "mapping", allowed="{port: [direction, width]}").items():
        if not (isinstance(spec, list) and len(spec) == 2 and spec[0] in DIRECTIONS
                and isinstance(spec[1], int) and not isinstance(spec[1], bool) and spec[1] > 0):
            e.fail(f"port {port!r} = {spec!r} is not valid; expected [direction, width] with "
                   f"direction one of {', '.join(DIRECTIONS)} and a positive width")
        ports[str(port)] = (spec[0], spec[1])
    ignore = e.get("ignore", "list", default=["clk", "rst"], allowed="a list of port names")
    e.done()
    if design is not None and design.endswith(".toml"):
        design = str((base / design).resolve())
    return RtlBinding(design=design, verilog=(base / verilog).resolve() if verilog else None,
                      top=top, ports=ports, ignore=tuple(ignore))


def _read_die(file: str, where: str, data: Any, library: Library, base: Path) -> Die:
    e = _Entry(file, where, data)
    name = e.get("name", "string", check=_name, allowed="an identifier")
    e.where = f"{where} ({name})"
    role = e.get("role", "string", check=lambda v: v in ROLES, allowed=" | ".join(ROLES))
    package = e.get("package", "string")
    if package not in library.packages:
        e.fail(f"key 'package' = {package!r} is not a known package type; known: "
               f"{', '.join(library.packages)}")
    width = float(e.get("width_mm", "number", check=_positive, allowed="millimetres above 0"))
    height = float(e.get("height_mm", "number", check=_positive, allowed="millimetres above 0"))
    area = e.get("area_mm2", "number", default=None, check=_positive, allowed="mm2 above 0")
    if area is not None and abs(area - width * height) > 0.02 * width * height:
        e.fail(f"key 'area_mm2' = {area!r} disagrees with width_mm x height_mm = "
               f"{width * height:g} mm2 (more than 2% apart)")
    budget = e.get("interconnect_power_budget_w", "number", default=None, check=_non_negative,
                   allowed="watts, 0 or more")
    interfaces: dict[str, Interface] = {}
    for iwhere, item in _entries(e, "interfaces", required=False):
        iface = _read_interface(file, f"{e.where} {iwhere}", item, name, library)
        if iface.name in interfaces:
            e.fail(f"interface {iface.name!r} is declared twice")
        interfaces[iface.name] = iface
    rtl = e.get("rtl", "mapping", default=None)
    die = Die(
        name=name, role=role, node=e.get("node", "string", default=""),
        package=library.packages[package], width_mm=width, height_mm=height,
        power_w=float(e.get("power_w", "number", default=0, check=_non_negative,
                            allowed="watts, 0 or more")),
        forwards=e.get("forwards", "bool", default=role != "memory"),
        forward_latency_ns=float(e.get("forward_latency_ns", "number", default=1.0,
                                       check=_non_negative, allowed="ns, 0 or more")),
        redundancy=e.get("redundancy", "integer", default=1, check=_positive,
                         allowed="a number of edge-disjoint paths from the AP, 1 or more"),
        interconnect_power_budget_w=None if budget is None else float(budget),
        interfaces=interfaces,
        rtl=None if rtl is None else _read_rtl(file, f"{e.where} rtl", rtl, base),
    )
    e.done()
    return die


def _endpoint(e: _Entry, text: Any, dies: dict[str, Die]) -> Interface:
    if not isinstance(text, str) or text.count(".") != 1:
        e.fail(f"end {text!r} is not 'die.interface'")
    die, iface = text.split(".")
    if die not in dies:
        e.fail(f"end {text!r} names die {die!r}, which is not declared; dies: {', '.join(dies)}")
    if iface not in dies[die].interfaces:
        e.fail(f"end {text!r}: die {die!r} has no interface {iface!r}; its interfaces: "
               f"{', '.join(dies[die].interfaces) or 'none'}")
    return dies[die].interfaces[iface]


def _read_links(file: str, top: _Entry, dies: dict[str, Die]) -> list[Link]:
    links, used, names = [], {}, set()
    for where, item in _entries(top, "links"):
        e = _Entry(file, where, item)
        ends = e.get("ends", "list", check=lambda v: len(v) == 2, allowed="[die.interface, die.interface]")
        name = e.get("name", "string", default=f"{ends[0]}~{ends[1]}")
        e.where = f"{where} ({name})"
        a, b = (_endpoint(e, end, dies) for end in ends)
        if a.die == b.die:
            e.fail(f"both ends are on die {a.die!r}; a link joins two dies")
        for end in (a, b):
            if end.key in used:
                e.fail(f"interface {end.key!r} is already used by link {used[end.key]!r}")
            used[end.key] = name
        if name in names:
            e.fail(f"link name {name!r} is used twice")
        names.add(name)
        length = e.get("length_mm", "number", default=None, check=_positive, allowed="mm above 0")
        e.done()
        links.append(Link(name, a, b, None if length is None else float(length)))
    return links


def _read_demands(file: str, top: _Entry, dies: dict[str, Die], links: list[Link]) -> list[Demand]:
    by_name = {link.name: link for link in links}
    demands, names = [], set()
    for where, item in _entries(top, "demands", required=False):
        e = _Entry(file, where, item)
        source = e.get("from", "string")
        target = e.get("to", "string")
        name = e.get("name", "string", default=f"{source}->{target}")
        e.where = f"{where} ({name})"
        for key, die in (("from", source), ("to", target)):
            if die not in dies:
                e.fail(f"key {key!r} = {die!r} is not a declared die; dies: {', '.join(dies)}")
        if source == target:
            e.fail(f"'from' and 'to' are both {source!r}")
        if name in names:
            e.fail(f"demand name {name!r} is used twice")
        names.add(name)
        rate = float(e.get("gbyte_per_s", "number", check=_positive, allowed="GB/s above 0"))
        budget = e.get("latency_budget_ns", "number", default=None, check=_positive,
                       allowed="ns above 0")
        route = e.get("route", "list", default=None, allowed="a list of link names from 'from' to 'to'")
        if route is not None:
            at = source
            for step in route:
                link = by_name.get(step)
                if link is None or at not in (link.a.die, link.b.die):
                    e.fail(f"route step {step!r} is not a link leaving die {at!r}")
                at = link.b.die if link.a.die == at else link.a.die
            if at != target:
                e.fail(f"route {route!r} ends at die {at!r}, not at {target!r}")
            route = tuple(route)
        e.done()
        demands.append(Demand(name, source, target, rate, None if budget is None else float(budget),
                              route))
    return demands


def system_from_dict(data: Any, *, file: str = "<system>", base: Path | None = None,
                     library: Library | None = None) -> System:
    """Validate a system given as plain data (the parsed YAML/TOML)."""
    library = library or load_library()
    base = base or Path.cwd()
    top = _Entry(file, "top level", data)
    name = top.get("system", "string", default="chiplet system")
    budget = top.get("interconnect_power_budget_w", "number", default=None, check=_non_negative,
                     allowed="watts, 0 or more")
    dies: dict[str, Die] = {}
    for where, item in _entries(top, "dies"):
        die = _read_die(file, where, item, library, base)
        if die.name in dies:
            raise SystemInputError(f"{file}: {where}: die name {die.name!r} is used twice")
        dies[die.name] = die
    aps = [d.name for d in dies.values() if d.role == "ap"]
    ap = top.get("ap", "string", default=aps[0] if len(aps) == 1 else None)
    if ap is None:
        top.fail(f"cannot tell the AP die: {len(aps)} dies have role 'ap' ({', '.join(aps) or 'none'}); "
                 f"name it with key 'ap'")
    if ap not in dies:
        top.fail(f"key 'ap' = {ap!r} is not a declared die; dies: {', '.join(dies)}")
    links = _read_links(file, top, dies)
    demands = _read_demands(file, top, dies, links)
    top.done(("system", "ap", "interconnect_power_budget_w", "dies", "links", "demands"))
    return System(name, Path(file) if file != "<system>" else None, ap, dies, links, demands,
                  None if budget is None else float(budget), library)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe YAML loader, reading ``1e300`` and ``2e3`` as floats (PyYAML's YAML 1.1 rules need a
    dot, ``1.0e+3``, and read them as strings)."""

    yaml_implicit_resolvers = {
        first: [(tag, _FLOAT if tag == _FLOAT_TAG else pattern) for tag, pattern in resolvers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_system(path: str | Path) -> System:
    """Read and validate a system file (``.yaml``/``.yml`` or ``.toml``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SystemInputError(f"{path}: cannot read the system file: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_Loader)
        else:
            raise SystemInputError(f"{path}: unknown file type {path.suffix!r}; use .yaml, .yml or .toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise SystemInputError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    return system_from_dict(data, file=str(path), base=path.parent)
