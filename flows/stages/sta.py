"""STA: OpenSTA setup and hold with the propagated clock and the routed parasitics."""

from __future__ import annotations

from kchip.flows.stage import Stage, Variable
from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.tools import opensta


class Sta(Stage):
    """OpenSTA: setup and hold with the propagated clock and the routed parasitics."""

    name, order, upstream = "sta", 12, ("route",)
    reads = ("final_netlist", "spef")
    writes = ("sta_report",)
    tools = (opensta.TOOL,)
    pdk_files = ("stdcell:liberty.tt",)
    variables = (Variable("paths", int, 5, "", "worst paths listed per check", minimum=1, maximum=10000),)

    def extra_inputs(self):
        d = self.design()
        return {"clock": [d.clock_port, d.clock_period_ns]}

    def execute(self, ctx):
        d = ctx.design
        sdc = write_sdc(pdk_constraints(ctx.pdk, d.clock_port, d.clock_period_ns, propagated_clock=True),
                        ctx.folder / f"{d.top}.sdc")
        result = opensta.run_sta(ctx.views["final_netlist"], d.top, ctx.pdk, sdc, ctx.folder, ctx.invocation,
                                 spef=ctx.views["spef"], propagated=True, path_count=ctx.config["paths"])
        report = ctx.folder / "timing.md"
        unconstrained = "".join(f"- `{n}`\n" for n in result.unconstrained_names[:50])
        report.write_text((f"## Unconstrained endpoints\n\n{unconstrained}\n" if unconstrained else "")
                          + f"## Setup (worst paths)\n\n```\n{result.setup_paths}\n```\n\n"
                          f"## Hold (worst paths)\n\n```\n{result.hold_paths}\n```\n")
        metrics = dict(result.metrics)
        metrics["timing__clock_period__ns"] = d.clock_period_ns
        return {"sta_report": report}, metrics
