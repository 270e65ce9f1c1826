"""Netgen: layout-versus-schematic comparison."""

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="netgen",
    executables=("netgen-lvs", "netgen"),
    version_args=("-batch", "quit"),
    version_pattern=r"Netgen (\d+)\.(\d+)\.(\d+)",
    min_version=(1, 5, 100),
    install_hint="apt-get install netgen-lvs",
    source="Debian package netgen-lvs",
)
