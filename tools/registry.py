"""Every external tool kchip uses, in flow order: the list ``kchip doctor`` checks."""

from kchip.tools import iverilog, klayout, klayout_drc, magic, netgen, opensta, verilator, yosys
from kchip.tools.base import ToolSpec

ALL_TOOLS: tuple[ToolSpec, ...] = (
    yosys.TOOL, verilator.TOOL, iverilog.TOOL, klayout.TOOL, klayout_drc.TOOL, magic.TOOL, netgen.TOOL,
    opensta.TOOL,
)
