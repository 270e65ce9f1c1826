"""``kchip flow``: run the RTL-to-GDS flow of a design and list its stages."""

from __future__ import annotations

import time
from pathlib import Path

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from kchip.cli import UserError, console

STATE_STYLE = {"done": "green", "running": "yellow", "failed": "red", "interrupted": "red", "pending": "dim"}


def register(subparsers) -> None:
    flow = subparsers.add_parser("flow", help="run the RTL-to-GDS flow", description=__doc__.split(":", 1)[1].strip())
    sub = flow.add_subparsers(dest="flow_command", metavar="SUBCOMMAND", required=True)
    run = sub.add_parser("run", help="run the flow of a design up to a stage",
                         description="Run the flow; finished stages whose inputs did not change are not re-run.")
    run.add_argument("--design", required=True, metavar="FILE_OR_NAME",
                     help="design TOML file, or the name of a built-in design")
    run.add_argument("--pdk", default="sky130A", help="PDK variant (default: sky130A)")
    run.add_argument("--pdk-root", help="PDK root (default: $KCHIP_PDK_ROOT, then $PDK_ROOT)")
    run.add_argument("--run-dir", type=Path, help="run folder (default: runs/<design>)")
    run.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage on")
    run.add_argument("--to", dest="to_stage", metavar="STAGE", default="report", help="stop after this stage")
    run.add_argument("--jobs", type=int, default=1, metavar="N", help="Luigi workers running stages in parallel")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.VAR=VALUE",
                     help="override a stage variable (see 'kchip flow stages')")
    run.add_argument("--shuttle", metavar="SHUTTLE:SLOT",
                     help="take die and pins from a shuttle slot, e.g. tt-sky130:1x2 or tt-sky130:auto "
                          "(same as --set floorplan.shuttle=...; 'kchip mpw slots' lists them)")
    run.add_argument("--scheduler-url", help="central luigid URL (default: local scheduler)")
    run.add_argument("--join", action="store_true",
                     help="be one more worker of the run another machine started with the same arguments "
                          "and --scheduler-url (needs a shared run folder)")
    run.set_defaults(handler=run_command)
    stages = sub.add_parser("stages", help="list the stages with their views and variables")
    stages.set_defaults(handler=stages_command)


def _table(statuses) -> Table:
    table = Table(title="kchip flow")
    for column in ("stage", "state", "time (s)", "key result"):
        table.add_column(column)
    for s in statuses:
        key = next((f"{k} = {v}" for k, v in s.metrics.items() if not k.startswith("flow__")), "")
        table.add_row(s.name, f"[{STATE_STYLE.get(s.state, '')}]{s.state}[/]",
                      f"{s.seconds:.1f}" if s.seconds is not None else "", escape(key))
    return table


class ProgressLines:
    """Progress as one plain line per stage state change, for output that is not a terminal (CI)."""

    def __init__(self):
        self.seen: dict[str, str] = {}

    def __call__(self, statuses) -> None:
        for s in statuses:
            if self.seen.get(s.name, "pending") != s.state:
                self.seen[s.name] = s.state
                took = f" in {s.seconds:.1f} s" if s.seconds is not None and s.state != "running" else ""
                took = " (reused)" if s.reused else took
                console.print(f"{time.strftime('%H:%M:%S')} {s.name}: {s.state}{took}", markup=False,
                              highlight=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class LiveTable(Live):
    """The stage table, redrawn in place on a terminal, only when the flow's watcher calls (no
    refresh thread of its own: the flow holds off its forks while the watcher draws)."""

    def __init__(self):
        super().__init__(console=console, auto_refresh=False, transient=False)

    def __call__(self, statuses) -> None:
        self.update(_table(statuses), refresh=True)


def run_command(args) -> int:
    from kchip.design import DesignError, resolve_design
    from kchip.flows.report import signoff_verdict
    from kchip.flows.runner import FlowError, parse_overrides, run_flow
    from kchip.pdk import PdkError, load_pdk

    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs!r}: must be a positive number of workers")
    try:
        design = resolve_design(args.design)
        pdk = load_pdk(args.pdk, args.pdk_root)
        overrides = parse_overrides(args.overrides)
        if args.shuttle:
            overrides["floorplan.shuttle"] = args.shuttle
    except (DesignError, PdkError, FlowError) as exc:
        raise UserError(str(exc)) from None
    run_dir = args.run_dir or Path("runs") / design.name
    with (LiveTable() if console.is_terminal else ProgressLines()) as progress:
        try:
            result = run_flow(design, pdk.name, pdk.root, run_dir, from_stage=args.from_stage,
                              to_stage=args.to_stage, jobs=args.jobs, overrides=overrides,
                              scheduler_url=args.scheduler_url, join=args.join, on_update=progress)
        except (FlowError, ValueError) as exc:
            raise UserError(str(exc)) from None
    for line in result.cleaned:
        console.print(f"cleaned after an earlier run: {line}", markup=False, soft_wrap=True)
    for status in result.stages:
        if status.state in ("failed", "interrupted"):
            console.print(f"[bold red]stage {status.name} {status.state}[/]\n{escape(status.error or '')}",
                          soft_wrap=True)
    if not result.ok:
        if result.scheduler_summary:
            console.print(f"no stage failed, but the scheduler stopped; Luigi's summary:\n"
                          f"{escape(result.scheduler_summary)}", soft_wrap=True)
        console.print(f"[red]flow stopped before {args.to_stage}[/] (run folder {escape(str(result.run_dir))})")
        return 1
    if args.join:
        console.print(f"worker finished in {result.seconds:.1f} s; the run it joined publishes "
                      f"{escape(str(result.run_dir / 'final'))}")
        return 0
    console.print(f"flow finished in {result.seconds:.1f} s; run folder {escape(str(result.run_dir))}")
    if args.to_stage == "report":
        if not result.final_metrics:
            console.print(f"[red]{escape(str(result.run_dir / 'final'))} does not hold this run's report[/]")
            return 1
        verdict = signoff_verdict(result.final_metrics)
        for name, ok in verdict.items():
            console.print(f"  {'[green]pass[/]' if ok else '[red]FAIL[/]'} {name} = "
                          f"{escape(str(result.final_metrics.get(name, 'not run')))}")
        console.print(f"report: {escape(str(result.run_dir / 'final' / 'report.md'))}")
        return 0 if all(verdict.values()) else 1
    return 0


def stages_command(args) -> int:
    from kchip.flows.pipeline import STAGES

    table = Table(title="flow stages")
    for column in ("#", "stage", "reads", "writes", "variables (allowed, default, unit: help)"):
        table.add_column(column, overflow="fold")
    for stage in STAGES.values():
        variables = "\n".join(escape(f"{v.name} ({v.allowed()}, default {v.default!r}, {v.unit or '-'}): "
                                     f"{v.help}") for v in stage.variables)
        table.add_row(str(stage.order), stage.name, ", ".join(stage.reads), ", ".join(stage.writes), variables)
    console.print(table)
    return 0
