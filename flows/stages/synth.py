"""Synth: Yosys synthesis to the standard cells at the typical corner."""

from __future__ import annotations

import json

from kchip.design.rtl import RtlSources
from kchip.flows.physical.grid import RouteGrid
from kchip.flows.physical.pin_access import unusable_cells
from kchip.flows.stage import Stage, StageFailed, Variable
from kchip.flows.stages.common import technology
from kchip.tools import yosys
from kchip.tools.base import ToolError


class Synth(Stage):
    """Yosys synthesis to the standard cells at the typical corner, leaving out cells whose pins
    the router cannot all reach at once."""

    name, order, upstream = "synth", 3, ("lint",)
    reads = ("rtl",)
    writes = ("netlist", "netlist_json")
    tools = (yosys.TOOL,)
    pdk_files = ("stdcell:liberty.{corner}", "stdcell:lef", "stdcell:tech_lef")
    variables = (Variable("abc_goal", str, "delay", "",
                          "what ABC maps for: 'delay' (the clock period, with buffering and gate "
                          "sizing) or 'area' (fewest cells, no timing)", choices=("delay", "area")),)

    def extra_inputs(self):
        d = self.design()
        return {"top": d.top, "period": d.clock_period_ns if self.config()["abc_goal"] == "delay" else None}

    def execute(self, ctx):
        period = ctx.design.clock_period_ns if ctx.config["abc_goal"] == "delay" else None
        tech, macros = technology(ctx)
        usable = {name: m for name, m in macros.items() if not ctx.pdk.is_dont_use(name)}
        unreachable = unusable_cells(usable, tech, RouteGrid((0, 0, 30000, 10000), tech))
        (ctx.folder / "unroutable_cells.json").write_text(json.dumps(unreachable, indent=2))
        try:
            rtl = RtlSources.load(ctx.views["rtl"])
            result = yosys.synthesize(rtl.files, rtl.top, ctx.pdk, ctx.folder, ctx.invocation,
                                      clock_period_ns=period, dont_use=unreachable, include_dirs=rtl.include_dirs,
                                      defines=rtl.define_args(), parameters=rtl.parameter_values())
        except (ToolError, ValueError) as exc:
            raise StageFailed(f"{ctx.design.file}: synth: {exc}") from exc
        metrics = {**result.metrics, "synth__unroutable_cells__count": len(unreachable)}
        if result.dropped_display:
            metrics["synth__simulation_only__count"] = result.dropped_display
        return {"netlist": result.netlist_v, "netlist_json": result.netlist_json}, metrics
