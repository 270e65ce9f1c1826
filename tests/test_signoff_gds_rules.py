"""Tests for kchip.flows.signoff.gds_rules: the geometric check of the final GDS (issue 10).

For every rule of the descriptor's ``[gds_rules]`` table a small layout drawn with ``klayout.db`` breaks
that rule by one grid step (5 nm of length; for areas, 5 nm of length at the layer's minimum width) and
must be reported under the rule's id at the expected place, with nothing else reported; the same
layout at the legal value must be entirely clean. The table's values are compared with the PDK's own
KLayout deck, and the counter's real GDS from the flow must be clean.
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
TABLE = tomllib.loads((DESCRIPTOR_DIR / "sky130A.toml").read_text())["gds_rules"]["rules"]


def rule_ids(*checks: str) -> list[str]:
    return [rule["id"] for rule in TABLE if rule["check"] in checks]


METAL_SPACINGS = [r["id"] for r in TABLE if r["check"] == "space" and r["layer"] not in {x.get("of") for x in TABLE}]


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


@pytest.mark.parametrize("rule_id", [r["id"] for r in TABLE])
def test_rule_broken_by_one_grid_step_is_reported_and_legal_value_is_clean(pdk, rules, tmp_path, rule_id):
    rule = rules[rule_id]
    broken, where = draw_rule(pdk, rule, GRID)
    assert_found_at(broken.check(tmp_path), rule, where)
    legal, _ = draw_rule(pdk, rule, 0.0)
    assert legal.check(tmp_path).violations == ()


@pytest.mark.parametrize("rule_id", rule_ids("enclosure"))
def test_cut_sticking_out_of_its_metal(pdk, rules, tmp_path, rule_id):
    """A cut 5 nm outside its metal is reported as itself (and, having no margin on that side, may break
    the metal's two-sides rule too); flush with the metal it passes only when the value is 0."""
    rule = rules[rule_id]
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


@pytest.mark.parametrize("rule_id", rule_ids("enclosure_opposite"))
def test_enclosure_on_two_opposite_sides(pdk, rules, tmp_path, rule_id):
    """The margin is needed on both sides along x or along y: along y passes, two adjacent sides do not."""
    rule = rules[rule_id]
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


@pytest.mark.parametrize("rule_id", METAL_SPACINGS)
def test_spacing_counts_notches_and_corners(pdk, rules, tmp_path, rule_id):
    """A notch inside one shape, and two shapes meeting corner to corner, are measured like any spacing
    (Euclidean: diagonal gaps of dx = dy pass once dx * sqrt(2) reaches the value)."""
    rule = rules[rule_id]
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
