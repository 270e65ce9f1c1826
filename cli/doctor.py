"""``kchip doctor``: every external tool, the version found and required, and how to install it."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from kchip.tools.base import ToolError, probe
from kchip.tools.registry import ALL_TOOLS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the external EDA tools", description=__doc__.split(":", 1)[1].strip())
    parser.set_defaults(handler=run)


def run(args) -> int:
    from kchip.cli import console

    table = Table(title="kchip doctor: external tools")
    for column in ("tool", "status", "found", "required", "path", "source / install hint"):
        table.add_column(column, overflow="fold")
    missing = 0
    for spec in ALL_TOOLS:
        wanted = ">= " + ".".join(map(str, spec.min_version))
        try:
            info = probe(spec)
        except ToolError as exc:
            info, problem = None, str(exc)
        else:
            problem = ""
        if info is not None and info.ok:
            table.add_row(spec.name, "[green]ok[/]", info.version_text, wanted, escape(info.path), escape(spec.source))
            continue
        missing += spec.required
        status = "[red]too old[/]" if info else "[red]missing[/]"
        found = info.version_text if info else "-"
        table.add_row(spec.name, status, found, wanted, escape(info.path if info else problem or "-"),
                      escape(spec.install_hint))
    console.print(table)
    if missing:
        console.print(f"[red]{missing} required tool(s) missing or too old.[/] "
                      "Run ./install.sh to install everything.")
        return 1
    console.print("[green]all tools present.[/]")
    return 0
