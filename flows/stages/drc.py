"""DRC: magic with the PDK deck, plus KLayout checks of the rules this magic cannot run."""

from __future__ import annotations

import json

from kchip.flows.signoff.drc import run_drc_signoff
from kchip.flows.stage import Stage, Variable
from kchip.flows.views.markers import drc_markers, write_markers
from kchip.tools import klayout, magic


class Drc(Stage):
    """Magic DRC with the PDK deck, plus KLayout checks of the rules this magic cannot run."""

    name, order, upstream = "drc", 10, ("gds",)
    reads = ("gds",)
    writes = ("drc_report", "drc_markers")
    tools = (magic.TOOL, klayout.TOOL)
    pdk_files = ("signoff:magic_tech", "signoff:klayout_lyp")
    variables = (Variable("jobs", int, 0, "", "magic processes checking tiles of a large die at once "
                          "(0: one per CPU available; 1: the whole die in one process)", minimum=0, maximum=1024),)

    def execute(self, ctx):
        result = run_drc_signoff(ctx.views["gds"], ctx.design.top, ctx.pdk, ctx.folder, ctx.invocation,
                                 jobs=ctx.config["jobs"])
        summary = {"errors_by_rule": result.errors_by_rule, "total": result.total,
                   "dropped_from_magic": [r.description for r in result.magic.dropped_rules],
                   "dropped_reason": result.dropped_reason,
                   "instead_of_magic": result.replaced_reasons,
                   "rejected_by_magic": [{"rule": r.description, "line": r.line, "reason": r.reason}
                                         for r in result.magic.rejected_rules],
                   "unchecked_rules": list(result.unchecked_rules),
                   "unchecked_reasons": result.unchecked_reasons}
        report = ctx.folder / "drc.json"
        report.write_text(json.dumps(summary, indent=2))
        markers = write_markers(ctx.folder / "drc.lyrdb", f"kchip DRC: {ctx.design.top}", ctx.design.top,
                                ctx.views["gds"], drc_markers(result))
        return {"drc_report": report, "drc_markers": markers}, {
            **result.metrics(), "drc__unchecked_rules__count": len(result.unchecked_rules)}
