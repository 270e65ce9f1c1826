"""SPEF from routed nets: R and C from the tech LEF, pin naming, malformed nets, OpenSTA acceptance."""

import json
import re

import pytest
from amaranth.back import verilog

from kchip.formats.sdc import pdk_constraints, write_sdc
from kchip.flows.timing.spef import (
    PinNode, RoutedNet, Segment, SpefError, ViaHop, read_layer_parasitics, spef_escape, spef_text,
    write_spef,
)
from kchip.rtl.examples.counter import Counter
from kchip.tools.base import Invocation, ToolError
from kchip.tools.opensta import run_sta
from kchip.tools.yosys import synthesize

TECH_LEF = """\
VERSION 5.7 ;
UNITS
  CAPACITANCE PICOFARADS 1 ;
  RESISTANCE OHMS 1 ;
  DATABASE MICRONS 1000 ;
END UNITS
LAYER m1
  TYPE ROUTING ;
  DIRECTION HORIZONTAL ;
  PITCH 0.4 ;
  WIDTH 0.2 ;   # comment with RESISTANCE RPERSQ 99 ;
  EDGECAPACITANCE 40E-6 ;
  CAPACITANCE CPERSQDIST 20E-6 ;
  RESISTANCE RPERSQ 0.1 ;
END m1
LAYER v1
  TYPE CUT ;
  RESISTANCE 5 ;
END v1
LAYER m2
  TYPE ROUTING ;
  DIRECTION VERTICAL ;
  PITCH 0.8 ;
  WIDTH 0.5 ;
  EDGECAPACITANCE 30E-6 ;
  CAPACITANCE CPERSQDIST 10E-6 ;
  RESISTANCE RPERSQ 0.05 ;
END m2
END LIBRARY
"""


@pytest.fixture
def parasitics(tmp_path):
    path = tmp_path / "tech.lef"
    path.write_text(TECH_LEF)
    return read_layer_parasitics(path)


def _small_net():
    """u1:Y drives u2:A and the port out: 10 um of m1, a v1 via, 20 um of m2."""
    return RoutedNet(
        name="n1",
        segments=[Segment((1, 0, 0), (1, 10, 0), "m1", 10.0, 0.2),
                  Segment((2, 10, 0), (2, 10, 20), "m2", 20.0, 0.5)],
        vias=[ViaHop((1, 10, 0), (2, 10, 0), "v1")],
        pins=[PinNode((1, 0, 0), "u1:Y", "O"), PinNode((2, 10, 20), "u2:A", "I"),
              PinNode((2, 10, 20), "out", "O")],
    )


def _sections(text: str, net_id: str) -> dict[str, list[list[str]]]:
    """The *CONN, *CAP and *RES lines of one *D_NET, split into fields."""
    body = text.split(f"*D_NET {net_id} ")[1].split("*END")[0]
    sections, current = {}, None
    for line in body.splitlines()[1:]:
        if line.startswith("*") and len(line.split()) == 1:
            current = sections.setdefault(line, [])
        elif current is not None:
            current.append(line.split())
    return sections


def test_layer_values_come_from_the_tech_lef(parasitics):
    assert parasitics.routing["m1"].ohm_per_square == 0.1  # not the 99 in the comment
    assert parasitics.routing["m2"].area_pf_per_um2 == 10e-6
    assert parasitics.routing["m1"].edge_pf_per_um == 40e-6
    assert parasitics.cut_ohms == {"v1": 5.0}


@pytest.mark.parametrize("unit", ["CAPACITANCE FEMTOFARADS 1", "RESISTANCE OHMS 1000"])
def test_other_parasitic_units_are_refused_naming_file_value_and_expected(tmp_path, unit):
    """UNITS (the first statement of the quantity) set to a unit or scale the flow does not take."""
    path = tmp_path / "tech.lef"
    quantity = unit.split()[0]
    path.write_text(re.sub(rf"  {quantity} .*;", f"  {unit} ;", TECH_LEF, count=1))
    expected = {"CAPACITANCE": "PICOFARADS 1", "RESISTANCE": "OHMS 1"}[quantity]
    with pytest.raises(SpefError, match=re.escape(f"{path}: UNITS {unit} is not supported; expected {expected}")):
        read_layer_parasitics(path)


def test_resistance_and_capacitance_per_segment_and_via(parasitics):
    text = spef_text([_small_net()], "top", parasitics)
    names = dict(re.findall(r"^(\*\d+) (\S+)$", text.split("*NAME_MAP")[1].split("*PORTS")[0], re.M))
    ids = {v: k for k, v in names.items()}
    sections = _sections(text, ids["n1"])
    resistors = {frozenset(r[1:3]): float(r[3]) for r in sections["*RES"]}
    driver, load, port = f"{ids['u1']}:Y", f"{ids['u2']}:A", ids["out"]
    # m1: 0.1 ohm/sq * 10 um / 0.2 um = 5 ohm; the via 5 ohm; m2: 0.05 * 20 / 0.5 = 2 ohm
    m1_end = next(iter(next(k for k in resistors if driver in k) - {driver}))
    assert resistors[frozenset({driver, m1_end})] == pytest.approx(5.0)
    assert sorted(resistors.values()) == pytest.approx([0.0, 2.0, 5.0, 5.0])  # 0: port at load's node
    caps = {c[1]: float(c[2]) for c in sections["*CAP"]}
    # C = area + both edges: m1 20e-6*10*0.2 + 2*40e-6*10 = 0.84 fF; m2 10e-6*20*0.5 + 2*30e-6*20 = 1.3 fF
    assert caps[driver] == pytest.approx(0.42)
    assert caps[load] == pytest.approx(0.65)
    assert sum(caps.values()) == pytest.approx(0.84 + 1.3)
    total = float(re.search(rf"^\*D_NET {re.escape(ids['n1'])} (\S+)$", text, re.M).group(1))
    assert total == pytest.approx(2.14)
    assert sorted(sections["*CONN"]) == sorted([["*I", driver, "O"], ["*I", load, "I"], ["*P", port, "O"]])
    assert re.search(rf"^\*PORTS\n{re.escape(port)} O$", text, re.M)


def test_names_are_escaped_except_bus_subscripts():
    assert spef_escape("count[3]") == "count[3]"
    assert spef_escape("a.b[3]") == "a\\.b[3]"
    assert spef_escape("x$y/z") == "x\\$y\\/z"
    assert spef_escape("m[1][2]") == "m\\[1\\][2]"


@pytest.mark.parametrize("change, message", [
    (lambda n: n.segments.append(Segment((1, 50, 50), (1, 60, 50), "m1", 10.0, 0.2)),
     "not connected to any pin"),
    (lambda n: n.pins.append(PinNode((1, 99, 99), "u3:B", "I")), "'u3:B' sits at node"),
    (lambda n: n.vias.clear(), "is open"),
    (lambda n: n.segments.__setitem__(0, Segment((1, 0, 0), (1, 10, 0), "poly", 10.0, 0.2)),
     "layer 'poly'"),
    (lambda n: n.vias.__setitem__(0, ViaHop((1, 10, 0), (2, 10, 0), "v9")), "cut layer 'v9'"),
    (lambda n: n.pins.__setitem__(0, PinNode((1, 0, 0), "u1:Y", "X")), "direction 'X'"),
    (lambda n: n.segments.__setitem__(0, Segment((1, 0, 0), (1, 10, 0), "m1", 10.0, 0.0)),
     "width_um = 0.0"),
    (lambda n: n.segments.__setitem__(0, Segment((1, 0, 0), (1, 10, 0), "m1", float("inf"), 0.2)),
     "length_um = inf"),
])
def test_malformed_nets_are_rejected(parasitics, change, message):
    net = _small_net()
    change(net)
    with pytest.raises(SpefError, match=re.escape(message)) as info:
        spef_text([net], "top", parasitics)
    assert "'n1'" in str(info.value)




def test_pdk_tech_lef_has_every_metal_and_via(pdk):
    layers = read_layer_parasitics(pdk.tech_lef)
    assert {"li1", "met1", "met2", "met3", "met4", "met5"} <= set(layers.routing)
    assert {"mcon", "via", "via2", "via3", "via4"} <= set(layers.cut_ohms)
    assert all(v.ohm_per_square > 0 and v.area_pf_per_um2 > 0 for v in layers.routing.values())


def _chain_routes(netlist_json, top, wire_um):
    """Every net of the netlist routed as a met1 chain through its pins, each pin reached by an mcon
    from li1: a stand-in for the router, built from the JSON netlist only."""
    module = json.loads(netlist_json.read_text())["modules"][top]
    bit_names = {}
    for name, net in module["netnames"].items():
        for index, bit in enumerate(net["bits"]):
            bit_names.setdefault(bit, f"{name}[{index}]" if len(net["bits"]) > 1 else name)
    pins = {}
    for port, info in module["ports"].items():
        for bit in info["bits"]:
            pins.setdefault(bit, []).append((bit_names[bit], "I" if info["direction"] == "input" else "O"))
    for inst, cell in module["cells"].items():
        for pin, bits in cell["connections"].items():
            direction = "I" if cell["port_directions"][pin] == "input" else "O"
            pins.setdefault(bits[0], []).append((f"{inst}:{pin}", direction))
    nets = []
    for bit, refs in pins.items():
        net = RoutedNet(bit_names[bit])
        for k, (ref, direction) in enumerate(refs):
            net.pins.append(PinNode((0, bit, k), ref, direction))
            net.vias.append(ViaHop((0, bit, k), (1, bit, k), "mcon"))
            if k:
                net.segments.append(Segment((1, bit, k - 1), (1, bit, k), "met1", wire_um, 0.14))
        nets.append(net)
    return nets


@pytest.fixture(scope="module")
def counter(pdk, tmp_path_factory):
    folder = tmp_path_factory.mktemp("spef")
    source = folder / "counter.v"
    source.write_text(verilog.convert(Counter(width=8), name="counter", emit_src=False))
    result = synthesize([source], "counter", pdk, folder / "synth", Invocation(folder / "synth"))
    sdc = write_sdc(pdk_constraints(pdk, "clk", 10.0), folder / "counter.sdc")
    return result, sdc


def test_opensta_reads_the_spef_and_wires_slow_the_paths(pdk, counter, tmp_path):
    synth, sdc = counter
    spef = write_spef(_chain_routes(synth.netlist_json, "counter", 100.0), "counter", pdk.tech_lef,
                      tmp_path / "counter.spef")
    bare = run_sta(synth.netlist_v, "counter", pdk, sdc, tmp_path / "bare", Invocation(tmp_path))
    wired = run_sta(synth.netlist_v, "counter", pdk, sdc, tmp_path / "wired", Invocation(tmp_path),
                    spef=spef)
    assert wired.setup_ws < bare.setup_ws - 0.1
    assert wired.insertion_max > bare.insertion_max
    assert not [w for w in wired.warnings if "spef" in w.lower()]


def test_a_net_the_netlist_lacks_is_an_error(pdk, counter, tmp_path):
    synth, sdc = counter
    nets = _chain_routes(synth.netlist_json, "counter", 1.0)
    nets[0].name = "no_such_net"
    spef = write_spef(nets, "counter", pdk.tech_lef, tmp_path / "bad.spef")
    with pytest.raises(ToolError, match="no_such_net not found"):
        run_sta(synth.netlist_v, "counter", pdk, sdc, tmp_path, Invocation(tmp_path), spef=spef)
