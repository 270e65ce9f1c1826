"""The run's final folder: GDS, DEF, gate-level netlist, metrics, pictures, markers and a report that fits
on a screen or two (long listings go to linked files beside it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kchip.formats.files import write_atomic
from kchip.flows.views.markers import merge_markers
from kchip.flows.views.page import to_html

#: metrics every report shows, with their unit and what counts as signed off; a missing one fails,
#: since a check that did not run proves nothing
SIGNOFF = (
    ("route__unrouted__count", "", lambda v: v == 0),
    ("drc__errors__count", "", lambda v: v == 0),
    ("drc__gds_rules__errors__count", "", lambda v: v == 0),
    ("lvs__mismatch__count", "", lambda v: v == 0),
    ("lvs__unverified_cells__count", "cells", lambda v: v == 0),
    ("antenna__violations__count", "", lambda v: v == 0),
    ("equiv__unproven__count", "signals", lambda v: v == 0),
    ("timing__setup__ws", "ns", lambda v: v >= 0),
    ("timing__hold__ws", "ns", lambda v: v >= 0),
    ("timing__unconstrained__count", "endpoints", lambda v: v == 0),
    ("cts__clock_pins__count", "pins", lambda v: v > 0),
)
#: checks shown beside signoff that warn instead of failing (no repair step exists for them yet)
WARNINGS = (
    ("timing__drv__max_cap__count", "drivers", lambda v: v == 0),
    ("timing__drv__max_slew__count", "pins", lambda v: v == 0),
)
SUMMARY = (
    ("design__instance__count", ""), ("design__core_area__um2", "um2"), ("design__die__area_um2", "um2"),
    ("design__utilization", ""), ("timing__clock_period__ns", "ns"), ("timing__setup__tns", "ns"),
    ("timing__hold__tns", "ns"), ("timing__setup_without_wires__ws", "ns"), ("timing__wire_delay__fraction", ""),
    ("clock__skew__worst", "ns"), ("clock__insertion__max", "ns"),
    ("cts__buffers__count", ""), ("repair__hold_cells__count", "cells"), ("repair__hold_unrepaired__count", "pins"),
    ("route__wirelength__um", "um"), ("route__vias__count", ""),
    ("lint__warnings__count", ""), ("drc__unchecked_rules__count", ""),
)


def signoff_verdict(metrics: dict) -> dict[str, bool]:
    """Each signoff metric and whether it passes (a missing metric fails)."""
    return {name: name in metrics and metrics[name] is not None and ok(metrics[name])
            for name, _, ok in SIGNOFF}


#: pictures the report shows, in order, with their captions (heatmaps per routing layer follow)
PICTURES = (("overview", "whole die, routing layers"), ("placement", "placement by cell kind"),
            ("clock", "clock tree"), ("tile", "tile at the core centre, full detail"),
            ("heat_density", "placement density per bin"))
#: the timing pictures, shown with the worst paths
TIMING_PICTURES = (("slack", "worst setup slack per cell (red: the design's worst, blue: the best, grey: untimed)"),
                   ("worst_path", "worst setup path over the placement (green: start, red: end)"))
KIND_LEGEND = "logic blue, flops orange, clock buffers red, taps grey, fill light grey, antenna diodes green"


def _shown(value):
    """A metric as the check table shows it: whole numbers without a fraction, others to 3 places."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else f"{value:.3f}"
    return value


def _worst_path(timing: str, section: str) -> str:
    """The first path listed under ``## <section>`` of the STA report, or ''."""
    head = f"## {section}"
    if head not in timing:
        return ""
    body = timing.split(head, 1)[1].split("\n## ", 1)[0]
    if body.count("```") < 2:
        return ""
    block = body.split("```", 2)[1]
    paths = block.split("Startpoint:")
    return ("Startpoint:" + paths[1]).rstrip() if len(paths) > 1 else block.strip("\n")


def _unchecked_rules(drc: dict) -> str:
    """The DRC rules no tool checked, those with one reason together followed by ``(why: ...)``."""
    rules = drc.get("unchecked_rules", [])
    reasons = drc.get("unchecked_reasons") or {rule: drc.get("dropped_reason", "") for rule in rules}
    groups: list[tuple[str, list[str]]] = []
    for rule in rules:
        why = reasons.get(rule, "")
        if groups and groups[-1][0] == why:
            groups[-1][1].append(rule)
        else:
            groups.append((why, [rule]))
    return "; ".join("; ".join(names) + (f" (why: {why})" if why else "") for why, names in groups) or "none"


def _instead_of_magic(drc: dict) -> str:
    """The rules magic left out for KLayout: those it dropped, then those the descriptor has KLayout
    check instead (``instead_of_magic``), each reason once after its rules (``(why: ...)``)."""
    groups: dict[str, list[str]] = {}
    for rule, why in (drc.get("instead_of_magic") or {}).items():
        groups.setdefault(why, []).append(rule)
    return "; ".join([*drc.get("dropped_from_magic", []),
                      *("; ".join(rules) + (f" (why: {why})" if why else "") for why, rules in groups.items())])


def _markdown(top: str, metrics: dict, drc: dict, lvs: dict, antenna: dict, timing: str,
              decisions: list[str], density: list[dict], pictures: dict[str, str], markers: dict[str, int]) -> str:
    verdict = signoff_verdict(metrics)
    marker_file = f"{top}.lyrdb"
    lines = [f"# kchip report: {top}", "",
             f"**Signoff: {'CLEAN' if all(verdict.values()) else 'NOT CLEAN'}**", ""]
    if metrics.get("synth__simulation_only__count"):
        decisions = [*decisions, f"{metrics['synth__simulation_only__count']} simulation-only statement(s) "
                                 f"($display, assertions) were left out of synthesis"]
    if decisions:
        lines += ["Decided by the flow:", *(f"- {d}" for d in decisions), ""]
    lines += ["| check | value | status |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {_shown(metrics.get(name, 'missing'))} {unit} | {'pass' if verdict[name] else 'FAIL'} |"
              for name, unit, _ in SIGNOFF]
    lines += [f"| `{name}` | {_shown(metrics[name])} {unit} | {'pass' if ok(metrics[name]) else 'warn'} |"
              for name, unit, ok in WARNINGS if name in metrics]
    lines += ["", "| metric | value |", "| --- | --- |"]
    lines += [f"| `{name}` | {metrics[name]} {unit} |" for name, unit in SUMMARY if name in metrics]
    lines += ["", f"Layout: [{top}.gds]({top}.gds); DEF, routed [{top}.def]({top}.def) and placed "
                  f"[{top}.placed.def]({top}.placed.def) (their first line names the LEF files to read them with)."]
    lines += ["", "## Pictures", "", f"Placement colours: {KIND_LEGEND}.", ""]
    heat = [(name, f"routing usage of {name[5:]} per bin") for name in pictures
            if name.startswith("heat_") and name != "heat_density"]
    lines += [f"![{caption}]({pictures[name]})" for name, caption in (*PICTURES, *heat) if name in pictures]
    lines += ["", "## Worst paths", ""]
    timing_pictures = [f"![{caption}]({pictures[name]})" for name, caption in TIMING_PICTURES if name in pictures]
    lines += [*timing_pictures, ""] if timing_pictures else []
    for section in ("Setup", "Hold"):
        path = _worst_path(timing, f"{section} (worst paths)")
        if path:
            lines += ["<details><summary>" + f"worst {section.lower()} path</summary>", "", "```", path, "```",
                      "", "</details>", ""]
    lines += ["All paths: [timing.md](timing.md)", "", "## DRC and antenna by rule", "",
              f"Markers of every rule: [{marker_file}]({marker_file}) (`klayout -m {marker_file}`, or "
              f"`kchip view`).", "", "| rule | count |", "| --- | --- |"]
    found = {**drc.get("errors_by_rule", {}), **markers}  # markers: DRC, GDS-rule and antenna categories
    lines += [f"| {rule} | {count} |" for rule, count in found.items() if count] or ["| (none) | 0 |"]
    lines += ["", f"DRC total {drc.get('total')}; antenna: {antenna.get('nets_checked')} nets checked, "
              f"{len(antenna.get('violations', []))} violations"
              + (" ([antenna.txt](antenna.txt))" if antenna.get("violations") else "") + "."]
    if _instead_of_magic(drc):
        lines += ["", "Rules checked with KLayout instead of magic: " + _instead_of_magic(drc)]
    lines += ["", "Rules not checked by any tool: " + _unchecked_rules(drc)]
    lines += ["", f"LVS: {lvs.get('result')} (mismatches: {lvs.get('mismatches')})"]
    if lvs.get("unverified_cells"):
        lines += ["", f"Cells compared with their own extraction: {len(lvs['unverified_cells'])} "
                      "(listed in metrics and the LVS stage)"]
    lines += ["", "## Metal density", "", "| layer | die | lowest window | highest window |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {d['layer']} | {d['die']:.1%} | {d['window_min']:.1%} | {d['window_max']:.1%} |" for d in density]
    times = sorted(((k.split("__")[1], v) for k, v in metrics.items()
                    if k.startswith("flow__") and k.endswith("__runtime__s")), key=lambda t: -t[1])
    lines += ["", "## Stage times", "", "| stage (longest first) | seconds |", "| --- | --- |"]
    lines += [f"| {stage} | {seconds:.1f} |" for stage, seconds in times]
    lines += [f"| total | {sum(seconds for _, seconds in times):.1f} |"]
    return "\n".join(lines) + "\n"


def write_final(ctx, staging: Path, extra_metrics: dict) -> Path:
    """Fill ``staging`` (a new folder) from the stage views: GDS, DEF, netlist, pictures and heatmaps
    (layout and timing), the merged marker database, metrics (with ``extra_metrics``), the long
    listings and the report (Markdown and HTML); return the report's path."""
    top = ctx.design.top
    metrics = dict(sorted({**ctx.upstream_metrics, **extra_metrics}.items()))
    drc = json.loads(Path(ctx.views["drc_report"]).read_text())
    lvs = json.loads(Path(ctx.views["lvs_report"]).read_text())
    antenna = json.loads(Path(ctx.views["antenna_report"]).read_text())
    decisions = json.loads(Path(ctx.views["floorplan_report"]).read_text())["decisions"]
    density = json.loads(Path(ctx.views["density_report"]).read_text())
    timing = Path(ctx.views["sta_report"]).read_text()
    staging.mkdir()
    shutil.copy(ctx.views["gds"], staging / f"{top}.gds")
    shutil.copy(ctx.views["def"], staging / f"{top}.def")
    shutil.copy(ctx.views["placed_def"], staging / f"{top}.placed.def")
    shutil.copy(ctx.views["final_netlist"], staging / f"{top}.nl.v")
    shutil.copy(ctx.views["png"], staging / f"{top}.png")  # the overview under its usual name
    pictures = {}
    for listing in (Path(ctx.views["pictures"]), Path(ctx.views["timing_pictures"])):
        for name, file in json.loads(listing.read_text()).items():
            shutil.copy(listing.parent / file, staging / file)
            pictures[name] = file
    markers = merge_markers(staging / f"{top}.lyrdb", top, staging / f"{top}.gds",
                            [Path(ctx.views["drc_markers"]), Path(ctx.views["antenna_markers"]),
                             Path(ctx.views["gds_rules_report"]).with_suffix(".lyrdb")])
    write_atomic(staging / "metrics.json", json.dumps(metrics, indent=2, default=float))
    write_atomic(staging / "timing.md", timing)
    if antenna.get("violations"):
        write_atomic(staging / "antenna.txt", "".join(
            f"{v['net']} {v['layer']} {v['rule']} ratio {v['ratio']:.1f} > {v['allowed']:.1f} "
            f"gates {' '.join(v['gates'])}\n" for v in antenna["violations"]))
    markdown = _markdown(top, metrics, drc, lvs, antenna, timing, decisions, density, pictures, markers)
    write_atomic(staging / "report.md", markdown)
    write_atomic(staging / "report.html", to_html(markdown, f"kchip {top}"))
    return staging / "report.md"


def publish_final(run_dir: Path, staged: Path | None) -> None:
    """Point ``run_dir/final`` at ``staged`` (the report stage's ``final`` folder of the run just
    made) by a relative symbolic link swapped in atomically, or remove it when the run made no
    report, so that ``final/`` never describes another configuration than the last run's."""
    final = Path(run_dir) / "final"
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    if staged is None:
        final.unlink(missing_ok=True)
        return
    link = final.with_name(f".final.link{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(staged, final.parent), target_is_directory=True)
    os.replace(link, final)
