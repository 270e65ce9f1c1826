"""Tests for kchip.flows.signoff.gds_rules: the geometric check of the final GDS (issue 10).

For every rule of the descriptor's ``[gds_rules]`` table a small layout drawn with ``klayout.db`` breaks
that rule by one grid step (5 nm of length; for areas, 5 nm of length at the layer's minimum width) and
must be reported under the rule's id at the expected place, with nothing else reported; the same
layout at the legal value must be entirely clean. The table's values are compared with the PDK's own
KLayout deck, and the counter's real GDS from the flow must be clean. The drawn-layout tests run on
every descriptor with a ``[gds_rules]`` table (sky130A, ihp-sg13g2); each PDK's deck is parsed on its
own terms (SkyWater's values in the messages; IHP's in the messages or in the deck's JSON of values).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib

import klayout.db as kdb
import klayout.rdb as rdb
import pytest

from kchip.design import resolve_design
from kchip.flows.runner import run_flow
from kchip.flows.signoff.gds_rules import (ENCLOSURE_KINDS, METRIC_UNITS, GdsRuleResult, Rule, check_gds,
                                          layer_numbers, load_rules, write_report)
from kchip.pdk import DESCRIPTOR_DIR

GRID = 0.005
LICON = 0.17  # licon size (periphery licon.1): licon has no rule of its own in the table
AMPLE = 0.1  # a margin above every enclosure rule, for the sides a layout does not test
KLAYOUT_DECK = "libs.tech/klayout/drc/sky130A_mr.drc"
IHP = "ihp-sg13g2"
TABLES = {name: tomllib.loads((DESCRIPTOR_DIR / f"{name}.toml").read_text())["gds_rules"]["rules"]
          for name in ("sky130A", IHP)}
TABLE = TABLES["sky130A"]


def rule_cases(*checks: str, metals_only: bool = False) -> list:
    """(PDK, rule id) of every table's rules of the ``checks`` kinds (all when none); ``metals_only``
    leaves out the rules on cut layers."""
    cases = []
    for name, table in TABLES.items():
        cuts = {r.get("of") for r in table}
        cases += [pytest.param(name, r["id"], id=f"{name}:{r['id']}") for r in table
                  if (not checks or r["check"] in checks) and not (metals_only and r["layer"] in cuts)]
    return cases


def on_grid(value: float, *, up: bool = True) -> float:
    steps = round(value / GRID, 6)
    return round((math.ceil(steps) if up else math.floor(steps)) * GRID, 4)


class Drawing:
    """A one-cell layout (top ``t``) drawn in um on the PDK's layers, with helpers built on the rule table."""

    def __init__(self, pdk):
        self.pdk, self.rules, self.numbers = pdk, load_rules(pdk), layer_numbers(pdk)
        assert AMPLE >= max(r.value for r in self.rules if r.check in ENCLOSURE_KINDS)
        self.layout = kdb.Layout()
        self.layout.dbu = 0.001
        self.top = self.layout.create_cell("t")

    def value(self, check: str, layer: str, of: str | None = None) -> float:
        """The value of the ``check`` rule on ``layer`` (enclosing ``of``), 0 when the table has none."""
        found = [r.value for r in self.rules if (r.check, r.layer, r.of) == (check, layer, of)]
        return found[0] if found else 0.0

    def cut_size(self, cut: str) -> float:
        return LICON if cut == "licon" else self.value("size", cut)

    def is_cut(self, layer: str) -> bool:
        return any(r.of == layer for r in self.rules)

    def box(self, layer: str, x1: float, y1: float, x2: float, y2: float) -> None:
        self.top.shapes(self.layout.layer(*self.numbers[layer])).insert(kdb.DBox(x1, y1, x2, y2))

    def pad(self, metal: str, box: tuple, margins: tuple) -> None:
        """``metal`` around ``box`` with (left, bottom, right, top) ``margins``, lengthened on the side of
        the largest margin until it has the layer's minimum area."""
        x1, y1, x2, y2 = box[0] - margins[0], box[1] - margins[1], box[2] + margins[2], box[3] + margins[3]
        side = margins.index(max(margins))
        across, along = (y2 - y1, x2 - x1) if side in (0, 2) else (x2 - x1, y2 - y1)
        assert across >= self.value("width", metal) - 1e-9, "test layout error: pad too narrow"
        grow = max(0.0, on_grid(self.value("area", metal) / across) - along)
        x1, y1, x2, y2 = [x1 - grow * (side == 0), y1 - grow * (side == 1), x2 + grow * (side == 2),
                          y2 + grow * (side == 3)]
        self.box(metal, x1, y1, x2, y2)

    def stack(self, cut: str, cuts: list[tuple], margins: dict[str, tuple] | None = None) -> None:
        """``cuts`` on layer ``cut``, and one pad around all of them on every metal that encloses ``cut``
        (margins :data:`AMPLE` unless ``margins`` gives (left, bottom, right, top) for that metal)."""
        for c in cuts:
            self.box(cut, *c)
        bbox = (min(c[0] for c in cuts), min(c[1] for c in cuts), max(c[2] for c in cuts), max(c[3] for c in cuts))
        for metal in sorted({r.layer for r in self.rules if r.of == cut}):
            self.pad(metal, bbox, (margins or {}).get(metal, (AMPLE,) * 4))

    def check(self, tmp_path, **options) -> GdsRuleResult:
        path = tmp_path / "t.gds"
        self.layout.write(str(path))
        return check_gds(path, "t", self.pdk, **options)


def draw_rule(pdk, rule: Rule, shift: float) -> tuple[Drawing, tuple]:
    """A layout at ``rule``'s value minus ``shift`` (0: legal; :data:`GRID`: one step short, or for a
    cut's size one step too long) and the box (um) where the violation is expected."""
    d = Drawing(pdk)
    layer, value = rule.layer, rule.value
    if rule.check == "width":
        d.box(layer, 0, 0, 2, value - shift)
        return d, (0, 0, 2, value - shift)
    if rule.check == "space" and d.is_cut(layer):
        c, gap = d.cut_size(layer), value - shift
        d.stack(layer, [(0, 0, c, c), (c + gap, 0, 2 * c + gap, c)])
        return d, (c, 0, c + gap, c)
    if rule.check == "space":
        w, gap = d.value("width", layer), value - shift
        d.box(layer, 0, 0, 2, w)
        d.box(layer, 0, w + gap, 2, 2 * w + gap)
        return d, (0, w, 2, w + gap)
    if rule.check == "area":
        w = d.value("width", layer)
        length = on_grid(value / w) - (GRID if shift else 0)
        d.box(layer, 0, 0, length, w)
        return d, (0, 0, length, w)
    if rule.check == "size":
        d.stack(layer, [(0, 0, value + shift, value)])
        return d, (0, 0, value + shift, value)
    c = d.cut_size(rule.of)
    if rule.check == "enclosure":
        left = value - shift
        right = max(AMPLE, on_grid(d.value("width", layer) - c - left))
        d.stack(rule.of, [(0, 0, c, c)], {layer: (left, AMPLE, right, AMPLE)})
        return d, ((0, 0, c, c) if left < 0 else (-left, 0, 0, c))
    basic = d.value("enclosure", layer, rule.of)
    d.stack(rule.of, [(0, 0, c, c)], {layer: (value - shift, basic, value, basic)})
    return d, (0, 0, c, c)


def assert_found_at(result: GdsRuleResult, rule: Rule, expected: tuple) -> None:
    """Exactly one violation, of ``rule``, centred on ``expected`` and spanning its x range (an edge pair
    of a Euclidean check may reach past the facing edge's ends along y)."""
    assert [(v.rule, v.layer) for v in result.violations] == [(rule.id, rule.layer)], result.violations
    found = result.violations[0]
    assert (found.x, found.y) == pytest.approx(((expected[0] + expected[2]) / 2, (expected[1] + expected[3]) / 2))
    assert (found.box[0], found.box[2]) == pytest.approx((expected[0], expected[2]))
    if rule.check != "enclosure":
        assert found.box == pytest.approx(expected)


@pytest.fixture(scope="module")
def rules(pdk) -> dict[str, Rule]:
    return {rule.id: rule for rule in load_rules(pdk)}


@pytest.fixture
def pdks(request, pdk):
    """A PDK by name: sky130A, or ihp-sg13g2 when the PDK root has it."""
    return lambda name: pdk if name == "sky130A" else request.getfixturevalue("ihp")


def pdk_rule(pdks, name: str, rule_id: str):
    """The PDK named ``name`` and its rule ``rule_id``."""
    found = pdks(name)
    return found, {rule.id: rule for rule in load_rules(found)}[rule_id]


def test_every_layer_and_kind_is_covered(rules):
    layers = {(r.layer, r.check) for r in rules.values()} | {(r.of, r.check) for r in rules.values()}
    for metal in ("li1", "met1", "met2", "met3", "met4"):
        assert {(metal, k) for k in ("width", "space", "area")} <= layers, metal
    for cut in ("mcon", "via", "via2", "via3"):
        assert {(cut, "space"), (cut, "enclosure")} <= layers, cut
    assert {(cut, "enclosure_opposite") for cut in ("mcon", "via", "via2", "via3")} <= layers


@pytest.mark.parametrize("rule_id", [r["id"] for r in TABLE])
def test_rule_values_match_the_pdk_klayout_deck(pdk, rules, rule_id):
    """Each value equals the one in the message of the deck rule the table names (0 when it has none)."""
    deck = pdk.path(KLAYOUT_DECK).read_text()
    rule = rules[rule_id]
    match = re.search(r'output\(\s*"' + re.escape(rule.deck) + r'",\s*"([^"]*)"', deck)
    assert match, f"{rule.deck} is not an output of {KLAYOUT_DECK}"
    numbers = re.findall(r"(\d*\.\d+|\d+)\s*um", match.group(1))
    assert rule.value == pytest.approx(float(numbers[-1]) if numbers else 0.0), match.group(1)


@pytest.mark.parametrize(("name", "rule_id"), rule_cases())
def test_rule_broken_by_one_grid_step_is_reported_and_legal_value_is_clean(pdks, tmp_path, name, rule_id):
    pdk, rule = pdk_rule(pdks, name, rule_id)
    broken, where = draw_rule(pdk, rule, GRID)
    assert_found_at(broken.check(tmp_path), rule, where)
    legal, _ = draw_rule(pdk, rule, 0.0)
    assert legal.check(tmp_path).violations == ()


@pytest.mark.parametrize(("name", "rule_id"), rule_cases("enclosure"))
def test_cut_sticking_out_of_its_metal(pdks, tmp_path, name, rule_id):
    """A cut 5 nm outside its metal is reported as itself (and, having no margin on that side, may break
    the metal's two-sides rule too); flush with the metal it passes only when the value is 0."""
    pdk, rule = pdk_rule(pdks, name, rule_id)
    broken, where = draw_rule(pdk, rule, rule.value + GRID)
    result = broken.check(tmp_path)
    assert {(v.rule, v.box) for v in result.violations if v.rule == rule.id} == {(rule.id, where)}
    assert all((r.layer, r.of) == (rule.layer, rule.of) for r in result.rules if r.id in
               {v.rule for v in result.violations})
    flush, where = draw_rule(pdk, rule, rule.value)
    result = flush.check(tmp_path)
    if rule.value == 0:
        assert result.violations == ()
    else:
        assert {v.rule for v in result.violations} == {rule.id}


@pytest.mark.parametrize(("name", "rule_id"), rule_cases("enclosure_opposite"))
def test_enclosure_on_two_opposite_sides(pdks, tmp_path, name, rule_id):
    """The margin is needed on both sides along x or along y: along y passes, two adjacent sides do not."""
    pdk, rule = pdk_rule(pdks, name, rule_id)
    for margins, clean in (("y", True), ("adjacent", False)):
        d = Drawing(pdk)
        c, v = d.cut_size(rule.of), rule.value
        basic = d.value("enclosure", rule.layer, rule.of)
        sides = (basic, v, basic, v) if margins == "y" else (v, v, basic, basic)
        d.stack(rule.of, [(0, 0, c, c)], {rule.layer: sides})
        result = d.check(tmp_path)
        if clean:
            assert result.violations == (), margins
        else:
            assert_found_at(result, rule, (0, 0, c, c))


@pytest.mark.parametrize(("name", "rule_id"), rule_cases("space", metals_only=True))
def test_spacing_counts_notches_and_corners(pdks, tmp_path, name, rule_id):
    """A notch inside one shape, and two shapes meeting corner to corner, are measured like any spacing
    (Euclidean: diagonal gaps of dx = dy pass once dx * sqrt(2) reaches the value)."""
    pdk, rule = pdk_rule(pdks, name, rule_id)
    for shift in (GRID, 0.0):
        d = Drawing(pdk)
        w, gap = d.value("width", rule.layer), rule.value - shift
        for box in ((0, 0, 2 * w + gap, w), (0, 0, w, 1), (w + gap, 0, 2 * w + gap, 1)):
            d.box(rule.layer, *box)
        result = d.check(tmp_path)
        if shift:
            assert_found_at(result, rule, (w, w, w + gap, 1))
        else:
            assert result.violations == ()
    side = max(d.value("width", rule.layer), on_grid(math.sqrt(d.value("area", rule.layer))))
    legal = on_grid(rule.value / math.sqrt(2))
    for diagonal in (legal - GRID, legal):
        d = Drawing(pdk)
        d.box(rule.layer, 0, 0, side, side)
        d.box(rule.layer, side + diagonal, side + diagonal, 2 * side + diagonal, 2 * side + diagonal)
        result = d.check(tmp_path)
        if diagonal < legal:
            assert result.violations and {v.rule for v in result.violations} == {rule.id}
            assert all((v.x, v.y) == pytest.approx((side + diagonal / 2,) * 2) for v in result.violations)
        else:
            assert result.violations == ()


def test_deep_and_flat_checks_agree_across_the_hierarchy(pdk, tmp_path):
    """A cell placed twice, 0.1 um from a top-level wire and from each other: same violations either way."""
    d = Drawing(pdk)
    cell = d.layout.create_cell("c")
    cell.shapes(d.layout.layer(*d.numbers["met1"])).insert(kdb.DBox(0, 0, 1, 0.14))
    for y in (0.0, 0.24):
        d.top.insert(kdb.DCellInstArray(cell.cell_index(), kdb.DTrans(0, y)))
    d.box("met1", 0, 0.48, 1, 0.62)
    deep, flat = d.check(tmp_path), d.check(tmp_path, deep=False)
    assert sorted(deep.violations, key=str) == sorted(flat.violations, key=str)
    assert [v.box for v in sorted(deep.violations, key=lambda v: v.y)] == [(0, 0.14, 1, 0.24), (0, 0.38, 1, 0.48)]


def test_metrics_and_reports(pdk, rules, tmp_path):
    broken, where = draw_rule(pdk, rules["met1.2"], GRID)
    result = broken.check(tmp_path)
    metrics = result.metrics()
    assert metrics["drc__gds_rules__errors__count"] == 1
    assert metrics["drc__gds_rules__errors__count__rule:met1.2"] == 1
    assert metrics["drc__gds_rules__errors__count__rule:met2.2"] == 0
    assert metrics["drc__gds_rules__rules__count"] == len(TABLE)
    for name in metrics:
        assert name in METRIC_UNITS or name.rpartition(":")[0] + ":*" in METRIC_UNITS, name
    write_report(result, tmp_path / "rules.json", tmp_path / "rules.lyrdb")
    report = json.loads((tmp_path / "rules.json").read_text())
    assert report["total"] == 1 and report["errors_by_rule"]["met1.2"] == 1
    (violation,) = report["violations"]
    assert violation["rule"] == "met1.2" and violation["box"] == pytest.approx(list(where))
    assert {r["id"]: r["count"] for r in report["rules"]}["met1.2"] == 1
    markers = rdb.ReportDatabase("")
    markers.load(str(tmp_path / "rules.lyrdb"))
    assert markers.num_items() == 1
    assert [(c.name(), c.num_items()) for c in markers.each_category() if c.num_items()] == [("met1.2", 1)]


def test_bad_tables_and_inputs_are_refused(pdk, tmp_path):
    def with_rule(**entry):
        data = {**pdk.data, "gds_rules": {**pdk.data["gds_rules"], "rules": [entry]}}
        return dataclasses.replace(pdk, data=data)

    base = {"id": "x.1", "check": "space", "layer": "met1", "value": 0.1, "description": "x"}
    with pytest.raises(ValueError, match="'spacing' unknown"):
        load_rules(with_rule(**{**base, "check": "spacing"}))
    with pytest.raises(ValueError, match="among"):
        load_rules(with_rule(**{**base, "layer": "metal9"}))
    with pytest.raises(ValueError, match="'of'"):
        load_rules(with_rule(**{**base, "check": "enclosure"}))
    with pytest.raises(FileNotFoundError):
        check_gds(tmp_path / "missing.gds", "t", pdk)
    d = Drawing(pdk)
    d.box("met1", 0, 0, 1, 1)
    d.layout.write(str(tmp_path / "t.gds"))
    with pytest.raises(ValueError, match="'nope'.*top cells there: t"):
        check_gds(tmp_path / "t.gds", "nope", pdk)


@pytest.fixture(scope="module")
def counter_gds(pdk, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("counter-gds-rules")
    result = run_flow(resolve_design("counter"), "sky130A", pdk.root, run_dir, to_stage="gds")
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    (gds,) = run_dir.glob("stages/*-gds/*/counter.gds")
    return gds


def test_the_counter_gds_is_clean(pdk, counter_gds, tmp_path):
    result = check_gds(counter_gds, "counter", pdk)
    assert result.total == 0, result.violations[:20]
    assert set(result.errors_by_rule) == {r["id"] for r in TABLE}
    write_report(result, tmp_path / "counter.json")
    assert json.loads((tmp_path / "counter.json").read_text())["total"] == 0


# IHP SG13G2: the values against the PDK's own KLayout deck, parsed here without the descriptor's help.
# The main rule set computes M1.a/b, Mn.a/b and Vn.a-c in rule_decks/beol/*.drc with values from
# rule_decks/sg13g2_tech_default.json (Metal2-5 and Via2-4 in loops that fill in the number); the extra
# rule set rule_decks/sg13g2_maximal.drc writes its values (M1.d, Mn.c, Mn.c1, Mn.d, Vn.c1) in the messages.
IHP_DRC = "libs.tech/klayout/tech/drc/rule_decks"
IHP_DECKS = ("beol/5_16_metal1.drc", "beol/5_17_metaln.drc", "beol/5_19_via1.drc", "beol/5_20_vian.drc",
             "sg13g2_maximal.drc")
IHP_VALUES = "sg13g2_tech_default.json"
#: what the deck's code for a rule of each kind does (KLayout DRC calls)
IHP_KIND_CODE = {
    "width": r"\.width\(", "space": r"\.space\(", "area": r"with_area", "size": r"without_bbox_min",
    "enclosure": r"enclosed\((?![^)]*two_opposite_sides_allowed)", "enclosure_opposite":
        r"enclosed\([^)]*projection[^)]*one_side_allowed, two_opposite_sides_allowed\)",
}
#: deck rules on the drawn layers that the table leaves out (see the comments of its [gds_rules])
IHP_LEFT_OUT = re.compile(r"M1\.c1?|M[1-5]\.[efgi]|V[1-4]\.b1")
IHP_OUTPUT = re.compile(r"""\.output\(\s*(['"])(.+?)\1,\s*"([^"]*)"\s*\)""", re.S)


def ihp_deck_rules(root) -> dict[str, tuple[str, str]]:
    """Every rule output by the IHP deck files: name -> (message with the values filled in, the code
    between the previous output and this one)."""
    values = json.loads((root / IHP_DRC / IHP_VALUES).read_text())["drc_rules"]
    found = {}
    for deck in IHP_DECKS:
        text = (root / IHP_DRC / deck).read_text()
        variables = dict(re.findall(r"(\w+)\s*=\s*drc_rules\['(\w+)'\]\.to_f", text))
        start = re.search(r"\w+_start_index\s*=\s*(\d+)", text)
        layers = re.search(r"\w+_lay\s*=\s*\[([^\]]*)\]", text)
        numbers = range(int(start.group(1)), int(start.group(1)) + len(layers.group(1).split(","))) if start else [0]
        previous = 0
        for match in IHP_OUTPUT.finditer(text):
            code, previous = text[previous:match.start()], match.end()
            for number in numbers:
                def fill(template: str, number=number) -> str:
                    return re.sub(r"#\{(\w+)\}", lambda m: str(number) if m.group(1).endswith("_no")
                                  else str(values[variables[m.group(1)]]), template)
                found[fill(match.group(2))] = (fill(match.group(3)), code)
    return found


@pytest.fixture(scope="module")
def ihp_deck(ihp) -> dict[str, tuple[str, str]]:
    return ihp_deck_rules(ihp.root / IHP)


@pytest.mark.parametrize("rule_id", [r["id"] for r in TABLES[IHP]])
def test_ihp_rule_values_match_the_pdk_klayout_deck(ihp, ihp_deck, rule_id):
    """Each IHP rule names a deck rule on the same layers, checked the same way, with the same value."""
    rule = {r.id: r for r in load_rules(ihp)}[rule_id]
    assert rule.deck in ihp_deck, f"{rule.deck} is not an output of {IHP_DRC}/{{{', '.join(IHP_DECKS)}}}"
    message, code = ihp_deck[rule.deck]
    for layer in filter(None, (rule.layer, rule.of)):
        assert re.search(rf"\b{layer}\b", message), (layer, message)
    assert re.search(IHP_KIND_CODE[rule.check], code), (rule.check, code)
    value = re.search(r"(\d+(?:\.\d+)?)\D*$", message)
    assert rule.value == pytest.approx(float(value.group(1))), message


def test_ihp_table_covers_the_deck_rules_of_the_drawn_layers(ihp, ihp_deck):
    """Every deck rule named after Metal1-5 or Via1-4 is in the table or among the ones left out."""
    table = {r.deck for r in load_rules(ihp)}
    drawn = {name for name in ihp_deck if re.fullmatch(r"(M[1-5]|V[1-4])\.\w+", name)}
    assert drawn - table == {name for name in drawn if IHP_LEFT_OUT.fullmatch(name)}
    layers = {(r.layer, r.check) for r in load_rules(ihp)} | {(r.of, r.check) for r in load_rules(ihp)}
    for n in range(1, 6):
        assert {(f"Metal{n}", k) for k in ("width", "space", "area")} <= layers
    for n in range(1, 5):
        assert {(f"Via{n}", k) for k in ("size", "space", "enclosure", "enclosure_opposite")} <= layers


def test_ihp_too_narrow_metal2_is_reported(ihp, tmp_path):
    """A Metal2 wire 0.195 um wide next to a legal 0.2 um one: one M2.a violation, on the narrow wire."""
    d = Drawing(ihp)
    d.box("Metal2", 0, 0, 2, 0.195)
    d.box("Metal2", 0, 1, 2, 1.2)
    result = d.check(tmp_path)
    assert [(v.rule, v.layer, v.box) for v in result.violations] == [("M2.a", "Metal2", (0, 0, 2, 0.195))]
    assert result.metrics()["drc__gds_rules__errors__count__rule:M2.a"] == 1


@pytest.fixture(scope="module")
def ihp_counter_gds(ihp, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ihp-counter-gds-rules")
    result = run_flow(resolve_design("counter"), IHP, ihp.root, run_dir, to_stage="gds")
    assert result.ok, [(s.name, s.error) for s in result.stages if s.error]
    (gds,) = run_dir.glob("stages/*-gds/*/counter.gds")
    return gds


def test_the_ihp_counter_gds_is_clean(ihp, ihp_counter_gds):
    result = check_gds(ihp_counter_gds, "counter", ihp)
    assert result.total == 0, result.violations[:20]
    assert set(result.errors_by_rule) == {r["id"] for r in TABLES[IHP]}
