"""The cocotb bench of ``tt_um_kchip_npu``, the NPU core behind the Tiny Tapeout pins.

:func:`tt_testbench` describes it for one set of wrapper parameters (by default those of
``rtl/npu_core/tt_design.toml``); the tests are in :mod:`kchip.verification.npu_core.tt_tests`,
the host side of the byte protocol in :mod:`kchip.verification.npu_core.tt_driver`.
"""

from __future__ import annotations

from pathlib import Path

from kchip.verification.runner import Testbench

#: The Tiny Tapeout top module's name, as the design file gives it.
TOP = "tt_um_kchip_npu"


def design_parameters() -> dict:
    """The wrapper parameters of ``rtl/npu_core/tt_design.toml``."""
    from kchip.design import RTL_ROOT, load_design

    return load_design(RTL_ROOT / "npu_core" / "tt_design.toml").parameters


def verilog_text(**parameters) -> str:
    """Verilog of ``TinyTapeoutNpu(**parameters)`` as module ``tt_um_kchip_npu``."""
    from kchip.design.amaranth import to_verilog
    from kchip.rtl.npu_core.tt_wrapper import TinyTapeoutNpu

    return to_verilog(TinyTapeoutNpu(**parameters), TOP)


def write_design_verilog(folder: Path, *, verilog=verilog_text, **parameters) -> Path:
    """Write ``verilog(**parameters)`` (default: the wrapper of ``tt_design.toml``) to
    ``folder/tt_um_kchip_npu.v``, keeping the file if it is unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TOP}.v"
    text = verilog(**(parameters or design_parameters()))
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def tt_testbench(*, name: str = "npu_core_tt", verilog=verilog_text, **parameters) -> Testbench:
    """The bench of the wrapper built with ``parameters``; ``verilog(**parameters)`` gives its
    Verilog text (another one puts a different design with the same pins under the bench)."""

    def sources(folder: Path) -> list[Path]:
        return [write_design_verilog(folder, verilog=verilog, **parameters)]

    return Testbench(
        name=name, top=TOP, test_module="kchip.verification.npu_core.tt_tests", sources=sources,
        parameters=parameters,
        description=f"{TOP}({', '.join(f'{k}={v}' for k, v in parameters.items())}): the byte "
                    "protocol on the Tiny Tapeout pins against the numpy golden model")
