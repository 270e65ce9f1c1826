"""Layout-level precheck checks: the cells, the database unit, the boundary, the layers and degenerate
shapes. Each check is a function of the :class:`~kchip.mpw.layout.CheckedLayout` returning a
:class:`~kchip.mpw.results.CheckResult` named after the function; :data:`CHECKS` lists them in order."""

from __future__ import annotations

import math

import klayout.db as kdb

from kchip.mpw.layout import MAX_LISTED, CheckedLayout, listed
from kchip.mpw.results import CheckResult

#: Characters foundries and the shuttle tools do not take in a cell name.
BAD_CELL_NAME_CHARS = ("#", "/")


def shapes(count: int) -> str:
    return f"{count} shape" + ("" if count == 1 else "s")


def top_cell(ctx: CheckedLayout) -> CheckResult:
    """One top cell, named after the design's module."""
    names = sorted(c.name for c in ctx.tops)
    if not names:
        details = ["the layout has no cell"]
    elif len(names) > 1:
        details = [f"{len(names)} top cells: {', '.join(names)}; expected only {ctx.top_name}"]
    elif names[0] != ctx.top_name:
        details = [f"top cell is {names[0]}, expected {ctx.top_name}"]
    else:
        details = []
    return CheckResult.from_details("top_cell", details)


def dbu(ctx: CheckedLayout) -> CheckResult:
    """The database unit is the shuttle's (0.001 um)."""
    expected = ctx.shuttle.dbu_um
    if math.isclose(ctx.layout.dbu, expected, rel_tol=1e-9):
        return CheckResult.from_details("dbu", [])
    return CheckResult.from_details("dbu", [f"database unit is {ctx.layout.dbu:g} um, expected {expected:g} um"])


def boundary(ctx: CheckedLayout) -> CheckResult:
    """One boundary rectangle in the top cell, equal to the die, and every shape inside it."""
    if ctx.top is None:
        return CheckResult.skip("boundary", ctx.no_top())
    layer = ctx.shuttle.boundary_layer
    index = ctx.index(layer)
    shapes = list(ctx.top.shapes(index).each()) if index is not None else []
    shapes = [s for s in shapes if not s.is_text()]
    die = ctx.fmt_box(ctx.die)
    details = []
    if not shapes:
        details.append(f"no {ctx.label(layer)} shape in top cell {ctx.top.name}: expected a box {die} (the die)")
    elif len(shapes) > 1:
        details.append(f"{len(shapes)} {ctx.label(layer)} shapes in top cell {ctx.top.name}: "
                       f"{', '.join(ctx.describe(s) for s in shapes[:5])}; expected one box {die}")
    elif not shapes[0].polygon.is_box() or shapes[0].bbox() != ctx.die:
        details.append(f"{ctx.label(layer)} is {ctx.describe(shapes[0])}, expected the die {die} "
                       f"of slot {ctx.slot.spec}")
    if not ctx.top.bbox().inside(ctx.die):
        found, total = ctx.shapes_outside(ctx.die)
        details += listed([f"{line} is outside the die {die}" for line in found], total)
    return CheckResult.from_details("boundary", details)


def layers_forbidden(ctx: CheckedLayout) -> CheckResult:
    """No shape on a layer the shuttle reserves (met5 on Tiny Tapeout SKY130)."""
    details = [f"forbidden layer {ctx.label(layer)}: {shapes(count)}, first {ctx.first_shape(layer)}"
               for layer, count in sorted(ctx.present_layers.items()) if layer in ctx.shuttle.forbidden]
    return CheckResult.from_details("layers_forbidden", details)


def layers_allowed(ctx: CheckedLayout) -> CheckResult:
    """Every layer/datatype in the layout is on the shuttle's list (forbidden ones are reported by
    layers_forbidden)."""
    allowed = ctx.shuttle.allowed_layers()
    details = [f"layer {ctx.label(layer)} is not allowed on {ctx.shuttle.name}: {shapes(count)}, "
               f"first {ctx.first_shape(layer)}"
               for layer, count in sorted(ctx.present_layers.items())
               if layer not in allowed and layer not in ctx.shuttle.forbidden]
    return CheckResult.from_details("layers_allowed", details)


def zero_area(ctx: CheckedLayout) -> CheckResult:
    """No box, polygon or path of zero area (in the coordinates of the cell holding it)."""
    found, total = [], 0
    for index in ctx.layout.layer_indexes():
        info = ctx.layout.get_info(index)
        for cell in ctx.layout.each_cell():
            for shape in cell.shapes(index).each(kdb.Shapes.SRegions):
                if shape.area() == 0:
                    total += 1
                    if len(found) < MAX_LISTED:
                        found.append(f"zero-area {ctx.describe(shape)} on {ctx.label((info.layer, info.datatype))} "
                                     f"in cell {cell.name}")
    return CheckResult.from_details("zero_area", listed(found, total))


def cell_names(ctx: CheckedLayout) -> CheckResult:
    """No cell name with a character the shuttle tools reject ('#', '/')."""
    details = [f"cell name {cell.name} contains {', '.join(repr(c) for c in BAD_CELL_NAME_CHARS if c in cell.name)}"
               for cell in ctx.layout.each_cell() if any(c in cell.name for c in BAD_CELL_NAME_CHARS)]
    return CheckResult.from_details("cell_names", listed(details))


CHECKS = (top_cell, dbu, boundary, layers_forbidden, layers_allowed, zero_area, cell_names)
