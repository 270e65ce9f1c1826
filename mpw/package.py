"""``kchip mpw package``: a signed-off run folder as a shuttle submission package.

:func:`package_run` reads a run folder (:func:`read_run`: the stages behind its ``final/`` folder,
each of which must be complete, and a clean signoff verdict), copies the deliverables into
``<out>/<top>/`` (:func:`deliverables`), writes a LEF abstract of the GDS with magic
(:func:`write_lef`) and the manifest (:mod:`.manifest`), and packs ``<out>/<top>.tar.gz``. Everything
is made in a temporary folder beside ``<out>/<top>`` and renamed into place at the end, so a refused
or failed packaging leaves nothing behind and an earlier package stays as it was.

The package::

    <top>/manifest.json                 what follows, with the SHA-256 and size of every other file
    <top>/gds/<top>.gds                 the signed-off layout
    <top>/lef/<top>.lef                 magic's abstract (lef write -hide), pin directions and uses set
    <top>/verilog/<top>.nl.v            the final gate-level netlist
    <top>/verilog/<top>.powered.v       the same with power pins (the netlist LVS compared)
    <top>/sdc/<top>.sdc, spef/<top>.spef
    <top>/reports/{timing,drc,lvs,antenna,equiv}/...
    <top>/report.md, metrics.json, <top>.png
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kchip import __version__
from kchip.flows.physical.layout import Layout
from kchip.flows.pipeline import STAGES
from kchip.flows.report import SIGNOFF, signoff_verdict
from kchip.flows.run_folder import RunFolderBusy, RunFolderLock
from kchip.flows.signoff.magic_tech import derive_magic_tech
from kchip.flows.stage import PACKAGE_ROOT, file_digest
from kchip.mpw.manifest import MANIFEST, PackageError, write_archive, write_manifest
from kchip.mpw.slots import ShuttleError, Slot, load_shuttle, parse_slot_spec
from kchip.pdk import DEFAULT_PDK, Pdk, PdkError, load_pdk
from kchip.pdk.rules import load_rules
from kchip.tools import magic
from kchip.tools.base import Invocation, ToolError, require


@dataclass(frozen=True)
class RunFacts:
    """A complete run folder: the folder of each stage behind its ``final/``, their views (as paths
    in this run folder) and configurations, and the final metrics."""

    run_dir: Path
    stages: dict[str, Path]
    views: dict[str, Path]
    configs: dict[str, dict]
    metrics: dict

    @property
    def top(self) -> str:
        return self.views["gds"].stem


def _stage_folders(run_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """The folder of every stage the run's report was made from (following the ``upstream`` digests
    of each stage's ``config.json``), and one line per stage that is missing or incomplete."""
    final = run_dir / "final"
    if not final.is_dir():
        raise PackageError(f"run folder {str(run_dir)!r} has no final/ folder: run the flow to its report "
                           "stage first")
    report = final.resolve().parent
    folders: dict[str, Path] = {}
    missing: dict[str, str] = {}
    todo = [("report", report.name)]
    while todo:
        name, digest = todo.pop()
        if name in folders or name in missing:
            continue
        folder = run_dir / "stages" / f"{STAGES[name].order:02d}-{name}" / digest
        if not (folder / "state.json").is_file() or not (folder / "config.json").is_file():
            missing[name] = f"stage {name}: {str(folder)!r} is missing or incomplete (no state.json)"
            continue
        folders[name] = folder
        todo += json.loads((folder / "config.json").read_text())["defining_inputs"]["upstream"].items()
    for name in STAGES:
        if name not in folders and name not in missing:
            missing[name] = f"stage {name}: not among the stages the final report was made from"
    return folders, [missing[name] for name in STAGES if name in missing]


def read_run(run_dir: Path) -> RunFacts:
    """The facts of a complete, signed-off run folder; PackageError naming the folder and every
    missing stage, or every failing signoff metric with its value."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PackageError(f"run folder {str(run_dir)!r} does not exist")
    folders, missing = _stage_folders(run_dir)
    if missing:
        raise PackageError(f"run folder {str(run_dir)!r} is incomplete; run the flow again:\n  "
                           + "\n  ".join(missing))
    views, configs = {}, {}
    for name, folder in folders.items():
        state = json.loads((folder / "state.json").read_text())
        views.update({view: folder / rel for view, rel in state["views"].items()})
        configs[name] = json.loads((folder / "config.json").read_text())
    metrics_file = run_dir / "final" / "metrics.json"
    if not metrics_file.is_file():
        raise PackageError(f"run folder {str(run_dir)!r} has no final/metrics.json: run the report stage again")
    metrics = json.loads(metrics_file.read_text())
    failing = [f"{name} = {metrics.get(name, 'missing')!r}" for name, ok in signoff_verdict(metrics).items()
               if not ok]
    if failing:
        raise PackageError(f"run folder {str(run_dir)!r}: signoff is not clean, refusing to package it "
                           f"({', '.join(failing)})")
    return RunFacts(run_dir, folders, views, configs, metrics)


def resolve_slot(run: RunFacts, spec: str | None) -> tuple[Slot | None, str]:
    """The shuttle slot of the package and where it came from: the run's ``floorplan.shuttle``
    (``auto`` resolved by the die the floorplan chose), else ``spec``. PackageError when both are
    given and differ."""
    ran = run.configs["floorplan"]["config"].get("shuttle", "")
    try:
        given = parse_slot_spec(spec) if spec else None
        if not ran:
            return given, "--shuttle" if given else ""
        name, _, size = ran.partition(":")
        shuttle = load_shuttle(name)
        candidates = shuttle.slots() if size == "auto" else [shuttle.slot(size or None)]
    except ShuttleError as exc:
        raise PackageError(str(exc)) from None
    die = tuple(json.loads(run.views["floorplan_report"].read_text())["die_um"])
    found = [slot for slot in candidates if abs(slot.width_um - die[0]) < 1e-6 and abs(slot.height_um - die[1]) < 1e-6]
    if not found:
        raise PackageError(f"run folder {str(run.run_dir)!r}: floorplan.shuttle = {ran!r}, but its die "
                           f"{die[0]:g} x {die[1]:g} um is no slot of {name}")
    if given is not None and given.spec != found[0].spec:
        raise PackageError(f"--shuttle {spec!r} is not the slot the run was made for: floorplan.shuttle = "
                           f"{ran!r}, die {die[0]:g} x {die[1]:g} um ({found[0].spec})")
    return found[0], f"run (floorplan.shuttle = {ran!r})"


def recorded_pdk_files(run: RunFacts) -> dict[str, str]:
    """``{path relative to <pdk root>/<pdk>: sha256}`` of every PDK file the run's stages read."""
    return dict(sorted({rel: digest for config in run.configs.values()
                        for rel, digest in config["defining_inputs"]["pdk"].items()}.items()))


def check_pdk(run: RunFacts, name: str, root: str | None) -> Pdk:
    """The PDK ``name`` under ``root``, which must hold every file the run read with its content
    then: the LEF abstract is derived from it and the manifest names it."""
    try:
        pdk = load_pdk(name, root)
    except PdkError as exc:
        raise PackageError(str(exc)) from None
    changed = [rel for rel, digest in recorded_pdk_files(run).items()
               if not pdk.path(rel).is_file() or file_digest(pdk.path(rel)) != digest]
    if changed:
        raise PackageError(f"PDK {name!r} at {str(pdk.root)!r} is not the one run folder {str(run.run_dir)!r} "
                           f"was made with; missing or changed: {', '.join(changed)}")
    return pdk


def deliverables(run: RunFacts) -> dict[str, Path]:
    """``{path in the package: file of the run}`` for everything copied (the LEF is made, not
    copied); PackageError naming every file that is not there."""
    top, views, stages, final = run.top, run.views, run.stages, run.run_dir / "final"
    lvs_report = json.loads(views["lvs_report"].read_text())["report"]
    files = {
        f"gds/{top}.gds": final / f"{top}.gds",
        f"verilog/{top}.nl.v": final / f"{top}.nl.v",
        f"verilog/{top}.powered.v": stages["lvs"] / f"{top}.powered.v",
        f"sdc/{top}.sdc": stages["sta"] / f"{top}.sdc",
        f"spef/{top}.spef": views["spef"],
        "reports/timing/timing.md": views["sta_report"],
        "reports/timing/setup_paths.rpt": stages["sta"] / "setup_paths.rpt",
        "reports/timing/hold_paths.rpt": stages["sta"] / "hold_paths.rpt",
        "reports/drc/drc.json": views["drc_report"],
        "reports/drc/gds_rules.json": views["gds_rules_report"],
        "reports/drc/gds_rules.lyrdb": stages["gds_rules"] / "gds_rules.lyrdb",
        "reports/lvs/lvs.json": views["lvs_report"],
        f"reports/lvs/{lvs_report}": stages["lvs"] / lvs_report,
        "reports/antenna/antenna.json": views["antenna_report"],
        "reports/equiv/equiv.json": views["equiv_report"],
        "report.md": final / "report.md",
        "metrics.json": final / "metrics.json",
        f"{top}.png": final / f"{top}.png",
    }
    # the merged DRC reports; magic's own boxes per tile (drc*.magic.tsv) stay in the run folder
    files.update({f"reports/drc/{tsv.name}": tsv for tsv in sorted(stages["drc"].glob("drc*.tsv"))
                  if not tsv.name.endswith(".magic.tsv")})
    absent = [f"{rel} (from {str(src)!r})" for rel, src in files.items() if not src.is_file()]
    if absent:
        raise PackageError(f"run folder {str(run.run_dir)!r} lacks files the package needs:\n  " + "\n  ".join(absent))
    return dict(sorted(files.items()))


def lef_script(gds: Path, top: str, lef: Path, layout: Layout, power: dict[str, str], style: str) -> str:
    """Magic Tcl: read the GDS in CIF input ``style`` (labels as ports), give each port its direction
    and use (from the routed layout; ``power`` maps the power port names to ``power``/``ground``),
    write the abstract."""
    w = magic.tcl_word
    lines = ["drc off", f"cif istyle {style}", *magic.gds_load_commands(gds, top)]
    for port in layout.ports:
        use = "clock" if port.net == layout.clock_net else "signal"
        lines += [f"port {w(port.name)} class {port.direction}", f"port {w(port.name)} use {use}"]
    for name, use in power.items():
        lines += [f"port {w(name)} class inout", f"port {w(name)} use {use}"]
    return "\n".join([*lines, f"lef write {w(lef)} -hide"])


def write_lef(gds: Path, top: str, layout_view: Path, pdk: Pdk, workdir: Path) -> Path:
    """The LEF abstract of ``top`` in ``gds``, written by magic (with the tech file derived as for
    DRC and LVS) into ``workdir``, which also gets the script, log and ``commands.sh``."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tech = workdir / Path(pdk.magic_tech).name
    derive_magic_tech(pdk.magic_tech, tech, drop_cif_rules=False)
    lef = workdir / f"{top}.lef"
    power = {pdk.stdcell["power_pin"]: "power", pdk.stdcell["ground_pin"]: "ground"}
    script = lef_script(Path(gds).resolve(), top, lef, Layout.load(layout_view), power,
                        load_rules(pdk).signoff.magic_extract_style)
    magic.run_script(Invocation(workdir), tech, script, workdir / "lef.tcl", log_name="magic-lef.log", cwd=workdir)
    if not lef.is_file():
        raise ToolError(f"magic wrote no LEF {str(lef)!r}; log: {workdir / 'magic-lef.log'}")
    return lef


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(PACKAGE_ROOT), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def manifest_facts(run: RunFacts, pdk: Pdk, slot: Slot | None, slot_source: str) -> dict:
    """Everything the manifest says besides the files: design, signoff, PDK, shuttle, kchip, tools."""
    tools: dict[str, set[str]] = {}
    for config in run.configs.values():
        for tool, version in config["defining_inputs"]["tools"].items():
            tools.setdefault(tool, set()).add(version)
    commit = _git("rev-parse", "HEAD")
    shuttle = None if slot is None else {
        "spec": slot.spec, "name": slot.shuttle.name, "slot": slot.size, "die_um": list(slot.die_um),
        "deliverables": list(slot.shuttle.deliverables), "from": slot_source}
    return {
        "design": {"top": run.top, "flow_digest": run.stages["report"].name,
                   "stages": {name: folder.name for name, folder in sorted(run.stages.items())}},
        "signoff": {"clean": True, "checks": {name: run.metrics[name] for name, _, _ in SIGNOFF}},
        "pdk": {"name": pdk.name, "files": recorded_pdk_files(run)},
        "shuttle": shuttle,
        "kchip": {"version": __version__, "git_commit": commit,
                  "git_dirty": None if commit is None else bool(_git("status", "--porcelain"))},
        "tools": {"flow": {tool: ", ".join(sorted(v)) for tool, v in sorted(tools.items())},
                  "package": {"magic": require(magic.TOOL).version_text}},
    }


@dataclass(frozen=True)
class Package:
    """A package written by :func:`package_run`."""

    folder: Path
    archive: Path
    manifest: dict


def _publish(staged: Path, dest: Path) -> None:
    """Move the folder ``staged`` to ``dest``, replacing an earlier package there."""
    old = dest.with_name(f".{dest.name}.old{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(staged, dest)
    shutil.rmtree(old, ignore_errors=True)


def package_run(run_dir: Path, out: Path | None = None, shuttle: str | None = None, *,
                pdk_name: str | None = None, pdk_root: str | None = None) -> Package:
    """Package the signed-off run folder ``run_dir`` as ``<out>/<top>/`` and ``<out>/<top>.tar.gz``
    (``out`` defaults to ``run_dir/package``); see the module description."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PackageError(f"run folder {str(run_dir)!r} does not exist")
    try:
        with RunFolderLock(run_dir):
            return _package(read_run(run_dir), Path(out) if out else run_dir / "package", shuttle,
                            pdk_name, pdk_root)
    except RunFolderBusy as exc:
        raise PackageError(str(exc)) from None


def _package(run: RunFacts, out: Path, shuttle: str | None, pdk_name: str | None, pdk_root: str | None) -> Package:
    slot, slot_source = resolve_slot(run, shuttle)
    pdk = check_pdk(run, pdk_name or (slot.shuttle.pdk if slot else DEFAULT_PDK), pdk_root)
    sources = deliverables(run)
    dest, archive = out / run.top, out / f"{run.top}.tar.gz"
    if dest.exists() and not (dest / MANIFEST).is_file():
        raise PackageError(f"{str(dest)!r} exists and is not a kchip package (no {MANIFEST}); refusing to "
                           "replace it: choose another --out")
    staging = out / f".{run.top}.package-tmp{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    folder = staging / run.top
    try:
        for rel, src in sources.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / rel)
        lef = write_lef(folder / "gds" / f"{run.top}.gds", run.top, run.views["layout"], pdk, staging / "work")
        (folder / "lef").mkdir()
        shutil.copyfile(lef, folder / "lef" / lef.name)
        manifest = write_manifest(folder, manifest_facts(run, pdk, slot, slot_source))
        packed = write_archive(folder, staging / archive.name)
        _publish(folder, dest)
        os.replace(packed, archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Package(dest, archive, manifest)
