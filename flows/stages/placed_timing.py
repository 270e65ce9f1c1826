"""What the stages that time a placed layout share: each net's load estimated from the placement,
and a ``measure`` that times the layout as it stands with OpenSTA (:mod:`kchip.tools.opensta_endpoints`)."""

from __future__ import annotations

from kchip.flows.physical.layout import write_verilog
from kchip.flows.physical.sizing import LoadEstimate
from kchip.flows.stages.common import clocked_sdc
from kchip.flows.timing.spef import read_layer_parasitics
from kchip.formats.liberty import read_cells, read_units
from kchip.formats.sdc import pdk_constraints
from kchip.tools.opensta_endpoints import endpoint_slacks


def load_estimate(ctx, rules, layout, macros) -> LoadEstimate:
    """Loads from the placement, with the liberty of the signoff corner, wire capacitance per
    length from the tech LEF (the mean of the two lowest routing layers at their width) and output
    ports loaded as the SDC loads them."""
    liberty = ctx.pdk.liberty()
    parasitics = read_layer_parasitics(ctx.pdk.tech_lef)
    per_um = [parasitics.routing[name].area_pf_per_um2 * rules.layers[name].width / 1000
              + 2 * parasitics.routing[name].edge_pf_per_um for name in rules.routing_layers[:2]]
    port_load = pdk_constraints(ctx.pdk, None, 1.0).output_load_pf
    return LoadEstimate(layout, macros, read_cells(liberty), read_units(liberty), sum(per_um) / len(per_um),
                        port_load)


def placed_timer(ctx, layout, estimate: LoadEstimate, name: str, *, cell_slacks: bool = False,
                 propagated: bool = True, wire_scale: float = 1.0):
    """A ``measure`` for the repairs: OpenSTA on the netlist as it stands (in the folder ``name``),
    each net carrying the wire capacitance ``estimate`` gives it, with the design's clock (and the
    clocks its registers make) propagated through the tree, or ideal when not ``propagated`` (before
    a clock tree exists). With ``cell_slacks`` every cell's slack is listed too when setup is
    missed (the listing costs as much as the timing itself on a large design, and only the setup
    steps read it). Every wire estimate is multiplied by ``wire_scale``."""
    d = ctx.design
    folder = ctx.folder / name
    folder.mkdir(exist_ok=True)
    sdc = clocked_sdc(ctx, layout, folder / f"{d.top}.sdc", propagated=propagated)
    runs = 0

    def measure(current):
        nonlocal runs
        runs += 1
        netlist = folder / f"{d.top}.nl.v"
        write_verilog(current, netlist)
        wires = {net: wire_scale * estimate.wire_pf(terminals)
                 for net, terminals in current.nets().items() if len(terminals) > 1}

        def run(cells: bool):
            return endpoint_slacks(netlist, d.top, ctx.pdk, sdc, folder, ctx.invocation, wires,
                                   log_name=f"{name}_sta_{runs}{'_cells' if cells else ''}.log", cell_slacks=cells,
                                   propagated=propagated)

        timing = run(False)
        failing = timing.setup_ws is not None and timing.setup_ws < 0
        return run(True) if cell_slacks and failing else timing

    return measure
