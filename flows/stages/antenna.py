"""Antenna: the process-antenna check of the routed layout against the tech LEF's rules."""

from __future__ import annotations

from kchip.flows.signoff.antenna import check_antenna, write_report
from kchip.flows.stage import Stage
from kchip.flows.stages.common import load_layout, technology


class Antenna(Stage):
    """Metal-to-gate area ratios, partial and cumulative, per layer in etch order, for every net
    of the routed layout; each violation names its net, layer, rule and gate pins."""

    name, order, upstream = "antenna", 13, ("route",)
    reads = ("layout",)
    writes = ("antenna_report",)
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")

    def execute(self, ctx):
        tech, macros = technology(ctx)
        result = check_antenna(load_layout(ctx), macros, tech)
        report = write_report(result, ctx.folder / "antenna.json")
        return {"antenna_report": report}, {**result.metrics(), "antenna__nets_checked__count": result.nets_checked}
