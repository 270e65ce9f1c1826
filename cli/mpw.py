"""``kchip mpw``: multi-project wafer shuttles: the slots on offer and the precheck of a layout.

``kchip mpw slots [SHUTTLE]`` lists the shuttles or one shuttle's slots (with ``--area`` or
``--cell-area``/``--utilization``, the smallest that fits). ``kchip mpw precheck RUN_DIR_OR_GDS
--shuttle tt-sky130:1x1`` runs every precheck, prints a table, writes ``results.xml`` (JUnit) and
``results.md`` and exits 1 when a check fails. ``kchip mpw package RUN_DIR`` packages a signed-off run
folder (GDS, LEF, netlists, SDC, SPEF, reports, ``manifest.json`` with every file's SHA-256) as a folder
and a ``.tar.gz``; ``kchip mpw verify DIR_OR_ARCHIVE`` rechecks a package and reruns the precheck.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

STATUS_STYLE = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "skip": "[yellow]skip[/]"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("mpw", help="shuttle slots and the precheck of a layout",
                                   description=__doc__.split(":", 1)[1].strip())
    actions = parser.add_subparsers(dest="mpw_command", metavar="ACTION", required=True)
    slots = actions.add_parser("slots", help="list the shuttles, or one shuttle's slots",
                               description="List the shuttles, or one shuttle's slots with their die.")
    slots.add_argument("shuttle", nargs="?", help="shuttle name (default: list the shuttles)")
    slots.add_argument("--area", type=float, metavar="UM2", help="mark the smallest slot of at least this die area")
    slots.add_argument("--cell-area", type=float, metavar="UM2",
                       help="mark the smallest slot for this cell area at --utilization")
    slots.add_argument("--utilization", type=float, default=0.5, metavar="U",
                       help="placement utilization for --cell-area (default: 0.5)")
    slots.set_defaults(handler=slots_command)
    precheck = actions.add_parser("precheck", help="check a layout against a shuttle slot",
                                  description="Check a GDS (or the final GDS of a run folder) against a "
                                              "shuttle slot; exit 1 when a check fails.")
    precheck.add_argument("path", type=Path, metavar="RUN_DIR_OR_GDS",
                          help="a GDS file, or a kchip run folder (its final/<top>.gds)")
    precheck.add_argument("--shuttle", required=True, metavar="SHUTTLE[:SIZE]",
                          help="the slot, e.g. tt-sky130:1x1, caravel-sky130, ihp-sg13g2-2mm2:1000x1500")
    precheck.add_argument("--top", help="required top cell name (default: the GDS file name's stem)")
    precheck.add_argument("--out", type=Path,
                          help="folder for results.xml and results.md (default: RUN_DIR/precheck for a "
                               "run folder with final/, else runs/mpw/<top>); the tools' files go to its work/")
    precheck.add_argument("--pdk-root", type=Path, help="PDK root (default: $KCHIP_PDK_ROOT, then $PDK_ROOT)")
    precheck.set_defaults(handler=precheck_command)
    _register_package(actions)


def _register_package(actions) -> None:
    package = actions.add_parser("package", help="package a signed-off run folder for a shuttle",
                                 description="Package a signed-off run folder as OUT/<top>/ and OUT/<top>.tar.gz "
                                             "with a manifest of every file's SHA-256; refuses a run whose "
                                             "signoff is not clean or whose stages are missing.")
    package.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a kchip run folder with final/")
    package.add_argument("--out", type=Path, help="folder for <top>/ and <top>.tar.gz (default: RUN_DIR/package)")
    package.add_argument("--shuttle", metavar="SHUTTLE[:SIZE]",
                         help="the slot, for a run made without --shuttle (else it must be the run's slot)")
    package.add_argument("--pdk", help="PDK variant (default: the shuttle's, else sky130A)")
    package.add_argument("--pdk-root", help="PDK root (default: $KCHIP_PDK_ROOT, then $PDK_ROOT)")
    package.set_defaults(handler=package_command)
    verify = actions.add_parser("verify", help="recheck a package and rerun the shuttle precheck",
                                description="Recheck every file of a package (folder or .tar.gz) against its "
                                            "manifest and rerun the precheck on its GDS; exit 1 when a check fails.")
    verify.add_argument("path", type=Path, metavar="DIR_OR_ARCHIVE", help="a package folder or archive")
    verify.add_argument("--shuttle", metavar="SHUTTLE[:SIZE]", help="precheck slot (default: the manifest's)")
    verify.add_argument("--against", type=Path, metavar="RUN_DIR_OR_GDS",
                        help="also XOR the package's GDS with this layout")
    verify.add_argument("--out", type=Path,
                        help="folder for results.xml and results.md, the precheck tools' files in its work/ "
                             "(default: DIR_OR_ARCHIVE.verify beside the package)")
    verify.add_argument("--pdk-root", type=Path, help="PDK root (default: $KCHIP_PDK_ROOT, then $PDK_ROOT)")
    verify.set_defaults(handler=verify_command)


def _slot(spec: str):
    from kchip.cli import UserError
    from kchip.mpw.slots import ShuttleError, parse_slot_spec

    try:
        return parse_slot_spec(spec)
    except ShuttleError as exc:
        raise UserError(str(exc)) from None


def slots_command(args) -> int:
    from kchip.cli import UserError, console
    from kchip.mpw.slots import ShuttleError, available_shuttles, load_shuttle

    try:
        if args.shuttle is None:
            table = Table(title="kchip mpw shuttles")
            for column in ("shuttle", "pdk", "kind", "slots", "description"):
                table.add_column(column, overflow="fold")
            for name in available_shuttles():
                shuttle = load_shuttle(name)
                offer = ", ".join(shuttle.sizes) or f"any WxH up to {shuttle.max_area_um2:.0f} um2"
                table.add_row(name, shuttle.pdk, shuttle.kind, offer, escape(shuttle.description))
            console.print(table)
            return 0
        shuttle = load_shuttle(args.shuttle)
        fitting = None
        if args.area is not None or args.cell_area is not None:
            fitting = shuttle.smallest_fitting(args.area, cell_area_um2=args.cell_area,
                                               utilization=args.utilization if args.cell_area is not None else None)
    except ShuttleError as exc:
        raise UserError(str(exc)) from None
    table = Table(title=f"kchip mpw slots: {escape(shuttle.name)}")
    for column in ("slot", "die um", "area um2", "signal pins", "power", ""):
        table.add_column(column, overflow="fold")
    slots = shuttle.slots() or ([fitting] if fitting else [])
    for slot in slots:
        power = f"{', '.join(slot.power.nets)} on {slot.power.layer}" if slot.power else ""
        mark = "[green]smallest fitting[/]" if fitting is not None and slot.size == fitting.size else ""
        table.add_row(slot.spec, f"{slot.width_um:g} x {slot.height_um:g}", f"{slot.area_um2:.0f}",
                      str(len(slot.pins)), power, mark)
    console.print(table)
    if not shuttle.slots() and fitting is None:
        console.print(f"any die WxH up to {shuttle.max_area_um2:.0f} um2: name it as "
                      f"{escape(shuttle.name)}:WxH, or pass --area / --cell-area")
    return 0


def _print(report, command: str = "precheck") -> None:
    from kchip.cli import console

    table = Table(title=f"kchip mpw {command}: {escape(report.top)} on {escape(report.slot_spec)}")
    for column in ("check", "status", "problems", "ms"):
        table.add_column(column, overflow="fold")
    for result in report.results:
        table.add_row(result.name, STATUS_STYLE[result.status], str(len(result.details)) if result.details else "",
                      f"{1000 * result.seconds:.1f}")
    console.print(table)
    for result in report.results:
        for line in result.details:
            console.print(f"[red]{result.name}[/]: {escape(line)}")
        if result.skipped:
            console.print(f"[yellow]{result.name} skipped[/]: {escape(result.skipped)}")


def precheck_command(args) -> int:
    from kchip.cli import UserError, console
    from kchip.mpw.layout import PrecheckInputError
    from kchip.mpw.precheck import find_gds, find_run_dir, run_precheck
    from kchip.mpw.results import write_results
    from kchip.pdk import PdkError, resolve_pdk_root

    slot = _slot(args.shuttle)
    try:
        pdk_root = resolve_pdk_root(args.pdk_root) if args.pdk_root else None
        run_dir = find_run_dir(args.path)
        top = args.top or find_gds(args.path).stem
        out = args.out or (run_dir / "precheck" if run_dir else Path("runs") / "mpw" / top)
        report = run_precheck(args.path, slot, args.top, workdir=out / "work", pdk_root=pdk_root)
    except (PrecheckInputError, PdkError) as exc:
        raise UserError(str(exc)) from None
    xml_path, md_path = write_results(report, out)
    _print(report)
    verdict = "[green]passes[/]" if report.passed else f"[red]fails {len(report.failed)} checks[/]"
    console.print(f"{escape(report.top)} {verdict} on {escape(slot.spec)}; "
                  f"wrote {escape(str(xml_path))} and {escape(str(md_path))}")
    return 0 if report.passed else 1


def package_command(args) -> int:
    from kchip.cli import UserError, console
    from kchip.mpw.manifest import PackageError, sha256
    from kchip.mpw.package import package_run
    from kchip.tools.base import ToolError

    try:
        package = package_run(args.run_dir, args.out, args.shuttle, pdk_name=args.pdk, pdk_root=args.pdk_root)
    except (PackageError, ToolError) as exc:
        raise UserError(str(exc)) from None
    table = Table(title=f"kchip mpw package: {escape(package.manifest['design']['top'])}")
    for column in ("file", "bytes", "sha256"):
        table.add_column(column, overflow="fold")
    for entry in package.manifest["files"]:
        table.add_row(escape(entry["path"]), str(entry["bytes"]), entry["sha256"][:16])
    console.print(table)
    shuttle = package.manifest["shuttle"]
    console.print(f"wrote {escape(str(package.folder))} and {escape(str(package.archive))}"
                  f" for {escape(shuttle['spec']) if shuttle else 'no shuttle slot'}; archive sha256 "
                  f"{sha256(package.archive)}")
    return 0


def verify_command(args) -> int:
    from kchip.cli import UserError, console
    from kchip.mpw.manifest import PackageError, verify_package
    from kchip.mpw.results import write_results
    from kchip.pdk import PdkError, resolve_pdk_root

    out = args.out or args.path.absolute().with_name(args.path.absolute().name + ".verify")
    try:
        pdk_root = resolve_pdk_root(args.pdk_root) if args.pdk_root else None
        report = verify_package(args.path, args.shuttle, args.against, workdir=out / "work", pdk_root=pdk_root)
    except (PackageError, PdkError) as exc:
        raise UserError(str(exc)) from None
    xml_path, md_path = write_results(report, out)
    _print(report, "verify")
    verdict = "[green]verified[/]" if report.passed else f"[red]fails {len(report.failed)} checks[/]"
    console.print(f"{escape(str(args.path))} {verdict} on {escape(report.slot_spec)}; "
                  f"wrote {escape(str(xml_path))} and {escape(str(md_path))}")
    return 0 if report.passed else 1
