"""Antenna: the process-antenna check of the routed layout against the tech LEF's rules."""

from __future__ import annotations

from kchip.flows.signoff.antenna import check_antenna, write_report
from kchip.flows.stage import Stage
from kchip.flows.stages.common import load_layout, technology
from kchip.flows.views.markers import antenna_markers, write_markers


class Antenna(Stage):
    """Metal-to-gate area ratios, partial and cumulative, per layer in etch order, for every net
    of the routed layout; each violation names its net, layer, rule and gate pins."""

    name, order, upstream = "antenna", 13, ("route",)
    reads = ("layout",)
    writes = ("antenna_report", "antenna_markers")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")

    def execute(self, ctx):
        tech, macros = technology(ctx)
        layout = load_layout(ctx)
        result = check_antenna(layout, macros, tech)
        report = write_report(result, ctx.folder / "antenna.json")
        markers = write_markers(ctx.folder / "antenna.lyrdb", f"kchip antenna: {ctx.design.top}", ctx.design.top,
                                None, antenna_markers(layout, result.violations))
        return {"antenna_report": report, "antenna_markers": markers}, {
            **result.metrics(), "antenna__nets_checked__count": result.nets_checked}
