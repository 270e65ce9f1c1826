"""The run's final folder: GDS, gate-level netlist, metrics, a layout picture and a report."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

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
SUMMARY = (
    ("design__instance__count", ""), ("design__core_area__um2", "um2"), ("design__die__area_um2", "um2"),
    ("design__utilization", ""), ("timing__clock_period__ns", "ns"), ("timing__setup__tns", "ns"),
    ("timing__hold__tns", "ns"), ("clock__skew__worst", "ns"), ("clock__insertion__max", "ns"),
    ("cts__buffers__count", ""), ("route__wirelength__um", "um"), ("route__vias__count", ""),
    ("lint__warnings__count", ""), ("drc__unchecked_rules__count", ""),
)


def signoff_verdict(metrics: dict) -> dict[str, bool]:
    """Each signoff metric and whether it passes (a missing metric fails)."""
    return {name: name in metrics and metrics[name] is not None and ok(metrics[name])
            for name, _, ok in SIGNOFF}


def _markdown(top: str, metrics: dict, drc: dict, lvs: dict, antenna: dict, timing: str,
              decisions: list[str], density: list[dict]) -> str:
    verdict = signoff_verdict(metrics)
    lines = [f"# kchip report: {top}", "",
             f"**Signoff: {'CLEAN' if all(verdict.values()) else 'NOT CLEAN'}**", ""]
    if metrics.get("synth__simulation_only__count"):
        decisions = [*decisions, f"{metrics['synth__simulation_only__count']} simulation-only statement(s) "
                                 f"($display, assertions) were left out of synthesis"]
    if decisions:
        lines += ["Decided by the flow:", *(f"- {d}" for d in decisions), ""]
    lines += [f"![layout]({top}.png)", "", "| check | value | status |", "| --- | --- | --- |"]
    for name, unit, _ in SIGNOFF:
        value = metrics.get(name, "missing")
        lines.append(f"| `{name}` | {value} {unit} | {'pass' if verdict[name] else 'FAIL'} |")
    lines += ["", "| metric | value |", "| --- | --- |"]
    lines += [f"| `{name}` | {metrics[name]} {unit} |" for name, unit in SUMMARY if name in metrics]
    lines += ["", "## DRC", "", f"Total: {drc.get('total')}"]
    lines += [f"- {rule}: {count}" for rule, count in drc.get("errors_by_rule", {}).items()]
    if drc.get("dropped_from_magic"):
        lines += ["", "Rules magic 8.3.105 cannot run (checked with KLayout instead):"]
        lines += [f"- {rule}" for rule in drc["dropped_from_magic"]]
    lines += ["", "Rules not checked by any tool: " + (", ".join(drc.get("unchecked_rules", [])) or "none")]
    lines += ["", "## LVS", "", f"{lvs.get('result')} (mismatches: {lvs.get('mismatches')})"]
    if lvs.get("unverified_cells"):
        lines += ["", "Cells compared with their own extraction (no CDL form matched): "
                  + ", ".join(lvs["unverified_cells"])]
    lines += ["", "## Antenna", "", f"Nets checked: {antenna.get('nets_checked')}; violations: "
              f"{len(antenna.get('violations', []))}"]
    lines += [f"- net `{v['net']}` on {v['layer']} ({v['rule']}): ratio {v['ratio']:.1f} > {v['allowed']:.1f}, "
              f"gates {', '.join(v['gates'])}" for v in antenna.get("violations", [])[:50]]
    lines += ["", "## Metal density", "", "| layer | die | lowest window | highest window |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {d['layer']} | {d['die']:.1%} | {d['window_min']:.1%} | {d['window_max']:.1%} |"
              for d in density]
    lines += ["", timing]
    return "\n".join(lines) + "\n"


def write_final(ctx, staging: Path, extra_metrics: dict) -> Path:
    """Fill ``staging`` (a new folder) from the stage views: GDS, netlist, picture, metrics (with
    ``extra_metrics``) and the report; return the report's path."""
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
    shutil.copy(ctx.views["final_netlist"], staging / f"{top}.nl.v")
    shutil.copy(ctx.views["png"], staging / f"{top}.png")
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    markdown = _markdown(top, metrics, drc, lvs, antenna, timing, decisions, density)
    (staging / "report.md").write_text(markdown)
    (staging / "report.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>kchip {html.escape(top)}</title>"
        f"<img src='{html.escape(top)}.png' style='max-width:800px'><pre>{html.escape(markdown)}</pre>")
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
