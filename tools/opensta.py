"""OpenSTA: static timing analysis with liberty, SPEF parasitics and a propagated clock."""

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="opensta",
    executables=("sta",),
    version_args=("-version",),
    version_pattern=r"(\d+)\.(\d+)\.(\d+)",
    min_version=(2, 0),
    install_hint="apt-get install opensta",
    source="Debian package opensta",
)
