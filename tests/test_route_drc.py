"""Routed met1 next to cell pins drawn on met1 keeps SKY130's met1 spacing (met1.2, 0.14 um).

Project issue 10: a pin drawn on met1 (RESET_B of dfrtp, SET_B of dfstp, ...) is owned by its net,
so the grid lets that net put a met1-met2 via on a node just past the end of the pin's bar. The
wire joining pad and pin is 0.14 um wide, the pad 0.26 um and the pin's end 0.23 um: beside the
wire a notch 0.055-0.135 um wide is left between pad and pin, which magic reports as met1.2 although
both are one net. These tests check the GDS metal (the library's cell layouts plus the routed
shapes) with KLayout, and the routed tiny layout also with magic.
"""

from __future__ import annotations

import copy

import klayout.db as kdb
import pytest

from kchip.flows.physical.gds import write_gds
from kchip.flows.physical.grid import FREE
from kchip.flows.physical.layout import Instance, Layout, Shape
from kchip.flows.physical.pin_access import PinAccessPlanner
from kchip.flows.physical.router import Router
from kchip.flows.signoff import drc
from kchip.tools.base import Invocation

ROW = 2720
MET1 = (68, 20)


def _tiny(cell: str, pin: str, orient: str, driver_dx: int, driver_row: int) -> Layout:
    """``cell`` in row 2 with ``pin`` driven by a buf_1 placed ``driver_dx`` sites to the right in
    ``driver_row``."""
    instances = {
        "ff": Instance(cell, {pin: "n"}, x=460 * 10, y=ROW * 2, orient=orient),
        "drv": Instance("sky130_fd_sc_hd__buf_1", {"X": "n"}, x=460 * (10 + driver_dx), y=ROW * driver_row,
                        orient="N" if driver_row % 2 == 0 else "FS"),
    }
    die = (0, 0, 460 * 40, ROW * 5)
    return Layout("tiny", [], instances, die=die, core=die)


def _met1_space_errors(layout: Layout, router: Router, cell_met1) -> kdb.EdgePairs:
    """met1 spacing violations of the cells' library layouts plus the routed shapes and via pads."""
    region = kdb.Region()
    for inst in layout.instances.values():
        height = router.macros[inst.cell].height
        trans = (kdb.Trans(kdb.Trans.M0, inst.x, inst.y + height) if inst.orient == "FS"
                 else kdb.Trans(inst.x, inst.y))
        region.insert(cell_met1(inst.cell).transformed(trans))
    for shape in layout.shapes:
        if shape.layer == "met1":
            region.insert(kdb.Box(*shape.rect))
    for via in layout.vias:
        rect = router.rules.vias[via.via].rects.get("met1")
        if rect:
            region.insert(kdb.Box(via.x + rect[0], via.y + rect[1], via.x + rect[2], via.y + rect[3]))
    return region.merged().space_check(router.rules.layers["met1"].spacing)


@pytest.fixture(scope="module")
def cell_met1(pdk):
    library = kdb.Layout()
    library.read(str(pdk.gds))
    layer = library.layer(*MET1)
    cache = {}

    def met1(name: str) -> kdb.Region:
        if name not in cache:
            cache[name] = kdb.Region(library.cell(name).begin_shapes_rec(layer)).merged()
        return cache[name]

    return met1


def _met1_pins(macros, pdk):
    """(cell, pin) of every signal pin drawn on met1 in the cells synthesis may use."""
    return sorted((name, pin) for name, macro in macros.items() if not pdk.is_dont_use(name)
                  for pin, p in macro.signal_pins().items() if any(layer == "met1" for layer, _ in p.shapes))


def _legal_via_ends(router: Router, terminal: int, net: int, reach: int):
    """Nodes of the terminal's met1 track within ``reach`` steps where the grid lets ``net`` run a
    wire from the terminal and take a via up, with the edges of that wire."""
    grid = router.grid
    _, i0, j = grid.decode(terminal)

    def free(block, i):
        return block[0, i, j] in (FREE, net)

    for step in (-1, 1):
        edges = []
        for k in range(reach + 1):
            i = i0 + step * k
            if not (0 <= i < grid.nx) or not free(grid.wire_block, i):
                break
            if k:
                if not free(grid.edge_block, min(i, i - step)):
                    break
                edges.append(tuple(sorted((grid.index(0, i - step, j), grid.index(0, i, j)))))
            if free(grid.via_block, i) and grid.via_block[1, i, j] in (FREE, net):
                yield i, edges + [(grid.index(0, i, j), grid.index(1, i, j))]


def test_every_legal_via_beside_a_met1_pin_keeps_met1_spacing(pdk, tech_and_macros, cell_met1):
    """For every usable cell pin drawn on met1, in both row orientations: a wire from the pin's
    terminal along its track to any node where the grid allows a via, and the via, leave no met1
    spacing error against the cell's metal once the geometry is written."""
    tech, macros = tech_and_macros
    cases = _met1_pins(macros, pdk)
    assert ("sky130_fd_sc_hd__dfrtp_1", "RESET_B") in cases and ("sky130_fd_sc_hd__dfstp_1", "SET_B") in cases
    failures, checked = [], 0
    for (cell, pin), orient in ((c, o) for c in cases for o in ("N", "FS")):
        layout = _tiny(cell, pin, orient, 0, 4)
        router = Router(layout, macros, tech)
        route = router.nets[0]
        ref = route.terminal_refs.index(f"ff:{pin}")
        for i, edges in _legal_via_ends(router, route.terminals[ref], 0, 4):
            route.edges = set(edges)
            layout.shapes, layout.vias = [], []
            router.write_geometry()
            errors = _met1_space_errors(layout, router, cell_met1)
            checked += 1
            if errors.count():
                failures.append(f"{cell}/{pin} {orient} via at x={router.grid.x(i)}: {next(errors.each())}")
    assert checked > 100
    assert failures == [], f"{len(failures)} of {checked} cases break met1 spacing, e.g. {failures[:3]}"


def test_routed_tiny_layout_has_no_met1_spacing_error(pdk, tech_and_macros, cell_met1, tmp_path):
    """A dfrtp_1 whose RESET_B is driven from the row below: the router takes the net up to met2 on
    the node just left of the pin's met1 end (pad 0.135 um from it). KLayout and magic both find no
    met1 spacing error in the GDS."""
    tech, macros = tech_and_macros
    layout = _tiny("sky130_fd_sc_hd__dfrtp_1", "RESET_B", "N", 5, 1)
    router = Router(layout, macros, tech)
    assert router.run()["route__unrouted__count"] == 0
    pin_left = layout.instances["ff"].x + min(r[0] for layer, r in macros["sky130_fd_sc_hd__dfrtp_1"]
                                              .pins["RESET_B"].shapes if layer == "met1")
    router.write_geometry()
    pads = [v.x + tech.vias[v.via].rects["met1"][2] for v in layout.vias if v.via == "M1M2_PR"]
    assert pin_left - 140 < max(x for x in pads if x <= pin_left), "the layout no longer reproduces issue 10"
    gds = tmp_path / "tiny.gds"
    config = pdk.data["gds"]
    write_gds(copy.deepcopy(layout), macros, tech, pdk.gds, config["layers"], config["pin_datatype"],
              config["label_datatype"], gds)
    result = drc.run_drc(gds, "tiny", pdk, tmp_path / "drc", Invocation(tmp_path / "drc"))
    magic_met1 = {rule: n for rule, n in result.errors_by_rule.items() if "met1" in rule.lower()}
    assert (_met1_space_errors(layout, router, cell_met1).count(), magic_met1) == (0, {})


def test_an_access_pad_keeps_its_distance_from_metal_already_drawn(tech_and_macros, cell_met1):
    """An antenna re-route keeps every other net's metal and plans the re-routed nets' pin access
    again. Here a dfxtp_1's D is first reached by a via pad that reaches past the via extent of its
    grid node; then a met1 shape of another net is drawn just left of that pad, closer than the
    spacing to the pad but not to the node's via. The router takes the pin's next access instead of
    drawing the pad beside the shape (BM64 lost its DRC this way)."""
    tech, macros = tech_and_macros
    spacing = tech.layers["met1"].spacing
    layout = _tiny("sky130_fd_sc_hd__dfxtp_1", "D", "N", 5, 1)
    router = Router(layout, macros, tech)
    route = router.nets[0]
    first = route.access[route.terminal_refs.index("ff:D")]
    pad_x0 = min(rect[0] for rect in first.shapes)
    node_pad_x0 = router.grid.x(router.grid.decode(first.node)[1]) - PinAccessPlanner(tech, router.grid).terminal_pad[0]
    blocker_x1 = pad_x0 - (spacing - 20)
    assert node_pad_x0 - blocker_x1 >= spacing, "the pad no longer reaches past its node: no case left"
    y = first.via_y
    layout.shapes.append(Shape("other", "met1", (blocker_x1 - 150, y - 70, blocker_x1, y + 70)))
    router = Router(layout, macros, tech)
    assert router.run()["route__unrouted__count"] == 0
    route = router.nets[0]
    assert route.access[route.terminal_refs.index("ff:D")] != first
    router.write_geometry()
    errors = _met1_space_errors(layout, router, cell_met1)
    assert errors.count() == 0, [str(pair) for pair in errors.each()][:3]
