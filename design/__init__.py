"""A design as described by its TOML file: sources, top, clock, floorplan and pin placement.

Example::

    [design]
    name = "counter"
    top = "counter"

    [source]
    amaranth = "kchip.rtl.examples.counter:Counter"   # or: verilog = ["rtl/top.v", "rtl/lib/*.v"]
    parameters = { width = 8 }      # generator arguments, or the Verilog top's parameters
    # include_dirs = ["rtl/include"]  # Verilog only: `include search folders (each source's own folder too)
    # defines = { SYNTHESIS = true, WIDTH = 8 }

    [clock]
    port = "clk"
    period_ns = 10.0

    [floorplan]
    utilization = 0.45          # or: die_size_um = [120.0, 120.0]
    aspect_ratio = 1.0

    [pins]
    left = ["clk", "rst"]       # optional; unlisted ports are spread over all four sides

    [flow.set]                  # optional stage variables for this design (see kchip flow stages)
    "place.space_per_pin_sites" = 3.0

Unknown keys, wrong types and impossible values raise :class:`DesignError` naming the file, the key,
the value and what is allowed.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
RTL_ROOT = PACKAGE_ROOT / "rtl"
SIDES = ("left", "right", "bottom", "top")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class DesignError(ValueError):
    """A design file that cannot be used; the message names the file, key, value and what is valid."""


@dataclass(frozen=True)
class Field:
    """One allowed key: its type, whether it is required, its default and a value check."""

    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Callable[[Any], bool] | None = None
    allowed: str = ""


def _positive(value) -> bool:
    return value > 0


SCHEMA: dict[str, dict[str, Field]] = {
    "design": {
        "name": Field(str, required=True, check=_IDENT.match, allowed="an identifier"),
        "top": Field(str, required=True, check=_IDENT.match, allowed="a Verilog module name"),
        "description": Field(str, default=""),
    },
    "source": {
        "amaranth": Field(str, check=lambda v: re.match(r"^[\w.]+:\w+$", v) is not None,
                          allowed="'package.module:Callable'"),
        "verilog": Field(list, check=lambda v: bool(v) and all(isinstance(p, str) for p in v),
                         allowed="a non-empty list of Verilog/SystemVerilog file paths or glob patterns"),
        "include_dirs": Field(list, default=[], check=lambda v: all(isinstance(p, str) for p in v),
                              allowed="a list of folders searched by `include"),
        "defines": Field(dict, default={}, check=lambda v: all(
            _IDENT.match(k) and (x is True or isinstance(x, (str, int)) and not isinstance(x, bool))
            for k, x in v.items()),
            allowed="a table NAME = value (string, integer, or true for a bare `define)"),
        "parameters": Field(dict, default={}, check=lambda v: all(
            isinstance(x, (str, int, float, bool, list, dict)) for x in v.values()),
            allowed="a table of generator arguments, or of the Verilog top's parameter values"),
    },
    "clock": {
        "port": Field(str, required=True, check=_IDENT.match, allowed="a top-level port name"),
        "period_ns": Field((int, float), required=True, check=lambda v: 0.5 <= v <= 1000,
                           allowed="a number of nanoseconds from 0.5 to 1000"),
    },
    "floorplan": {
        "utilization": Field((int, float), check=lambda v: 0.05 <= v <= 0.85,
                             allowed="a fraction from 0.05 to 0.85"),
        "die_size_um": Field(list, check=lambda v: len(v) == 2 and all(
            isinstance(x, (int, float)) and 20 <= x <= 10000 for x in v),
            allowed="[width, height] in micrometres, each from 20 to 10000"),
        "aspect_ratio": Field((int, float), default=1.0, check=lambda v: 0.2 <= v <= 5,
                              allowed="height/width from 0.2 to 5"),
        "core_margin_um": Field((int, float), default=5.0, check=lambda v: 2 <= v <= 100,
                                allowed="micrometres from 2 to 100"),
    },
    "pins": {side: Field(list, default=[], check=lambda v: all(isinstance(p, str) for p in v),
                         allowed="a list of port names") for side in SIDES},
    "flow": {"set": Field(dict, default={}, allowed="a table of STAGE.VARIABLE = value overrides")},
}


@dataclass(frozen=True)
class Design:
    """A validated design description."""

    file: Path
    name: str
    top: str
    description: str
    generator: str | None
    verilog: tuple[Path, ...]
    parameters: dict = field(hash=False)
    include_dirs: tuple[Path, ...] = ()
    defines: dict = field(default_factory=dict, hash=False)
    clock_port: str = "clk"
    clock_period_ns: float = 10.0
    utilization: float | None = None
    die_size_um: tuple[float, float] | None = None
    aspect_ratio: float = 1.0
    core_margin_um: float = 5.0
    pins: dict = field(default_factory=dict, hash=False)
    flow_overrides: dict = field(default_factory=dict, hash=False)

    def search_dirs(self) -> list[Path]:
        """Folders searched by `` `include``: the design's include folders, then each source's own."""
        return list(dict.fromkeys([*self.include_dirs, *(p.parent for p in self.verilog)]))

    def source_files(self) -> list[Path]:
        """Files whose content defines the RTL: the Verilog sources, or the import closure of the
        generator's module (its own package's modules and kchip's, with their data files)."""
        if self.verilog:
            headers = {p for d in self.search_dirs() for p in d.iterdir()
                       if p.is_file() and p.suffix in _HEADER_SUFFIXES}
            return sorted(headers | set(self.verilog))
        from kchip.design.sources import ModuleFinder, closure_files

        module = self.generator.split(":")[0]
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise DesignError(f"{self.file}: key 'source.amaranth' = {self.generator!r}: "
                              f"module {module!r} cannot be imported")
        origin = Path(spec.origin)
        top_level = origin.parents[module.count(".") + (origin.name == "__init__.py")]
        finder = ModuleFinder({"kchip": PACKAGE_ROOT}, [top_level])
        return closure_files([module], finder)


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "integer", float: "number", str: "string", list: "array", dict: "table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _validate(path: Path, data: dict) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for section in data:
        if section not in SCHEMA:
            raise DesignError(f"{path}: unknown section [{section}]; valid sections: "
                              f"{', '.join(SCHEMA)}")
        if not isinstance(data[section], dict):
            raise DesignError(f"{path}: '{section}' = {data[section]!r} must be a table [{section}]")
    for section, fields in SCHEMA.items():
        given = data.get(section, {})
        values[section] = {}
        for key in given:
            if key not in fields:
                raise DesignError(f"{path}: unknown key '{section}.{key}'; valid keys in "
                                  f"[{section}]: {', '.join(fields)}")
        for key, spec in fields.items():
            if key not in given:
                if spec.required:
                    raise DesignError(f"{path}: missing required key '{section}.{key}' "
                                      f"({_type_name(spec.kind)})")
                values[section][key] = spec.default
                continue
            value = given[key]
            if isinstance(value, bool) or not isinstance(value, spec.kind):
                raise DesignError(f"{path}: key '{section}.{key}' = {value!r} has the wrong type; "
                                  f"expected {_type_name(spec.kind)}")
            if spec.check is not None and not spec.check(value):
                raise DesignError(f"{path}: key '{section}.{key}' = {value!r} is not valid; "
                                  f"expected {spec.allowed}")
            values[section][key] = value
    return values


_HEADER_SUFFIXES = (".v", ".vh", ".sv", ".svh", ".h", ".inc")


def _verilog_files(design_file: Path, entries: list[str]) -> tuple[Path, ...]:
    """The files of ``source.verilog``, each kept as a file of its own; glob patterns expand in
    sorted order and must match something."""
    files: list[Path] = []
    for entry in entries:
        if any(c in entry for c in "*?["):
            matches = sorted(p.resolve() for p in design_file.parent.glob(entry) if p.is_file())
            if not matches:
                raise DesignError(f"{design_file}: key 'source.verilog' pattern {entry!r} matches no file "
                                  f"(relative to {design_file.parent})")
            files += matches
            continue
        file = (design_file.parent / entry).resolve()
        if not file.is_file():
            raise DesignError(f"{design_file}: key 'source.verilog' names {str(file)!r}, which does not exist")
        files.append(file)
    return tuple(dict.fromkeys(files))


def load_design(path: str | Path) -> Design:
    """Read and validate a design TOML file."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DesignError(f"{path}: design file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DesignError(f"{path}: not valid TOML: {exc}") from None
    v = _validate(path, data)
    source, floorplan = v["source"], v["floorplan"]
    if bool(source["amaranth"]) == bool(source["verilog"]):
        raise DesignError(f"{path}: [source] needs exactly one of 'amaranth' (a generator) or "
                          f"'verilog' (a list of files); got "
                          f"{'both' if source['amaranth'] else 'neither'}")
    if (floorplan["utilization"] is None) == (floorplan["die_size_um"] is None):
        raise DesignError(f"{path}: [floorplan] needs exactly one of 'utilization' or "
                          f"'die_size_um'")
    verilog = _verilog_files(path, source["verilog"] or [])
    include_dirs = tuple((path.parent / p).resolve() for p in source["include_dirs"])
    for folder in include_dirs:
        if not folder.is_dir():
            raise DesignError(f"{path}: key 'source.include_dirs' names {str(folder)!r}, which is not a folder")
    if source["amaranth"] and (include_dirs or source["defines"]):
        raise DesignError(f"{path}: 'source.include_dirs' and 'source.defines' apply to Verilog sources, "
                          f"not to an Amaranth generator")
    if source["verilog"]:
        bad = {k: x for k, x in source["parameters"].items() if not isinstance(x, (int, str)) or isinstance(x, bool)}
        if bad:
            raise DesignError(f"{path}: key 'source.parameters' = {bad!r}: the Verilog top's parameters take "
                              f"integers or strings")
    pins = {side: list(v["pins"][side]) for side in SIDES}
    seen: dict[str, str] = {}
    for side, names in pins.items():
        for name in names:
            if name in seen:
                raise DesignError(f"{path}: pin {name!r} is placed on both '{seen[name]}' and "
                                  f"'{side}'")
            seen[name] = side
    return Design(
        file=path, name=v["design"]["name"], top=v["design"]["top"],
        description=v["design"]["description"], generator=source["amaranth"], verilog=verilog,
        include_dirs=include_dirs, defines=dict(source["defines"]),
        parameters=dict(source["parameters"]), clock_port=v["clock"]["port"],
        clock_period_ns=float(v["clock"]["period_ns"]),
        utilization=floorplan["utilization"],
        die_size_um=tuple(floorplan["die_size_um"]) if floorplan["die_size_um"] else None,
        aspect_ratio=float(floorplan["aspect_ratio"]),
        core_margin_um=float(floorplan["core_margin_um"]), pins=pins, flow_overrides=dict(v["flow"]["set"]),
    )


def builtin_designs() -> dict[str, Path]:
    """Design files shipped with kchip, by name: ``rtl/<block>/design.toml`` and ``rtl/examples``."""
    found = {p.parent.name: p for p in RTL_ROOT.glob("*/design.toml")}
    found.update({p.stem: p for p in (RTL_ROOT / "examples").glob("*.toml")})
    return dict(sorted(found.items()))


def resolve_design(file_or_name: str) -> Design:
    """A design given as a TOML path or as the name of a built-in design."""
    candidate = Path(file_or_name)
    if candidate.suffix == ".toml" or candidate.exists():
        return load_design(candidate)
    known = builtin_designs()
    if file_or_name not in known:
        raise DesignError(f"design {file_or_name!r} is neither a file nor a built-in design; "
                          f"built-in designs: {', '.join(known) or 'none'}")
    return load_design(known[file_or_name])
