"""Equivalence: the final netlist (after buffering, clock tree and fill) against the synthesized one."""

from __future__ import annotations

import json

from kchip.flows.signoff.equivalence import EquivalenceError, check_equivalence
from kchip.flows.stage import Stage, StageFailed
from kchip.tools import yosys


class Equivalence(Stage):
    """Yosys proves every matched signal of the final netlist equal to the synthesized netlist's,
    with the cells' functions from the liberty; LVS then ties the layout to that final netlist."""

    name, order, upstream = "equiv", 14, ("route",)
    reads = ("netlist", "final_netlist")
    writes = ("equiv_report",)
    tools = (yosys.TOOL,)
    pdk_files = ("stdcell:liberty.{corner}",)

    def execute(self, ctx):
        try:
            result = check_equivalence(ctx.views["netlist"], ctx.views["final_netlist"], ctx.design.top,
                                       ctx.pdk, ctx.folder, ctx.invocation)
        except EquivalenceError as exc:
            raise StageFailed(f"equivalence of {ctx.design.top!r}: {exc}") from None
        report = ctx.folder / "equiv.json"
        report.write_text(json.dumps({"equivalent": result.equivalent, "proven": result.proven,
                                      "unproven": list(result.unproven)}, indent=2))
        return {"equiv_report": report}, result.metrics()
