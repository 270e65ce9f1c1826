"""Tests for kchip.flows.signoff.drc: magic DRC of small layouts built from the PDK's cells."""

import pytest

from kchip.flows.signoff import drc
from kchip.flows.signoff.magic_tech import rule_id
from kchip.tools import magic
from kchip.tools.base import Invocation, ToolError
from signoff_layouts import inverter_chain




def check(pdk, tmp_path, gds, **options):
    workdir = tmp_path / "drc"
    return drc.run_drc(gds, "chain", pdk, workdir, Invocation(workdir), **options)


def test_read_report(tmp_path):
    report = tmp_path / "drc.tsv"
    report.write_text("Metal1 spacing < 0.14um (met1.2)\t1.0\t2.0\t1.5\t2.25\n"
                      "Metal1 spacing < 0.14um (met1.2)\t3\t4\t5\t6\nLi width (li.1)\t0\t0\t1\t1\n")
    errors = drc.read_report(report)
    result = drc.DrcResult(errors, (), report, report, report)
    assert errors[0].box == (1.0, 2.0, 1.5, 2.25)
    assert result.errors_by_rule == {"Metal1 spacing < 0.14um (met1.2)": 2, "Li width (li.1)": 1}
    assert result.metrics() == {"drc__errors__count": 3}


def test_clean_layout_has_no_errors_with_every_rule(pdk, tmp_path):
    result = check(pdk, tmp_path, inverter_chain(pdk, tmp_path / "chain.gds"), cif_rules="keep")
    assert result.errors == ()
    assert result.dropped_rules == ()
    assert result.metrics() == {"drc__errors__count": 0}
    assert "requires magic" not in result.tech.read_text()
    assert "magic" in (tmp_path / "drc" / "commands.sh").read_text()


def test_spacing_violation_is_counted_where_it_is(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds", met1_spacing_error=True)
    result = check(pdk, tmp_path, gds)
    assert set(rule_id(rule) for rule in result.errors_by_rule) == {"met1.2"}
    assert result.total == sum(result.errors_by_rule.values()) > 0
    for error in result.errors:  # near the gap between wire (top 1.335 um) and plate (bottom 1.405 um)
        assert 1.2 <= error.box[1] and error.box[3] <= 1.55


def test_missing_taps_found_by_magic_or_reported_dropped(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds", taps=False)
    kept = check(pdk, tmp_path, gds, cif_rules="keep")
    assert {"LU.2", "LU.3", "nwell.4"} == {rule_id(rule) for rule in kept.errors_by_rule}
    dropped = check(pdk, tmp_path, gds, cif_rules="drop")
    assert dropped.total == 0
    assert {"LU.2", "LU.3", "nwell.4"} <= {rule.rule_id for rule in dropped.dropped_rules}


def test_signoff_covers_dropped_rules_with_klayout(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds", taps=False)
    workdir = tmp_path / "signoff"
    result = drc.run_drc_signoff(gds, "chain", pdk, workdir, Invocation(workdir), cif_rules="drop")
    assert result.magic.total == 0
    assert result.layout_rules.errors_by_rule["LU.2"] > 0 and result.layout_rules.errors_by_rule["LU.3"] > 0
    assert result.metrics()["drc__errors__count"] == result.layout_rules.total
    unchecked = " ".join(result.unchecked_rules)
    assert "(LU.2.1)" in unchecked and "(LU.2)" not in unchecked and "(met1.7)" not in unchecked


def test_crash_with_cif_rules_falls_back_to_dropping_them(pdk, tmp_path, monkeypatch):
    real_run = magic.run_script

    def crash_on_full_deck(invocation, tech, body, script, **kwargs):
        if "nocif" not in tech.name:
            raise magic.MagicCrashed("simulated segmentation fault")
        return real_run(invocation, tech, body, script, **kwargs)

    monkeypatch.setattr(magic, "run_script", crash_on_full_deck)
    result = check(pdk, tmp_path, inverter_chain(pdk, tmp_path / "chain.gds"))
    assert result.dropped_rules and result.tech.name == "sky130A-nocif.tech"
    with pytest.raises(magic.MagicCrashed):
        check(pdk, tmp_path, inverter_chain(pdk, tmp_path / "chain.gds"), cif_rules="keep")


def test_bad_input_is_named(pdk, tmp_path):
    gds = inverter_chain(pdk, tmp_path / "chain.gds")
    with pytest.raises(ValueError, match="'fast'.*auto"):
        check(pdk, tmp_path, gds, cif_rules="fast")
    with pytest.raises(FileNotFoundError, match="missing.gds"):
        check(pdk, tmp_path, tmp_path / "missing.gds")
    with pytest.raises(ToolError, match="cell nope is not in"):
        drc.run_drc(gds, "nope", pdk, tmp_path / "w", Invocation(tmp_path / "w"))


def test_report_gives_each_unchecked_rule_its_reason():
    from kchip.flows.report import _unchecked_rules
    drc = {"unchecked_rules": ["A (x.1)", "B (x.2)", "C (y.1)"], "dropped_reason": "old magic",
           "unchecked_reasons": {"A (x.1)": "old magic", "B (x.2)": "old magic",
                                 "C (y.1)": "magic 8.3.105 did not accept tech line 9: unknown bend option both"}}
    assert _unchecked_rules(drc) == ("A (x.1); B (x.2) (why: old magic); C (y.1) (why: magic 8.3.105 did not "
                                     "accept tech line 9: unknown bend option both)")
    # a drc.json written before the reasons were kept per rule
    assert _unchecked_rules({"unchecked_rules": ["A (x.1)"], "dropped_reason": "r"}) == "A (x.1) (why: r)"
    assert _unchecked_rules({}) == "none"


def test_report_names_the_rules_checked_with_klayout_instead_of_magic():
    from kchip.flows.report import _instead_of_magic
    drc = {"dropped_from_magic": ["A (x.1)"], "instead_of_magic": {"W1 (M1.e)": "no run length", "W2 (M2.e)":
                                                                    "no run length"}}
    assert _instead_of_magic(drc) == "A (x.1); W1 (M1.e); W2 (M2.e) (why: no run length)"
    assert _instead_of_magic({}) == ""


def test_sky130_has_klayout_check_nothing_instead_of_magic(pdk):
    from kchip.flows.signoff.layout_rules import magic_replaced
    assert magic_replaced(pdk) == {}
