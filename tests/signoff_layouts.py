"""Small SKY130 layouts for the signoff tests, built with KLayout from the PDK's standard-cell GDS.

One row of cells abutted on the site grid (so the power rails and wells join), an li1 -> mcon ->
met1 wire from the first inverter's output to the second inverter's input, and text labels on
li1/met1 for the ports. Not a fixture file: imported by tests/test_signoff_*.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import klayout.db as kdb

LIB = "sky130_fd_sc_hd__"
LI1, MCON, MET1 = (67, 20), (67, 44), (68, 20)
LI1_LABEL, MET1_LABEL = (67, 5), (68, 5)
ROW_HEIGHT_UM = 2.72


def boxes_gds(path: Path, layer: tuple[int, int], boxes, cell: str) -> Path:
    """A GDS at ``path`` whose one cell ``cell`` holds ``boxes`` (um) on GDS ``layer``."""
    layout = kdb.Layout()
    layout.dbu = 0.001
    top = layout.create_cell(cell)
    index = layout.layer(*layer)
    for box in boxes:
        top.shapes(index).insert(kdb.DBox(*box))
    layout.write(str(path))
    return path


def cell_widths(lef: Path) -> dict[str, float]:
    """Cell widths (um) from the LEF ``SIZE`` statements."""
    text = Path(lef).read_text()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^MACRO (\S+)\s.*?^\s*SIZE\s+([\d.]+)\s+BY", text, re.M | re.S)}


class Row:
    """A row of standard cells placed left to right, with helpers to add shapes in microns."""

    def __init__(self, pdk, top: str):
        self.layout = kdb.Layout()
        self.layout.read(str(pdk.gds))
        self.top = self.layout.create_cell(top)
        self.widths = cell_widths(pdk.lef)
        self.x = 0.0
        self.placed: list[tuple[str, float]] = []

    def um(self, value: float) -> int:
        return round(value / self.layout.dbu)

    def place(self, name: str, count: int = 1) -> list[float]:
        """Abut ``count`` instances of ``LIB + name``; return their x positions (um)."""
        xs = []
        for _ in range(count):
            cell = self.layout.cell(LIB + name)
            self.top.insert(kdb.CellInstArray(cell.cell_index(), kdb.Trans(self.um(self.x), 0)))
            xs.append(self.x)
            self.placed.append((name, self.x))
            self.x += self.widths[LIB + name]
        return xs

    def box(self, layer: tuple[int, int], x1: float, y1: float, x2: float, y2: float) -> None:
        index = self.layout.layer(*layer)
        self.top.shapes(index).insert(kdb.Box(self.um(x1), self.um(y1), self.um(x2), self.um(y2)))

    def label(self, layer: tuple[int, int], text: str, x: float, y: float) -> None:
        index = self.layout.layer(*layer)
        self.top.shapes(index).insert(kdb.Text(text, kdb.Trans(self.um(x), self.um(y))))

    def mcon(self, x: float, y: float) -> None:
        """A 0.17 um li1-met1 contact with its lower-left corner at (x, y)."""
        self.box(MCON, x, y, x + 0.17, y + 0.17)

    def write(self, path: Path) -> Path:
        """Write the top cell and the library cells it uses (nothing else) to ``path``."""
        keep = {self.top.cell_index(), *self.top.called_cells()}
        unused = [c.cell_index() for c in self.layout.each_cell() if c.cell_index() not in keep]
        self.layout.delete_cells(unused)
        self.layout.write(str(path))
        return path


def inverter_chain(pdk, path: Path, *, taps: bool = True, met1_spacing_error: bool = False,
                   fill_before: int = 0) -> Path:
    """``in -> inv_1 -> inv_1 -> out`` in one row, top cell ``chain``.

    ``taps`` puts a tap cell at the left end (and the right end unless ``fill_before`` is set);
    ``fill_before`` fill_8 cells (3.68 um each) go between the left tap and the inverters;
    ``met1_spacing_error`` adds a floating met1 plate 0.07 um above the wire (met1.2 wants 0.14).
    """
    row = Row(pdk, "chain")
    if taps:
        row.place("tapvpwrvgnd_1")
    row.place("fill_8", fill_before)
    first, second = row.place("inv_1", 2)
    if taps and not fill_before:
        row.place("tapvpwrvgnd_1")
    # inv_1 pins (LEF): A li1 x 0.32..0.65 y 1.075..1.315; Y li1 x 0.82..1.05 y 0.885..1.485.
    row.mcon(first + 0.86, 1.105)
    row.mcon(second + 0.40, 1.105)
    row.box(MET1, first + 0.80, 1.045, second + 0.63, 1.335)
    if met1_spacing_error:
        row.box(MET1, first + 0.80, 1.405, second + 0.63, 1.705)
    row.label(LI1_LABEL, "in", first + 0.48, 1.2)
    row.label(LI1_LABEL, "out", second + 0.93, 2.0)
    row.label(MET1_LABEL, "VPWR", row.x / 2, ROW_HEIGHT_UM)
    row.label(MET1_LABEL, "VGND", row.x / 2, 0.0)
    return row.write(path)


CHAIN_NETLIST = """\
module chain(in, out);
  input in;
  wire in;
  output out;
  wire out;
  wire mid;
  sky130_fd_sc_hd__inv_1 _1_ (
    .A(in),
    .Y(mid)
  );
  sky130_fd_sc_hd__inv_1 _2_ (
    .A({second_input}),
    .Y(out)
  );
endmodule
"""


def chain_netlist(path: Path, *, second_input: str = "mid") -> Path:
    """The gate-level netlist of :func:`inverter_chain` (yosys ``write_verilog -noattr`` style)."""
    path.write_text(CHAIN_NETLIST.format(second_input=second_input))
    return path
