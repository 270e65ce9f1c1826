"""Pin precheck checks: the slot's pin template against the pins drawn in the top cell, and the power
stripes. A pin is a merged shape on a metal's pin purpose (met4 71/16) with a label of the pin's name
(met4 71/5) on it. Each check returns a :class:`~kchip.mpw.results.CheckResult` named after the
function; :data:`CHECKS` lists them in order."""

from __future__ import annotations

import klayout.db as kdb

from kchip.mpw.layout import CheckedLayout, PinShape, fmt_um, listed
from kchip.mpw.results import CheckResult


def _placed(ctx: CheckedLayout, metal: str, polygon: kdb.Polygon) -> str:
    """``on met4 at (x1, y1)-(x2, y2)``; a shape other than a rectangle is placed by its bounding box."""
    if polygon.is_box():
        return f"on {metal} at {ctx.fmt_box(polygon.bbox())}"
    return f"on {metal} within {ctx.fmt_box(polygon.bbox())} (not a rectangle)"


def _by_name(ctx: CheckedLayout) -> dict[str, list[PinShape]]:
    """The pin shapes carrying each label."""
    found: dict[str, list[PinShape]] = {}
    for pin in ctx.pin_shapes:
        for name in pin.labels:
            found.setdefault(name, []).append(pin)
    return found


def pins_template(ctx: CheckedLayout) -> CheckResult:
    """Every template pin present exactly once, on its layer, with exactly its rectangle."""
    if not ctx.slot.pins:
        return CheckResult.skip("pins_template", f"slot {ctx.slot.spec} has no pin template")
    if ctx.top is None:
        return CheckResult.skip("pins_template", ctx.no_top())
    found = _by_name(ctx)
    details = []
    for pin in ctx.slot.pins:
        expected = ctx.box(pin.rect)
        where = f"on {pin.layer} at {ctx.fmt_box(expected)}"
        shapes = found.get(pin.name, [])
        if not shapes:
            bare = [f"{metal} {ctx.fmt_point(point)}" for metal, text, point in ctx.bare_labels if text == pin.name]
            hint = f" (a label {pin.name} without a pin shape under it at {', '.join(bare)})" if bare else ""
            details.append(f"pin {pin.name} missing: expected {where}{hint}")
        elif len(shapes) > 1:
            details.append(f"pin {pin.name} present {len(shapes)} times: "
                           f"{'; '.join(_placed(ctx, s.metal, s.polygon) for s in shapes)}; expected once {where}")
        elif shapes[0].metal != pin.layer:
            details.append(f"pin {pin.name} {_placed(ctx, shapes[0].metal, shapes[0].polygon)}: "
                           f"wrong layer, expected {where}")
        elif not shapes[0].polygon.is_box() or shapes[0].polygon.bbox() != expected:
            details.append(f"pin {pin.name} {_placed(ctx, shapes[0].metal, shapes[0].polygon)}: "
                           f"wrong place, expected {where}")
    return CheckResult.from_details("pins_template", details)


def pins_extra(ctx: CheckedLayout) -> CheckResult:
    """No pin beyond the template's signal pins and the power nets, and no pin shape without a label."""
    if not ctx.slot.pins:
        return CheckResult.skip("pins_extra", f"slot {ctx.slot.spec} has no pin template")
    if ctx.top is None:
        return CheckResult.skip("pins_extra", ctx.no_top())
    known = {p.name for p in ctx.slot.pins} | set(ctx.slot.power.nets if ctx.slot.power else ())
    details = []
    for pin in ctx.pin_shapes:
        if not pin.labels:
            details.append(f"pin shape without a label {_placed(ctx, pin.metal, pin.polygon)}")
        details += [f"extra pin {name} {_placed(ctx, pin.metal, pin.polygon)}: not a pin of slot {ctx.slot.spec}"
                    for name in pin.labels if name not in known]
    return CheckResult.from_details("pins_extra", listed(details))


def pins_overlap(ctx: CheckedLayout) -> CheckResult:
    """No two pins overlapping or touching (one merged pin shape carrying two names)."""
    if ctx.top is None:
        return CheckResult.skip("pins_overlap", ctx.no_top())
    details = [f"pins {', '.join(pin.labels)} overlap or touch {_placed(ctx, pin.metal, pin.polygon)}"
               for pin in ctx.pin_shapes if len(pin.labels) > 1]
    return CheckResult.from_details("pins_overlap", listed(details))


def pins_on_drawing(ctx: CheckedLayout) -> CheckResult:
    """Every pin shape lies on drawn metal of its layer (the pin purpose alone draws nothing)."""
    if ctx.top is None:
        return CheckResult.skip("pins_on_drawing", ctx.no_top())
    details = []
    for metal in ctx.shuttle.metals.values():
        pin_index, drawing_index = ctx.index(metal.pin), ctx.index(metal.drawing)
        if pin_index is None:
            continue
        pins = kdb.Region(ctx.top.begin_shapes_rec(pin_index))
        drawn = kdb.Region(ctx.top.begin_shapes_rec(drawing_index)) if drawing_index is not None else kdb.Region()
        details += [f"pin shape on {metal.name} at {ctx.fmt_box(p.bbox())} not covered by drawn "
                    f"{ctx.label(metal.drawing)}" for p in (pins - drawn).each()]
    return CheckResult.from_details("pins_on_drawing", listed(details))


def power_pins(ctx: CheckedLayout) -> CheckResult:
    """Every power net has stripes on the power layer, each at least the minimum width and reaching to
    within the maximum gap of the bottom and top die edges."""
    rule = ctx.slot.power
    if rule is None:
        return CheckResult.skip("power_pins", f"slot {ctx.slot.spec} has no power-stripe rule")
    if ctx.top is None:
        return CheckResult.skip("power_pins", ctx.no_top())
    um = ctx.shuttle.um
    min_width, gap = ctx.length(rule.min_width), ctx.length(rule.max_edge_gap)
    found = _by_name(ctx)
    details = []
    for net in rule.nets:
        if not found.get(net):
            details.append(f"no {net} stripe: expected a {rule.orientation} {rule.layer} pin shape labelled {net}, "
                           f"at least {um(rule.min_width):g} um wide, from within {um(rule.max_edge_gap):g} um "
                           f"of the bottom edge to within {um(rule.max_edge_gap):g} um of the top edge")
        for pin in found.get(net, []):
            box = pin.polygon.bbox()
            stripe = f"{net} stripe {_placed(ctx, pin.metal, pin.polygon)}"
            if pin.metal != rule.layer:
                details.append(f"{stripe}: wrong layer, expected {rule.layer}")
            if not pin.polygon.is_box():
                details.append(f"{stripe}: not a rectangle")
            if box.width() < min_width:
                details.append(f"{stripe}: {fmt_um(box.width() * ctx.layout.dbu)} um wide, "
                               f"less than {um(rule.min_width):g} um")
            if box.bottom - ctx.die.bottom > gap:
                details.append(f"{stripe}: starts {fmt_um((box.bottom - ctx.die.bottom) * ctx.layout.dbu)} um "
                               f"above the bottom edge, more than {um(rule.max_edge_gap):g} um")
            if ctx.die.top - box.top > gap:
                details.append(f"{stripe}: ends {fmt_um((ctx.die.top - box.top) * ctx.layout.dbu)} um "
                               f"below the top edge, more than {um(rule.max_edge_gap):g} um")
            if not box.inside(ctx.die):
                details.append(f"{stripe}: not inside the die {ctx.fmt_box(ctx.die)}")
    return CheckResult.from_details("power_pins", details)


CHECKS = (pins_template, pins_extra, pins_overlap, pins_on_drawing, power_pins)
