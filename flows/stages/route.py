"""Route: filler cells, detailed routing of every signal net, antenna repair; the final netlist, SPEF and DEF."""

from __future__ import annotations

import json

from kchip.flows.physical.antenna_repair import DIODE_ROLE, DiodeCell, Routing, repair_antennas
from kchip.flows.physical.layout import Layout, write_verilog
from kchip.flows.physical.placer import fill_rows
from kchip.flows.physical.route_graph import routed_nets
from kchip.flows.physical.router import Router
from kchip.flows.stage import Stage, StageFailed, Variable
from kchip.flows.stages.common import load_layout, save_layout, technology
from kchip.flows.timing.spef import write_spef
from kchip.formats.def_file import write_pdk_def


class Route(Stage):
    """Filler cells, then detailed routing of every signal net; antenna violations repaired with
    diode cells in place of fillers and a re-route of their nets
    (:mod:`kchip.flows.physical.antenna_repair`); writes the final netlist, SPEF and the routed DEF,
    and ``route_rounds.json``: per negotiation round the nets in conflict, the conflicting grid
    nodes per layer (the overflow) and the time."""

    name, order, upstream = "route", 7, ("cts",)
    reads = ("layout",)
    writes = ("layout", "final_netlist", "spef", "def")
    pdk_files = ("stdcell:lef", "stdcell:tech_lef")
    variables = (Variable("max_rounds", int, 200, "", "negotiation rounds before giving up",
                          minimum=1, maximum=100000),
                 Variable("gcell_size", int, 15, "grid steps", "side of the global router's routing cells, "
                          "whose routes bound each net's detailed search; 0 routes without a global route",
                          minimum=0, maximum=1000),
                 Variable("antenna_rounds", int, 10, "", "rounds of diode insertion and re-routing "
                          "while antenna violations remain", minimum=0, maximum=20))

    def execute(self, ctx):
        tech, macros = technology(ctx)
        layout = load_layout(ctx)
        fill_cells = ctx.pdk.stdcell["fill_cells"]
        fill_rows(layout, macros, fill_cells)
        diode = DiodeCell(ctx.pdk.stdcell["diode_cell"], ctx.pdk.stdcell["diode_pin"])
        with open(ctx.folder / "route.log", "w") as log_file:
            def log(message: str) -> None:
                print(message, file=log_file, flush=True)

            def routed(unrouted: Layout, window=None) -> Router:
                router = Router(unrouted, macros, tech, window)
                router.run(max_rounds=ctx.config["max_rounds"], gcell_size=ctx.config["gcell_size"], log=log)
                if not router.problems:
                    router.write_geometry()
                return router

            def reroute(view: Layout, window) -> Routing:
                router = routed(view, window)
                if router.problems:
                    return Routing(tuple(router.problems))
                return Routing((), tuple(routed_nets(router)), router.islands_left)

            router = routed(layout)
            (ctx.folder / "route_rounds.json").write_text(json.dumps(router.rounds, indent=1) + "\n")
            if router.global_route is not None:
                (ctx.folder / "global_route.json").write_text(json.dumps(router.global_route.rounds, indent=1) + "\n")
            if router.problems:
                (ctx.folder / "unrouted.txt").write_text("\n".join(router.problems) + "\n")
                raise StageFailed(f"route: {len(router.problems)} net(s) or pin(s) left unrouted after "
                                  f"{router.metrics['route__rounds__count']} rounds, e.g. {router.problems[:5]}; "
                                  f"list in {ctx.folder / 'unrouted.txt'}")
            repair = repair_antennas(layout, routed_nets(router), macros, tech, reroute, diode, fill_cells,
                                     max_rounds=ctx.config["antenna_rounds"])
            for line in repair.log:
                log(line)
        final = repair.layout
        metrics = {**repair.metrics(router.metrics),
                   "route__islands_unfixed__count": router.islands_left + repair.islands_left,
                   "floorplan__fills__count": sum(i.role == "fill" for i in final.instances.values())}
        netlist = ctx.folder / f"{ctx.design.top}.nl.v"
        write_verilog(final, netlist, include_roles=("logic", "clock", DIODE_ROLE))
        spef = write_spef(repair.nets, ctx.design.top, ctx.pdk.tech_lef, ctx.folder / f"{ctx.design.top}.spef")
        views = {"layout": save_layout(ctx, final, "routed"), "final_netlist": netlist, "spef": spef,
                 "def": write_pdk_def(ctx.folder / f"{ctx.design.top}.def", final, ctx.pdk)}
        return views, metrics
