"""Clock tree: a balanced buffer tree on the clock, buffer trees on other high-fanout nets."""

from __future__ import annotations

from kchip.flows.physical.cts import ClockTreeConfig, buffer_high_fanout_nets, build_clock_tree
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology


class ClockTree(Stage):
    """A balanced clock-buffer tree from the clock port to every register, and buffer trees on
    every other net with more sinks than ``max_fanout``."""

    name, order, upstream = "cts", 6, ("place",)
    reads = ("layout",)
    writes = ("layout",)
    pdk_files = ("stdcell:lef",)
    variables = (Variable("max_fanout", int, 12, "", "sinks per clock buffer", minimum=2, maximum=1000),
                 Variable("signal_max_fanout", int, 16, "", "sinks per buffer on other high-fanout nets",
                          minimum=2, maximum=1000))

    def execute(self, ctx):
        layout = load_layout(ctx)
        rules, macros = technology(ctx)
        cells = rules.cells
        pins = (cells.buffer_input, cells.buffer_output)
        buffers = cells.clock_buffers
        cfg = ClockTreeConfig(ctx.config["max_fanout"], buffers[2], buffers[1], buffers[0], *pins)
        metrics = build_clock_tree(layout, macros, cfg)
        metrics.update(buffer_high_fanout_nets(layout, macros, ctx.config["signal_max_fanout"],
                                               cells.fanout_buffer, pins))
        logic = [i for i in layout.instances.values() if i.role in ("logic", "clock")]
        metrics["design__instance__count"] = len(logic)
        area = sum(macros[i.cell].width * macros[i.cell].height for i in logic)
        x0, y0, x1, y1 = layout.core
        metrics["design__utilization"] = round(area / ((x1 - x0) * (y1 - y0)), 4)
        return {"layout": save_layout(ctx, layout, "cts")}, metrics
