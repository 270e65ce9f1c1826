"""Floorplan: die and core size, rows, well taps, power straps and I/O pins."""

from __future__ import annotations

import json
from dataclasses import replace

from kchip.design.sources import files_digest
from kchip.flows.physical.floorplan import FloorplanConfig, FloorplanError, cells_fit, core_utilization, floorplan
from kchip.flows.physical.layout import from_yosys_json
from kchip.flows.stage import Stage, StageFailed, Variable
from kchip.flows.stages.common import save_layout, technology
from kchip.mpw.slots import SHUTTLE_DIR, ShuttleError, load_shuttle


class Floorplan(Stage):
    """Die and core size, rows, well taps, power straps and I/O pins."""

    name, order, upstream = "floorplan", 4, ("synth",)
    reads = ("netlist_json",)
    writes = ("layout", "floorplan_report")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (
        Variable("tap_spacing_um", float, 13.0, "um", "distance between well-tap columns (unused where the "
                 "PDK has no tap cell)",
                 minimum=1.0, maximum=1000.0),
        Variable("strap_pitch_um", float, 40.0, "um", "pitch of the power straps",
                 minimum=5.0, maximum=10000.0),
        Variable("strap_width_um", float, 1.6, "um", "width of the power straps", minimum=0.1, maximum=100.0),
        Variable("shuttle", str, "", "", "shuttle slot the die and pins come from, e.g. tt-sky130:1x2, or "
                 "tt-sky130:auto for the smallest tile the cells fit (kchip mpw slots lists them); empty: none"),
    )

    def extra_inputs(self):
        d = self.design()
        shuttle = self.config()["shuttle"].partition(":")[0]
        return {"floorplan": [d.utilization, d.die_size_um, d.aspect_ratio, d.core_margin_um],
                "pins": d.pins, "clock": d.clock_port,
                "shuttle": files_digest([SHUTTLE_DIR / f"{shuttle}.toml"], SHUTTLE_DIR) if shuttle else None}

    def check_config(self, config):
        if config["shuttle"]:
            name, _, size = config["shuttle"].partition(":")
            try:
                shuttle = load_shuttle(name)
                if size != "auto":
                    shuttle.slot(size or None)
            except ShuttleError as exc:
                return f"floorplan.shuttle = {config['shuttle']!r}: {exc}"
        if config["strap_width_um"] * 2 > config["strap_pitch_um"]:
            return (f"floorplan.strap_width_um = {config['strap_width_um']!r} must be at most half of "
                    f"floorplan.strap_pitch_um = {config['strap_pitch_um']!r}")
        return None

    def execute(self, ctx):
        d, s = ctx.design, ctx.pdk.stdcell
        tech, macros = technology(ctx)
        if tech.cells.tap and ctx.config["tap_spacing_um"] > tech.cells.tap_max_distance_um:
            raise StageFailed(f"floorplan.tap_spacing_um = {ctx.config['tap_spacing_um']!r} is more than the "
                              f"PDK's tap_max_distance_um = {tech.cells.tap_max_distance_um!r} ({tech.descriptor})")
        layout = from_yosys_json(ctx.views["netlist_json"], d.top)
        if d.clock_port not in {p.name for p in layout.ports}:
            raise StageFailed(f"{d.file}: clock.port = {d.clock_port!r} is not a port of {d.top}")
        layout.clock_net = next(p.net for p in layout.ports if p.name == d.clock_port)
        cfg = FloorplanConfig(d.utilization, d.die_size_um, d.aspect_ratio, d.core_margin_um, d.pins,
                              tech.cells.tap, ctx.config["tap_spacing_um"], ctx.config["strap_pitch_um"],
                              ctx.config["strap_width_um"], s["power_pin"], s["ground_pin"],
                              reserve_cells=(s["clock_buffers"][0],))
        slot_name = None
        if ctx.config["shuttle"]:
            cfg, slot_name = self._in_slot(cfg, ctx.config["shuttle"], layout, macros, s["site"], tech)
        try:
            floorplan(layout, macros, tech, cfg, s["site"])
        except FloorplanError as exc:
            raise StageFailed(f"{d.file}: {exc}") from exc
        x0, y0, x1, y1 = layout.core
        cell_area = sum(macros[i.cell].width * macros[i.cell].height for i in layout.instances.values()
                        if i.role == "logic")
        if slot_name:
            layout.decisions.append(f"die and pins from shuttle slot {slot_name} "
                                    f"({cfg.slot_die_nm[0] / 1000:g} x {cfg.slot_die_nm[1] / 1000:g} um)")
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

    def _in_slot(self, cfg: FloorplanConfig, spec: str, layout, macros, site_name: str,
                 tech) -> tuple[FloorplanConfig, str]:
        """``cfg`` with the die and pin template of the shuttle slot ``spec`` (``shuttle:auto``: the
        smallest slot whose core holds the cells at no more than the design's utilisation, when the
        design gives one: a slot the cells merely fit can be too dense to route)."""
        name, _, size = spec.partition(":")
        shuttle = load_shuttle(name)
        candidates = shuttle.slots() if size == "auto" else [shuttle.slot(size or None)]
        site = tech.sites[site_name]
        for slot in candidates:
            die = (slot.die[2] - slot.die[0], slot.die[3] - slot.die[1])
            pins = tuple((p.name, p.layer, tuple(p.rect)) for p in slot.pins if p.use == "SIGNAL")
            fitted = replace(cfg, utilization=None, die_size_um=(die[0] / 1000, die[1] / 1000),
                             pins={}, slot_die_nm=die, template_pins=pins)
            dense = (size == "auto" and cfg.utilization is not None
                     and core_utilization(layout, macros, fitted, site) > cfg.utilization)
            if not dense and cells_fit(layout, macros, fitted, site):
                return fitted, slot.spec
        raise StageFailed(f"{self.design().file}: floorplan.shuttle = {spec!r}: the cells do not fit "
                          f"{'any slot of ' + name if size == 'auto' else 'slot ' + candidates[0].spec}"
                          + (f" at utilization = {cfg.utilization!r} or less" if size == "auto" and cfg.utilization else ""))
