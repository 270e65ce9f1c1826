"""Clock tree and repair: a balanced buffer tree on the clock, buffer trees on other high-fanout
nets, then drivers sized for their load."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict

from kchip.flows.physical.cts import ClockTreeConfig, buffer_high_fanout_nets, build_clock_tree
from kchip.flows.physical.grid import RouteGrid
from kchip.flows.physical.pin_access import unusable_cells
from kchip.flows.physical.sizing import LoadEstimate, size_drivers
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology
from kchip.flows.timing.spef import read_layer_parasitics
from kchip.formats.liberty import read_cells, read_units
from kchip.formats.sdc import pdk_constraints


class ClockTree(Stage):
    """A balanced clock-buffer tree from the clock port to every register, buffer trees on every
    other net with more sinks than ``signal_max_fanout``, then every cell output whose estimated
    load is over its liberty max_capacitance swapped for a stronger cell of the same logic
    (:mod:`kchip.flows.physical.sizing`, listed in ``sizing.json``)."""

    name, order, upstream = "cts", 6, ("place",)
    reads = ("layout",)
    writes = ("layout", "sizing_report")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef", "stdcell:liberty.{corner}")
    variables = (Variable("max_fanout", int, 12, "", "sinks per clock buffer", minimum=2, maximum=1000),
                 Variable("signal_max_fanout", int, 16, "", "sinks per buffer on other high-fanout nets",
                          minimum=2, maximum=1000),
                 Variable("size_for_load", bool, True, "", "swap drivers whose estimated load is over their "
                          "liberty max_capacitance for stronger cells of the same logic"),
                 Variable("load_margin", float, 0.25, "", "share added to the estimated load before it is "
                          "compared with a limit (for the router's detours)", minimum=0.0, maximum=10.0))

    def execute(self, ctx):
        layout = load_layout(ctx)
        rules, macros = technology(ctx)
        cells = rules.cells
        pins = (cells.buffer_input, cells.buffer_output)
        buffers = cells.clock_buffers
        cfg = ClockTreeConfig(ctx.config["max_fanout"], buffers[2], buffers[1], buffers[0], *pins,
                              narrower=tuple(buffers))
        liberty_cells = read_cells(ctx.pdk.liberty())
        clock_pins = frozenset((cell.name, pin.name) for cell in liberty_cells.values()
                               for pin in cell.pins.values() if pin.clock)
        metrics = build_clock_tree(layout, macros, cfg, clock_pins)
        metrics.update(buffer_high_fanout_nets(layout, macros, ctx.config["signal_max_fanout"],
                                               cells.fanout_buffer, pins))
        swaps = _size(ctx, rules, layout, macros) if ctx.config["size_for_load"] else []
        report = ctx.folder / "sizing.json"
        report.write_text(json.dumps([asdict(swap) for swap in swaps], indent=1) + "\n")
        metrics["repair__resized__count"] = len(swaps)
        logic = [i for i in layout.instances.values() if i.role in ("logic", "clock")]
        metrics["design__instance__count"] = len(logic)
        area = sum(macros[i.cell].width * macros[i.cell].height for i in logic)
        x0, y0, x1, y1 = layout.core
        metrics["design__utilization"] = round(area / ((x1 - x0) * (y1 - y0)), 4)
        return {"layout": save_layout(ctx, layout, "cts"), "sizing_report": report}, metrics


def _size(ctx, rules, layout, macros):
    """Drivers sized for their load, with the liberty of the signoff corner, wire capacitance per
    length from the tech LEF (the mean of the two lowest routing layers at their width) and output
    ports loaded as the SDC loads them."""
    liberty = ctx.pdk.liberty()
    cells, units = read_cells(liberty), read_units(liberty)
    usable = {name for name in macros if not ctx.pdk.is_dont_use(name)}
    grid = RouteGrid((0, 0, 30000, 10000), rules)

    @functools.cache
    def reachable(name: str) -> bool:
        return not unusable_cells({name: macros[name]}, rules, grid)

    parasitics = read_layer_parasitics(ctx.pdk.tech_lef)
    per_um = [parasitics.routing[name].area_pf_per_um2 * rules.layers[name].width / 1000
              + 2 * parasitics.routing[name].edge_pf_per_um for name in rules.routing_layers[:2]]
    port_load = pdk_constraints(ctx.pdk, None, 1.0).output_load_pf
    estimate = LoadEstimate(layout, macros, cells, units, sum(per_um) / len(per_um), port_load)
    return size_drivers(layout, macros, cells, units, estimate, margin=ctx.config["load_margin"],
                        usable=usable, reachable=reachable)
