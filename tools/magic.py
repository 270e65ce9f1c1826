"""Magic: design-rule checks with the SKY130 tech file and layout extraction for LVS."""

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="magic",
    executables=("magic",),
    version_args=("--version",),
    version_pattern=r"(\d+)\.(\d+)\.(\d+)",
    min_version=(8, 3, 100),
    install_hint="apt-get install magic",
    source="Debian package magic",
)
