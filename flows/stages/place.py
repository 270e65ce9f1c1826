"""Place: global placement (congestion-driven) and legalisation into the rows, detailed placement,
timing-driven when it misses setup; the placed design as DEF."""

from __future__ import annotations

from kchip.flows.physical.congestion import LOWEST_LAYER_SHARE, CongestionOptions, track_supply
from kchip.flows.physical.placer import place
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology
from kchip.flows.stages.placed_timing import load_estimate, placed_timer
from kchip.flows.timing.net_weights import critical_net_weights
from kchip.formats.def_file import write_pdk_def
from kchip.tools import opensta

#: side of a congestion estimate's bins, in cell rows
CONGESTION_BIN_ROWS = 10


class Place(Stage):
    """Global placement, spread further where the estimated routing demand is high
    (:mod:`kchip.flows.physical.congestion`), legalisation into the rows and detailed placement
    (:mod:`kchip.flows.physical.detailed_placement`); writes the placed design as DEF too. When
    OpenSTA (ideal clock, wires estimated from the placement) finds a path missing setup, the cells
    are placed again with the nets of the failing paths weighted by their criticality
    (:mod:`kchip.flows.timing.net_weights`), and that placement is kept if its worst slack is better."""

    name, order, upstream = "place", 5, ("floorplan",)
    reads = ("layout",)
    writes = ("layout", "placed_def")
    tools = (opensta.TOOL,)
    pdk_files = ("stdcell:lef", "stdcell:tech_lef", "stdcell:liberty.{corner}")
    variables = (Variable("rounds", int, 8, "", "spreading rounds of global placement", minimum=0, maximum=1000),
                 Variable("seed", int, 1, "", "seed of the initial cell scatter", minimum=0, maximum=2**31 - 1),
                 Variable("space_per_pin_sites", float, 2.0, "sites", "room spreading gives each pin of a cell",
                          minimum=0.0, maximum=100.0),
                 Variable("target_density", float, 0.2, "", "cell area per core area where cells spread: "
                          "on a die larger than the cells need they keep together at its centre",
                          minimum=0.05, maximum=1.0),
                 Variable("refine_passes", int, 4, "", "detailed placement passes moving cells towards their "
                          "nets' optimal regions", minimum=0, maximum=100),
                 Variable("refine_density", float, 0.6, "", "most spreading area (pins counted as in spreading) "
                          "per bin area that a detailed move may fill a bin of 4 rows to", minimum=0.1, maximum=2.0),
                 Variable("congestion_target", float, 0.6, "", "estimated routing demand per track supply above "
                          "which a bin's cells are inflated and spread again", minimum=0.1, maximum=10.0),
                 Variable("congestion_rounds", int, 6, "", "inflate-and-spread rounds against congestion (0: off)",
                          minimum=0, maximum=100),
                 Variable("inflation_limit", float, 4.0, "", "most a cell's spreading area is inflated",
                          minimum=1.0, maximum=100.0),
                 Variable("timing_driven", bool, True, "", "place again with the nets of paths that miss "
                          "setup weighted, when any does"),
                 Variable("max_net_weight", float, 4.0, "", "weight of the nets on the worst path (those on "
                          "paths with less negative slack get less, down to 1)", minimum=1.0, maximum=100.0))

    def extra_inputs(self):
        d = self.design()
        return {"clock": [d.clock_port, d.clock_period_ns]}

    def execute(self, ctx):
        rules, macros = technology(ctx)
        layout = load_layout(ctx)
        movable = [name for name, inst in layout.instances.items() if inst.x is None]
        options = dict(rounds=ctx.config["rounds"], seed=ctx.config["seed"],
                       space_per_pin=ctx.config["space_per_pin_sites"], target_density=ctx.config["target_density"],
                       refine_passes=ctx.config["refine_passes"], refine_density=ctx.config["refine_density"],
                       congestion=_congestion_options(ctx, rules))
        metrics = place(layout, macros, **options)
        if ctx.config["timing_driven"] and ctx.design.clock_port:
            metrics.update(_timing_driven(ctx, rules, layout, macros, movable, options))
        views = {"layout": save_layout(ctx, layout, "placed"),
                 "placed_def": write_pdk_def(ctx.folder / f"{ctx.design.top}.placed.def", layout, ctx.pdk)}
        return views, {k: round(float(v), 3) for k, v in metrics.items()}


def _congestion_options(ctx, rules) -> CongestionOptions | None:
    """What congestion-driven spreading needs: the routing layers' track supply (their pitches in
    the tech LEF, the lowest counted as the global router counts it), bins of :data:`CONGESTION_BIN_ROWS` rows."""
    if not ctx.config["congestion_rounds"]:
        return None
    row = rules.site[1]
    supply = track_supply([rules.layers[name].pitch for name in rules.routing_layers], LOWEST_LAYER_SHARE)
    return CongestionOptions(supply=supply, bin_size=CONGESTION_BIN_ROWS * row, min_extent=row, target=ctx.config["congestion_target"],
                             rounds=ctx.config["congestion_rounds"], limit=ctx.config["inflation_limit"])


def _timing_driven(ctx, rules, layout, macros, movable, options) -> dict[str, float]:
    """Place ``movable`` again with critical nets weighted when the placement misses setup; keep
    the better of the two placements by worst setup slack. Returns the metrics that changed."""
    measure = placed_timer(ctx, layout, load_estimate(ctx, rules, layout, macros), "timing", cell_slacks=True,
                           propagated=False)
    first = measure(layout)
    if first.setup_ws is None or first.setup_ws >= 0:
        return {}
    weights = critical_net_weights(layout, macros, first.cells, first.setup_ws,
                                   max_weight=ctx.config["max_net_weight"])
    kept = {name: (layout.instances[name].x, layout.instances[name].y, layout.instances[name].orient)
            for name in movable}
    for name in movable:
        layout.instances[name].x = layout.instances[name].y = None
    metrics = place(layout, macros, net_weights=weights, **options)
    second = measure(layout)
    better = second.setup_ws is not None and second.setup_ws > first.setup_ws
    if not better:
        for name, (x, y, orient) in kept.items():
            inst = layout.instances[name]
            inst.x, inst.y, inst.orient = x, y, orient
        metrics = {}
    return {**metrics, "place__weighted_nets__count": len(weights), "place__timing_driven__kept": int(better),
            "place__setup_first__ws": first.setup_ws, "place__setup_weighted__ws": second.setup_ws}
