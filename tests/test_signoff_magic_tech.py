"""Tests for kchip.flows.signoff.magic_tech: the run-time derived magic tech file."""

import re
from pathlib import Path

import pytest

from kchip.flows.signoff.magic_tech import derive_magic_tech, diode_subcircuit_as_ndiode, rule_id

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


def test_a_diode_subcircuit_is_written_in_the_ndiode_class_of_older_magic(tmp_path):
    """magic 8.3.105 has no ``dsubcircuit`` ("Illegal device"): the copy writes the diode in the
    ``ndiode`` class (same nodes, same order), with its area and perimeter for its w and l."""
    source = tmp_path / "in.tech"
    source.write_text(TINY_TECH.replace(" cifmaxwidth not_a_drc_rule 0\n", (
        " device csubcircuit dpantenna *pdiode nwell w=w l=l\n"
        " device dsubcircuit dantenna *ndiode pwell,space/w w=w l=l\n"
        " device dsubcircuit dlong *ndiode \\\n   pwell,space/w w=w l=l\n"
        " device dsubcircuit dkeep *ndiode pwell,space/w a=area\n")))
    derive_magic_tech(source, tmp_path / "out.tech", drop_cif_rules=False)
    extract = (tmp_path / "out.tech").read_text().split("\nextract\n")[1].splitlines()
    assert extract == [" device csubcircuit dpantenna *pdiode nwell w=w l=l",
                       " device ndiode dantenna *ndiode pwell,space/w a=a p=p",
                       " device ndiode dlong *ndiode pwell,space/w a=a p=p",
                       " device ndiode dkeep *ndiode pwell,space/w a=area p=p", "end"]
    assert diode_subcircuit_as_ndiode(" device dsubcircuit d *ndiode pwell ") == "device ndiode d *ndiode pwell a=a p=p"
    assert diode_subcircuit_as_ndiode("  device mosfet n nfet *ndiff") == "  device mosfet n nfet *ndiff"


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


REJECT_TECH = """\
tech
  madeup
end
drc
 style drc variants (fast),(full)
 width m1 100 "Metal1 width < %d (M1.a)"
 maxwidth m1fill 5000 both "Metal1 fill width > %d (MF.1)"
 spacing m1 via 50 manhattan_dist "Metal1 to via < %d (M1.v)"
 edge4way m1 ~(m1)/a 30 ~(m1)/a m1 30 \\
\tmanhattan_dist "Metal1 notch < %d (M1.n)"
 width m2 100 angles \\
\t"Metal2 at 45 degrees width < %d (M2.g)"
 maxwidth m2 300 bend_ok
variants (fast)
 width m3 90 angles "Metal3 at 45 degrees (fast only) < %d (M3.g)"
variants *
 spacing m3 m3 90 touching_ok "Metal3 spacing < %d (M3.b)"
end
"""

# magic's own format: "FILE: line N: section S:" then the message on a tab-indented line; the
# section is read once per style, so complaints repeat
REJECT_LOG = """\
Magic 8.3 revision 105 - Compiled on Mon, 06 Dec 2021 22:32:27 +0200.
DRC style is now "drc(full)"
kchip: magic script finished

--- stderr ---
/tmp/x/in.tech: line 7: section drc:
\tunknown bend option both
/tmp/x/in.tech: line 8: section drc:
\tBadly formed drc spacing line:  need "touching_ok", "touching_illegal", or "surround_ok".
/tmp/x/in.tech: line 10: section drc:
\tUnrecognized plane name "Metal1 notch < %d (M1.n)"
/tmp/x/in.tech: line 10: section drc:
\tIgnoring bad plane argument.
/tmp/x/in.tech: line 12: section drc:
\tRule type "width" usage: width layers width why
/tmp/x/in.tech: line 13: section drc:
\tRule type "maxwidth" usage: maxwidth layers maxwidth bends why
/tmp/x/in.tech: line 15: section drc:
\tRule type "width" usage: width layers width why
/tmp/x/in.tech: line 40: section drc:
\tSomething magic said about a line it read
/tmp/x/in.tech: line 3: section cifoutput:
\tUnknown statement "repeat".
/tmp/x/in.tech: line 7: section drc:
\tunknown bend option both
"""


def test_magic_log_complaints_are_read():
    from kchip.tools.magic import tech_errors, version_in_log
    errors = tech_errors(REJECT_LOG, "drc")
    assert len(errors) == 9 and errors[0].line == 7 and errors[0].message == "unknown bend option both"
    assert errors[3].message == "Ignoring bad plane argument."
    assert [e.section for e in tech_errors(REJECT_LOG)].count("cifoutput") == 1
    assert version_in_log(REJECT_LOG) == "8.3.105"


def test_rules_magic_refused_are_mapped_to_their_rule_ids(tmp_path):
    from kchip.flows.signoff.magic_tech import rejected_rules
    from kchip.tools import magic
    tech = tmp_path / "in.tech"
    tech.write_text(REJECT_TECH)
    errors = [(e.line, e.message) for e in magic.tech_errors(REJECT_LOG, "drc")]
    found = rejected_rules(tech, errors, "drc(full)", kept_message=magic.TECH_RULE_KEPT_MESSAGE,
                           kept_companion=magic.TECH_RULE_KEPT_COMPANION)
    assert [(r.keyword, r.rule_id, r.line) for r in found[:3]] == [
        ("maxwidth", "MF.1", 7), ("spacing", "M1.v", 8), ("width", "M2.g", 12)]
    assert found[0].description == "Metal1 fill width > %d (MF.1)"
    assert found[0].reason == "line 7: unknown bend option both"  # repeated complaint merged
    raw = [r.description for r in found[3:]]
    # a statement without a message, and a line outside the drc section, come back as they are
    assert raw == ["tech line 13: maxwidth m2 300 bend_ok", "tech line 40: (no such line)"]
    assert len(found) == 5  # neither the edge rule magic kept (plane argument ignored) nor the fast-only one
    assert found[3].reason.startswith('line 13: Rule type "maxwidth" usage')
    # the fast-only rule is not part of drc(full); without a style every complaint counts
    everything = rejected_rules(tech, errors)
    assert {r.rule_id for r in everything} >= {"M3.g", "M1.n"}


def test_rules_left_out_by_id_whatever_their_keyword(tmp_path):
    """``leave_out`` removes every statement of those rule ids (each reported once), CIF ones kept."""
    source = tmp_path / "in.tech"
    source.write_text(TINY_TECH.replace(' spacing m1 m1 140 touching_ok "Metal1 spacing < %d (met1.2)"',
                                        ' widespacing m1 305 1005 m1 220 touching_ok "Wide < %d (met1.2)"\n'
                                        ' widespacing m2 305 1005 m1 220 touching_ok "Wide < %d (met1.2)"'))
    dropped = derive_magic_tech(source, tmp_path / "out.tech", drop_cif_rules=False, leave_out={"met1.2"})
    out = (tmp_path / "out.tech").read_text()
    assert [(r.keyword, r.rule_id) for r in dropped] == [("widespacing", "met1.2")]
    assert "widespacing" not in out and "(met1.7)" in out and "(met1.1)" in out
