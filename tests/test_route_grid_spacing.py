"""Wide-metal spacing in the routing grid: a wire keeps the wider spacing of the tech LEF's
parallel-run-length table from an obstacle wide and long enough (IHP's 1.6 um Metal4 power stripes:
0.24 um, not the 0.21 um of narrow wires; npu_core on IHP had 423 M4.e places at 0.215 um)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kchip.flows.physical.grid import BLOCKED, RouteGrid
from kchip.formats.lef import read_technology
from kchip.pdk.rules import load_rules

IHP_VALUES = "ihp-sg13g2/libs.tech/klayout/tech/drc/rule_decks/sg13g2_tech_default.json"


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_ihp_lef_wide_spacing_matches_the_klayout_deck_values(ihp, n):
    """The LEF table's entry for Metal2-5 is the deck's Mn.e: wider than Mn_e_w, run over Mn_e_cr."""
    values = json.loads((ihp.root / IHP_VALUES).read_text())["drc_rules"]
    wide = read_technology(ihp.tech_lef).layers[f"Metal{n}"].wide_spacing
    expected = tuple(round(values[k] * 1000) for k in ("Mn_e_w", "Mn_e_cr", "Mn_e"))
    assert expected in wide


def _clearances(rules, stripe_width: int):
    """Distances from a Metal4 stripe's right edge to the left edge of a wire on the node columns
    up to 0.4 um right of it, with whether the column is blocked there."""
    grid = RouteGrid((0, 0, 30000, 30000), rules)
    layer = grid.layers.index("Metal4")
    width = grid.rules[layer].width
    left = 10000
    grid.block("Metal4", [(left, 2000, left + stripe_width, 28000)])
    j = grid.ny // 2
    j -= j % grid.stride[layer][1]
    found = []
    for i in range(0, grid.nx, grid.stride[layer][0]):
        gap = grid.x(i) - width // 2 - (left + stripe_width)
        if 0 < gap < 400:
            found.append((gap, grid.wire_block[layer, i, j] == BLOCKED))
    return found


def _shifted_stripes(rules, stripe_width):
    """Clearances for stripes moved by 5 nm steps, so some column lands in every gap band."""
    layer = rules.routing_layers.index("Metal4")
    pitch = rules.step[0] * rules.node_stride[layer][0]
    gaps = []
    for shift in range(0, pitch, 5):
        gaps += _clearances(rules, stripe_width + shift)
    assert gaps, "no Metal4 column right of the stripe"
    return gaps


@pytest.mark.parametrize("stripe_width, keep", [(1600, 240), (200, 210)])
def test_a_wire_keeps_the_table_spacing_from_a_stripe(ihp, stripe_width, keep):
    """Beside a 1.6 um stripe every column closer than 0.24 um is blocked and the rest are free;
    beside a 0.2 um wire 0.21 um is enough."""
    rules = load_rules(ihp)
    gaps = _shifted_stripes(rules, stripe_width)
    assert any(210 <= gap < 240 for gap, _ in gaps), "no column landed in the wide-spacing band"
    for gap, blocked in gaps:
        assert blocked == (gap < keep), (gap, blocked)


def test_sky130_spacing_is_unchanged_below_its_table_width(pdk):
    """SKY130's table widens spacing only beside metal wider than 3 um: a 1.6 um stripe keeps 0.14."""
    rules = load_rules(pdk)
    layer = rules.layers["met1"]
    assert all(width >= 3000 for width, _, _ in layer.wide_spacing) and layer.wide_spacing
    grid = RouteGrid((0, 0, 20000, 20000), rules)
    spacing = grid.rules[rules.routing_layers.index("met1")].spacing_of(
        np.array([[0, 0, 1600, 10000], [0, 0, 3010, 10000]]))
    assert list(spacing) == [layer.spacing, max(s for _, _, s in layer.wide_spacing)]
