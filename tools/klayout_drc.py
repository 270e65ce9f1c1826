"""KLayout's application in batch mode: the Ruby DRC engine (which the Python module of
:mod:`kchip.tools.klayout` lacks) running a rule deck, and the marker database (``.lyrdb``) the deck
writes, read back with ``klayout.rdb``.

A deck is a Ruby script reading its settings from global variables, given on the command line as
``-rd name=value``: :func:`run_deck` runs ``klayout -b -r DECK -rd ...`` and returns the deck's
markers, each placed in the top cell's coordinates (um). Some decks end with ``exit N``, N being one
more than the number of rules that flagged (Tiny Tapeout's precheck decks), so an exit code from 2 up
is a finished run; 1 is KLayout's code for an error (a Ruby exception, an unreadable file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb
import klayout.rdb as rdb

from kchip.tools.base import Invocation, ToolError, ToolSpec

TOOL = ToolSpec(
    name="klayout-batch",
    executables=("klayout",),
    version_args=("-b", "-v"),
    version_pattern=r"KLayout (\d+)\.(\d+)(?:\.(\d+))?",
    min_version=(0, 28),
    install_hint="apt-get install klayout",
    source="Debian package klayout (the application, with the Ruby DRC engine)",
)

#: exit codes of a finished deck run: 0, or a Tiny Tapeout deck's count of flagging rules plus one
FINISHED_CODES = (0, *range(2, 128))
#: how many reference levels a marker's cell may be below the top cell
MAX_DEPTH = 64


@dataclass(frozen=True)
class Marker:
    """One marker of a deck's report: its category (the rule), the category's description, the cell
    it was reported in, and its bounding box (x1, y1, x2, y2) in um in the top cell's coordinates."""

    rule: str
    description: str
    cell: str
    box: tuple[float, float, float, float]


def deck_args(deck: Path, variables: dict[str, object]) -> list[str]:
    """``klayout``'s arguments running ``deck`` in batch mode with ``variables`` set (``-rd k=v``)."""
    args = ["-b", "-r", str(deck)]
    for name, value in variables.items():
        args += ["-rd", f"{name}={value}"]
    return args


def run_deck(invocation: Invocation, deck: Path, variables: dict[str, object], report: Path, *,
             log_name: str, cwd: Path) -> tuple[Marker, ...]:
    """Run ``deck`` with ``variables`` (which must tell it to write ``report``); return its markers.

    Raises :class:`ToolError` when KLayout fails or the deck wrote no report."""
    deck, report = Path(deck), Path(report)
    if not deck.is_file():
        raise ToolError(f"no KLayout deck at {deck}")
    report.unlink(missing_ok=True)
    invocation.run(TOOL, deck_args(deck, variables), log_name=log_name, cwd=cwd, ok_codes=FINISHED_CODES)
    if not report.is_file():
        raise ToolError(f"KLayout deck {deck} wrote no report at {report}; log: {invocation.folder / log_name}")
    return read_report(report)


def _top_trans(db: rdb.ReportDatabase, cell: rdb.RdbCell) -> kdb.DCplxTrans:
    """The transformation from ``cell`` into the top cell, along its first reference at each level."""
    trans = kdb.DCplxTrans()
    for _ in range(MAX_DEPTH):
        reference = next(iter(cell.each_reference()), None)
        if reference is None:
            return trans
        trans = reference.trans * trans
        cell = db.cell_by_id(reference.parent_cell_id)
    raise ToolError(f"marker cell {cell.name()} is more than {MAX_DEPTH} levels below the top cell")


def _value_box(value: rdb.RdbItemValue) -> kdb.DBox | None:
    """The bounding box of a geometric marker value; None for a string or number."""
    for test, get in ((value.is_box, value.box), (value.is_polygon, value.polygon),
                      (value.is_edge, value.edge), (value.is_edge_pair, value.edge_pair),
                      (value.is_path, value.path), (value.is_text, value.text)):
        if test():
            return get().bbox()
    return None


def _category_name(category: rdb.RdbCategory) -> str:
    """``parent/child`` names of a (sub-)category, unquoted (``path()`` quotes names with dots)."""
    names = []
    while category is not None:
        names.append(category.name())
        category = category.parent()
    return "/".join(reversed(names))


def read_report(path: Path) -> tuple[Marker, ...]:
    """Every geometric marker of the report database at ``path``, top-cell coordinates, by rule."""
    db = rdb.ReportDatabase("")
    try:
        db.load(str(path))
    except RuntimeError as exc:
        raise ToolError(f"cannot read {path} as a KLayout report database: {exc}") from None
    markers = []
    for item in db.each_item():
        category, cell = db.category_by_id(item.category_id()), db.cell_by_id(item.cell_id())
        trans = _top_trans(db, cell)
        for value in item.each_value():
            box = _value_box(value)
            if box is not None:
                box = box.transformed(trans)
                markers.append(Marker(_category_name(category), category.description or "", cell.name(),
                                      tuple(round(v, 4) for v in (box.left, box.bottom, box.right, box.top))))
    return tuple(sorted(markers, key=lambda m: (m.rule, m.box)))
