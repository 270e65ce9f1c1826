"""``kchip verify``: list the cocotb testbenches and run them as a regression.

``kchip verify list`` shows every bench (``--tests``: and its tests); ``kchip verify run [BENCH
...]`` builds and runs them (all by default; ``--tag`` narrows) on one or more simulators
(``--sim icarus,verilator``; default: each bench's first) with one or more seeds (``--seed S``
repeated, or ``--seeds N`` fresh ones), ``--jobs`` runs at a time, each limited to ``--timeout``
seconds. The benches are the project's, or those of ``--manifest FILE`` (a user's own, same
format); ``--gate-level RUN_DIR`` runs them on that flow run's final netlist. Every run gets its
own folder under ``--out``, which also keeps one merged JUnit XML, a Markdown summary, the merged
coverage and the record that ``--rerun-failed`` reads to run the failed cases again with their
seeds. ``--waves=fail`` dumps waveforms of failing tests only. Exits 1 if any test failed, crashed
or hung, or a coverage goal was missed; 2 on bad input.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from kchip.verification import coverage, regression, runner
from kchip.verification.gate_level import GateLevelError, for_run
from kchip.verification.junit import write_junit, write_summary
from kchip.verification.manifest import ManifestError, load_manifest

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
    listing.add_argument("--manifest", action="append", type=Path, metavar="FILE",
                         help="the benches of this manifest instead of the project's (repeatable)")
    listing.set_defaults(handler=list_benches)
    run = actions.add_parser("run", help="build and run testbenches")
    run.add_argument("benches", nargs="*", metavar="BENCH", help="benches to run (default: all)")
    run.add_argument("--manifest", action="append", type=Path, metavar="FILE",
                     help="run the benches of this TOML manifest instead of the project's "
                          "(repeatable)")
    run.add_argument("--tag", action="append", dest="tags", metavar="TAG",
                     help="only benches with this tag (repeatable: any of them)")
    run.add_argument("--sim", metavar="SIM[,SIM]",
                     help=f"simulators, comma separated: {', '.join(runner.SIMULATORS)} "
                          "(default: each bench's first; benches that do not list one are left "
                          "out on it)")
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
    run.add_argument("--waves", nargs="?", const="all", default="none", metavar="WHEN",
                     help=f"dump waveforms: {', '.join(regression.WAVES)} (fail: re-run failing "
                          "tests with dumping on, into their run folder; --waves alone: all)")
    run.add_argument("--coverage", action="store_true",
                     help="Verilator line and toggle coverage, merged over the runs")
    run.add_argument("--gate-level", type=Path, metavar="RUN_DIR",
                     help="run the benches of the run's design on its final netlist "
                          "(final/<top>.nl.v) with cell models from the PDK's liberty")
    run.add_argument("--pdk", default="sky130A",
                     help="PDK of the --gate-level cell models (default: sky130A)")
    run.set_defaults(handler=run_benches)


def _known(args) -> dict[str, runner.Testbench]:
    """The benches of ``--manifest`` files, else the project's; ``--gate-level`` variants of the
    selected ones with that option."""
    from kchip.cli import UserError

    if not getattr(args, "manifest", None):
        return runner.discover()
    known: dict[str, runner.Testbench] = {}
    for file in args.manifest:
        try:
            benches = load_manifest(file)
        except ManifestError as exc:
            raise UserError(str(exc)) from None
        for bench in benches:
            if bench.name in known:
                first = known[bench.name].manifest
                raise UserError(f"bench {bench.name!r} is in two manifests ({first} and {file}); "
                                "names must be unique")
            known[bench.name] = bench
    return known


def _select(args, names: list[str]) -> list[runner.Testbench]:
    from kchip.cli import UserError

    known = _known(args)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(f"unknown testbench {unknown[0]!r}; known testbenches: "
                        f"{', '.join(known) or 'none'}")
    chosen = [known[name] for name in names] if names else list(known.values())
    tags = getattr(args, "tags", None)
    if tags:
        chosen = [bench for bench in chosen if set(tags) & set(bench.tags)]
        if not chosen:
            every = sorted({tag for bench in known.values() for tag in bench.tags})
            raise UserError(f"no bench has tag {' or '.join(map(repr, tags))}; tags: "
                            f"{', '.join(every) or 'none'}")
    if getattr(args, "gate_level", None) is not None:
        try:
            chosen = for_run(chosen, args.gate_level, pdk=args.pdk, chosen=bool(names))
        except GateLevelError as exc:
            raise UserError(f"--gate-level {str(args.gate_level)!r}: {exc}") from None
    return chosen


def _simulators(text: str | None) -> list[str] | None:
    """The simulators ``--sim`` names, or None (each bench's first) without it."""
    from kchip.cli import UserError

    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
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

    benches = _select(args, [])
    if args.tests:
        for bench in benches:
            names = runner.list_tests(bench.test_module, bench.python_path)
            for name in names or ["(tests not found in the module's source)"]:
                console.print(escape(f"{bench.name}.{name}"))
        return 0
    table = Table(title="kchip testbenches")
    table.add_column("bench", no_wrap=True)
    for column in ("top", "simulators", "tags", "parameters", "description"):
        table.add_column(column, overflow="fold")
    for bench in benches:
        parameters = ", ".join(f"{key}={value}" for key, value in
                               {**bench.parameters, **bench.hdl_parameters}.items())
        table.add_row(*map(escape, (bench.name, bench.top, ", ".join(bench.simulators),
                                    ", ".join(bench.tags), parameters, bench.description)))
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
    if args.waves not in regression.WAVES:
        raise UserError(f"--waves {args.waves!r}: valid choices: {', '.join(regression.WAVES)}")
    given = [flag for flag, value in (("BENCH", args.benches), ("--sim", args.sim),
                                      ("--seed", args.seeds), ("--seeds", args.seed_count),
                                      ("--test", args.tests), ("-k", args.keyword),
                                      ("--tag", args.tags))
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
        jobs, missing = regression.plan_reruns(
            previous, {bench.name: bench for bench in _select(args, [])})
        for name in missing:
            console.print(f"[yellow]{escape(name)}: no longer a known testbench, not re-run[/]")
        if not jobs:
            console.print(f"no failures recorded in {escape(str(args.out))}: nothing to re-run")
            return None
        return jobs
    benches, sims = _select(args, args.benches), _simulators(args.sim)
    if sims is not None:
        for bench in benches:
            left_out = [sim for sim in sims if sim not in bench.simulators]
            if left_out:
                console.print(f"[yellow]{escape(bench.name)}: not run on {', '.join(left_out)} "
                              f"(its simulators: {', '.join(bench.simulators)})[/]")
        benches = [bench for bench in benches if set(sims) & set(bench.simulators)]
        if not benches:
            raise UserError(f"no selected bench runs on {', '.join(sims)}")
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
                                 timeout=args.timeout or None, waves=args.waves,
                                 coverage=args.coverage)
    previous = regression.load(args.out) if args.rerun else []
    results = regression.execute(jobs, options, progress=_progress)
    everything = [*previous, *results]
    goals = {job.testbench.name: dict(job.testbench.goals) for job in jobs}
    merged = regression.report(args.out, everything, goals=goals)
    if args.junit is not None:
        write_junit(everything, args.junit)
    if args.summary is not None:
        write_summary(everything, args.summary, coverage=merged)
    console.print(_table(results, args.out))
    totals = regression.totals(everything)
    out = Path(args.out)
    console.print(f"JUnit {escape(str(args.junit or out / regression.JUNIT))}; summary "
                  f"{escape(str(out / regression.SUMMARY))}; coverage "
                  f"{escape(str(out / coverage.REPORT))}")
    for line in coverage.missed_lines(merged):
        console.print(f"[red]{escape(line)}[/]")
    line = (f"{totals['passed']} passed, {totals['failed']} failed, {totals['errors']} errors, "
            f"{totals['flaky']} flaky")
    if totals["failed"] or totals["errors"] or not totals["tests"]:
        console.print(f"[red]{line}.[/] Replay a run with its --seed, or use --rerun-failed.")
        return 1
    if merged["missed"]:
        console.print(f"{line}; [red]{len(merged['missed'])} coverage goal(s) missed.[/]")
        return 1
    console.print(line)
    return 0
