"""``kchip doctor``: every external tool, the version found and required, and how to install it."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from kchip.tools.base import ToolError, probe
from kchip.tools.registry import ALL_TOOLS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the external EDA tools", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("--pdk", help="instead, check that the PDK root holds every file the PDK's descriptor "
                        "names and that its process rules load; name what is missing")
    parser.add_argument("--pdk-root", help="PDK root (default: $KCHIP_PDK_ROOT, then $PDK_ROOT)")
    parser.set_defaults(handler=run)


def check_pdk(name: str, root: str | None) -> int:
    """``kchip doctor --pdk NAME``: 0 when the PDK root holds what the flow needs, else 1."""
    from kchip.cli import console
    from kchip.pdk import PdkError, pdk_problems

    try:
        problems = pdk_problems(name, root)
    except PdkError as exc:
        problems = [str(exc)]
    for problem in problems:
        console.print(f"[red]missing:[/] {escape(problem)}")
    if problems:
        return 1
    console.print(f"[green]PDK {escape(name)}: every file and rule the flow needs is there.[/]")
    return 0


def run(args) -> int:
    from kchip.cli import console

    if args.pdk:
        return check_pdk(args.pdk, args.pdk_root)

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
