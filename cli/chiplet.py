"""``kchip chiplet check FILE``: do these dies fit together, and does the traffic fit the links?

Prints a table of the checks and their violations, writes ``check.json`` and ``graph.svg`` (the dies
and links, coloured by link utilisation) to ``--out``; exits 1 when a check fails.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

STATUS_STYLE = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "skipped": "[yellow]skipped[/]"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("chiplet", help="check a chiplet system (dies, links, traffic)",
                                   description=__doc__.split(":", 1)[1].strip())
    actions = parser.add_subparsers(dest="chiplet_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="run every integration check on a system file",
                               description="Run every integration check on a system file "
                                           "(YAML or TOML).")
    check.add_argument("file", type=Path, help="system file (.yaml, .yml or .toml)")
    check.add_argument("--out", type=Path, default=None,
                       help="folder for check.json and graph.svg (default: runs/chiplet/<file stem>)")
    check.add_argument("--no-rtl", action="store_true",
                       help="skip the RTL port check (it generates and parses the dies' Verilog)")
    check.set_defaults(handler=run_check)


def _print(report) -> None:
    from kchip.chiplet.report import CHECKS
    from kchip.cli import console

    summary = Table(title=f"kchip chiplet check: {report.system.name}")
    for column in ("check", "status", "violations", "ms"):
        summary.add_column(column, overflow="fold")
    for name in CHECKS:
        summary.add_row(name, STATUS_STYLE[report.status(name)], str(len(report.violations.get(name, []))),
                        f"{1000 * report.seconds.get(name, 0.0):.1f}")
    console.print(summary)
    found = [v for name in CHECKS for v in report.violations.get(name, [])]
    if found:
        table = Table(title="violations")
        for column in ("check", "subject", "message"):
            table.add_column(column, overflow="fold")
        for v in found:
            table.add_row(escape(v.check), escape(v.subject), escape(v.message))
        console.print(table)
    for skips in report.skipped.values():
        for skip in skips:
            console.print(f"[yellow]skipped:[/] {escape(skip.reason)}")
    links = Table(title="links")
    for column in ("link", "standard", "capacity GB/s", "load a->b", "load b->a", "use", "power W"):
        links.add_column(column, overflow="fold")
    for row in report.link_rows()[:50]:
        links.add_row(escape(row["name"]), row["standard"] + (" (half duplex)" if row["duplex"] == "half" else ""),
                      f"{row['capacity_gbyte_s']:.1f}", f"{row['load_forward_gbyte_s']:.1f}",
                      f"{row['load_backward_gbyte_s']:.1f}", f"{row['utilisation']:.0%}",
                      f"{row['power_w']:.2f}")
    console.print(links)


def run_check(args) -> int:
    from kchip.chiplet.model import SystemInputError, load_system
    from kchip.chiplet.report import run_checks, write_atomic, write_json
    from kchip.chiplet.svg import render_svg

    from kchip.cli import UserError, console

    try:
        system = load_system(args.file)
    except SystemInputError as exc:
        raise UserError(str(exc)) from None
    report = run_checks(system, rtl=not args.no_rtl)
    out = args.out or Path("runs") / "chiplet" / args.file.stem
    write_json(report, out / "check.json")
    write_atomic(out / "graph.svg", render_svg(report))
    _print(report)
    verdict = "[green]passes[/]" if report.passed else "[red]fails[/]"
    console.print(escape(f"{system.name} {verdict}; wrote {out / 'check.json'} and {out / 'graph.svg'}"))
    return 0 if report.passed else 1
