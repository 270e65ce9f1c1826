"""Verification of kchip.rtl.npu_core: golden model, cocotb bench and its Verilog generators.

The benches ``kchip verify`` knows are in the manifest ``benches.toml`` beside this file (the
format of :mod:`kchip.verification.manifest`): a 4x4 core with 16-word banks, a 3x3 one (an array
size that is not a power of two, with odd buffer depths), the configuration of
``rtl/npu_core/design.toml`` that the physical flow builds (:func:`write_flow_verilog`), and the
Tiny Tapeout wrapper of ``rtl/npu_core/tt_design.toml`` driven through its pins
(:mod:`.tt_testbench`). :func:`npu_testbench` makes a bench for any other parameters.
"""

from __future__ import annotations

import re
from pathlib import Path

from kchip.verification.runner import Testbench

TOP = "npu_core"


#: Yosys's ``(* full_case *)`` hint in front of ``case`` statements, which pyverilog cannot parse.
_FULL_CASE = re.compile(r"^[ \t]*\(\* full_case = 32'd1 \*\)\n", re.M)


def verilog_text(**parameters) -> str:
    """Verilog of ``NpuCore(**parameters)`` that pyverilog and both simulators read.

    Source locations and internal attributes are left out, and so are the ``full_case`` hints:
    every such ``case`` sits in an ``always @*`` block that assigns a default first, so the hint
    changes nothing.
    """
    from kchip.design.amaranth import to_verilog
    from kchip.rtl.npu_core import NpuCore

    return _FULL_CASE.sub("", to_verilog(NpuCore(**parameters), TOP))


def write_verilog(folder: Path, **parameters) -> Path:
    """Write the core's Verilog to ``folder/npu_core.v``, keeping the file if it is unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TOP}.v"
    text = verilog_text(**parameters)
    if not path.is_file() or path.read_text() != text:
        temporary = path.with_suffix(".v.tmp")
        temporary.write_text(text)
        temporary.replace(path)
    return path


def npu_testbench(*, name: str = TOP, **parameters) -> Testbench:
    """The cocotb bench of an ``NpuCore`` built with ``parameters``."""
    return Testbench(
        name=name, top=TOP, test_module="kchip.verification.npu_core.tb_npu_core",
        sources=lambda folder: [write_verilog(folder, **parameters)], parameters=parameters,
        description=f"NpuCore({', '.join(f'{k}={v}' for k, v in parameters.items())}) "
                    "against the numpy golden model")


def flow_parameters() -> dict:
    """The generator parameters of ``rtl/npu_core/design.toml``, the core the flow builds."""
    from kchip.design import RTL_ROOT, load_design

    return load_design(RTL_ROOT / "npu_core" / "design.toml").parameters


def write_flow_verilog(folder: Path) -> Path:
    """Write the Verilog of the core that ``rtl/npu_core/design.toml`` (``make flow``) builds."""
    return write_verilog(folder, **flow_parameters())
