"""Place: global placement and legalisation into the rows; the placed design as DEF."""

from __future__ import annotations

from kchip.flows.physical.placer import place
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology
from kchip.formats.def_file import write_pdk_def


class Place(Stage):
    """Global placement and legalisation into the rows; writes the placed design as DEF too."""

    name, order, upstream = "place", 5, ("floorplan",)
    reads = ("layout",)
    writes = ("layout", "placed_def")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (Variable("rounds", int, 8, "", "spreading rounds of global placement", minimum=0, maximum=1000),
                 Variable("seed", int, 1, "", "seed of the initial cell scatter", minimum=0, maximum=2**31 - 1),
                 Variable("space_per_pin_sites", float, 2.0, "sites", "room spreading gives each pin of a cell",
                          minimum=0.0, maximum=100.0),
                 Variable("target_density", float, 0.2, "", "cell area per core area where cells spread: "
                          "on a die larger than the cells need they keep together at its centre",
                          minimum=0.05, maximum=1.0))

    def execute(self, ctx):
        _, macros = technology(ctx)
        layout = load_layout(ctx)
        metrics = place(layout, macros, rounds=ctx.config["rounds"], seed=ctx.config["seed"],
                        space_per_pin=ctx.config["space_per_pin_sites"],
                        target_density=ctx.config["target_density"])
        views = {"layout": save_layout(ctx, layout, "placed"),
                 "placed_def": write_pdk_def(ctx.folder / f"{ctx.design.top}.placed.def", layout, ctx.pdk)}
        return views, {k: round(float(v), 3) for k, v in metrics.items()}
