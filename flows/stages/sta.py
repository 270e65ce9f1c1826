"""STA: OpenSTA setup and hold with the propagated clock and the routed parasitics, max capacitance
and max transition, the worst path's share of wire delay; the slack of every cell and the worst setup path drawn over the placement."""

from __future__ import annotations

from kchip.flows.physical.layout import Layout
from kchip.formats.lef import read_macros
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import clocked_sdc
from kchip.flows.timing import drv
from kchip.flows.views.timing import render_timing_views
from kchip.tools import opensta


def wire_share(ctx, sdc, period_ns: float, routed_ws: float | None) -> dict[str, float]:
    """The same netlist timed with pin loads only (no wires): its worst setup slack, and how much
    longer the routed worst path is (the path as ``period - slack``; 0.1 means 10 % longer)."""
    bare = opensta.run_sta(ctx.views["final_netlist"], ctx.design.top, ctx.pdk, sdc, ctx.folder / "without_wires",
                           ctx.invocation, propagated=True, path_count=1, wires=False)
    if bare.setup_ws is None or routed_ws is None:
        return {}
    return {"timing__setup_without_wires__ws": round(bare.setup_ws, 4),
            "timing__wire_delay__fraction": round((period_ns - routed_ws) / (period_ns - bare.setup_ws) - 1, 4)}


class Sta(Stage):
    """OpenSTA: setup and hold with the propagated clock and the routed parasitics, outputs over their
    max capacitance and pins over their max transition (:mod:`kchip.flows.timing.drv`); pictures of the
    worst setup slack of every cell and of the worst setup path over the placement
    (:mod:`kchip.flows.views.timing`)."""

    name, order, upstream = "sta", 12, ("route",)
    reads = ("final_netlist", "spef", "layout")
    writes = ("sta_report", "slack_report", "timing_pictures")
    tools = (opensta.TOOL,)
    pdk_files = ("stdcell:liberty.{corner}", "stdcell:lef")
    variables = (Variable("paths", int, 5, "", "worst paths listed per check", minimum=1, maximum=10000),)

    def extra_inputs(self):
        d = self.design()
        return {"clock": [d.clock_port, d.clock_period_ns]}

    def execute(self, ctx):
        d = ctx.design
        layout = Layout.load(ctx.views["layout"])
        sdc = clocked_sdc(ctx, layout, ctx.folder / f"{d.top}.sdc")
        result = opensta.run_sta(ctx.views["final_netlist"], d.top, ctx.pdk, sdc, ctx.folder, ctx.invocation,
                                 spef=ctx.views["spef"], propagated=True, path_count=ctx.config["paths"])
        report = ctx.folder / "timing.md"
        unconstrained = "".join(f"- `{n}`\n" for n in result.unconstrained_names[:50])
        caps = drv.capacitance_violations(result.net_loads, ctx.pdk.liberty())
        report.write_text((f"## Unconstrained endpoints\n\n{unconstrained}\n" if unconstrained else "")
                          + drv.markdown(caps, result.slew_violations, result.slew_report) + "\n"
                          + f"## Setup (worst paths)\n\n```\n{result.setup_paths}\n```\n\n"
                          f"## Hold (worst paths)\n\n```\n{result.hold_paths}\n```\n")
        sizes = {name: (macro.width, macro.height) for name, macro in read_macros(ctx.pdk.lef).items()}
        slack, pictures = render_timing_views(layout, sizes, result.pin_slacks,
                                              list(result.worst_setup_path), ctx.folder, d.top)
        metrics = dict(result.metrics)
        metrics["timing__clock_period__ns"] = d.clock_period_ns
        metrics["timing__drv__max_cap__count"] = float(len(caps))
        metrics.update(wire_share(ctx, sdc, d.clock_period_ns, result.setup_ws))
        return {"sta_report": report, "slack_report": slack, "timing_pictures": pictures}, metrics
