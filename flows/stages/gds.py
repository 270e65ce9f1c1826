"""GDS: stream out the layout with the real cell layouts, and render its pictures and heatmaps."""

from __future__ import annotations

import json
from dataclasses import asdict

from kchip.flows.physical.gds import write_gds
from kchip.flows.signoff.density import density_metrics, metal_density
from kchip.flows.stage import Stage
from kchip.flows.stages.common import load_layout, technology
from kchip.flows.views.render import render_views
from kchip.tools import klayout


class Gds(Stage):
    """Stream out GDS with the real cell layouts, render pictures and heatmaps of it (listed in
    ``pictures.json``; the overview is the ``png`` view), and measure its metal density per layer
    (whole die and windows, as the PDK's density rules measure it)."""

    name, order, upstream = "gds", 8, ("route",)
    reads = ("layout",)
    writes = ("gds", "png", "pictures", "density_report")
    tools = (klayout.TOOL,)
    pdk_files = ("stdcell:gds", "stdcell:lef", "stdcell:tech_lef", "signoff:klayout_lyp")

    def execute(self, ctx):
        tech, macros = technology(ctx)
        layout = load_layout(ctx)
        gds_cfg = ctx.pdk.data["gds"]
        gds = ctx.folder / f"{ctx.design.top}.gds"
        metrics = write_gds(layout, macros, tech, ctx.pdk.gds, gds_cfg["layers"], gds_cfg["pin_datatype"],
                            gds_cfg["label_datatype"], gds, boundary_layer=gds_cfg.get("boundary"))
        listing = render_views(gds, layout, macros, ctx.pdk, ctx.folder, ctx.design.top)
        overview = ctx.folder / json.loads(listing.read_text())["overview"]
        density = ctx.pdk.data["density"]
        densities = metal_density(gds, ctx.design.top, {n: gds_cfg["layers"][n] for n in density["layers"]},
                                  window_um=density["window_um"], step_um=density["step_um"])
        report = ctx.folder / "density.json"
        report.write_text(json.dumps([asdict(d) for d in densities], indent=2))
        views = {"gds": gds, "png": overview, "pictures": listing, "density_report": report}
        return views, {**metrics, **density_metrics(densities)}
