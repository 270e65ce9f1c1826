"""LVS cells that match no CDL form are compared by their own extraction: the metrics must count them."""

from __future__ import annotations

import re
from pathlib import Path

from kchip.flows.signoff import lvs
from kchip.tools.base import Invocation
from signoff_layouts import chain_netlist, inverter_chain

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
