"""Route: filler cells, then detailed routing of every signal net; the final netlist and SPEF."""

from __future__ import annotations

from kchip.flows.physical.layout import write_verilog
from kchip.flows.physical.placer import fill_rows
from kchip.flows.physical.router import Router, routed_nets
from kchip.flows.stage import Stage, StageFailed, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology
from kchip.flows.timing.spef import write_spef


class Route(Stage):
    """Filler cells, then detailed routing of every signal net; writes the final netlist and SPEF."""

    name, order, upstream = "route", 7, ("cts",)
    reads = ("layout",)
    writes = ("layout", "final_netlist", "spef")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (Variable("max_rounds", int, 200, "", "negotiation rounds before giving up",
                          minimum=1, maximum=100000),)

    def execute(self, ctx):
        tech, macros = technology(ctx)
        layout = load_layout(ctx)
        fills = fill_rows(layout, macros, ctx.pdk.stdcell["fill_cells"])
        router = Router(layout, macros, tech)
        with open(ctx.folder / "route.log", "w") as log:
            metrics = router.run(max_rounds=ctx.config["max_rounds"], log=lambda m: print(m, file=log, flush=True))
        if router.problems:
            (ctx.folder / "unrouted.txt").write_text("\n".join(router.problems) + "\n")
            raise StageFailed(f"route: {len(router.problems)} net(s) or pin(s) left unrouted after "
                              f"{metrics['route__rounds__count']} rounds, e.g. {router.problems[:5]}; "
                              f"list in {ctx.folder / 'unrouted.txt'}")
        router.write_geometry()
        metrics["route__islands_unfixed__count"] = router.islands_left
        metrics["floorplan__fills__count"] = fills
        netlist = ctx.folder / f"{ctx.design.top}.nl.v"
        write_verilog(layout, netlist)
        spef = write_spef(routed_nets(router), ctx.design.top, ctx.pdk.tech_lef, ctx.folder / f"{ctx.design.top}.spef")
        return {"layout": save_layout(ctx, layout, "routed"), "final_netlist": netlist, "spef": spef}, metrics
