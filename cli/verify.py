"""``kchip verify``: list the cocotb testbenches and run them as a regression.

``kchip verify list`` shows every bench (``--tests``: and its tests); ``kchip verify run [BENCH
...]`` builds and runs them (all by default) on one or more simulators (``--sim icarus,verilator``)
with one or more seeds (``--seed S`` repeated, or ``--seeds N`` fresh ones), ``--jobs`` runs at a
time, each limited to ``--timeout`` seconds. Every run gets its own folder under ``--out``, which
also keeps one merged JUnit XML, a Markdown summary and the record that ``--rerun-failed`` reads
to run the failed cases again with their seeds. Exits 1 if any test failed, crashed or hung.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from kchip.verification import regression, runner
from kchip.verification.junit import write_junit, write_summary

DEFAULT_OUT = runner.DEFAULT_BUILD_ROOT / "regression"
DEFAULT_TIMEOUT = 3600.0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify", help="run the cocotb testbenches (regression)",
        description=__doc__.split(":", 1)[1].strip())
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the testbenches")
    listing.add_argument("--tests", action="store_true",
                         help="list every test as <bench>.<test> (what -k matches)")
    listing.set_defaults(handler=list_benches)
    run = actions.add_parser("run", help="build and run testbenches")
    run.add_argument("benches", nargs="*", metavar="BENCH", help="benches to run (default: all)")
    run.add_argument("--sim", metavar="SIM[,SIM]",
                     help=f"simulators, comma separated: {', '.join(runner.SIMULATORS)} "
                          "(default: icarus)")
    run.add_argument("--seed", type=int, action="append", dest="seeds", metavar="S",
                     help="random seed (repeatable; default: one fresh seed, printed)")
    run.add_argument("--seeds", type=int, dest="seed_count", metavar="N",
                     help="run N fresh random seeds")
    run.add_argument("--test", action="append", dest="tests", metavar="NAME",
                     help="run only this test (repeatable)")
    run.add_argument("-k", dest="keyword", metavar="EXPR",
                     help="only benches and tests whose <bench>.<test> name contains EXPR")
    run.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                     help="test runs at once (default: the number of cores)")
    run.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help="wall-clock limit of each test run; 0: none "
                          f"(default {DEFAULT_TIMEOUT:g})")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                     help="regression folder: runs, junit.xml, summary.md "
                          f"(default: {DEFAULT_OUT})")
    run.add_argument("--build-root", type=Path, default=runner.DEFAULT_BUILD_ROOT,
                     help=f"where benches are built (default: {runner.DEFAULT_BUILD_ROOT})")
    run.add_argument("--junit", type=Path, metavar="FILE",
                     help="also write the merged JUnit XML here")
    run.add_argument("--summary", type=Path, metavar="FILE",
                     help="also write the Markdown summary here")
    run.add_argument("--rerun-failed", "--rerun-failures", action="store_true", dest="rerun",
                     help="re-run the failed cases of the previous regression in --out, "
                          "with their seeds")
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


def _simulators(text: str | None) -> list[str]:
    from kchip.cli import UserError

    names = [name.strip() for name in (text or "icarus").split(",") if name.strip()]
    for name in names:
        if name not in runner.SIMULATORS:
            raise UserError(f"unknown simulator {name!r} in --sim; valid choices: "
                            f"{', '.join(runner.SIMULATORS)}")
    if not names:
        raise UserError(f"--sim names no simulator; valid choices: {', '.join(runner.SIMULATORS)}")
    return list(dict.fromkeys(names))


def list_benches(args) -> int:
    """The benches as a table; with ``--tests``, one ``<bench>.<test>`` line per test instead
    (what ``-k`` matches)."""
    from kchip.cli import console

    benches = _select([])
    if args.tests:
        for bench in benches:
            names = runner.list_tests(bench.test_module)
            for name in names or ["(tests not found in the module's source)"]:
                console.print(escape(f"{bench.name}.{name}"))
        return 0
    table = Table(title="kchip testbenches")
    for column in ("bench", "top", "parameters", "description"):
        table.add_column(column, overflow="fold")
    for bench in benches:
        parameters = ", ".join(f"{key}={value}" for key, value in bench.parameters.items())
        table.add_row(*map(escape, (bench.name, bench.top, parameters, bench.description)))
    console.print(table)
    return 0


def _check(args) -> None:
    from kchip.cli import UserError

    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be 1 or more")
    if args.timeout < 0:
        raise UserError(f"--timeout {args.timeout:g}: must be 0 (no limit) or more")
    if args.seeds and args.seed_count is not None:
        raise UserError("give either --seed S (repeatable) or --seeds N, not both")
    if args.seed_count is not None and args.seed_count < 1:
        raise UserError(f"--seeds {args.seed_count}: must be 1 or more")
    given = [flag for flag, value in (("BENCH", args.benches), ("--sim", args.sim),
                                      ("--seed", args.seeds), ("--seeds", args.seed_count),
                                      ("--test", args.tests), ("-k", args.keyword))
             if value not in (None, [])]
    if args.rerun and given:
        raise UserError(f"--rerun-failed re-runs what failed in {args.out} with the same seeds; "
                        f"leave out {', '.join(given)}")


def _jobs(args) -> list[regression.Job] | None:
    """The jobs to run, or None (after saying why) when there is nothing to re-run."""
    from kchip.cli import UserError, console

    if args.rerun:
        previous = regression.load(args.out)
        if previous is None:
            raise UserError(f"no previous regression in {args.out} to re-run (run without "
                            "--rerun-failed first, or give its --out)")
        jobs, missing = regression.plan_reruns(previous, runner.discover())
        for name in missing:
            console.print(f"[yellow]{escape(name)}: no longer a known testbench, not re-run[/]")
        if not jobs:
            console.print(f"no failures recorded in {escape(str(args.out))}: nothing to re-run")
            return None
        return jobs
    benches, sims = _select(args.benches), _simulators(args.sim)
    seeds = args.seeds or [runner.new_seed() for _ in range(args.seed_count or 1)]
    jobs = regression.plan(benches, sims, seeds, tests=args.tests, keyword=args.keyword)
    if not jobs:
        raise UserError(f"no bench or test matches -k {args.keyword!r}; benches: "
                        f"{', '.join(bench.name for bench in benches)}")
    return jobs


def _progress(result: runner.RunResult) -> None:
    from kchip.cli import console

    where = f"[{result.testbench}/{result.simulator}] seed {result.seed}"
    if result.attempt:
        where += f" (re-run {result.attempt})"
    if result.status != "ok":
        console.print(f"[red]{escape(where)}: {escape(result.message)}[/]")
    elif result.failed:
        console.print(f"[red]{escape(where)}: {len(result.failed)} of {result.tests} failed: "
                      f"{escape(', '.join(result.failed))}[/]; log {escape(str(result.log))}")
    else:
        console.print(f"{escape(where)}: {result.tests} passed ({result.seconds:.1f} s)")


def _relative(path: Path | None, folder: Path) -> str:
    try:
        return str(Path(path).relative_to(Path(folder).resolve()))
    except (TypeError, ValueError):
        return str(path)


def _table(results: list[runner.RunResult], out: Path) -> Table:
    table = Table(title=f"kchip verify (run folders in {escape(str(out))})")
    for column in ("bench", "sim", "seed", "tests", "failed", "status", "seconds", "run folder"):
        table.add_column(column, overflow="fold")
    for result in results:
        failed = escape(", ".join(result.failed)) if result.failed else "[green]none[/]"
        status = result.status + (f" (re-run {result.attempt})" if result.attempt else "")
        table.add_row(result.testbench, result.simulator, str(result.seed), str(result.tests),
                      failed if result.tests else "[red]no test[/]",
                      status if result.status == "ok" else f"[red]{status}[/]",
                      f"{result.seconds:.1f}", escape(_relative(result.run_dir, out)))
    return table


def run_benches(args) -> int:
    from kchip.cli import console

    _check(args)
    jobs = _jobs(args)
    if jobs is None:
        return 0
    options = regression.Options(build_root=args.build_root, out=args.out, jobs=args.jobs,
                                 timeout=args.timeout or None, waves=args.waves)
    previous = regression.load(args.out) if args.rerun else []
    results = regression.execute(jobs, options, progress=_progress)
    everything = [*previous, *results]
    _, junit, summary = regression.report(args.out, everything)
    if args.junit is not None:
        write_junit(everything, args.junit)
    if args.summary is not None:
        write_summary(everything, args.summary)
    console.print(_table(results, args.out))
    totals = regression.totals(everything)
    console.print(f"JUnit {escape(str(args.junit or junit))}; summary {escape(str(summary))}")
    line = (f"{totals['passed']} passed, {totals['failed']} failed, {totals['errors']} errors, "
            f"{totals['flaky']} flaky")
    if totals["failed"] or totals["errors"] or not totals["tests"]:
        console.print(f"[red]{line}.[/] Replay a run with its --seed, or use --rerun-failed.")
        return 1
    console.print(line)
    return 0
