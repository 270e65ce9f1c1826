"""Bench manifests: one TOML format for every cocotb bench, the project's own and a user's alike.

A manifest holds one or more ``[[bench]]`` tables::

    [[bench]]
    name = "my_counter"
    top = "counter"
    test_module = "test_counter"        # a Python module beside the manifest (or on python_path)
    sources = ["rtl/*.v"]               # files or globs; or: generator = "package.module:function"
    parameters = { WIDTH = 8 }          # the top's HDL parameters
    defines = { SIMULATION = 1 }
    include_dirs = ["rtl/include"]
    simulators = ["icarus", "verilator"]    # the simulators it runs on (default: icarus)
    tags = ["smoke"]
    env = { MY_SETTING = "3" }          # for the simulated Python
    goals = { reset_seen = 1 }          # functional coverage: least hits per bin in a regression

    [[bench]]                           # the same tests on the flow's routed netlist
    name = "my_counter_gl"
    top = "counter"
    test_module = "test_counter"
    netlist = "runs/counter"            # a flow run folder (its final/<top>.nl.v) or a netlist file
    cell_models = "sky130A"             # the PDK whose liberty gives the cell models (the default),
                                        # or a list of Verilog files

Other keys: ``generator_parameters`` (keyword arguments of the generator, which is called as
``function(folder, **generator_parameters)`` and returns the written file or files; they also reach
the tests as JSON in ``KCHIP_BENCH_PARAMETERS``), ``python_path`` (folders for the test module;
default: the manifest's folder), ``description``, ``timescale`` (two strings), ``build_args`` and
``design`` (the flow design whose RTL the bench simulates: ``--gate-level`` picks benches by it).

Relative paths resolve against the manifest's folder. Anything wrong raises :class:`ManifestError`
naming the file, the bench, the key, the value and what is valid.
"""

from __future__ import annotations

import glob
import importlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kchip.verification.build import SIMULATORS
from kchip.verification.runner import Testbench

PARAMETERS_ENV = "KCHIP_BENCH_PARAMETERS"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_GENERATOR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_SCALAR = (str, int, float, bool)


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file, key, value and what is valid."""


@dataclass(frozen=True)
class Key:
    """One allowed key of a ``[[bench]]`` table: its kind, whether required, what is valid."""

    kind: str
    required: bool = False
    allowed: str = ""


KEYS = {
    "name": Key("identifier", True, "a name of letters, digits and _"),
    "top": Key("identifier", True, "the HDL top module's name"),
    "test_module": Key("module", True, "a dotted Python module name"),
    "sources": Key("paths", allowed="a list of Verilog files or globs"),
    "generator": Key("generator", allowed="'package.module:function'"),
    "generator_parameters": Key("table", allowed="a table of the generator's keyword arguments"),
    "parameters": Key("scalars", allowed="a table of HDL parameter values"),
    "defines": Key("scalars", allowed="a table of define values"),
    "include_dirs": Key("dirs", allowed="a list of folders"),
    "python_path": Key("dirs", allowed="a list of folders"),
    "simulators": Key("simulators", allowed=f"a non-empty list of {', '.join(SIMULATORS)}"),
    "tags": Key("strings", allowed="a list of strings"),
    "env": Key("strings_table", allowed="a table of strings"),
    "goals": Key("goals", allowed="a table of bin name = least hits (an integer >= 0)"),
    "description": Key("string", allowed="a string"),
    "design": Key("string", allowed="a flow design name"),
    "timescale": Key("timescale", allowed="two strings such as ['1ns', '1ps']"),
    "build_args": Key("strings", allowed="a list of strings"),
    "netlist": Key("netlist", allowed="a flow run folder with final/<top>.nl.v, or a netlist file"),
    "cell_models": Key("models", allowed="a PDK name such as 'sky130A', or a list of Verilog files"),
}


@dataclass(frozen=True)
class _Place:
    """Where a value sits, for error messages."""

    file: Path
    bench: str

    def fail(self, key: str, value: Any, problem: str) -> ManifestError:
        where = f"{self.file}: bench {self.bench!r}" if self.bench else f"{self.file}"
        return ManifestError(f"{where}: key {key!r}: {value!r} {problem}")


def _path(place: _Place, folder: Path, key: str, text: Any) -> Path:
    if not isinstance(text, str) or not text:
        raise place.fail(key, text, f"is not a path; valid: {KEYS[key].allowed}")
    return (folder / Path(text).expanduser()).resolve()


def _check_value(place: _Place, folder: Path, key: str, value: Any) -> Any:
    """``value`` checked (and paths resolved) for ``key``; raises :class:`ManifestError`."""
    kind, allowed = KEYS[key].kind, KEYS[key].allowed
    wrong = place.fail(key, value, f"is not valid; valid: {allowed}")
    if kind in ("identifier", "string", "module", "generator"):
        pattern = {"identifier": _IDENT, "module": _MODULE, "generator": _GENERATOR}.get(kind)
        if not isinstance(value, str) or (pattern and not pattern.match(value)):
            raise wrong
        return value
    if kind in ("table", "scalars", "strings_table", "goals"):
        if not isinstance(value, dict):
            raise wrong
        for name, item in value.items():
            bad = {"scalars": not isinstance(item, _SCALAR),
                   "strings_table": not isinstance(item, str),
                   "goals": isinstance(item, bool) or not isinstance(item, int) or item < 0,
                   "table": False}[kind]
            if bad:
                raise place.fail(f"{key}.{name}", item, f"is not valid; valid: {allowed}")
        return dict(value)
    if kind == "netlist":
        path = _path(place, folder, key, value)
        if not path.exists():
            raise place.fail(key, value, f"does not exist (looked for {path}); valid: {allowed}")
        return path
    if kind == "models" and isinstance(value, str):
        if not _IDENT.match(value):
            raise wrong
        return value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise wrong
    if kind == "strings":
        return list(value)
    if kind == "timescale":
        if len(value) != 2:
            raise wrong
        return tuple(value)
    if kind == "simulators":
        unknown = [item for item in value if item not in SIMULATORS]
        if not value or unknown:
            raise place.fail(key, unknown[0] if unknown else value,
                             f"is not a simulator; valid: {', '.join(SIMULATORS)}")
        return tuple(dict.fromkeys(value))
    if kind == "dirs":
        paths = [_path(place, folder, key, item) for item in value]
        missing = [(item, p) for item, p in zip(value, paths) if not p.is_dir()]
        if missing:
            raise place.fail(key, missing[0][0], f"is not a folder (looked for {missing[0][1]})")
        return paths
    return _files(place, folder, key, value)


def _files(place: _Place, folder: Path, key: str, patterns: list[str]) -> list[Path]:
    """The files ``patterns`` name (globs expanded, sorted), each of which must exist."""
    found: list[Path] = []
    for pattern in patterns:
        path = _path(place, folder, key, pattern)
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            if not matches:
                raise place.fail(key, pattern, f"matches no file (looked for {path})")
            found += matches
        elif not path.is_file():
            raise place.fail(key, pattern, f"is not a file (looked for {path})")
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _generator(place: _Place, text: str) -> Callable:
    module_name, function_name = text.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise place.fail("generator", text, f"cannot be loaded ({exc}); valid: "
                                            f"{KEYS['generator'].allowed}") from None
    return function


def _generated(function: Callable, arguments: dict) -> Callable[[Path], list[Path]]:
    def sources(folder: Path) -> list[Path]:
        written = function(folder, **arguments)
        return [Path(written)] if isinstance(written, (str, Path)) else [Path(p) for p in written]

    return sources


def bench_from_table(table: Any, *, file: Path, index: int = 0) -> Testbench:
    """The :class:`Testbench` one ``[[bench]]`` table of ``file`` describes."""
    folder = Path(file).resolve().parent
    name = table.get("name") if isinstance(table, dict) else None
    place = _Place(Path(file), name if isinstance(name, str) else f"#{index + 1}")
    if not isinstance(table, dict):
        raise place.fail("bench", table, "is not a table; valid: [[bench]] tables")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise place.fail(unknown[0], table[unknown[0]],
                         f"is not a known key; valid keys: {', '.join(KEYS)}")
    for key, spec in KEYS.items():
        if spec.required and key not in table:
            raise place.fail(key, None, f"is missing; it is required ({spec.allowed})")
    values = {key: _check_value(place, folder, key, value) for key, value in table.items()}
    given = [key for key in ("sources", "generator", "netlist") if key in values]
    if "generator" in values and ("sources" in values or "netlist" in values):
        raise place.fail("generator", values["generator"],
                         "cannot be combined with 'sources' or 'netlist'; give one of them")
    if not given:
        raise place.fail("sources", None, "is missing; give 'sources', 'generator' or 'netlist'")
    if "generator_parameters" in values and "generator" not in values:
        raise place.fail("generator_parameters", values["generator_parameters"],
                         "needs a 'generator'")
    if "cell_models" in values and "netlist" not in values:
        raise place.fail("cell_models", values["cell_models"], "needs a 'netlist'")
    arguments = values.get("generator_parameters", {})
    files = values.get("sources", [])
    if "generator" in values:
        sources = _generated(_generator(place, values["generator"]), arguments)
    else:
        sources = lambda folder, files=tuple(files): list(files)  # noqa: E731
    env = dict(values.get("env", {}))
    if arguments:
        env[PARAMETERS_ENV] = json.dumps(arguments, sort_keys=True)
    bench = Testbench(
        name=values["name"], top=values["top"], test_module=values["test_module"],
        sources=sources, parameters=arguments, env=env,
        description=values.get("description", ""), defines=values.get("defines", {}),
        hdl_parameters=values.get("parameters", {}), includes=values.get("include_dirs", ()),
        build_args=values.get("build_args", ()),
        timescale=values.get("timescale", ("1ns", "1ps")),
        python_path=tuple(values.get("python_path", [folder])),
        simulators=values.get("simulators", ("icarus",)), tags=tuple(values.get("tags", ())),
        goals=values.get("goals", {}), design=values.get("design", ""), manifest=Path(file))
    if "netlist" in values:
        from kchip.verification.gate_level import GateLevelError, on_netlist

        try:
            bench = on_netlist(bench, values["netlist"], cell_models=values.get("cell_models",
                                                                                 "sky130A"),
                               extra_sources=files, name=bench.name)
        except GateLevelError as exc:
            raise place.fail("netlist", table["netlist"], f"cannot be used: {exc}") from None
    return bench


def load_manifest(file: Path) -> list[Testbench]:
    """Every bench of the manifest ``file``; raises :class:`ManifestError`."""
    file = Path(file)
    try:
        data = tomllib.loads(file.read_text())
    except OSError as exc:
        raise ManifestError(f"{file}: cannot read the manifest ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{file}: not valid TOML ({exc})") from None
    place = _Place(file, "")
    unknown = sorted(set(data) - {"bench"})
    if unknown:
        raise place.fail(unknown[0], data[unknown[0]], "is not a known key; valid: [[bench]]")
    tables = data.get("bench")
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not tables:
        raise place.fail("bench", tables, "is not valid; valid: one or more [[bench]] tables")
    benches = [bench_from_table(table, file=file, index=i) for i, table in enumerate(tables)]
    names = [bench.name for bench in benches]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise place.fail("name", twice[0], "names two benches; names must be unique")
    return benches


__all__ = ["ManifestError", "KEYS", "PARAMETERS_ENV", "bench_from_table", "load_manifest"]
