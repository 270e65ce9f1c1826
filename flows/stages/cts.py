"""Clock tree and repair: a balanced buffer tree on the clock, buffer trees on other high-fanout
nets, drivers sized for their load and their nets' transitions, gates upsized on paths that miss setup, then delay cells where
the clock tree leaves a hold slack short."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict

from kchip.flows.physical.cts import ClockTreeConfig, buffer_high_fanout_nets, build_clock_tree
from kchip.flows.physical.grid import RouteGrid
from kchip.flows.physical.pin_access import unusable_cells
from kchip.flows.physical.sizing import LoadEstimate, equivalent_cells, size_drivers
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology
from kchip.flows.stages.placed_timing import load_estimate, placed_timer
from kchip.flows.timing.hold import HoldCells, repair_hold
from kchip.flows.timing.setup import repair_setup
from kchip.flows.timing.slew import Buffer, repair_slew
from kchip.formats.liberty import max_load_pf, read_cells, read_units
from kchip.tools import opensta


class ClockTree(Stage):
    """A balanced clock-buffer tree from the clock port to every register, buffer trees on every
    other net with more sinks than ``signal_max_fanout``, then every cell output whose estimated
    load is over its liberty max_capacitance swapped for a stronger cell of the same logic
    (:mod:`kchip.flows.physical.sizing`, listed in ``sizing.json``). Then, timed by OpenSTA with the
    propagated clock and the wires estimated from the placement: the drivers of nets with pins over
    their max_transition upsized (:mod:`kchip.flows.timing.slew`, ``slew.json``), the gates of paths that miss setup
    upsized (:mod:`kchip.flows.timing.setup`, ``setup.json``), and delay cells in front of the
    register inputs whose hold slack is below ``hold_target`` (:mod:`kchip.flows.timing.hold`,
    ``hold.json``)."""

    name, order, upstream = "cts", 6, ("place",)
    reads = ("layout",)
    writes = ("layout", "sizing_report", "hold_report")
    tools = (opensta.TOOL,)
    pdk_files = ("stdcell:lef", "stdcell:tech_lef", "stdcell:liberty.{corner}")
    variables = (Variable("max_fanout", int, 12, "", "sinks per clock buffer", minimum=2, maximum=1000),
                 Variable("signal_max_fanout", int, 16, "", "sinks per buffer on other high-fanout nets",
                          minimum=2, maximum=1000),
                 Variable("size_for_load", bool, True, "", "swap drivers whose estimated load is over their "
                          "liberty max_capacitance for stronger cells of the same logic"),
                 Variable("load_margin", float, 0.25, "", "share added to the estimated load before it is "
                          "compared with a limit (for the router's detours)", minimum=0.0, maximum=10.0),
                 Variable("repair_slew", bool, True, "", "upsize the drivers of nets with pins over their "
                          "liberty max_transition, timed with the estimated wires grown by load_margin"),
                 Variable("repair_setup", bool, True, "", "upsize the gates of paths that miss setup, timed "
                          "with the wires estimated from the placement"),
                 Variable("setup_passes", int, 4, "", "timing passes of the setup repair, each upsizing the "
                          "gates of the worse half of the violation by one size", minimum=1, maximum=20),
                 Variable("repair_hold", bool, True, "", "put delay cells in front of register inputs whose "
                          "hold slack is below hold_target"),
                 Variable("hold_target", float, 0.1, "ns", "hold slack the repair aims for at every register "
                          "input (above 0 for the routed wires the estimate misses)", minimum=0.0, maximum=10.0),
                 Variable("hold_passes", int, 4, "", "timing passes of the hold repair, each adding at most "
                          "one delay cell per register input", minimum=1, maximum=20))

    def extra_inputs(self):
        d = self.design()
        return {"clock": [d.clock_port, d.clock_period_ns]}

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
        estimate = load_estimate(ctx, rules, layout, macros)
        swaps = _size(ctx, rules, layout, macros, estimate) if ctx.config["size_for_load"] else []
        report = ctx.folder / "sizing.json"
        report.write_text(json.dumps([asdict(swap) for swap in swaps], indent=1) + "\n")
        metrics["repair__resized__count"] = len(swaps)
        larger = _larger_cells(ctx, rules, macros)
        slew = (_repair_slew(ctx, rules, layout, macros, estimate, larger)
                if ctx.config["repair_slew"] and ctx.design.clock_port else None)
        metrics.update(slew.metrics() if slew else {})
        (ctx.folder / "slew.json").write_text(json.dumps(slew.resized if slew else {}, indent=1) + "\n")
        setup = (_repair_setup(ctx, layout, macros, estimate, larger)
                 if ctx.config["repair_setup"] and ctx.design.clock_port else None)
        metrics.update(setup.metrics() if setup else {})
        (ctx.folder / "setup.json").write_text(json.dumps(setup.resized if setup else {}, indent=1) + "\n")
        hold_report = ctx.folder / "hold.json"
        hold = (_repair_hold(ctx, rules, layout, macros, estimate, setup.timing if setup else None)
                if ctx.config["repair_hold"] and ctx.design.clock_port else None)
        hold_report.write_text(json.dumps({"inserted": hold.inserted, "unrepaired": hold.unrepaired} if hold
                                          else {}, indent=1) + "\n")
        metrics.update(hold.metrics() if hold else {})
        logic = [i for i in layout.instances.values() if i.role in ("logic", "clock")]
        metrics["design__instance__count"] = len(logic)
        area = sum(macros[i.cell].width * macros[i.cell].height for i in logic)
        x0, y0, x1, y1 = layout.core
        metrics["design__utilization"] = round(area / ((x1 - x0) * (y1 - y0)), 4)
        return {"layout": save_layout(ctx, layout, "cts"), "sizing_report": report,
                "hold_report": hold_report}, metrics


def _size(ctx, rules, layout, macros, estimate: LoadEstimate):
    """Drivers sized for the load ``estimate`` gives them."""
    liberty = ctx.pdk.liberty()
    cells, units = read_cells(liberty), read_units(liberty)
    usable = {name for name in macros if not ctx.pdk.is_dont_use(name)}
    return size_drivers(layout, macros, cells, units, estimate, margin=ctx.config["load_margin"],
                        usable=usable, reachable=_reachable(rules, macros))


def _reachable(rules, macros):
    """Whether the router reaches every pin of a cell (by name), cached per cell."""
    grid = RouteGrid((0, 0, 30000, 10000), rules)

    @functools.cache
    def reachable(name: str) -> bool:
        return not unusable_cells({name: macros[name]}, rules, grid)

    return reachable


def _repair_setup(ctx, layout, macros, estimate: LoadEstimate, larger: dict[str, str]):
    """Setup repair by upsizing (:mod:`kchip.flows.timing.setup`) to ``larger`` (:func:`_larger_cells`)."""
    measure = placed_timer(ctx, layout, estimate, "setup", cell_slacks=True)
    return repair_setup(layout, macros, measure, larger,
                        max_passes=ctx.config["setup_passes"])


def _repair_slew(ctx, rules, layout, macros, estimate: LoadEstimate, larger: dict[str, str]):
    """Transition repair (:mod:`kchip.flows.timing.slew`): drivers upsized among
    :func:`_larger_cells`, else their nets buffered with the PDK's fanout buffer; the wires
    estimated ``load_margin`` longer (the router's detours)."""
    measure = placed_timer(ctx, layout, estimate, "slew", wire_scale=1 + ctx.config["load_margin"])
    cells = rules.cells
    return repair_slew(layout, macros, measure, larger,
                       Buffer(cells.fanout_buffer, cells.buffer_input, cells.buffer_output))


def _larger_cells(ctx, rules, macros) -> dict[str, str]:
    """Each usable cell's next larger one of the same logic that drives more, among the usable
    cells the router can reach."""
    liberty = ctx.pdk.liberty()
    cells, units = read_cells(liberty), read_units(liberty)
    usable = {name for name in macros if not ctx.pdk.is_dont_use(name)}
    reachable = _reachable(rules, macros)
    larger = {}
    for name, group in equivalent_cells(cells, usable).items():
        outputs = cells[name].pins_by_direction("output")
        drive = [max_load_pf(cells[name], pin, units) or 0.0 for pin in outputs]
        for option in group[group.index(name) + 1:]:
            if (all((max_load_pf(cells[option], pin, units) or 0.0) > limit for pin, limit in zip(outputs, drive))
                    and reachable(option)):
                larger[name] = option
                break
    return larger


def _repair_hold(ctx, rules, layout, macros, estimate: LoadEstimate, timing):
    """Hold repair timed by :func:`_placed_timer`, starting from ``timing`` (the layout's own, from
    the setup repair) when given."""
    cells = rules.cells
    measure = placed_timer(ctx, layout, estimate, "hold")
    return repair_hold(layout, macros, measure, HoldCells(cells.hold_cells, cells.buffer_input, cells.buffer_output),
                       target_ns=ctx.config["hold_target"], max_passes=ctx.config["hold_passes"], timing=timing)
