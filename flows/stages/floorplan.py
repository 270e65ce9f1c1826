"""Floorplan: die and core size, rows, well taps, power straps and I/O pins."""

from __future__ import annotations

import json

from kchip.flows.physical.floorplan import FloorplanConfig, FloorplanError, floorplan
from kchip.flows.physical.layout import from_yosys_json
from kchip.flows.stage import Stage, StageFailed, Variable
from kchip.flows.stages.common import save_layout, technology


class Floorplan(Stage):
    """Die and core size, rows, well taps, power straps and I/O pins."""

    name, order, upstream = "floorplan", 4, ("synth",)
    reads = ("netlist_json",)
    writes = ("layout", "floorplan_report")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (
        Variable("tap_spacing_um", float, 13.0, "um", "distance between well-tap columns",
                 minimum=1.0, maximum=1000.0),
        Variable("strap_pitch_um", float, 40.0, "um", "pitch of the power straps",
                 minimum=5.0, maximum=10000.0),
        Variable("strap_width_um", float, 1.6, "um", "width of the power straps", minimum=0.1, maximum=100.0),
    )

    def extra_inputs(self):
        d = self.design()
        return {"floorplan": [d.utilization, d.die_size_um, d.aspect_ratio, d.core_margin_um],
                "pins": d.pins, "clock": d.clock_port}

    def check_config(self, config):
        if config["strap_width_um"] * 2 > config["strap_pitch_um"]:
            return (f"floorplan.strap_width_um = {config['strap_width_um']!r} must be at most half of "
                    f"floorplan.strap_pitch_um = {config['strap_pitch_um']!r}")
        return None

    def execute(self, ctx):
        d, s = ctx.design, ctx.pdk.stdcell
        tech, macros = technology(ctx)
        layout = from_yosys_json(ctx.views["netlist_json"], d.top)
        if d.clock_port not in {p.name for p in layout.ports}:
            raise StageFailed(f"{d.file}: clock.port = {d.clock_port!r} is not a port of {d.top}")
        layout.clock_net = next(p.net for p in layout.ports if p.name == d.clock_port)
        cfg = FloorplanConfig(d.utilization, d.die_size_um, d.aspect_ratio, d.core_margin_um, d.pins,
                              s["tap_cell"], ctx.config["tap_spacing_um"], ctx.config["strap_pitch_um"],
                              ctx.config["strap_width_um"], s["power_pin"], s["ground_pin"],
                              reserve_cells=(s["clock_buffers"][0],))
        try:
            floorplan(layout, macros, tech, cfg, s["site"])
        except FloorplanError as exc:
            raise StageFailed(f"{d.file}: {exc}") from exc
        x0, y0, x1, y1 = layout.core
        cell_area = sum(macros[i.cell].width * macros[i.cell].height for i in layout.instances.values()
                        if i.role == "logic")
        report = ctx.folder / "floorplan.json"
        report.write_text(json.dumps({"die_um": [layout.die[2] / 1000, layout.die[3] / 1000],
                                      "core_um": [v / 1000 for v in layout.core],
                                      "decisions": layout.decisions}, indent=2))
        return {"layout": save_layout(ctx, layout, "floorplan"), "floorplan_report": report}, {
            "floorplan__decisions__count": len(layout.decisions),
            "design__die__area_um2": round(layout.die[2] * layout.die[3] / 1e6, 3),
            "design__core_area__um2": round((x1 - x0) * (y1 - y0) / 1e6, 3),
            "floorplan__rows__count": len(layout.rows),
            "floorplan__taps__count": sum(i.role == "tap" for i in layout.instances.values()),
            "floorplan__cell_area__um2": round(cell_area / 1e6, 3),
        }
