"""KLayout's Python module: LEF/DEF to GDS, layout pictures and geometric rule checks."""

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="klayout",
    executables=("python3",),
    version_args=("-c", "import klayout.db as d; print('klayout', d.__version__)"),
    version_pattern=r"klayout (\d+)\.(\d+)\.(\d+)",
    min_version=(0, 28),
    install_hint="pip install klayout",
    source="PyPI klayout (Python module)",
)
