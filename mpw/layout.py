"""The layout under precheck: a GDS read with klayout.db, its top cell, and what the checks ask of it
(layers present, shapes with their place, the pins drawn in the top cell), with coordinates printed in
um so that every problem can be found in a layout viewer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import klayout.db as kdb

from kchip.mpw.slots import GdsLayer, Rect, Slot

#: At most this many shapes are named per problem kind; the rest are counted.
MAX_LISTED = 10


class PrecheckInputError(ValueError):
    """The layout cannot be read (no such file, not a GDS)."""


@dataclass(frozen=True)
class PinShape:
    """A merged polygon on a metal's pin purpose in the top cell, with the distinct label texts
    that lie on it (sorted; empty for an unlabelled pin shape)."""

    metal: str
    polygon: kdb.Polygon
    labels: tuple[str, ...]


def fmt_um(value: float) -> str:
    """A coordinate in um, to the nanometre, without trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def listed(lines: list[str], total: int | None = None) -> list[str]:
    """``lines`` cut to :data:`MAX_LISTED`, with a last line counting the rest."""
    total = len(lines) if total is None else total
    return lines[:MAX_LISTED] + ([f"... and {total - MAX_LISTED} more"] if total > MAX_LISTED else [])


class CheckedLayout:
    """A GDS opened for the precheck of ``slot``, whose top cell should be called ``top_name``.

    For the checks that run tools or read the flow's results: ``run_dir`` is the kchip run folder the
    GDS came from (None for a bare GDS), ``workdir`` the folder they write their scripts, reports and
    logs to, ``pdk_root`` the PDK root (None: ``KCHIP_PDK_ROOT``, then ``PDK_ROOT``)."""

    def __init__(self, gds: Path, slot: Slot, top_name: str, *, run_dir: Path | None = None,
                 workdir: Path | None = None, pdk_root: Path | None = None):
        self.gds = Path(gds)
        self.slot = slot
        self.shuttle = slot.shuttle
        self.top_name = top_name
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.workdir = Path(workdir) if workdir is not None else None
        self.pdk_root = pdk_root
        if not self.gds.is_file():
            raise PrecheckInputError(f"no GDS file at {self.gds}")
        self.layout = kdb.Layout()
        try:
            self.layout.read(str(self.gds))
        except RuntimeError as exc:
            raise PrecheckInputError(f"cannot read {self.gds} as a layout: {exc}") from None

    # -- cells ---------------------------------------------------------------------------------
    @cached_property
    def tops(self) -> list[kdb.Cell]:
        return list(self.layout.top_cells())

    @cached_property
    def top(self) -> kdb.Cell | None:
        """The top cell named ``top_name``, else the only top cell, else None."""
        named = [c for c in self.tops if c.name == self.top_name]
        if named:
            return named[0]
        return self.tops[0] if len(self.tops) == 1 else None

    def no_top(self) -> str:
        """Why a check that looks into the top cell is skipped, for ``top is None``."""
        return (f"no top cell named {self.top_name} and {len(self.tops)} top cells to choose from "
                f"(see top_cell)")

    # -- geometry ------------------------------------------------------------------------------
    def box(self, rect: Rect) -> kdb.Box:
        """A slot rectangle (shuttle database units) in the layout's database units."""
        um = [self.shuttle.um(v) for v in rect]
        return kdb.DBox(*um).to_itype(self.layout.dbu)

    def length(self, value: int) -> int:
        """A slot length (shuttle database units) in the layout's database units."""
        return round(self.shuttle.um(value) / self.layout.dbu)

    @cached_property
    def die(self) -> kdb.Box:
        return self.box(self.slot.die)

    def fmt_box(self, box: kdb.Box) -> str:
        d = box.to_dtype(self.layout.dbu)
        return f"({fmt_um(d.left)}, {fmt_um(d.bottom)})-({fmt_um(d.right)}, {fmt_um(d.top)})"

    def fmt_point(self, point: kdb.Point) -> str:
        d = point.to_dtype(self.layout.dbu)
        return f"({fmt_um(d.x)}, {fmt_um(d.y)})"

    def describe(self, shape: kdb.Shape, trans: kdb.ICplxTrans | None = None) -> str:
        """``box (x1, y1)-(x2, y2)``, or ``text 'name' at (x, y)``, moved by ``trans`` (to the top).
        A text's place is its bounding box, a point (``Shape.text_pos`` is a vector: no displacement)."""
        trans = trans or kdb.ICplxTrans()
        if shape.is_text():
            return f"text '{shape.text_string}' at {self.fmt_point(shape.bbox().transformed(trans).center())}"
        kind = "box" if shape.is_box() else "path" if shape.is_path() else "polygon"
        return f"{kind} {self.fmt_box(shape.bbox().transformed(trans))}"

    # -- layers --------------------------------------------------------------------------------
    def index(self, layer: GdsLayer) -> int | None:
        """The layout's layer index of a GDS layer/datatype, None when the GDS has no such layer."""
        return self.layout.find_layer(layer[0], layer[1])

    def label(self, layer: GdsLayer) -> str:
        """``met4.pin (71/16)``."""
        name = self.shuttle.layer_name(layer)
        number = f"{layer[0]}/{layer[1]}"
        return number if name == number else f"{name} ({number})"

    @cached_property
    def present_layers(self) -> dict[GdsLayer, int]:
        """Every GDS layer/datatype holding shapes in any cell, with its number of shapes (counted per
        cell, not per placement)."""
        present = {}
        for index in self.layout.layer_indexes():
            count = sum(cell.shapes(index).size() for cell in self.layout.each_cell())
            if count:
                info = self.layout.get_info(index)
                present[(info.layer, info.datatype)] = count
        return present

    def first_shape(self, layer: GdsLayer) -> str:
        """Where the first shape of ``layer`` is: in top-cell coordinates when a top cell reaches it,
        else in the coordinates of the cell holding it."""
        index = self.index(layer)
        for top in self.tops:
            it = kdb.RecursiveShapeIterator(self.layout, top, index)
            if not it.at_end():
                return f"{self.describe(it.shape(), it.trans())} in cell {it.cell().name}"
        for cell in self.layout.each_cell():
            for shape in cell.shapes(index).each():
                return f"{self.describe(shape)} in cell {cell.name} (placed nowhere)"
        return "no shape"

    def shapes_outside(self, box: kdb.Box) -> tuple[list[str], int]:
        """Shapes under the top cell not inside ``box`` (top-cell coordinates): up to
        :data:`MAX_LISTED` described, and their total number."""
        found, total = [], 0
        for index in self.layout.layer_indexes():
            info = self.layout.get_info(index)
            it = kdb.RecursiveShapeIterator(self.layout, self.top, index)
            while not it.at_end():
                shape, trans = it.shape(), it.trans()
                if not shape.bbox().transformed(trans).inside(box):
                    total += 1
                    if len(found) < MAX_LISTED:
                        found.append(f"{self.describe(shape, trans)} on {self.label((info.layer, info.datatype))} "
                                     f"in cell {it.cell().name}")
                it.next()
        return found, total

    # -- pins ----------------------------------------------------------------------------------
    def _labels(self, layer: GdsLayer) -> list[tuple[str, kdb.Point]]:
        index = self.index(layer)
        if index is None:
            return []
        return [(s.text_string, s.bbox().center()) for s in self.top.shapes(index).each(kdb.Shapes.STexts)]

    @cached_property
    def pin_shapes(self) -> list[PinShape]:
        """Every merged pin-purpose polygon of every metal in the top cell, with its labels, by metal
        and then left to right."""
        found = []
        for metal in self.shuttle.metals.values():
            index = self.index(metal.pin)
            if index is None:
                continue
            region = kdb.Region(self.top.shapes(index))
            region.merge()
            labels = self._labels(metal.label)
            for polygon in region.each():
                names = sorted({text for text, point in labels if polygon.inside(point)})
                found.append(PinShape(metal.name, polygon, tuple(names)))
        return sorted(found, key=lambda p: (p.metal, p.polygon.bbox().left, p.polygon.bbox().bottom))

    @cached_property
    def bare_labels(self) -> list[tuple[str, str, kdb.Point]]:
        """Labels (metal, text, place) of the top cell that lie on no pin shape of their metal."""
        bare = []
        for metal in self.shuttle.metals.values():
            shapes = [p.polygon for p in self.pin_shapes if p.metal == metal.name]
            bare += [(metal.name, text, point) for text, point in self._labels(metal.label)
                     if not any(polygon.inside(point) for polygon in shapes)]
        return bare
