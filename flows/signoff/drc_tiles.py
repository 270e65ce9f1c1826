"""Tiles of the die for magic's DRC in parallel processes, and the merge of their error boxes.

Magic's ``drc listall why`` finds the errors in the box by itself: it runs the same interaction and
basic checks as the background checker over the box (``DRCWhyAll`` -> ``DRCInteractionCheck``),
cut into grid squares aligned at the origin, so that "checking it all as one big area should produce
the same results as checking it in several smaller pieces" (magic's ``DRCsubcell.c``). It needs no
``drc check`` or ``drc catchup`` first. Each worker therefore reads the GDS with the background
checker off, sets the box to its tile of the top cell's bounding box and lists the errors there;
magic looks a rule halo beyond the box for the context, so errors near a tile border are found as in
the whole-die run, clipped to the tile. ``drc check`` plus ``drc catchup`` is no way to check a
tile: ``drc check`` marks the box grown by the rule halo in every cell under it, and the catchup's
interaction check grows the marked area by the halo again, so a box costs a check of the box plus
twice the halo on each side (and ``drc listall why`` afterwards checks the box once more).

An error that straddles a tile border comes back from both tiles, cut at the border. The merge
joins the boxes of each rule into regions and reports one error per region (its bounding box), for
the whole-die run as for the tiled one, so the error set and ``drc__errors__count`` do not depend on
how the die was cut.

Every tile costs its area plus up to two rule halos around it, and every worker reads the whole GDS,
so a die is only cut when each tile keeps an edge of at least :data:`HALO_TILES` halos of the deck
(:func:`rule_halo_um`: 70 um on IHP SG13G2's deck, whose bump-pad rules reach that far, so its dies
are cut from 840 um up; 20 um on SKY130's); smaller dies are checked whole.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb

from kchip.tools import magic
from kchip.tools.base import Invocation

#: Smallest tile edge, in rule halos (the largest rule distance of the deck). Magic checks up to
#: two halos beyond a tile (the interaction areas it finds near the border, then their context), so
#: two tiles of at least six halos finish in at most two thirds of the whole-die time.
HALO_TILES = 6
#: Grid of the merge (um): magic reports boxes on its internal grid, never finer than this.
MERGE_GRID_UM = 1e-4


@dataclass(frozen=True)
class Tile:
    """Column ``column`` of ``columns`` and row ``row`` of ``rows`` of the top cell's bounding box."""

    column: int
    row: int
    columns: int
    rows: int

    @property
    def name(self) -> str:
        """``-tile1x0`` style suffix of this tile's script, report and log names ('' for a whole die)."""
        return "" if self.columns == self.rows == 1 else f"-tile{self.column}x{self.row}"

    def box_commands(self) -> list[str]:
        """Magic Tcl that sets the box to this tile; run after ``select top cell``. The cuts are
        computed in magic's internal units from the cell's bounding box, so neighbouring tiles share
        their border exactly; they are given with the ``i`` suffix, since bare numbers are lambda,
        which is no longer the internal unit once a GDS on a finer grid has been read."""
        if self.columns == self.rows == 1:
            return []
        return [
            "set bbox [box values]",
            "set width [expr {[lindex $bbox 2] - [lindex $bbox 0]}]",
            "set height [expr {[lindex $bbox 3] - [lindex $bbox 1]}]",
            "box values "
            f"[expr {{[lindex $bbox 0] + $width * {self.column} / {self.columns}}}]i "
            f"[expr {{[lindex $bbox 1] + $height * {self.row} / {self.rows}}}]i "
            f"[expr {{[lindex $bbox 0] + $width * {self.column + 1} / {self.columns}}}]i "
            f"[expr {{[lindex $bbox 1] + $height * {self.row + 1} / {self.rows}}}]i",
        ]


def available_cpus() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def rule_halo_um(invocation: Invocation, tech: Path, style: str, workdir: Path) -> float:
    """How far (um) magic looks beyond an area it checks, estimated as the largest rule distance of
    DRC ``style`` in ``tech``: the largest first number of the ``distance x corner-distance`` pairs
    ``drc printrules`` lists (in internal units, times ``cif scale out``; area rules keep the area in
    the second number)."""
    rules = workdir / f"{tech.stem}.rules.txt"
    body = "\n".join([f"drc style {style}", f"drc printrules {magic.tcl_word(rules)}",
                      'puts "kchip: internal unit [cif scale out] um"'])
    output = magic.run_script(invocation, tech, body, workdir / f"{tech.stem}.rules.tcl",
                              log_name=f"magic-{tech.stem}-rules.log", cwd=workdir)
    unit = float(re.search(r"^kchip: internal unit (\S+) um$", output, re.M)[1])
    return max((int(distance) for distance in re.findall(r"(\d+) x \d+", rules.read_text())), default=0) * unit


def plan_tiles(width_um: float, height_um: float, jobs: int | None, *, min_tile_um: float) -> tuple[Tile, ...]:
    """One tile per job (``jobs`` None or 0: :func:`available_cpus`), as many as fit with no tile
    edge under ``min_tile_um``; the columns and rows that keep the tiles closest to square."""
    jobs = jobs or available_cpus()
    best = (1, 1)
    for count in range(2, jobs + 1):
        shapes = [(columns, count // columns) for columns in range(1, count + 1) if count % columns == 0]
        fitting = [(c, r) for c, r in shapes if width_um / c >= min_tile_um and height_um / r >= min_tile_um]
        if fitting:
            best = min(fitting, key=lambda cr: abs(math.log((width_um / cr[0]) / (height_um / cr[1]))))
    columns, rows = best
    return tuple(Tile(column, row, columns, rows) for row in range(rows) for column in range(columns))


def die_size(gds: Path, top: str) -> tuple[float, float]:
    """Width and height (um) of the bounding box of cell ``top`` in ``gds`` (0, 0 when it has none)."""
    layout = kdb.Layout()
    layout.read(str(gds))
    cell = layout.cell(top)
    if cell is None:
        return 0.0, 0.0
    box = cell.dbbox()
    return (box.width(), box.height()) if not box.empty() else (0.0, 0.0)


def merge_boxes(boxes: Iterable[tuple[str, tuple[float, ...]]]) -> list[tuple[str, tuple[float, ...]]]:
    """The boxes of each rule joined into regions (overlapping or touching boxes make one region):
    one (rule, bounding box of the region) per region, sorted by rule and box."""
    regions: dict[str, kdb.Region] = {}
    for rule, box in boxes:
        x1, y1, x2, y2 = (round(v / MERGE_GRID_UM) for v in box)
        regions.setdefault(rule, kdb.Region()).insert(kdb.Box(x1, y1, x2, y2))
    merged = []
    for rule, region in regions.items():
        for polygon in region.merged().each():
            bbox = polygon.bbox()
            merged.append((rule, tuple(round(v * MERGE_GRID_UM, 4)
                                       for v in (bbox.left, bbox.bottom, bbox.right, bbox.top))))
    return sorted(merged)
