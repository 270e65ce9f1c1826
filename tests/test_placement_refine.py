"""Detailed placement and congestion-driven spreading, checked with wirelength and legality measured
here (cell boxes, rows, sites), not with the placer's own functions."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from kchip.flows.physical.congestion import CongestionOptions, rudy_ratio, track_supply
from kchip.flows.physical.detailed_placement import refine
from kchip.flows.physical.floorplan import FloorplanConfig, floorplan
from kchip.flows.physical.layout import from_yosys_json
from kchip.flows.physical.placer import RowOccupancy, place
from kchip.tools.base import Invocation
from kchip.tools.yosys import synthesize


@pytest.fixture(scope="module")
def counter16(pdk, tmp_path_factory):
    from amaranth.back import verilog

    from kchip.rtl.examples.counter import Counter

    work = tmp_path_factory.mktemp("synth16")
    (work / "counter.v").write_text(verilog.convert(Counter(width=16), name="counter", emit_src=False,
                                                    strip_internal_attrs=True))
    return synthesize([work / "counter.v"], "counter", pdk, work, Invocation(work)).netlist_json


def _floorplanned(pdk, tech, macros, netlist, **changes):
    values = dict(utilization=0.35, die_size_um=None, aspect_ratio=1.0, core_margin_um=4.0,
                  pins={"left": ["clk", "rst"]}, tap_cell=pdk.stdcell["tap_cell"], tap_spacing_um=13.0,
                  strap_pitch_um=40.0, strap_width_um=1.6, power_net=pdk.stdcell["power_pin"],
                  ground_net=pdk.stdcell["ground_pin"])
    values.update(changes)
    layout = from_yosys_json(netlist, "counter")
    floorplan(layout, macros, tech, FloorplanConfig(**values), "unithd")
    return layout


def _spread_over_a_large_die(pdk, tech_and_macros, netlist):
    """The netlist on a 200 x 200 um die, globally placed and legalised, without detailed placement."""
    tech, macros = tech_and_macros
    layout = _floorplanned(pdk, tech, macros, netlist, die_size_um=(200.0, 200.0))
    layout.clock_net = "clk"
    place(layout, macros, refine_passes=0)
    return layout, macros


def _wirelength(layout, macros) -> float:
    """Half-perimeter of every net over cell centres and port centres, in nm."""
    points: dict[str, list] = {}
    for port in layout.ports:
        if port.rect:
            points.setdefault(port.net, []).append(((port.rect[0] + port.rect[2]) / 2, (port.rect[1] + port.rect[3]) / 2))
    for inst in layout.instances.values():
        w, h = macros[inst.cell].width, macros[inst.cell].height
        for net in set(inst.conns.values()):
            if net != layout.clock_net:
                points.setdefault(net, []).append((inst.x + w / 2, inst.y + h / 2))
    return sum(max(x for x, _ in p) - min(x for x, _ in p) + max(y for _, y in p) - min(y for _, y in p)
               for p in points.values() if len(p) > 1)


def _assert_legal(layout, macros) -> None:
    rows = dict(layout.rows)
    site_w = layout.site[0]
    x0, y0, x1, y1 = layout.core
    taken: dict[int, list[tuple[int, int, str]]] = {}
    for name, inst in layout.instances.items():
        width = macros[inst.cell].width
        assert inst.y in rows and inst.orient == rows[inst.y], f"{name} is not on a row in the row's orientation"
        assert (inst.x - x0) % site_w == 0 and x0 <= inst.x and inst.x + width <= x1, f"{name} is off the sites"
        taken.setdefault(inst.y, []).append((inst.x, inst.x + width, name))
    for y, spans in taken.items():
        spans.sort()
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            assert start >= end, f"{a} and {b} overlap in the row at y={y}"


def test_refine_shortens_the_nets_pass_by_pass_and_keeps_cells_legal(pdk, tech_and_macros, counter16):
    layout, macros = _spread_over_a_large_die(pdk, tech_and_macros, counter16)
    movable = [n for n, i in layout.instances.items() if i.role == "logic"]
    occupancy = RowOccupancy(layout, macros)
    lengths = [_wirelength(layout, macros)]
    for _ in range(4):
        metrics = refine(layout, macros, movable, occupancy, passes=1)
        lengths.append(_wirelength(layout, macros))
        _assert_legal(layout, macros)
        assert lengths[-1] <= lengths[-2], f"a pass lengthened the nets: {lengths}"
    assert metrics["place__detailed_moves__count"] >= 0
    assert lengths[-1] < 0.8 * lengths[0], f"wirelength per pass (nm): {lengths}"
    # the occupancy the passes kept matches the cells where they are now
    fresh = RowOccupancy(layout, macros)
    assert np.array_equal(fresh.used, occupancy.used)


def test_refine_keeps_a_cell_where_it_is_when_the_only_free_place_is_worse(pdk, tech_and_macros, counter16):
    """Rows that offer only the core's lower-left corner: moving there lengthens every cell's nets
    on a placement spread over a large die, so nothing moves."""
    layout, macros = _spread_over_a_large_die(pdk, tech_and_macros, counter16)
    x0, y0 = layout.core[:2]

    class OnlyTheCorner(RowOccupancy):
        def closest_free(self, x, y, width, rows, sites):
            return super().closest_free(x0, y0, width, rows=2, sites=200)

    before = {n: (i.x, i.y) for n, i in layout.instances.items()}
    far = [n for n, i in layout.instances.items() if i.role == "logic" and abs(i.x - x0) + abs(i.y - y0) > 60000]
    assert far
    refine(layout, macros, far, OnlyTheCorner(layout, macros), passes=1)
    assert {n: (i.x, i.y) for n, i in layout.instances.items()} == before


def _bin_fill(layout, macros, areas, rows):
    """Per square bin of ``rows`` rows from the core's corner: the area of the cells centred in it
    (``areas`` where given, else the cell's own) over the bin's area."""
    side = rows * layout.site[1]
    x0, y0 = layout.core[:2]
    fill: dict[tuple[int, int], float] = {}
    for name, inst in layout.instances.items():
        m = macros[inst.cell]
        key = (int((inst.x + m.width / 2 - x0) // side), int((inst.y + m.height / 2 - y0) // side))
        fill[key] = fill.get(key, 0.0) + areas.get(name, m.width * m.height) / side ** 2
    return fill


def test_refine_fills_no_bin_beyond_the_density_limit(pdk, tech_and_macros, counter16):
    layout, macros = _spread_over_a_large_die(pdk, tech_and_macros, counter16)
    movable = [n for n, i in layout.instances.items() if i.role == "logic"]
    areas = {n: 3.0 * macros[layout.instances[n].cell].width * macros[layout.instances[n].cell].height
             for n in movable}
    limit = 0.25
    before = _bin_fill(layout, macros, areas, 4)
    metrics = refine(layout, macros, movable, RowOccupancy(layout, macros), passes=4, areas=areas,
                     max_density=limit, bin_rows=4)
    after = _bin_fill(layout, macros, areas, 4)
    assert metrics["place__detailed_moves__count"] > 0
    over = {k: round(v, 3) for k, v in after.items() if v > max(limit, before.get(k, 0.0)) + 1e-9}
    assert not over, f"bins filled beyond {limit}: {over}"


def test_rudy_demand_by_hand():
    """Region 100 x 100 um in bins of 50 um; one net's box 20 x 30 um inside bin (0, 0) needs 50 um
    of wire there; a box 40 x 10 um across the vertical cut (x 40-80 um) needs 50 um split 1:3 by
    area; a net of one point counts as a ``min_extent`` square."""
    um = 1000.0
    boxes = np.array([[10, 10, 30, 40], [40, 60, 80, 70], [90, 90, 90, 90]], dtype=float) * um
    ratio = rudy_ratio(boxes, (0.0, 0.0, 100 * um, 100 * um), 50 * um, supply=2.0, min_extent=2 * um)
    bin_area = 50.0 * 50.0
    expected = np.zeros((2, 2))
    expected[0, 0] = 50 / bin_area / 2.0
    expected[0, 1] = 50 * 0.25 / bin_area / 2.0
    expected[1, 1] = (50 * 0.75 + 4.0) / bin_area / 2.0
    assert np.allclose(ratio, expected), ratio
    assert track_supply([340, 460], 0.5) == pytest.approx(0.5 * 1000 / 340 + 1000 / 460)


TARGET = 0.8
BINROWS = 6


def test_congestion_relief_lowers_the_estimated_peak(pdk, tech_and_macros, counter16):
    tech, macros = tech_and_macros
    layout = _floorplanned(pdk, tech, macros, counter16, die_size_um=(150.0, 150.0))
    layout.clock_net = "clk"
    row = layout.site[1]
    supply = track_supply([tech.layers[n].pitch for n in tech.routing_layers], 0.5)
    plain = copy.deepcopy(layout)
    options = CongestionOptions(supply=supply, bin_size=BINROWS * row, min_extent=row, rounds=0)
    peak = place(copy.deepcopy(layout), macros, congestion=options, refine_passes=0)["place__congestion_first__max"]
    # a target between the mean and the peak: only the hot bins' cells grow
    options = CongestionOptions(supply=supply, bin_size=BINROWS * row, min_extent=row, target=TARGET * peak, rounds=4,
                                limit=4.0)
    metrics = place(layout, macros, congestion=options, refine_passes=0)
    assert metrics["place__congestion_rounds__count"] >= 1
    assert metrics["place__congestion__excess"] < 0.5 * metrics["place__congestion_first__excess"], metrics
    assert metrics["place__inflation__mean"] > 1.0
    place(plain, macros, refine_passes=0)
    moved = sum((layout.instances[n].x, layout.instances[n].y) != (plain.instances[n].x, plain.instances[n].y)
                for n in layout.instances)
    assert moved > 0, "inflating cells changed nothing"
    _assert_legal(layout, macros)
