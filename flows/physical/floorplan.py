"""Floorplan: die and core size, standard-cell rows, well taps, power straps and I/O pins.

Geometry conventions (all integers in nm, die origin at 0,0):
- routing grid: as :mod:`.grid` builds it from the process rules (on SKY130 x = 230 + 460*i on the
  met2/met4 tracks, y = 170 + 340*j on the met1/met3 tracks, met3 every second y, met4 every second x);
- the core origin is a multiple of the site width (x) and of the horizontal port layer's row pitch
  (y), so every cell pin that lies on the cell's own track grid lands on the routing grid;
- rows alternate N / FS so that neighbouring rows share their power rails; rail ``b`` (y = core_y0 +
  b*row_height) is the ground rail for even ``b`` and the power rail for odd ``b``;
- power straps are vertical stripes on the descriptor's strap layer, joined to every rail of their
  net by a via stack;
- ports are drawn on the descriptor's horizontal port layer on the left and right edges and on its
  vertical port layer at the top and bottom, each as wide as the layer's minimum width.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from kchip.flows.physical.grid import nearest_track_x
from kchip.flows.physical.layout import Instance, Layout, Shape, Via
from kchip.formats.lef import Macro

SIDES = ("left", "top", "right", "bottom")
#: the largest share of the rows' free sites (between tap cells) the cells may fill: the placer
#: legalises cells one at a time into the free run nearest their global position, and the clock tree
#: adds its buffers after that. Measured with the clock tree's root buffer counted: the 8-bit
#: counter (8 rows) placed and took its clock tree up to 69 % with each of four pin arrangements
#: and failed at 70 % with three of them; the 4-lane MAC (53 rows) worked at 80 %, failed at 85 %.
MAX_ROW_FILL = 0.68
#: the fill a suggested die size or utilization aims at: clear of the limit, where placement of a
#: small design depends on where its pins happen to fall
SUGGESTED_ROW_FILL = 0.6


class FloorplanError(ValueError):
    """The requested floorplan cannot hold the design."""


@dataclass(frozen=True)
class FloorplanConfig:
    """What the design file and the stage configuration say about the floorplan."""

    utilization: float | None
    die_size_um: tuple[float, float] | None
    aspect_ratio: float
    core_margin_um: float
    pins: dict[str, list[str]]
    #: None for a library whose cells tie their own wells (no tap columns)
    tap_cell: str | None
    tap_spacing_um: float
    strap_pitch_um: float
    strap_width_um: float
    power_net: str
    ground_net: str
    #: cells added after placement that must still find room in the rows (the clock tree's root)
    reserve_cells: tuple[str, ...] = ()
    #: a shuttle slot's exact die (nm) and its pin template: (name, layer, (x1, y1, x2, y2) nm)
    slot_die_nm: tuple[int, int] | None = None
    template_pins: tuple[tuple[str, str, tuple[int, int, int, int]], ...] = ()


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step)) * step


def _core_from_die(die_um: tuple[float, float], margin_um: float, site: tuple[int, int]) -> tuple[int, int]:
    """Core width and height (nm) inside a die of ``die_um`` with a ``margin_um`` margin."""
    site_w, row_h = site
    margin = _round_up(margin_um * 1000, site_w)
    width = (int(die_um[0] * 1000) - 2 * margin) // site_w * site_w
    height = (int(die_um[1] * 1000) - 2 * margin) // row_h * row_h
    return width, height


def _core_from_utilization(cell_area: int, utilization: float, cfg: FloorplanConfig,
                           site: tuple[int, int]) -> tuple[int, int]:
    """Core width and height (nm) holding ``cell_area`` (nm2) plus taps at ``utilization``."""
    site_w, row_h = site
    tap_share = site_w / (cfg.tap_spacing_um * 1000) if cfg.tap_cell else 0.0
    area = cell_area * (1 + tap_share) / utilization
    width = max(_round_up(math.sqrt(area / cfg.aspect_ratio), site_w), 20 * site_w)
    height = max(_round_up(area / width, row_h), 2 * row_h)
    return width, height


def _core_size(layout: Layout, macros: dict[str, Macro], cfg: FloorplanConfig,
               site: tuple[int, int]) -> tuple[int, int]:
    site_w, row_h = site
    if cfg.die_size_um:
        width, height = _core_from_die(cfg.die_size_um, cfg.core_margin_um, site)
        if width < 10 * site_w or height < row_h:
            raise FloorplanError(f"die {cfg.die_size_um!r} um leaves no core inside a "
                                 f"{cfg.core_margin_um} um margin")
        return width, height
    cell_area = sum(macros[i.cell].width * macros[i.cell].height for i in layout.instances.values())
    return _core_from_utilization(cell_area, cfg.utilization, cfg, site)


def _taps(cfg: FloorplanConfig, macros: dict[str, Macro], site_w: int) -> tuple[int, int | None]:
    """The tap cell's width and the distance between tap columns (nm); (0, None) without taps."""
    if cfg.tap_cell is None:
        return 0, None
    return macros[cfg.tap_cell].width, max(1, int(cfg.tap_spacing_um * 1000) // site_w) * site_w


def _tap_columns(x0: int, x1: int, tap_w: int, step: int | None) -> list[int]:
    """Left edges of the tap cells in every row of a core from ``x0`` to ``x1`` (none without taps)."""
    if step is None:
        return []
    columns = list(range(x0, x1 - tap_w + 1, step))
    if x1 - tap_w - columns[-1] > step // 2:
        columns.append(x1 - tap_w)
    return columns


def _row_runs(width: int, site_w: int, tap_w: int, step: int | None) -> list[int]:
    """Lengths in sites of the free runs between the tap cells of a row ``width`` nm long."""
    columns = _tap_columns(0, width, tap_w, step) or [0]
    ends = columns[1:] + [width]
    return [(end - x - tap_w) // site_w for x, end in zip(columns, ends) if end - x - tap_w >= site_w]


def _packs(widths: Counter, runs: np.ndarray) -> bool:
    """Whether cells of these widths (sites: count) fit into the free ``runs``, widest first, each
    into the first run with room left."""
    free = runs.copy()
    for width in sorted(widths, reverse=True):
        fits = free // width
        before = np.cumsum(fits) - fits
        taken = np.clip(widths[width] - before, 0, fits)
        if taken.sum() < widths[width]:
            return False
        free -= taken * width
    return True


@dataclass(frozen=True)
class _Fit:
    """How a design's cells fill the rows of one core size."""

    rows: int
    runs: list[int]
    fill: float
    packs: bool

    @property
    def ok(self) -> bool:
        return self.fits(MAX_ROW_FILL)

    def fits(self, fill_limit: float) -> bool:
        return self.packs and self.fill <= fill_limit


def _fit(widths: Counter, core: tuple[int, int], site: tuple[int, int], tap_w: int, step: int | None) -> _Fit:
    rows = core[1] // site[1]
    runs = _row_runs(core[0], site[0], tap_w, step)
    free = np.tile(np.array(runs or [0], dtype=np.int64), max(rows, 0))
    fill = sum(w * n for w, n in widths.items()) / max(int(free.sum()), 1)
    return _Fit(rows, runs, fill, _packs(widths, free))


def check_fit(layout: Layout, macros: dict[str, Macro], cfg: FloorplanConfig, site: tuple[int, int],
              core: tuple[int, int]) -> None:
    """FloorplanError, saying what would fit, unless the placer can legalise the cells in ``core``.

    Every cell (and every ``cfg.reserve_cells``, added after placement) needs a free run of sites
    between the row's tap cells, and together they may fill at most :data:`MAX_ROW_FILL` of those
    sites. The error names the die size, the core, the cell area and the smallest die of the same
    shape (a core sized by utilization is grown to fit first, see :func:`_grow_to_fit`).
    """
    site_w = site[0]
    tap_w, step = _taps(cfg, macros, site_w)
    cells = [i.cell for i in layout.instances.values()]
    if not cells:
        return
    widths = Counter(macros[c].width // site_w for c in cells + list(cfg.reserve_cells))
    widest = max(cells + list(cfg.reserve_cells), key=lambda c: macros[c].width)
    longest = (step - tap_w) // site_w if step else None
    if longest is not None and max(widths) > longest:
        raise FloorplanError(
            f"floorplan.tap_spacing_um = {cfg.tap_spacing_um!r} leaves free runs of {longest} sites "
            f"({longest * site_w / 1000:g} um) between tap cells, narrower than {widest} "
            f"({macros[widest].width / 1000:g} um); use tap_spacing_um >= "
            f"{(macros[widest].width + tap_w) / 1000:g}")
    fit = _fit(widths, core, site, tap_w, step)
    if fit.ok:
        return
    area = sum(macros[c].width * macros[c].height for c in cells)
    widest_logic = max(cells, key=lambda c: macros[c].width)
    later = f" plus {', '.join(cfg.reserve_cells)} added after placement" if cfg.reserve_cells else ""
    facts = (f"the core is {core[0] / 1000:g} x {core[1] / 1000:g} um = {core[0] * core[1] / 1e6:.1f} um2 "
             f"({fit.rows} rows, free runs of {fit.runs} sites between tap cells) and the {len(cells)} cells "
             f"take {area / 1e6:.1f} um2 (widest {widest_logic}, {macros[widest_logic].width / 1000:g} um)"
             f"{later}: " + (f"they would fill {fit.fill:.0%} of the free sites, the placer legalises at "
                             f"most {MAX_ROW_FILL:.0%}" if fit.fill > MAX_ROW_FILL else
                             "too few free runs are wide enough for the widest cells"))
    if cfg.die_size_um:
        die = _smallest_die(widths, cfg, site, tap_w, step)
        raise FloorplanError(f"[floorplan] die_size_um = {list(cfg.die_size_um)!r} is too small: {facts}; "
                             f"the smallest die of this shape that fits is {die!r} um (core margin "
                             f"{cfg.core_margin_um:g} um)")
    raise FloorplanError(f"[floorplan] utilization = {cfg.utilization!r}: {facts}")


def cells_fit(layout: Layout, macros: dict[str, Macro], cfg: FloorplanConfig, site: tuple[int, int]) -> bool:
    """Whether the placer can legalise the cells in the core of ``cfg.die_size_um``."""
    try:
        check_fit(layout, macros, cfg, site, _core_size(layout, macros, cfg, site))
    except FloorplanError:
        return False
    return True


def core_utilization(layout: Layout, macros: dict[str, Macro], cfg: FloorplanConfig, site: tuple[int, int]) -> float:
    """The share of the core of ``cfg.die_size_um`` the cells would cover (taps not counted)."""
    width, height = _core_size(layout, macros, cfg, site)
    cell_area = sum(macros[i.cell].width * macros[i.cell].height for i in layout.instances.values())
    return cell_area / (width * height)


def _grow_to_fit(layout: Layout, macros: dict[str, Macro], cfg: FloorplanConfig, site: tuple[int, int],
                 core: tuple[int, int]) -> tuple[int, int, list[str]]:
    """A core sized by utilisation, grown (5 % a step, keeping its shape) until the placer can
    legalise the cells at :data:`MAX_ROW_FILL` with the taps and the cells added after placement;
    on small designs those overheads are a large share. Says what it did."""
    cells = [i.cell for i in layout.instances.values()]
    if not cells:
        return core[0], core[1], []
    widths = Counter(macros[c].width // site[0] for c in cells + list(cfg.reserve_cells))
    tap_w, step = _taps(cfg, macros, site[0])
    if step and max(widths) > (step - tap_w) // site[0]:
        return core[0], core[1], []
    width, height = core
    while not _fit(widths, (width, height), site, tap_w, step).ok:
        width = _round_up(width * 1.05, site[0])
        height = _round_up(height * 1.05, site[1])
    if (width, height) == core:
        return width, height, []
    return width, height, [
        f"the core grew from {core[0] / 1000:.2f} x {core[1] / 1000:.2f} um to {width / 1000:.2f} x "
        f"{height / 1000:.2f} um: at utilization = {cfg.utilization!r} the cells, the well taps and the "
        f"clock tree's root buffer would fill more than {MAX_ROW_FILL:.0%} of the row sites, which the "
        f"placer cannot legalise"]


def _smallest_die(widths: Counter, cfg: FloorplanConfig, site: tuple[int, int], tap_w: int,
                  step: int | None) -> list[float]:
    """The smallest die (um, 0.1 um steps) with the shape of ``cfg.die_size_um`` that fits."""
    die_w, die_h = cfg.die_size_um
    scale = 1.0
    while scale < 1000:
        scale *= 1.01
        die = [math.ceil(die_w * scale * 10) / 10, math.ceil(die_h * scale * 10) / 10]
        core = _core_from_die(die, cfg.core_margin_um, site)
        if min(core) > 0 and _fit(widths, core, site, tap_w, step).fits(SUGGESTED_ROW_FILL):
            return die
    raise FloorplanError(f"no die of the shape {list(cfg.die_size_um)!r} um holds the cells")


def _place_taps(layout: Layout, cfg: FloorplanConfig, macros: dict[str, Macro]) -> None:
    x0, _, x1, _ = layout.core
    columns = _tap_columns(x0, x1, *_taps(cfg, macros, layout.site[0]))
    for r, (y, orient) in enumerate(layout.rows):
        for k, x in enumerate(columns):
            layout.instances[f"tap_{r}_{k}"] = Instance(cfg.tap_cell, {}, "tap", x, y, orient, True)


def _rail(cell: Macro, power_pin: str, rules) -> tuple[str, int]:
    """The layer of the cells' power rail and half its width: the highest of the pin layer and the
    routing layers on which ``cell``'s power pin spans the whole cell (the first routing layer when
    the cells' pins lie below it, the pin layer itself when the rails are drawn there)."""
    for layer in reversed((rules.pin_layer, *rules.routing_layers)):
        spans = [y1 - y0 for name, (x0, y0, x1, y1) in cell.pins[power_pin].shapes
                 if name == layer and x0 <= 0 and x1 >= cell.width]
        if spans:
            return layer, max(spans) // 2
    raise FloorplanError(f"{cell.name}: its {power_pin} pin spans the cell on none of "
                         f"{', '.join((rules.pin_layer, *rules.routing_layers))}; no power rail to strap")


def _add_straps(layout: Layout, rules, cfg: FloorplanConfig, rail_cell: Macro) -> None:
    """Alternating ground/power straps on the strap layer with a via stack, from the rail layer of
    ``rail_cell`` up, at every rail of their own net."""
    x0, y0, x1, y1 = layout.core
    half = rules.snap(int(cfg.strap_width_um * 1000) // 2)
    pitch = int(cfg.strap_pitch_um * 1000)
    count = max(2, 2 * round((x1 - x0) / pitch))
    centres = [rules.snap(x0 + (x1 - x0) * (2 * k + 1) // (2 * count)) for k in range(count)]
    row_h = layout.site[1]
    rail_layer, rail_half = _rail(rail_cell, cfg.power_net, rules)
    layers = (rules.pin_layer, *rules.routing_layers)
    stack = layers[layers.index(rail_layer):layers.index(rules.strap_layer) + 1]
    for k, cx in enumerate(centres):
        net = cfg.ground_net if k % 2 == 0 else cfg.power_net
        layout.shapes.append(Shape(net, rules.strap_layer, (cx - half, y0 - rail_half, cx + half, y1 + rail_half)))
        first = 0 if net == cfg.ground_net else 1
        for b in range(first, len(layout.rows) + 1, 2):
            ry = y0 + b * row_h
            for layer in stack[1:-1]:
                layout.shapes.append(Shape(net, layer, (cx - half, ry - rail_half, cx + half, ry + rail_half)))
            for lower, upper in zip(stack, stack[1:]):
                via = rules.via(lower, upper)
                cut_layer, cut = via.cut(rules.cut_layers)
                cut_w = cut[2] - cut[0]
                enclosure = max(abs(via.rects[lower][0]), abs(via.rects[upper][0])) - cut_w // 2
                cut_pitch = cut_w + rules.cut_spacing[cut_layer]
                span = 2 * half - 2 * enclosure - cut_w
                n = span // cut_pitch + 1
                start = cx - (n - 1) * cut_pitch // 2
                for c in range(n):
                    layout.vias.append(Via(net, via.name, start + c * cut_pitch, ry))


def _node_pitch(rules, layer: str) -> tuple[int, int]:
    """The x and y distance (nm) between neighbouring nodes of a routing layer."""
    si, sj = rules.node_stride[rules.routing_layers.index(layer)]
    return rules.step[0] * si, rules.step[1] * sj


def _side_slots(rules, side: str, die_w: int, die_h: int) -> list[int]:
    """Pin positions along one die edge: every second node of the port layer, clear of the corners."""
    vertical_edge = side in ("left", "right")
    if vertical_edge:
        step, origin, length = 2 * _node_pitch(rules, rules.horizontal_port_layer)[1], rules.origin[1], die_h
    else:
        step, origin, length = 2 * _node_pitch(rules, rules.vertical_port_layer)[0], rules.origin[0], die_w
    return list(range(origin + step, length - step, step))


def _assign_sides(layout: Layout, cfg: FloorplanConfig, capacity: dict[str, int]) -> dict[str, list[str]] | None:
    """Ports per side: those ``[pins]`` places, then the rest in port order, each side taking a share
    in proportion to its free slots (buses stay together); None when they do not fit."""
    names = [p.name for p in layout.ports]
    fixed = {name: side for side, pins in cfg.pins.items() for name in pins}
    for name in fixed:
        base = [p.name for p in layout.ports if p.name == name or p.name.startswith(name + "[")]
        if not base:
            raise FloorplanError(f"pin {name!r} in [pins] is not a port of {layout.top}; ports: "
                                 f"{', '.join(sorted({n.split('[')[0] for n in names}))}")
    sides: dict[str, list[str]] = {side: [] for side in SIDES}
    rest = []
    for name in names:
        side = fixed.get(name) or fixed.get(name.split("[")[0])
        (sides[side] if side else rest).append(name)
    free = {side: capacity[side] - len(sides[side]) for side in SIDES}
    if min(free.values()) < 0 or sum(free.values()) < len(rest):
        return None
    total = sum(free.values())
    shares = {side: len(rest) * free[side] // total if total else 0 for side in SIDES}
    for side in sorted(SIDES, key=lambda s: -free[s]):
        if sum(shares.values()) < len(rest) and shares[side] < free[side]:
            shares[side] += 1
    start = 0
    for side in SIDES:
        sides[side] += rest[start:start + shares[side]]
        start += shares[side]
    return sides


def _pin_depth(rules, layer: str, width: int, step: int) -> int:
    """How far a pin of ``width`` reaches into the die: whole grid ``step``s, enough for the layer's
    minimum area, so that a pin no cell connects to is legal on its own."""
    return step * max(1, math.ceil(rules.layers[layer].min_area_nm2 / (width * step)))


def _place_pins(layout: Layout, sides: dict[str, list[str]], rules) -> None:
    """Pins on the horizontal port layer (left, right) and the vertical one (top, bottom), as wide
    as the layer's minimum width, evenly spread on every second node."""
    _, _, die_w, die_h = layout.die
    across, along = rules.horizontal_port_layer, rules.vertical_port_layer
    across_width, along_width = rules.layers[across].width, rules.layers[along].width
    across_depth = _pin_depth(rules, across, across_width, _node_pitch(rules, along)[0])
    along_depth = _pin_depth(rules, along, along_width, _node_pitch(rules, across)[1])
    by_name = {p.name: p for p in layout.ports}
    for side, names in sides.items():
        if not names:
            continue
        slots = _side_slots(rules, side, die_w, die_h)
        stride = len(slots) / len(names)
        for k, name in enumerate(names):
            pos = slots[int((k + 0.5) * stride)]
            port = by_name[name]
            port.side = side
            if side in ("left", "right"):
                port.layer = across
                x0 = 0 if side == "left" else die_w - across_depth
                port.rect = (x0, pos - across_width // 2, x0 + across_depth, pos + across_width // 2)
            else:
                port.layer = along
                y0 = 0 if side == "bottom" else die_h - along_depth
                port.rect = (pos - along_width // 2, y0, pos + along_width // 2, y0 + along_depth)


def _fit_pins(layout: Layout, rules, cfg: FloorplanConfig, width: int, height: int, mx: int, my: int,
              site: tuple[int, int]) -> tuple[int, int, dict[str, list[str]], list[str]]:
    """The core size at which every pin finds a slot, the pins per side, and what was decided.

    A core sized by utilisation grows (in whole sites and rows, keeping its shape) until the pins
    fit; a die the design file fixes does not, and pins that do not fit on it are an error."""
    decisions = []
    start = (width, height)
    while True:
        die_w, die_h = 2 * mx + width, 2 * my + height
        sides = _assign_sides(layout, cfg, {s: len(_side_slots(rules, s, die_w, die_h)) for s in SIDES})
        if sides is not None:
            break
        if cfg.die_size_um is not None:
            capacity = {s: len(_side_slots(rules, s, die_w, die_h)) for s in SIDES}
            fixed = {s: len(p) for s, p in cfg.pins.items() if p}
            raise FloorplanError(
                f"[floorplan] die_size_um = {list(cfg.die_size_um)!r} has room for {sum(capacity.values())} pins "
                f"({', '.join(f'{s} {n}' for s, n in capacity.items())}) but the top has {len(layout.ports)} "
                f"ports{f' ([pins] places {fixed})' if fixed else ''}; enlarge die_size_um, or give utilization "
                f"instead so that the die can grow for its pins")
        width = _round_up(width * 1.05, site[0])
        height = _round_up(height * 1.05, site[1])
    if (width, height) != start:
        decisions.append(f"the core grew from {start[0] / 1000:.2f} x {start[1] / 1000:.2f} um to "
                         f"{width / 1000:.2f} x {height / 1000:.2f} um so that all {len(layout.ports)} pins "
                         f"fit on the die edges")
    return width, height, sides, decisions


def floorplan(layout: Layout, macros: dict[str, Macro], rules, cfg: FloorplanConfig,
              site_name: str) -> Layout:
    """Size the die and core, create rows, taps, straps and pins; cells stay unplaced."""
    unknown = sorted({i.cell for i in layout.instances.values()} - set(macros))
    if unknown:
        raise FloorplanError(f"cells not in the cell LEF: {', '.join(unknown)}")
    layout.site = rules.sites[site_name]
    site_w, row_h = layout.site
    width, height = _core_size(layout, macros, cfg, layout.site)
    decisions = []
    if cfg.die_size_um is None:
        width, height, decisions = _grow_to_fit(layout, macros, cfg, layout.site, (width, height))
    check_fit(layout, macros, cfg, layout.site, (width, height))
    mx = _round_up(cfg.core_margin_um * 1000, site_w)
    my = _round_up(cfg.core_margin_um * 1000, _node_pitch(rules, rules.horizontal_port_layer)[1])
    if cfg.template_pins:
        layout.decisions = decisions
        layout.core = (mx, my, mx + width, my + height)
        layout.die = (0, 0, *cfg.slot_die_nm)
    else:
        width, height, sides, pin_decisions = _fit_pins(layout, rules, cfg, width, height, mx, my, layout.site)
        layout.decisions = decisions + pin_decisions
        layout.core = (mx, my, mx + width, my + height)
        layout.die = (0, 0, 2 * mx + width, 2 * my + height)
    layout.rows = [(my + r * row_h, "N" if r % 2 == 0 else "FS") for r in range(height // row_h)]
    _place_taps(layout, cfg, macros)
    rail_cell = cfg.tap_cell or min(rules.cells.fill, key=lambda name: macros[name].width)
    _add_straps(layout, rules, cfg, macros[rail_cell])
    if cfg.template_pins:
        _place_template_pins(layout, cfg, rules)
    else:
        _place_pins(layout, sides, rules)
    return layout


def _place_template_pins(layout: Layout, cfg: FloorplanConfig, rules) -> None:
    """Every port on its shuttle template pin; the design must have exactly the template's pins. A
    pin between the routing tracks gets metal reaching over to the nearest track, where the router
    joins it."""
    template = {name: (layer, rect) for name, layer, rect in cfg.template_pins}
    ports = {p.name for p in layout.ports}
    extra, missing = sorted(ports - set(template)), sorted(set(template) - ports)
    if extra or missing:
        raise FloorplanError(f"the top {layout.top!r} does not have the shuttle's pins: "
                             + (f"ports not in the template: {', '.join(extra[:10])}; " if extra else "")
                             + (f"template pins missing from the top: {', '.join(missing[:10])}; " if missing else "")
                             + f"the template has {', '.join(sorted(template)[:12])} ...")
    _, _, die_w, die_h = layout.die
    for port in layout.ports:
        port.layer, port.rect = template[port.name]
        x0, y0, x1, y1 = port.rect
        port.side = min((("left", x0), ("right", die_w - x1), ("bottom", y0), ("top", die_h - y1)),
                        key=lambda side: side[1])[0]
        if port.side in ("top", "bottom"):
            track, half = nearest_track_x(rules, port.layer, (x0 + x1) // 2), (x1 - x0) // 2
            if not (x0 <= track - half and track + half <= x1):
                layout.shapes.append(Shape(port.net, port.layer, (min(x0, track - half), y0,
                                                                  max(x1, track + half), y1)))
