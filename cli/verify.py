"""``kchip verify``: list the cocotb testbenches and run them as a regression.

``kchip verify list`` shows every bench; ``kchip verify run [BENCH ...]`` builds and runs them
(all by default) on Icarus or Verilator, prints each run's seed, keeps JUnit XML and exits 1 if
any test failed. ``--rerun-failures`` replays only the tests that failed in the previous run of
each bench, with that run's seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from kchip.verification import runner

LAST_RUN = "last-run.json"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify", help="run the cocotb testbenches (regression)",
        description=__doc__.split(":", 1)[1].strip())
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the testbenches")
    listing.set_defaults(handler=list_benches)
    run = actions.add_parser("run", help="build and run testbenches")
    run.add_argument("benches", nargs="*", metavar="BENCH", help="benches to run (default: all)")
    run.add_argument("--sim", choices=runner.SIMULATORS, default="icarus",
                     help="simulator (default: icarus)")
    run.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    run.add_argument("--test", action="append", dest="tests", metavar="NAME",
                     help="run only this test (repeatable)")
    run.add_argument("--junit", type=Path, metavar="DIR",
                     help="write the JUnit XML of each bench to DIR/<bench>-<sim>.xml")
    run.add_argument("--build-root", type=Path, default=runner.DEFAULT_BUILD_ROOT,
                     help=f"where benches are built (default: {runner.DEFAULT_BUILD_ROOT})")
    run.add_argument("--rerun-failures", action="store_true",
                     help="run only the tests that failed last time, with the same seed")
    run.add_argument("--waves", action="store_true", help="dump waveforms")
    run.set_defaults(handler=run_benches)


def _select(names: list[str]) -> list[runner.Testbench]:
    from kchip.cli import UserError

    known = runner.discover()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(f"unknown testbench {unknown[0]!r}; known testbenches: "
                        f"{', '.join(known) or 'none'}")
    return [known[name] for name in names] if names else list(known.values())


def list_benches(args) -> int:
    from kchip.cli import console

    table = Table(title="kchip testbenches")
    for column in ("bench", "top", "parameters", "description"):
        table.add_column(column, overflow="fold")
    for bench in _select([]):
        parameters = ", ".join(f"{key}={value}" for key, value in bench.parameters.items())
        table.add_row(bench.name, bench.top, parameters, bench.description)
    console.print(table)
    return 0


def _previous(bench: runner.Testbench, args) -> dict | None:
    record = runner.build_dir_for(bench, args.sim, args.build_root) / LAST_RUN
    return json.loads(record.read_text()) if record.is_file() else None


def _remember(bench: runner.Testbench, args, result: runner.RunResult) -> None:
    record = runner.build_dir_for(bench, args.sim, args.build_root) / LAST_RUN
    temporary = record.with_suffix(".tmp")
    temporary.write_text(json.dumps({"seed": result.seed, "failed": list(result.failed)}))
    temporary.replace(record)


def run_benches(args) -> int:
    from kchip.cli import UserError, console

    benches = _select(args.benches)
    if args.rerun_failures and (args.seed is not None or args.tests):
        raise UserError("--rerun-failures takes the seed and tests of the previous run; "
                        "leave out --seed and --test")
    table = Table(title=f"kchip verify on {args.sim}")
    for column in ("bench", "tests", "failed", "seed", "seconds", "results"):
        table.add_column(column, overflow="fold")
    failures = 0
    for bench in benches:
        seed, tests = args.seed, args.tests
        if args.rerun_failures:
            previous = _previous(bench, args)
            if not previous or not previous["failed"]:
                console.print(f"{bench.name}: no failures recorded for {args.sim}, skipped")
                continue
            seed, tests = previous["seed"], previous["failed"]
        junit = args.junit / f"{bench.name}-{args.sim}.xml" if args.junit else None
        began = time.monotonic()
        try:
            result = runner.run(bench, simulator=args.sim, seed=seed, tests=tests,
                                build_root=args.build_root, junit=junit, waves=args.waves,
                                check=False)
        except runner.SimulationError as exc:
            failures += 1
            table.add_row(bench.name, "-", "[red]did not run[/]", str(seed or "-"),
                          f"{time.monotonic() - began:.1f}", escape(str(exc)))
            continue
        _remember(bench, args, result)
        failures += not result.passed
        failed = escape(", ".join(result.failed)) if result.failed else "[green]none[/]"
        table.add_row(bench.name, str(result.tests), failed if result.tests else "[red]no test",
                      str(result.seed), f"{time.monotonic() - began:.1f}", escape(str(result.results_xml)))
    console.print(table)
    if failures:
        console.print(f"[red]{failures} bench(es) failed.[/] Replay with --seed, or "
                      "--rerun-failures.")
        return 1
    return 0
