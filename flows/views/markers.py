"""DRC and antenna results as KLayout marker databases (``.lyrdb``), one category per rule.

``klayout -m <file>.lyrdb`` (or ``kchip view``) shows every marker over the layout. The DRC stage
writes its boxes (magic's and KLayout's), the antenna stage the wires of each violating net on the
layer that breaks the rule; the report merges them (and the GDS-rule markers) next to the final GDS.
"""

from __future__ import annotations

from pathlib import Path

import klayout.db as kdb
import klayout.rdb as rdb

from kchip.flows.physical.layout import Layout
from kchip.formats.files import atomic_target


def _database(title: str, top: str, gds: Path | None) -> tuple[rdb.ReportDatabase, rdb.RdbCell]:
    db = rdb.ReportDatabase(title)
    db.top_cell_name = top
    if gds is not None:
        db.original_file = str(gds)
    return db, db.create_cell(top)


def _save(db: rdb.ReportDatabase, path: Path) -> Path:
    with atomic_target(path) as tmp:
        db.save(str(tmp))
    return path


def write_markers(path: Path, title: str, top: str, gds: Path | None,
                  markers: dict[str, list[tuple[float, float, float, float]]],
                  descriptions: dict[str, str] | None = None) -> Path:
    """Write ``markers`` (rule -> boxes in um) as one category per rule; returns ``path``."""
    db, cell = _database(title, top, gds)
    for rule, boxes in markers.items():
        category = db.create_category(rule)
        category.description = (descriptions or {}).get(rule, rule)
        for box in boxes:
            db.create_item(cell.rdb_id(), category.rdb_id()).add_value(kdb.DBox(*box))
    return _save(db, path)


def drc_markers(signoff) -> dict[str, list[tuple[float, float, float, float]]]:
    """The boxes of a :class:`~kchip.flows.signoff.drc.DrcSignoff` by rule (KLayout's prefixed as
    in its ``errors_by_rule``)."""
    found: dict[str, list] = {}
    for error in signoff.magic.errors:
        found.setdefault(error.rule, []).append(error.box)
    for violation in signoff.layout_rules.violations:
        found.setdefault(f"klayout: {violation.rule}", []).append(violation.box)
    return found


def antenna_markers(layout: Layout, violations) -> dict[str, list[tuple[float, float, float, float]]]:
    """For each antenna violation, the wires of its net on its layer, by rule and layer."""
    wanted = {(v.net, v.layer): f"antenna {v.rule} {v.layer}" for v in violations}
    found: dict[str, list] = {rule: [] for rule in wanted.values()}
    for shape in layout.shapes:
        rule = wanted.get((shape.net, shape.layer))
        if rule is not None:
            found[rule].append(tuple(c / 1000 for c in shape.rect))
    return found


def read_markers(path: Path) -> dict[str, list[kdb.DBox]]:
    """Every marker of a ``.lyrdb`` as its bounding box, by category name."""
    db = rdb.ReportDatabase()
    db.load(str(path))
    found: dict[str, list[kdb.DBox]] = {c.name(): [] for c in db.each_category()}
    for item in db.each_item():
        name = db.category_by_id(item.category_id()).name()
        for value in item.each_value():
            shape = value.box() if value.is_box() else value.edge_pair().bbox() if value.is_edge_pair() \
                else value.polygon().bbox() if value.is_polygon() else None
            if shape is not None:
                found[name].append(shape)
    return found


def merge_markers(path: Path, top: str, gds: Path | None, sources: list[Path]) -> dict[str, int]:
    """Merge the ``.lyrdb`` files ``sources`` that exist into ``path``; return the markers per category."""
    db, cell = _database(f"kchip signoff markers: {top}", top, gds)
    counts: dict[str, int] = {}
    by_name: dict[str, rdb.RdbCategory] = {}
    for source in sources:
        if not Path(source).is_file():
            continue
        src = rdb.ReportDatabase()
        src.load(str(source))
        categories = {}
        for category in src.each_category():
            target = by_name.get(category.name()) or db.create_category(category.name())
            by_name[category.name()] = target
            target.description = category.description
            categories[category.rdb_id()] = target
            counts.setdefault(category.name(), 0)
        for item in src.each_item():
            target = categories[item.category_id()]
            copy = db.create_item(cell.rdb_id(), target.rdb_id())
            for value in item.each_value():
                copy.add_value(value)
            counts[target.name()] += 1
    _save(db, path)
    return counts
