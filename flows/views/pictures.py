"""Layout pictures rendered headless with KLayout, set up the way a designer sets up the viewer.

Every picture hides text (labels are what turned the old picture into a tangle of names): the layers
that hold text in the GDS are switched off and the view draws no text. Layer colours, stipples and
transparency come from the PDK's ``.lyp``; which layers count as routing comes from the PDK
descriptor's ``[gds]`` table. The views:

- ``overview``: the whole die: the top cell's own wires on every layer the router draws on (vias
  and cell internals would bury them at die scale) and the outline of every cell;
- ``placement``: the placed cells only, coloured by kind (logic, flops, clock buffers, taps, fill,
  antenna diodes, tie cells);
- ``clock``: the clock tree (its buffers, the flops it drives and its wires) over a faint placement;
- ``tile``: a small window at the centre of the core with every drawn layer at full detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb
import klayout.lay as klay

from kchip.flows.physical.layout import Layout
from kchip.formats.files import atomic_target

#: colour of each cell kind on the placement and clock pictures (a viewer's choice, not a process fact)
KIND_COLOURS = {"logic": 0x4f81bd, "flop": 0xe46c0a, "clock": 0xd62728, "tap": 0x7f7f7f,
                "fill": 0xdcdcdc, "antenna": 0x2ca02c, "tie": 0x9467bd}
CLOCK_WIRE = 0xd62728
FAINT, OUTLINE = 0xe8e8e8, 0x404040
BACKGROUND = "#ffffff"
#: pixels drawn per output pixel along each axis (smooths dense wiring instead of aliasing it)
OVERSAMPLING = 2


@dataclass(frozen=True)
class PictureSetup:
    """What the pictures need from the PDK: the ``.lyp``, the routing layers (name -> layer,
    datatype), the cell boundary layer and the datatype of text labels."""

    lyp: Path
    routing: dict[str, tuple[int, int]]
    boundary: tuple[int, int] | None
    label_datatype: int | None

    @classmethod
    def from_pdk(cls, pdk) -> "PictureSetup":
        gds = pdk.data["gds"]
        return cls(pdk.klayout_lyp, {n: tuple(v) for n, v in gds["layers"].items()},
                   tuple(gds["boundary"]) if gds.get("boundary") else None, gds.get("label_datatype"))


def cell_kinds(layout: Layout, clock_pin_cells: set[str]) -> dict[str, str]:
    """The kind of each instance: its role in the layout, with logic cells that have a clock pin
    (``clock_pin_cells``, from the LEF's ``USE CLOCK``) shown as flops."""
    return {name: "flop" if inst.role == "logic" and inst.cell in clock_pin_cells else inst.role
            for name, inst in layout.instances.items()}


def text_layers(layout: kdb.Layout) -> set[tuple[int, int]]:
    """(layer, datatype) of every layer that holds a text shape in any cell of ``layout``."""
    found = set()
    for index in layout.layer_indexes():
        info = layout.get_info(index)
        if any(True for cell in layout.each_cell() for _ in cell.shapes(index).each(kdb.Shapes.STexts)):
            found.add((info.layer, info.datatype))
    return found


def _view() -> klay.LayoutView:
    view = klay.LayoutView()
    for key, value in (("background-color", BACKGROUND), ("grid-visible", "false"), ("text-visible", "false")):
        view.set_config(key, value)
    return view


def _save(view: klay.LayoutView, out: Path, width: int, height: int) -> Path:
    with atomic_target(out) as tmp:
        view.save_image_with_options(str(tmp), width, height, 0, 0, OVERSAMPLING, kdb.DBox(), False)
    return out


def gds_view(gds: Path | kdb.Layout, setup: PictureSetup, keep) -> tuple[klay.LayoutView, kdb.Layout]:
    """A view of ``gds`` (a file or a layout) with the PDK's layer properties, showing only the layers
    ``keep(layer, datatype)`` accepts and never a layer holding text."""
    view = _view()
    if isinstance(gds, kdb.Layout):
        view.show_layout(gds, False)
    else:
        view.load_layout(str(gds), True)
    view.load_layer_props(str(setup.lyp))
    layout = view.cellview(0).layout()
    hidden = text_layers(layout)
    if setup.label_datatype is not None:
        hidden |= {(ln, setup.label_datatype) for ln, _ in setup.routing.values()}
    it = view.begin_layers()
    while not it.at_end():
        props = it.current()
        source = (props.source_layer, props.source_datatype)
        props.visible = source not in hidden and keep(*source)
        view.set_layer_properties(it, props)
        it.next()
    view.max_hier()
    return view, layout


def routing_layout(gds: Path, setup: PictureSetup, wires: set[str]) -> kdb.Layout:
    """The top cell's own shapes on the ``wires`` layers (names of ``setup.routing``) and, on the
    boundary layer, the outline of every cell instance: what the overview draws (cell internals and
    vias would bury the wiring at die scale)."""
    source = kdb.Layout()
    source.read(str(gds))
    top = source.top_cells()[0]
    drawn = kdb.Layout()
    drawn.dbu = source.dbu
    out = drawn.create_cell(top.name)
    for numbers in (setup.routing[name] for name in sorted(wires) if name in setup.routing):
        index = source.find_layer(*numbers)
        if index is not None:
            out.shapes(drawn.layer(*numbers)).insert(top.shapes(index))
    if setup.boundary:
        outline, into = source.find_layer(*setup.boundary), out.shapes(drawn.layer(*setup.boundary))
        for inst in top.each_inst():  # cells without an outline (vias) are not drawn
            box = inst.bbox_per_layer(outline) if outline is not None else inst.bbox()
            if not box.empty():
                into.insert(box)
    return drawn


def visible_layers(view: klay.LayoutView) -> list[tuple[int, int]]:
    """(layer, datatype) of the visible layers of ``view``."""
    found, it = [], view.begin_layers()
    while not it.at_end():
        props = it.current()
        if props.visible:
            found.append((props.source_layer, props.source_datatype))
        it.next()
    return found


def _add_layer(view: klay.LayoutView, layout: kdb.Layout, name: str, colour: int, *, dither: int = 0,
               frame: int | None = None, width: int = 1) -> int:
    index = layout.layer(kdb.LayerInfo(name))
    props = klay.LayerPropertiesNode()
    props.source = f"{name}@1"
    props.name = name
    props.fill_color, props.frame_color = colour, colour if frame is None else frame
    props.dither_pattern, props.width = dither, width
    view.insert_layer(view.end_layers(), props)
    return index


def _darker(colour: int, factor: float = 0.8) -> int:
    """``colour`` (0xRRGGBB) with each channel scaled by ``factor``: a cell's outline."""
    return sum(int(((colour >> shift) & 0xff) * factor) << shift for shift in (16, 8, 0))


def _placement_layout(layout: Layout, cells: dict[str, tuple[int, int]], kinds: dict[str, str],
                      view: klay.LayoutView, highlight: set[str] | None = None) -> tuple[kdb.Layout, kdb.Cell]:
    """Show a new layout in ``view`` with one box per placed instance (``cells``: cell -> size in nm)
    on one layer per kind; kinds outside ``highlight`` (when given) are drawn faint, below the rest."""
    drawn = kdb.Layout()
    drawn.dbu = 0.001  # the layout view's coordinates are integer nanometres
    top = drawn.create_cell(layout.top)
    view.show_layout(drawn, False)
    layers = {}
    for kind in sorted(KIND_COLOURS, key=lambda k: highlight is not None and k in highlight):
        bright = highlight is None or kind in highlight
        colour = KIND_COLOURS[kind] if bright else FAINT
        layers[kind] = _add_layer(view, drawn, kind, colour, frame=_darker(colour))
    for name, inst in layout.instances.items():
        if inst.x is None or inst.cell not in cells:
            continue
        w, h = cells[inst.cell]
        if inst.orient in ("E", "W", "FE", "FW"):
            w, h = h, w
        top.shapes(layers.get(kinds.get(name, "logic"), layers["logic"])).insert(
            kdb.Box(inst.x, inst.y, inst.x + w, inst.y + h))
    if layout.die:
        top.shapes(_add_layer(view, drawn, "die", OUTLINE, dither=1)).insert(kdb.Box(*layout.die))
    return drawn, top


def clock_nets(layout: Layout) -> set[str]:
    """The clock root net and every net a clock-tree buffer drives or is driven by."""
    nets = {layout.clock_net} if layout.clock_net else set()
    for inst in layout.instances.values():
        if inst.role == "clock":
            nets |= set(inst.conns.values())
    return nets


def render_pictures(gds: Path, layout: Layout, kinds: dict[str, str], cells: dict[str, tuple[int, int]],
                    setup: PictureSetup, out_dir: Path, stem: str, *, size: int = 1200,
                    tile_um: float = 30.0) -> dict[str, Path]:
    """Render the four views of ``gds`` (and its ``layout``; ``cells``: cell -> width, height in nm) to
    ``out_dir/<stem>.<view>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pictures = {}
    wires = {shape.layer for shape in layout.shapes}
    view, _ = gds_view(routing_layout(gds, setup, wires), setup, lambda ln, dt: True)
    view.zoom_fit()
    pictures["overview"] = _save(view, out_dir / f"{stem}.overview.png", size, size)
    core = layout.core or layout.die
    if core:
        cx, cy = (core[0] + core[2]) / 2000, (core[1] + core[3]) / 2000
        half = tile_um / 2
        tile, _ = gds_view(gds, setup, lambda ln, dt: True)
        tile.zoom_box(kdb.DBox(cx - half, cy - half, cx + half, cy + half))
        pictures["tile"] = _save(tile, out_dir / f"{stem}.tile.png", size, size)
    placement = _view()
    _placement_layout(layout, cells, kinds, placement)
    placement.max_hier()
    placement.zoom_fit()
    pictures["placement"] = _save(placement, out_dir / f"{stem}.placement.png", size, size)
    clock = _view()
    drawn, top = _placement_layout(layout, cells, kinds, clock, highlight={"clock", "flop"})
    clock_wires = top.shapes(_add_layer(clock, drawn, "clock_wires", CLOCK_WIRE, width=2))
    nets = clock_nets(layout)
    for shape in layout.shapes:
        if shape.net in nets:
            clock_wires.insert(kdb.Box(*shape.rect))
    clock.max_hier()
    clock.zoom_fit()
    pictures["clock"] = _save(clock, out_dir / f"{stem}.clock.png", size, size)
    return pictures
