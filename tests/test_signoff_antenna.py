"""Tests for kchip.flows.signoff.antenna: the process-antenna check on hand-built nets and on the counter.

The hand-built nets use the PDK's real cells and vias: an inverter input (ANTENNAGATEAREA 0.2475 um2)
reached by a li1-met1 via, and straight wires drawn from it. SKY130 limits the side area (perimeter x
THICKNESS) of a layer's metal to 400 x the gate area while no diffusion is connected, so about 140 um
of met1 (0.35 um thick) or 60 um of met3 (0.8 um) is the most one such gate may carry.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from kchip.flows.physical.layout import Instance, Layout, Shape, Via
from kchip.formats.lef import read_antenna_rule
from kchip.flows.signoff.antenna import METRIC_UNITS, check_antenna, pwl_value, write_report

GATE_CELL = "sky130_fd_sc_hd__inv_1"
DIODE_CELL = "sky130_fd_sc_hd__diode_2"
#: the wire's track, through the inverter's input pin (li1 0.32-0.65 x 1.075-1.315 um)
Y = 1195
GATE_X = 485
WIDTH = {"met1": 140, "met2": 140, "met3": 300}
VIA_UP = {"met1": "M1M2_PR", "met2": "M2M3_PR"}


class NetBuilder:
    """One net ``n``: cells placed on it, vias and straight wires of the routing layers."""

    def __init__(self):
        self.layout = Layout("t", [], {}, die=(0, 0, 4_000_000, 100_000))

    def cell(self, name: str, cell: str, pin: str, x: int, y: int = 0) -> None:
        self.layout.instances[name] = Instance(cell, {pin: "n"}, x=x, y=y)

    def via(self, name: str, x: int, y: int = Y) -> None:
        self.layout.vias.append(Via("n", name, x, y))

    def stack(self, x: int, top: str, y: int = Y) -> None:
        """A li1-met1 via at (x, y) and the vias above it up to ``top``."""
        self.via("L1M1_PR", x, y)
        for layer in ("met1", "met2")[:("met1", "met2", "met3").index(top)]:
            self.via(VIA_UP[layer], x, y)

    def wire(self, layer: str, x0: int, x1: int, y: int = Y) -> None:
        half = WIDTH[layer] // 2
        self.layout.shapes.append(Shape("n", layer, (x0 - half, y - half, x1 + half, y + half)))

    def vertical(self, layer: str, x: int, y0: int, y1: int) -> None:
        half = WIDTH[layer] // 2
        self.layout.shapes.append(Shape("n", layer, (x - half, y0 - half, x + half, y1 + half)))


def gate_with_wire(layer: str, length_um: float) -> NetBuilder:
    """The inverter's input and a straight wire on ``layer`` starting at its pin."""
    net = NetBuilder()
    net.cell("g", GATE_CELL, "A", 0)
    net.stack(GATE_X, layer)
    net.wire(layer, GATE_X, GATE_X + int(length_um * 1000))
    return net


def side_ratio(length_um: float, width_nm: int, thickness_um: float, gate: float) -> float:
    return 2 * (length_um + width_nm / 1000) * thickness_um / gate


@pytest.fixture(scope="module")
def lef(tech_and_macros):
    """The tech LEF's data (the antenna check reads nothing else of the process rules) and the cells."""
    rules, macros = tech_and_macros
    return rules.tech, macros


def check(lef, net: NetBuilder, **rules):
    """The check of ``net``, with the tech LEF's rule of each layer in ``rules`` changed as given."""
    tech, macros = lef
    if rules:
        tech = copy.copy(tech)
        tech.antenna = {**tech.antenna, **{layer: dataclasses.replace(tech.antenna[layer], **changes)
                                           for layer, changes in rules.items()}}
    return check_antenna(net.layout, macros, tech)


# -- (1) a long wire on one layer ----------------------------------------------------------------

@pytest.mark.parametrize("layer, thickness", [("met1", 0.35), ("met3", 0.8)])
def test_a_long_wire_on_one_gate_is_caught_on_its_layer(lef, layer, thickness):
    result = check(lef, gate_with_wire(layer, 400))
    assert [(v.net, v.layer, v.rule, v.gates) for v in result.violations] == [("n", layer, "PSR", ("g/A",))]
    violation = result.violations[0]
    assert violation.allowed == 400 and violation.diff_area_um2 == 0 and violation.gate_area_um2 == 0.2475
    assert violation.ratio == pytest.approx(side_ratio(400, WIDTH[layer], thickness, 0.2475), rel=0.01)
    assert result.metrics() == {"antenna__violations__count": 1, "antenna__nets__count": 1}
    assert result.nets_checked == 1 and result.worst_fraction > 1


@pytest.mark.parametrize("layer, length_um", [("met1", 120), ("met3", 50)])
def test_the_same_wire_short_enough_is_not_reported(lef, layer, length_um):
    result = check(lef, gate_with_wire(layer, length_um))
    assert result.violations == ()
    assert result.metrics() == {"antenna__violations__count": 0, "antenna__nets__count": 0}
    assert 0.7 < result.worst_fraction < 1


def test_a_hop_to_met2_near_the_gate_leaves_the_long_met1_off_the_gate(lef):
    """5 um of met1 at the gate, 2 um of met2, then the 400 um of met1: when met1 is etched, the long
    piece reaches no gate; once met2 joins it, met2 counts only its own 2 um."""
    net = NetBuilder()
    net.cell("g", GATE_CELL, "A", 0)
    net.via("L1M1_PR", GATE_X)
    hop, land = GATE_X + 5000, GATE_X + 7000
    net.wire("met1", GATE_X, hop)
    net.via("M1M2_PR", hop)
    net.wire("met2", hop, land)
    net.via("M1M2_PR", land)
    net.wire("met1", land, land + 400_000)
    result = check(lef, net)
    assert not [v for v in result.violations if v.layer == "met1"]
    assert result.violations == ()


# -- (2) diffusion: a diode, a driver, and a diode connected too late ----------------------------

DIODE_AREA = 0.4347
#: SKY130 met1-met5 ANTENNADIFFSIDEAREARATIO at 0.4347 um2: between (0.0225, 2609) and (22.5, 11600)
DIODE_ALLOWED = 2609 + (DIODE_AREA - 0.0225) * (11600 - 2609) / (22.5 - 0.0225)


def test_the_pdk_table_is_read_and_interpolated(lef):
    tech, macros = lef
    table = tech.antenna["met1"].diff_side_area_ratio
    assert table == ((0.0, 400.0), (0.0125, 400.0), (0.0225, 2609.0), (22.5, 11600.0))
    assert pwl_value(table, 0.0) == 400 and pwl_value(table, DIODE_AREA) == pytest.approx(DIODE_ALLOWED)
    assert pwl_value(table, 45.0) == pytest.approx(11600 + 22.5 * (11600 - 2609) / 22.4775)
    pin = macros[DIODE_CELL].pins["DIODE"]
    assert (pin.diff_area, pin.gate_area, pin.direction) == (DIODE_AREA, DIODE_AREA, "INPUT")
    assert macros[GATE_CELL].pins["Y"].diff_area == 0.429 and macros[GATE_CELL].pins["A"].gate_area == 0.2475


def with_diode(length_um: float) -> NetBuilder:
    """The long met1 wire with a diode cell 100 um along it, its pin on the wire's track."""
    net = gate_with_wire("met1", length_um)
    x = 100_000
    net.cell("d", DIODE_CELL, "DIODE", x)
    net.via("L1M1_PR", x + 460)
    return net


def test_a_diode_on_the_wire_relieves_it_by_the_pdk_table(lef):
    wire = side_ratio(400, 140, 0.35, 0.2475 + DIODE_AREA)
    assert 400 < wire < DIODE_ALLOWED  # more than the bare limit even on both areas: the table does it
    assert check(lef, with_diode(400)).violations == ()
    result = check(lef, with_diode(3000))
    assert [(v.layer, v.rule, v.gates) for v in result.violations] == [("met1", "PSR", ("d/DIODE", "g/A"))]
    violation = result.violations[0]
    assert violation.allowed == pytest.approx(DIODE_ALLOWED, abs=1e-3)
    assert violation.diff_area_um2 == DIODE_AREA and violation.gate_area_um2 == pytest.approx(0.2475 + DIODE_AREA)
    assert violation.ratio == pytest.approx(side_ratio(3000, 140, 0.35, 0.2475 + DIODE_AREA), rel=0.01)


def test_a_driver_output_on_the_same_layer_relieves_it_too(lef):
    net = gate_with_wire("met1", 400)
    net.cell("drv", GATE_CELL, "Y", 200_000)
    net.via("L1M1_PR", 200_000 + 935)
    assert check(lef, net).violations == ()


def test_a_diode_that_joins_only_through_met2_does_not_protect_met1(lef):
    net = gate_with_wire("met1", 400)
    x, y = 100_000, 10_880
    net.cell("d", DIODE_CELL, "DIODE", x, y)
    net.via("L1M1_PR", x + 460, y + Y)
    net.via("M1M2_PR", x + 460, y + Y)
    net.vertical("met2", x + 460, Y, y + Y)
    net.via("M1M2_PR", x + 460, Y)
    result = check(lef, net)
    assert [(v.layer, v.gates, v.diff_area_um2) for v in result.violations] == [("met1", ("g/A",), 0.0)]


# -- rules SKY130 does not use: plain and cumulative ratios, factors --------------------------------

def test_lef_antenna_statements_are_parsed_for_the_default_oxide_only():
    rule = read_antenna_rule("""
      TYPE ROUTING ;
      ANTENNAAREARATIO 300 ; # partial
      ANTENNACUMDIFFSIDEAREARATIO 5000 ;
      ANTENNASIDEAREAFACTOR 0.5 DIFFUSEONLY ;
      ANTENNAAREAMINUSDIFF 100.0 ;
      ANTENNAMODEL OXIDE2 ;
      ANTENNAAREARATIO 900 ;
    """)
    assert rule.area_ratio == 300 and rule.cum_diff_side_area_ratio == ((0.0, 5000.0),)
    assert (rule.side_area_factor, rule.side_area_factor_diff_only) == (0.5, True)
    assert rule.area_factor == 1 and not rule.area_factor_diff_only
    assert rule.unsupported == ("ANTENNAAREAMINUSDIFF",)
    assert read_antenna_rule("TYPE CUT ; SPACING 0.2 ;") is None


def test_a_rule_the_check_does_not_model_is_refused(lef):
    with pytest.raises(ValueError, match="met1: ANTENNAAREAMINUSDIFF"):
        check(lef, gate_with_wire("met1", 10), met1={"unsupported": ("ANTENNAAREAMINUSDIFF",)})


def test_a_plain_ratio_applies_without_diffusion_and_the_table_with_it(lef):
    rule = {"side_area_ratio": 100.0}
    result = check(lef, gate_with_wire("met1", 120), met1=rule)
    assert [(v.layer, v.allowed) for v in result.violations] == [("met1", 100.0)]
    driven = gate_with_wire("met1", 120)
    driven.cell("drv", GATE_CELL, "Y", 50_000)
    driven.via("L1M1_PR", 50_000 + 935)
    assert check(lef, driven, met1=rule).violations == ()


def test_cumulative_side_ratio_sums_a_gates_partial_ratios_up_the_layers(lef):
    """100 um of met1 at the gate, then 100 um of met2: each partial ratio is about 283, under 400;
    with a cumulative limit of 500 on met2 their sum is over it there, and only there."""
    net = NetBuilder()
    net.cell("g", GATE_CELL, "A", 0)
    net.via("L1M1_PR", GATE_X)
    hop = GATE_X + 100_000
    net.wire("met1", GATE_X, hop)
    net.via("M1M2_PR", hop)
    net.wire("met2", hop, hop + 100_000)
    assert check(lef, net).violations == ()
    result = check(lef, net, met2={"cum_diff_side_area_ratio": ((0.0, 500.0),)})
    assert [(v.layer, v.rule, v.gates, v.allowed) for v in result.violations] == [("met2", "CSR", ("g/A",), 500.0)]
    each = side_ratio(100, 140, 0.35, 0.2475)
    assert 2 * each < result.violations[0].ratio < 2 * each + 3


# -- (3) a routed design ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def counter_layout(pdk, tmp_path_factory):
    from kchip.design import resolve_design
    from kchip.flows.runner import run_flow

    run_dir = tmp_path_factory.mktemp("counter")
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir, to_stage="route")
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    (state,) = run_dir.glob("stages/*-route/*/state.json")
    return Layout.load(state.parent / json.loads(state.read_text())["views"]["layout"])


def test_the_routed_counter_is_checked_net_by_net(lef, counter_layout, tmp_path):
    tech, macros = lef
    result = check_antenna(counter_layout, macros, tech)
    gated = {net for net, terms in counter_layout.nets().items()
             if any(inst and macros[counter_layout.instances[inst].cell].pins[pin].gate_area > 0
                    and macros[counter_layout.instances[inst].cell].pins[pin].direction == "INPUT"
                    for inst, pin in terms)}
    assert result.nets_checked == len(gated) > 20
    assert 0 < result.worst_fraction
    print(f"counter: {result.metrics()}, {result.nets_checked} nets, worst ratio/allowed "
          f"{result.worst_fraction}, {result.seconds} s")
    assert result.metrics() == {"antenna__violations__count": 0, "antenna__nets__count": 0}
    report = json.loads(write_report(result, tmp_path / "antenna.json").read_text())
    assert report["metrics"] == result.metrics() and report["units"] == METRIC_UNITS
    assert report["nets_checked"] == result.nets_checked and report["violations"] == []


def test_the_report_lists_every_violation(lef, tmp_path):
    result = check(lef, gate_with_wire("met1", 400))
    report = json.loads(write_report(result, tmp_path / "antenna.json").read_text())
    assert report["violations"] == [{"net": "n", "layer": "met1", "rule": "PSR", "gates": ["g/A"],
                                     "ratio": result.violations[0].ratio, "allowed": 400.0,
                                     "gate_area_um2": 0.2475, "diff_area_um2": 0.0}]
