"""LVS cells that match no CDL form are compared by their own extraction: the metrics must count them,
and a cell whose layout does match its CDL (IHP's antenna diode cell) must not be one of them."""

from __future__ import annotations

import re
from pathlib import Path

import klayout.db as kdb

from kchip.flows.signoff import lvs
from kchip.tools.base import Invocation
from signoff_layouts import cell_widths, chain_netlist, inverter_chain

INV = "sky130_fd_sc_hd__inv_1"


class CdlSwapped:
    """The PDK with its standard-cell CDL replaced by another file."""

    def __init__(self, pdk, cdl: Path):
        self._pdk, self.cdl = pdk, cdl

    def __getattr__(self, name):
        return getattr(self._pdk, name)


def cdl_with_a_wrong_inverter(pdk, dest: Path) -> Path:
    """The PDK's CDL with inv_1's n-transistor gated by its output: no finger form of it matches."""
    text = Path(pdk.cdl).read_text()
    subckt = re.search(rf"^\.SUBCKT {INV} .*?^\.ENDS", text, re.M | re.S)
    wrong = subckt.group(0).replace("MMIN1 Y A VGND", "MMIN1 Y Y VGND")
    assert wrong != subckt.group(0)
    dest.write_text(text[:subckt.start()] + wrong + text[subckt.end():])
    return dest


def test_a_cell_with_no_matching_cdl_form_is_counted_even_when_lvs_matches(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds")
    wrong_pdk = CdlSwapped(pdk, cdl_with_a_wrong_inverter(pdk, tmp_path / "wrong.cdl"))
    workdir = tmp_path / "lvs"
    result = lvs.run_lvs(gds, chain_netlist(tmp_path / "chain.v"), "chain", wrong_pdk, workdir,
                         Invocation(workdir))
    assert result.matched and result.unverified_cells == (INV,)
    assert result.metrics() == {"lvs__mismatch__count": 0, "lvs__unverified_cells__count": 1}
    assert set(result.metrics()) <= set(lvs.METRIC_UNITS)


def test_a_fully_verified_match_counts_no_unverified_cells(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds")
    workdir = tmp_path / "lvs"
    result = lvs.run_lvs(gds, chain_netlist(tmp_path / "chain.v"), "chain", pdk, workdir, Invocation(workdir))
    assert result.matched and result.unverified_cells == ()
    assert result.metrics() == {"lvs__mismatch__count": 0, "lvs__unverified_cells__count": 0}


IHP_DIODE = "sg13g2_antennanp"
IHP_GUARDED = """\
module guarded(a, d, y);
  input a;
  input d;
  output y;
  sg13g2_inv_1 _1_ (.A(a), .Y(y));
  sg13g2_antennanp ANTENNA_0 (.A(d));
endmodule
"""


def ihp_guarded(ihp, path: Path) -> Path:
    """``sg13g2_inv_1`` (``a`` -> ``y``) and the antenna diode cell on ``d``, abutted in one row, with
    Metal1 port labels on the pins of the LEF (inv_1 A x 0.31..0.625 y 1.52..1.85, Y x 0.855..1.085
    y 0.61..3.175; antennanp A x 0.38..0.63 y 1.13..2.68)."""
    layout = kdb.Layout()
    layout.read(str(ihp.gds))
    top = layout.create_cell("guarded")

    def um(value: float) -> int:
        return round(value / layout.dbu)

    inverter_width = cell_widths(ihp.lef)["sg13g2_inv_1"]
    for name, x in (("sg13g2_inv_1", 0.0), (IHP_DIODE, inverter_width)):
        top.insert(kdb.CellInstArray(layout.cell(name).cell_index(), kdb.Trans(um(x), 0)))
    gds = ihp.data["gds"]
    labels = layout.layer(gds["layers"]["Metal1"][0], gds["label_datatype"])
    for text, x, y in (("a", 0.47, 1.68), ("y", 0.97, 2.0), ("d", inverter_width + 0.5, 1.64),
                       ("VDD", 1.0, 3.78), ("VSS", 1.0, 0.0)):
        top.shapes(labels).insert(kdb.Text(text, kdb.Trans(um(x), um(y))))
    keep = {top.cell_index(), *top.called_cells()}
    layout.delete_cells([c.cell_index() for c in layout.each_cell() if c.cell_index() not in keep])
    layout.write(str(path))
    return path


def ihp_lvs(ihp, tmp_path, pdk=None, name="lvs"):
    netlist = tmp_path / "guarded.v"
    netlist.write_text(IHP_GUARDED)
    workdir = tmp_path / name
    return lvs.run_lvs(ihp_guarded(ihp, tmp_path / "guarded.gds"), netlist, "guarded", pdk or ihp, workdir,
                       Invocation(workdir))


def test_the_ihp_antenna_diode_cell_extracts_both_diodes_and_is_verified_by_its_cdl(ihp, tmp_path):
    """The CDL has an n+ diode to VSS (dantenna, a ``dsubcircuit`` in IHP's magic tech, which magic
    8.3.105 does not know) and a p+ diode to VDD (dpantenna): the layout must extract both, so the
    cell matches its CDL instead of being compared with its own extraction."""
    result = ihp_lvs(ihp, tmp_path)
    cell = lvs._layout_subckt(result.layout_netlist, IHP_DIODE)
    assert re.search(r"^D\S* VSS A dantenna .*\ba=0\.6084p", cell, re.M), cell
    assert re.search(r"^X\S* A VDD dpantenna ", cell, re.M), cell
    assert result.matched and result.unverified_cells == ()
    assert result.metrics() == {"lvs__mismatch__count": 0, "lvs__unverified_cells__count": 0}


def test_the_ihp_antenna_diodes_are_compared_by_polarity_and_area(ihp, tmp_path):
    text = Path(ihp.cdl).read_text()
    card = "DD1 VSS A dantenna m=1 w=780n l=780n a=608.4f p=3.12u"
    assert card in text
    reversed_diode = tmp_path / "reversed.cdl"
    reversed_diode.write_text(text.replace(card, card.replace("VSS A", "A VSS")))
    result = ihp_lvs(ihp, tmp_path, CdlSwapped(ihp, reversed_diode), "reversed")
    assert result.unverified_cells == (IHP_DIODE,)
    larger_diode = tmp_path / "larger.cdl"
    larger_diode.write_text(text.replace(card, card.replace("a=608.4f p=3.12u", "a=1.2p p=4.4u")))
    result = ihp_lvs(ihp, tmp_path, CdlSwapped(ihp, larger_diode), "larger")
    assert not result.matched and result.result_text.endswith("(property errors)")
