"""Place: global placement and legalisation into the rows."""

from __future__ import annotations

from kchip.flows.physical.placer import place
from kchip.flows.stage import Stage, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology


class Place(Stage):
    """Global placement and legalisation into the rows."""

    name, order, upstream = "place", 5, ("floorplan",)
    reads = ("layout",)
    writes = ("layout",)
    pdk_files = ("stdcell:lef",)
    variables = (Variable("rounds", int, 8, "", "spreading rounds of global placement", minimum=0, maximum=1000),
                 Variable("seed", int, 1, "", "seed of the initial cell scatter", minimum=0, maximum=2**31 - 1),
                 Variable("space_per_pin_um", float, 0.92, "um", "room spreading gives each pin of a cell",
                          minimum=0.0, maximum=100.0))

    def execute(self, ctx):
        _, macros = technology(ctx)
        layout = load_layout(ctx)
        metrics = place(layout, macros, rounds=ctx.config["rounds"], seed=ctx.config["seed"],
                        space_per_pin=int(ctx.config["space_per_pin_um"] * 1000))
        return {"layout": save_layout(ctx, layout, "placed")}, {k: round(float(v), 3) for k, v in metrics.items()}
