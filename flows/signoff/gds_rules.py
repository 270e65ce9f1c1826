"""Geometric design-rule check of the final GDS on the routing layers (issue 10, "DRC-exact by construction").

The rules and their values come from the PDK descriptor's ``[gds_rules]`` section (SkyWater's published
periphery rules, cross-checked against the PDK's own KLayout and magic decks); the GDS layer numbers
come from its ``[gds.layers]``. Nothing is taken from the router's own tables, so this check is
independent of the code that drew the layout.

The flattened top cell is checked, standard cells included: KLayout's deep (hierarchical) mode gives
the same result as a flat check, computing each cell's contribution once. Check kinds:

- ``width`` / ``space``: Euclidean width and spacing of the merged layer (``space`` includes notches
  within one shape); each violation is an edge pair.
- ``area``: merged shapes with an area below the value.
- ``size``: cuts that are not squares of exactly the value (two cuts that touch or overlap merge into
  one oversized cut).
- ``enclosure``: every cut of ``of`` lies inside ``layer``, with a Euclidean margin of at least the
  value (edge pairs for a short margin, the cut itself when it sticks out).
- ``enclosure_opposite``: the "on one of two adjacent sides" rules. Of any two adjacent sides of the
  cut at least one has the margin, which is the same as both sides along x, or both along y, having it.
  As in the PDK's KLayout deck the margin of a side is measured by projection; a cut is reported when
  it has a short side along x and another along y.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import klayout.db as kdb
import klayout.rdb as rdb

METRIC_PREFIX = "drc__gds_rules"
METRIC_UNITS = {
    f"{METRIC_PREFIX}__errors__count": "errors",
    f"{METRIC_PREFIX}__errors__count__rule:*": "errors",
    f"{METRIC_PREFIX}__rules__count": "rules",
    f"{METRIC_PREFIX}__runtime__s": "s",
}
CHECK_KINDS = ("width", "space", "area", "size", "enclosure", "enclosure_opposite")
ENCLOSURE_KINDS = ("enclosure", "enclosure_opposite")

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Rule:
    """One design rule: ``check`` of ``layer`` (enclosing ``of`` for enclosures) against ``value``.

    ``value`` is in um, or um2 for ``area``; ``periphery`` is the rule's id in SkyWater's periphery tables
    and ``deck`` its output name in the PDK's KLayout deck (``sky130A_mr.drc``).
    """

    id: str
    check: str
    layer: str
    value: float
    description: str
    of: str | None = None
    periphery: str | None = None
    deck: str | None = None


@dataclass(frozen=True)
class Violation:
    """One place where ``rule`` fails on ``layer``; ``box`` (x1, y1, x2, y2, um) bounds the marker.

    ``edges`` holds the marker's two edges ((x1, y1, x2, y2) each, um) when it is an edge pair.
    """

    rule: str
    layer: str
    box: Box
    edges: tuple[Box, Box] | None = None

    @property
    def x(self) -> float:
        return round((self.box[0] + self.box[2]) / 2, 4)

    @property
    def y(self) -> float:
        return round((self.box[1] + self.box[3]) / 2, 4)


@dataclass(frozen=True)
class GdsRuleResult:
    """Every violation of the checked rules in one top cell, and how long the check took."""

    gds: Path
    top: str
    rules: tuple[Rule, ...]
    violations: tuple[Violation, ...]
    seconds: float

    @property
    def errors_by_rule(self) -> dict[str, int]:
        """Violation count per rule id, for every rule checked (0 when clean), in table order."""
        counts = Counter(v.rule for v in self.violations)
        return {rule.id: counts.get(rule.id, 0) for rule in self.rules}

    @property
    def total(self) -> int:
        return len(self.violations)

    def metrics(self) -> dict[str, float]:
        """Flat metrics (units in :data:`METRIC_UNITS`): the total, one count per rule, rules, runtime."""
        per_rule = {f"{METRIC_PREFIX}__errors__count__rule:{rule}": count
                    for rule, count in self.errors_by_rule.items()}
        return {f"{METRIC_PREFIX}__errors__count": self.total, **per_rule,
                f"{METRIC_PREFIX}__rules__count": len(self.rules),
                f"{METRIC_PREFIX}__runtime__s": round(self.seconds, 3)}


def layer_numbers(pdk) -> dict[str, tuple[int, int]]:
    """GDS (layer, datatype) by name: the descriptor's ``[gds.layers]`` plus ``[gds_rules.layers]``."""
    extra = pdk.data.get("gds_rules", {}).get("layers", {})
    return {name: (int(pair[0]), int(pair[1]))
            for name, pair in {**pdk.data["gds"]["layers"], **extra}.items()}


def load_rules(pdk) -> tuple[Rule, ...]:
    """The rules of the descriptor's ``[gds_rules]`` section, checked for known kinds and layers."""
    if "rules" not in pdk.data.get("gds_rules", {}):
        raise ValueError(f"{pdk.descriptor}: no [gds_rules] rules: the GDS rule check needs the process's "
                         f"published width, spacing, area and enclosure values (the other descriptors in "
                         f"{pdk.descriptor.parent} have such a section)")
    layers = layer_numbers(pdk)
    rules = []
    for entry in pdk.data["gds_rules"]["rules"]:
        rule = Rule(**entry)
        if rule.check not in CHECK_KINDS:
            raise ValueError(f"gds rule {rule.id}: check {rule.check!r} unknown; valid: {', '.join(CHECK_KINDS)}")
        needed = [rule.layer] + ([rule.of] if rule.check in ENCLOSURE_KINDS else [])
        if None in needed or any(name not in layers for name in needed):
            raise ValueError(f"gds rule {rule.id}: layers {needed} must be among {', '.join(layers)}"
                             + ("; enclosure rules name the enclosed layer in 'of'" if None in needed else ""))
        rules.append(rule)
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise ValueError(f"gds rule ids repeat: {sorted(i for i, n in Counter(ids).items() if n > 1)}")
    return tuple(rules)


class _Layers:
    """Merged drawing layers of one top cell (with everything below it), fetched on first use."""

    def __init__(self, layout: kdb.Layout, top: kdb.Cell, numbers: dict[str, tuple[int, int]], deep: bool):
        self.layout, self.top, self.numbers = layout, top, numbers
        self.store = kdb.DeepShapeStore() if deep else None
        self._cache: dict[str, kdb.Region] = {}

    def dbu(self, um: float) -> int:
        return round(um / self.layout.dbu)

    def __getitem__(self, name: str) -> kdb.Region:
        if name not in self._cache:
            index = self.layout.find_layer(*self.numbers[name])
            if index is None:
                region = kdb.Region()
            elif self.store is None:
                region = kdb.Region(self.top.begin_shapes_rec(index))
            else:
                region = kdb.Region(self.top.begin_shapes_rec(index), self.store)
            self._cache[name] = region.merged()
        return self._cache[name]


Markers = list[kdb.EdgePairs | kdb.Region]


def _width(rule: Rule, s: _Layers) -> Markers:
    return [s[rule.layer].width_check(s.dbu(rule.value))]


def _space(rule: Rule, s: _Layers) -> Markers:
    return [s[rule.layer].space_check(s.dbu(rule.value))]


def _area(rule: Rule, s: _Layers) -> Markers:
    return [s[rule.layer].with_area(0, round(rule.value / s.layout.dbu ** 2), False)]


def _size(rule: Rule, s: _Layers) -> Markers:
    cuts, side = s[rule.layer], s.dbu(rule.value)
    return [cuts.non_rectangles() | cuts.with_bbox_width(side, True) | cuts.with_bbox_height(side, True)]


def _enclosure(rule: Rule, s: _Layers) -> Markers:
    metal, cuts = s[rule.layer], s[rule.of]
    found: Markers = [cuts.not_inside(metal)]
    if rule.value > 0:
        found.append(metal.enclosing_check(cuts, s.dbu(rule.value)))
    return found


def _enclosure_opposite(rule: Rule, s: _Layers) -> Markers:
    metal, cuts = s[rule.layer], s[rule.of]
    short = metal.enclosing_check(cuts, s.dbu(rule.value), False, kdb.Metrics.Projection).second_edges()
    return [cuts.interacting(short.with_angle(90, False)).interacting(short.with_angle(0, False))]


CHECKS: dict[str, Callable[[Rule, _Layers], Markers]] = {
    "width": _width, "space": _space, "area": _area, "size": _size,
    "enclosure": _enclosure, "enclosure_opposite": _enclosure_opposite,
}


def _um_box(box: kdb.Box, dbu: float) -> Box:
    return (round(box.left * dbu, 4), round(box.bottom * dbu, 4), round(box.right * dbu, 4),
            round(box.top * dbu, 4))


def _um_edge(edge: kdb.Edge, dbu: float) -> Box:
    return (round(edge.x1 * dbu, 4), round(edge.y1 * dbu, 4), round(edge.x2 * dbu, 4), round(edge.y2 * dbu, 4))


def _marker_edges(pair: kdb.EdgePair, dbu: float, symmetric: bool) -> tuple[Box, Box]:
    """The pair's edges in um. The two edges of a width or spacing pair play the same part, so they are
    given undirected and in a fixed order; an enclosure pair keeps the metal's edge first."""
    edges = [pair.first, pair.second]
    if symmetric:
        ends = sorted(tuple(sorted([(e.x1, e.y1), (e.x2, e.y2)])) for e in edges)
        edges = [kdb.Edge(*start, *end) for start, end in ends]
    first, second = (_um_edge(edge, dbu) for edge in edges)
    return first, second


def _violations(rule: Rule, found: kdb.EdgePairs | kdb.Region, dbu: float) -> list[Violation]:
    """One violation per marker, each once (deep mode can deliver a marker between two instances once
    per instance), sorted by place."""
    if isinstance(found, kdb.EdgePairs):
        symmetric = rule.check in ("width", "space")
        markers = {Violation(rule.id, rule.layer, _um_box(pair.bbox(), dbu), _marker_edges(pair, dbu, symmetric))
                   for pair in found.each()}
    else:
        markers = {Violation(rule.id, rule.layer, _um_box(polygon.bbox(), dbu)) for polygon in found.each()}
    return sorted(markers, key=lambda v: (v.box[1], v.box[0], v.box[3], v.box[2], v.edges or ()))


def check_gds(gds_path: Path | str, top: str, pdk, *, rules: Iterable[Rule] | None = None,
              deep: bool = True) -> GdsRuleResult:
    """Check ``top`` in ``gds_path`` against ``rules`` (the descriptor's ``[gds_rules]`` when None).

    ``deep`` runs KLayout's hierarchical mode (same result as flat, faster on large designs).
    """
    started = time.perf_counter()
    gds = Path(gds_path)
    if not gds.is_file():
        raise FileNotFoundError(f"GDS {str(gds)!r} does not exist")
    rules = load_rules(pdk) if rules is None else tuple(rules)
    layout = kdb.Layout()
    layout.read(str(gds))
    cell = layout.cell(top)
    if cell is None:
        raise ValueError(f"cell {top!r} is not in {str(gds)!r}; top cells there: "
                         f"{', '.join(c.name for c in layout.top_cells())}")
    layers = _Layers(layout, cell, layer_numbers(pdk), deep)
    violations: list[Violation] = []
    for rule in rules:
        for markers in CHECKS[rule.check](rule, layers):
            violations += _violations(rule, markers, layout.dbu)
    return GdsRuleResult(gds, top, rules, tuple(violations), time.perf_counter() - started)


def write_report(result: GdsRuleResult, json_path: Path | str, lyrdb_path: Path | str | None = None) -> None:
    """Write ``result`` as JSON (rules with counts, then every violation) and, if asked, as a KLayout
    marker database (one category per rule, edge pairs or boxes in um) for ``klayout -m``."""
    counts = result.errors_by_rule
    payload = {
        "gds": str(result.gds), "top": result.top, "total": result.total,
        "seconds": round(result.seconds, 3), "errors_by_rule": counts,
        "rules": [{**asdict(rule), "count": counts[rule.id]} for rule in result.rules],
        "violations": [{**asdict(v), "x": v.x, "y": v.y} for v in result.violations],
    }
    Path(json_path).write_text(json.dumps(payload, indent=1) + "\n")
    if lyrdb_path is None:
        return
    db = rdb.ReportDatabase(f"kchip GDS rules: {result.top}")
    db.original_file = str(result.gds)
    db.top_cell_name = result.top
    cell = db.create_cell(result.top)
    categories = {}
    for rule in result.rules:
        category = db.create_category(rule.id)
        category.description = f"{rule.id}: {rule.description} ({rule.value})"
        categories[rule.id] = category
    for violation in result.violations:
        item = db.create_item(cell.rdb_id(), categories[violation.rule].rdb_id())
        if violation.edges is None:
            item.add_value(kdb.DBox(*violation.box))
        else:
            first, second = (kdb.DEdge(*edge) for edge in violation.edges)
            item.add_value(kdb.DEdgePair(first, second))
    db.save(str(lyrdb_path))
