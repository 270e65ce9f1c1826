"""The RTL-to-GDS flow: one Luigi stage per step, each wrapping a tools/ module or a physical algorithm.

elaborate -> lint -> synth -> floorplan -> place -> cts -> route -> gds -> drc, lvs, sta -> report
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from kchip.flows.stage import Stage, StageContext, StageFailed, Variable
from kchip.tools import klayout, magic, netgen, opensta, verilator, yosys

def _tech(ctx: StageContext):
    from kchip.flows.physical.lef import read_macros, read_technology
    return read_technology(ctx.pdk.tech_lef), read_macros(ctx.pdk.lef)


def _load_layout(ctx: StageContext):
    from kchip.flows.physical.layout import Layout
    return Layout.load(ctx.views["layout"])


def _save_layout(ctx: StageContext, layout, suffix: str) -> Path:
    path = ctx.folder / f"{ctx.design.top}.{suffix}.json"
    layout.save(path)
    return path


class Elaborate(Stage):
    """Generate Verilog from the Amaranth generator (or gather the Verilog sources)."""

    name, order = "elaborate", 1
    writes = ("rtl",)

    def extra_inputs(self) -> dict[str, Any]:
        from kchip.flows.stage import file_digest
        d = self.design()
        return {"top": d.top, "generator": d.generator, "parameters": d.parameters,
                "sources": {str(p): file_digest(p) for p in d.source_files()}}

    def execute(self, ctx):
        d = ctx.design
        out = ctx.folder / f"{d.top}.v"
        if d.verilog:
            out.write_text("".join(Path(p).read_text() + "\n" for p in d.verilog))
        else:
            from amaranth.back import verilog as amaranth_verilog
            module_name, attr = d.generator.split(":")
            try:
                factory = getattr(importlib.import_module(module_name), attr)
                component = factory(**d.parameters)
            except (TypeError, ValueError) as exc:
                raise StageFailed(f"{d.file}: generator {d.generator!r} rejected parameters "
                                  f"{d.parameters!r}: {exc}") from exc
            out.write_text(amaranth_verilog.convert(component, name=d.top, emit_src=False,
                                                    strip_internal_attrs=True))
        return {"rtl": out}, {}


class Lint(Stage):
    """Verilator lint of the RTL; errors stop the flow, warnings are counted."""

    name, order, upstream = "lint", 2, ("elaborate",)
    reads = ("rtl",)
    tools = (verilator.TOOL,)

    def extra_inputs(self):
        return {"top": self.design().top}

    def execute(self, ctx):
        log = ctx.invocation.run(verilator.TOOL, verilator.lint_args([str(ctx.views["rtl"])], ctx.design.top),
                                 log_name="verilator-lint.log", ok_codes=(0, 1))
        counts = verilator.count_messages(log)
        if counts["errors"]:
            raise StageFailed(f"lint: {counts['errors']} Verilator error(s) in {ctx.views['rtl']}; "
                              f"see {ctx.folder / 'verilator-lint.log'}")
        return {}, {"lint__warnings__count": counts["warnings"], "lint__errors__count": 0}


class Synth(Stage):
    """Yosys synthesis to the standard cells at the typical corner, leaving out cells whose pins
    the router cannot all reach at once."""

    code = ("tools/yosys.py", "formats/liberty.py", "flows/physical/pin_access.py", "flows/physical/grid.py")
    name, order, upstream = "synth", 3, ("lint",)
    reads = ("rtl",)
    writes = ("netlist", "netlist_json")
    tools = (yosys.TOOL,)
    pdk_files = ("stdcell:liberty.tt", "stdcell:lef", "stdcell:tech_lef")
    variables = (Variable("abc_clock_aware", bool, False, "", "pass the clock period to ABC (-D)"),)

    def extra_inputs(self):
        d = self.design()
        return {"top": d.top, "period": d.clock_period_ns if self.config()["abc_clock_aware"] else None}


    def execute(self, ctx):
        from kchip.flows.physical.grid import RouteGrid
        from kchip.flows.physical.pin_access import unusable_cells
        period = ctx.design.clock_period_ns if ctx.config["abc_clock_aware"] else None
        tech, macros = _tech(ctx)
        usable = {name: m for name, m in macros.items() if not ctx.pdk.is_dont_use(name)}
        unreachable = unusable_cells(usable, tech, RouteGrid((0, 0, 30000, 10000), tech))
        (ctx.folder / "unroutable_cells.json").write_text(json.dumps(unreachable, indent=2))
        result = yosys.synthesize([ctx.views["rtl"]], ctx.design.top, ctx.pdk, ctx.folder,
                                  ctx.invocation, clock_period_ns=period, dont_use=unreachable)
        metrics = {**result.metrics, "synth__unroutable_cells__count": len(unreachable)}
        return {"netlist": result.netlist_v, "netlist_json": result.netlist_json}, metrics


class Floorplan(Stage):
    """Die and core size, rows, well taps, power straps and I/O pins."""

    code = ("flows/physical/floorplan.py", "flows/physical/layout.py", "flows/physical/lef.py")
    name, order, upstream = "floorplan", 4, ("synth",)
    reads = ("netlist_json",)
    writes = ("layout",)
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (
        Variable("tap_spacing_um", float, 13.0, "um", "distance between well-tap columns"),
        Variable("strap_pitch_um", float, 40.0, "um", "pitch of the met4 power straps"),
        Variable("strap_width_um", float, 1.6, "um", "width of the met4 power straps"),
    )

    def extra_inputs(self):
        d = self.design()
        return {"floorplan": [d.utilization, d.die_size_um, d.aspect_ratio, d.core_margin_um],
                "pins": d.pins, "clock": d.clock_port}


    def execute(self, ctx):
        from kchip.flows.physical.floorplan import FloorplanConfig, FloorplanError, floorplan
        from kchip.flows.physical.layout import from_yosys_json
        d, s = ctx.design, ctx.pdk.stdcell
        tech, macros = _tech(ctx)
        layout = from_yosys_json(ctx.views["netlist_json"], d.top)
        if d.clock_port not in {p.name for p in layout.ports}:
            raise StageFailed(f"{d.file}: clock.port = {d.clock_port!r} is not a port of {d.top}")
        layout.clock_net = next(p.net for p in layout.ports if p.name == d.clock_port)
        cfg = FloorplanConfig(d.utilization, d.die_size_um, d.aspect_ratio, d.core_margin_um, d.pins,
                              s["tap_cell"], ctx.config["tap_spacing_um"], ctx.config["strap_pitch_um"],
                              ctx.config["strap_width_um"], s["power_pin"], s["ground_pin"])
        try:
            floorplan(layout, macros, tech, cfg, s["site"])
        except FloorplanError as exc:
            raise StageFailed(f"{d.file}: {exc}") from exc
        x0, y0, x1, y1 = layout.core
        cell_area = sum(macros[i.cell].width * macros[i.cell].height for i in layout.instances.values()
                        if i.role == "logic")
        return {"layout": _save_layout(ctx, layout, "floorplan")}, {
            "design__die__area_um2": round(layout.die[2] * layout.die[3] / 1e6, 3),
            "design__core_area__um2": round((x1 - x0) * (y1 - y0) / 1e6, 3),
            "floorplan__rows__count": len(layout.rows),
            "floorplan__taps__count": sum(i.role == "tap" for i in layout.instances.values()),
            "floorplan__cell_area__um2": round(cell_area / 1e6, 3),
        }


class Place(Stage):
    """Global placement and legalisation into the rows."""

    code = ("flows/physical/placer.py", "flows/physical/layout.py", "flows/physical/lef.py")
    name, order, upstream = "place", 5, ("floorplan",)
    reads = ("layout",)
    writes = ("layout",)
    pdk_files = ("stdcell:lef",)
    variables = (Variable("rounds", int, 8, "", "spreading rounds of global placement"),
                 Variable("seed", int, 1, "", "seed of the initial cell scatter"),
                 Variable("space_per_pin_um", float, 0.92, "um", "room spreading gives each pin of a cell"))


    def execute(self, ctx):
        from kchip.flows.physical.placer import place
        _, macros = _tech(ctx)
        layout = _load_layout(ctx)
        metrics = place(layout, macros, rounds=ctx.config["rounds"], seed=ctx.config["seed"],
                        space_per_pin=int(ctx.config["space_per_pin_um"] * 1000))
        return {"layout": _save_layout(ctx, layout, "placed")}, {k: round(float(v), 3) for k, v in metrics.items()}


class ClockTree(Stage):
    """A balanced clock-buffer tree from the clock port to every register, and buffer trees on
    every other net with more sinks than ``max_fanout``."""

    code = ("flows/physical/cts.py", "flows/physical/placer.py", "flows/physical/layout.py")
    name, order, upstream = "cts", 6, ("place",)
    reads = ("layout",)
    writes = ("layout",)
    pdk_files = ("stdcell:lef",)
    variables = (Variable("max_fanout", int, 12, "", "sinks per clock buffer"),
                 Variable("signal_max_fanout", int, 16, "", "sinks per buffer on other high-fanout nets"))


    def execute(self, ctx):
        from kchip.flows.physical.cts import ClockTreeConfig, buffer_high_fanout_nets, build_clock_tree
        _, macros = _tech(ctx)
        layout = _load_layout(ctx)
        buffers = ctx.pdk.stdcell["clock_buffers"]
        cfg = ClockTreeConfig(ctx.config["max_fanout"], buffers[2], buffers[1], buffers[0])
        metrics = build_clock_tree(layout, macros, cfg)
        metrics.update(buffer_high_fanout_nets(layout, macros, ctx.config["signal_max_fanout"],
                                               ctx.pdk.stdcell["fanout_buffer"]))
        logic = [i for i in layout.instances.values() if i.role in ("logic", "clock")]
        metrics["design__instance__count"] = len(logic)
        area = sum(macros[i.cell].width * macros[i.cell].height for i in logic)
        x0, y0, x1, y1 = layout.core
        metrics["design__utilization"] = round(area / ((x1 - x0) * (y1 - y0)), 4)
        return {"layout": _save_layout(ctx, layout, "cts")}, metrics


class Route(Stage):
    """Filler cells, then detailed routing of every signal net; writes the final netlist and SPEF."""

    code = ("flows/physical/router.py", "flows/physical/grid.py", "flows/physical/pin_access.py",
            "flows/physical/placer.py", "flows/physical/layout.py", "flows/physical/lef.py", "flows/timing/spef.py")
    name, order, upstream = "route", 7, ("cts",)
    reads = ("layout",)
    writes = ("layout", "final_netlist", "spef")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (Variable("max_rounds", int, 200, "", "negotiation rounds before giving up"),)


    def execute(self, ctx):
        from kchip.flows.physical.layout import write_verilog
        from kchip.flows.physical.placer import fill_rows
        from kchip.flows.physical.router import Router, routed_nets
        from kchip.flows.timing.spef import write_spef
        tech, macros = _tech(ctx)
        layout = _load_layout(ctx)
        fills = fill_rows(layout, macros, ctx.pdk.stdcell["fill_cells"])
        router = Router(layout, macros, tech)
        with open(ctx.folder / "route.log", "w") as log:
            metrics = router.run(max_rounds=ctx.config["max_rounds"], log=lambda m: print(m, file=log, flush=True))
        if router.problems:
            (ctx.folder / "unrouted.txt").write_text("\n".join(router.problems) + "\n")
            raise StageFailed(f"route: {len(router.problems)} net(s) or pin(s) left unrouted after "
                              f"{metrics['route__rounds__count']} rounds, e.g. {router.problems[:5]}; "
                              f"list in {ctx.folder / 'unrouted.txt'}")
        router.write_geometry()
        metrics["route__islands_unfixed__count"] = router.islands_left
        metrics["floorplan__fills__count"] = fills
        netlist = ctx.folder / f"{ctx.design.top}.nl.v"
        write_verilog(layout, netlist)
        spef = write_spef(routed_nets(router), ctx.design.top, ctx.pdk.tech_lef, ctx.folder / f"{ctx.design.top}.spef")
        return {"layout": _save_layout(ctx, layout, "routed"), "final_netlist": netlist, "spef": spef}, metrics


class Gds(Stage):
    """Stream out GDS with the real cell layouts, and render a picture of it."""

    code = ("flows/physical/gds.py", "flows/physical/layout.py", "flows/picture.py")
    name, order, upstream = "gds", 8, ("route",)
    reads = ("layout",)
    writes = ("gds", "png")
    tools = (klayout.TOOL,)
    pdk_files = ("stdcell:gds", "stdcell:lef", "stdcell:tech_lef", "signoff:klayout_lyp")


    def execute(self, ctx):
        from kchip.flows.physical.gds import write_gds
        from kchip.flows.picture import render_png
        tech, macros = _tech(ctx)
        layout = _load_layout(ctx)
        gds_cfg = ctx.pdk.data["gds"]
        gds = ctx.folder / f"{ctx.design.top}.gds"
        metrics = write_gds(layout, macros, tech, ctx.pdk.gds, gds_cfg["layers"], gds_cfg["pin_datatype"],
                            gds_cfg["label_datatype"], gds)
        png = ctx.folder / f"{ctx.design.top}.png"
        render_png(gds, ctx.pdk.klayout_lyp, png)
        return {"gds": gds, "png": png}, metrics


class Drc(Stage):
    """Magic DRC with the PDK deck, plus KLayout checks of the rules this magic cannot run."""

    code = ("flows/signoff/drc.py", "flows/signoff/layout_rules.py", "flows/signoff/magic_tech.py",
            "tools/magic.py")
    name, order, upstream = "drc", 9, ("gds",)
    reads = ("gds",)
    writes = ("drc_report",)
    tools = (magic.TOOL, klayout.TOOL)
    pdk_files = ("signoff:magic_tech", "signoff:klayout_lyp")


    def execute(self, ctx):
        from kchip.flows.signoff.drc import run_drc_signoff
        result = run_drc_signoff(ctx.views["gds"], ctx.design.top, ctx.pdk, ctx.folder, ctx.invocation)
        summary = {"errors_by_rule": result.errors_by_rule, "total": result.total,
                   "dropped_from_magic": [r.description for r in result.magic.dropped_rules],
                   "unchecked_rules": list(result.unchecked_rules)}
        report = ctx.folder / "drc.json"
        report.write_text(json.dumps(summary, indent=2))
        return {"drc_report": report}, {**result.metrics(),
                                        "drc__unchecked_rules__count": len(result.unchecked_rules)}


class Lvs(Stage):
    """Netgen LVS: the extracted layout against the final gate-level netlist."""

    code = ("flows/signoff/lvs.py", "flows/signoff/cdl.py", "tools/netgen.py", "tools/magic.py")
    name, order, upstream = "lvs", 10, ("gds",)
    reads = ("gds", "final_netlist")
    writes = ("lvs_report",)
    tools = (magic.TOOL, netgen.TOOL)
    pdk_files = ("signoff:magic_tech", "stdcell:cdl")


    def execute(self, ctx):
        from kchip.flows.signoff.lvs import run_lvs
        result = run_lvs(ctx.views["gds"], ctx.views["final_netlist"], ctx.design.top, ctx.pdk,
                         ctx.folder, ctx.invocation)
        report = ctx.folder / "lvs.json"
        report.write_text(json.dumps({"matched": result.matched, "result": result.result_text,
                                      "mismatches": result.mismatches, "report": str(result.report)}, indent=2))
        return {"lvs_report": report}, result.metrics()


class Sta(Stage):
    """OpenSTA: setup and hold with the propagated clock and the routed parasitics."""

    code = ("tools/opensta.py", "formats/sdc.py")
    name, order, upstream = "sta", 11, ("route",)
    reads = ("final_netlist", "spef")
    writes = ("sta_report",)
    tools = (opensta.TOOL,)
    pdk_files = ("stdcell:liberty.tt",)
    variables = (Variable("paths", int, 5, "", "worst paths listed per check"),)

    def extra_inputs(self):
        d = self.design()
        return {"clock": [d.clock_port, d.clock_period_ns]}


    def execute(self, ctx):
        from kchip.formats.sdc import pdk_constraints, write_sdc
        d = ctx.design
        sdc = write_sdc(pdk_constraints(ctx.pdk, d.clock_port, d.clock_period_ns, propagated_clock=True),
                        ctx.folder / f"{d.top}.sdc")
        result = opensta.run_sta(ctx.views["final_netlist"], d.top, ctx.pdk, sdc, ctx.folder, ctx.invocation,
                                 spef=ctx.views["spef"], propagated=True, path_count=ctx.config["paths"])
        report = ctx.folder / "timing.md"
        report.write_text(f"## Setup (worst paths)\n\n```\n{result.setup_paths}\n```\n\n"
                          f"## Hold (worst paths)\n\n```\n{result.hold_paths}\n```\n")
        metrics = dict(result.metrics)
        metrics["timing__clock_period__ns"] = d.clock_period_ns
        return {"sta_report": report}, metrics


class Report(Stage):
    """Collect the signed-off results into DIR/final: GDS, netlist, metrics, picture and report."""

    code = ("flows/report.py",)
    name, order, upstream = "report", 12, ("drc", "lvs", "sta")
    reads = ("gds", "png", "final_netlist", "drc_report", "lvs_report", "sta_report")
    writes = ("report",)


    def execute(self, ctx):
        from kchip.flows.report import write_final
        report = write_final(ctx, Path(self.run_dir) / "final")
        return {"report": report}, {}


#: every stage by name, in flow order
STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in sorted(
    (Elaborate, Lint, Synth, Floorplan, Place, ClockTree, Route, Gds, Drc, Lvs, Sta, Report),
    key=lambda c: c.order)}


def downstream_of(name: str) -> set[str]:
    """The stage and every stage that depends on it."""
    found = {name}
    changed = True
    while changed:
        changed = False
        for stage in STAGES.values():
            if stage.name not in found and found & set(stage.upstream):
                found.add(stage.name)
                changed = True
    return found
