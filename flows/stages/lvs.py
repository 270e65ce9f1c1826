"""LVS: netgen compares the layout's extraction with the final gate-level netlist."""

from __future__ import annotations

import json

from kchip.flows.signoff.lvs import run_lvs
from kchip.flows.stage import Stage
from kchip.tools import magic, netgen


class Lvs(Stage):
    """Netgen LVS: the extracted layout against the final gate-level netlist."""

    name, order, upstream = "lvs", 11, ("gds",)
    reads = ("gds", "final_netlist")
    writes = ("lvs_report",)
    tools = (magic.TOOL, netgen.TOOL)
    pdk_files = ("signoff:magic_tech", "stdcell:cdl")

    def execute(self, ctx):
        result = run_lvs(ctx.views["gds"], ctx.views["final_netlist"], ctx.design.top, ctx.pdk,
                         ctx.folder, ctx.invocation)
        report = ctx.folder / "lvs.json"
        report.write_text(json.dumps({"matched": result.matched, "result": result.result_text,
                                      "mismatches": result.mismatches, "report": result.report.name,
                                      "unverified_cells": sorted(result.unverified_cells),
                                      "layout_only_models": list(result.layout_only_models)}, indent=2))
        return {"lvs_report": report}, result.metrics()
