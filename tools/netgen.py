"""Netgen: layout-versus-schematic comparison."""

from __future__ import annotations

from pathlib import Path

from kchip.tools.base import Invocation, ToolSpec

TOOL = ToolSpec(
    name="netgen",
    executables=("netgen-lvs", "netgen"),
    version_args=("-batch", "quit"),
    version_pattern=r"Netgen (\d+)\.(\d+)\.(\d+)",
    min_version=(1, 5, 100),
    install_hint="apt-get install netgen-lvs",
    source="Debian package netgen-lvs",
)


def run_script(invocation: Invocation, script: Path, *, log_name: str, cwd: Path) -> str:
    """Run a netgen Tcl script in batch mode; return netgen's output."""
    return invocation.run(TOOL, ["-batch", "source", str(script.resolve())], log_name=log_name,
                          cwd=cwd, stdin="quit\n")
