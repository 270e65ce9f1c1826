"""Tests for kchip.flows.signoff.magic_tech: the run-time derived magic tech file."""

import re
from pathlib import Path

import pytest

from kchip.flows.signoff.magic_tech import derive_magic_tech, rule_id

TINY_TECH = """\
tech
  sky130A
end
version
 version 1.0
 requires magic-8.3.111
end
drc
 width m1 140 "Metal1 width < %d (met1.1)"
variants (full)
 cifmaxwidth m1_hole_empty 0 bend_illegal \\
\t"Min area of metal1 holes > 0.14um^2 (met1.7)"
 cifspacing m1_halo m1_halo 280 touching_ok "Halo spacing < %d (met1.3a)"
variants *
 spacing m1 m1 140 touching_ok "Metal1 spacing < %d (met1.2)"
end
extract
 cifmaxwidth not_a_drc_rule 0
end
"""


def test_rule_id_is_last_parenthesised_group():
    assert rule_id("Spacing < 0.3um (met3.2)") == "met3.2"
    assert rule_id("MV diffusion (hvi) spacing < %d (hvi.5 + nsd/psd.5)") == "hvi.5 + nsd/psd.5"
    assert rule_id("no id here") == "no id here"


def test_version_requirement_always_removed(tmp_path):
    source = tmp_path / "in.tech"
    source.write_text(TINY_TECH)
    dropped = derive_magic_tech(source, tmp_path / "out.tech", drop_cif_rules=False)
    out = (tmp_path / "out.tech").read_text()
    assert dropped == ()
    assert "requires magic" not in out
    assert out.count("\n") == TINY_TECH.count("\n") - 1


def test_cif_rules_dropped_only_in_drc_section(tmp_path):
    source = tmp_path / "in.tech"
    source.write_text(TINY_TECH)
    dropped = derive_magic_tech(source, tmp_path / "out.tech", drop_cif_rules=True)
    out = (tmp_path / "out.tech").read_text()
    assert [(r.keyword, r.rule_id) for r in dropped] == [("cifmaxwidth", "met1.7"), ("cifspacing", "met1.3a")]
    assert dropped[0].description == "Min area of metal1 holes > 0.14um^2 (met1.7)"
    assert "m1_hole_empty" not in out and "m1_halo" not in out and "bend_illegal \\" not in out
    assert "(met1.1)" in out and "(met1.2)" in out
    assert "cifmaxwidth not_a_drc_rule" in out


def test_tech_without_drc_section_is_refused(tmp_path):
    source = tmp_path / "in.tech"
    source.write_text("tech\n sky130A\nend\n")
    with pytest.raises(ValueError, match="drc"):
        derive_magic_tech(source, tmp_path / "out.tech", drop_cif_rules=True)




def test_pdk_tech_drops_every_cif_rule_of_drc_section(pdk, tmp_path):
    text = Path(pdk.magic_tech).read_text()
    drc = text[text.index("\ndrc\n"):]
    drc = drc[:drc.index("\nend\n")]
    expected = len(re.findall(r"^\s*cif(?:maxwidth|spacing)\s", drc, re.M))
    dropped = derive_magic_tech(pdk.magic_tech, tmp_path / "sky130A.tech", drop_cif_rules=True)
    assert len(dropped) == expected > 0
    wanted = {"LU.2", "LU.3", "nwell.4", "met1.7", "met2.7", "met1.3a", "met4.5a"}
    assert wanted <= {r.rule_id for r in dropped}
    derived = (tmp_path / "sky130A.tech").read_text()
    assert "cifmaxwidth ptap_missing" not in derived and "requires magic" not in derived
