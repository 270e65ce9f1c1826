"""Icarus Verilog: the default cocotb simulator (also needed by pyverilog's preprocessor)."""

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="iverilog",
    executables=("iverilog",),
    version_args=("-V",),
    version_pattern=r"Icarus Verilog version (\d+)\.(\d+)",
    min_version=(11, 0),
    install_hint="apt-get install iverilog",
    source="Debian package iverilog",
)
