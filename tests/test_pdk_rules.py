"""The process-rules object: SKY130's values from the tech LEF and descriptor, and a descriptor with a
missing or wrong entry rejected with the file, the key, the value and what is valid."""

from __future__ import annotations

import copy
import re

import pytest

from kchip.formats.lef import read_macros, read_sites, read_technology
from kchip.pdk import Pdk, PdkError
from kchip.pdk.rules import build_rules, load_rules


def test_sky130_grid_and_cells_come_from_the_lef_and_descriptor(pdk):
    rules = load_rules(pdk)
    assert rules.origin == (230, 170) and rules.step == (460, 340)
    assert rules.node_stride == ((1, 1), (1, 1), (1, 2), (2, 2))
    assert rules.horizontal == (True, False, True, False)
    assert rules.grid == 5 and rules.site == (460, 2720)
    assert rules.via("li1", "met1").name == "L1M1_PR"
    assert (rules.cells.buffer_input, rules.cells.buffer_output) == ("A", "X")
    assert rules.signoff.corner == "tt" and rules.signoff.magic_tech_name == "sky130A"


@pytest.fixture(scope="module")
def lef(pdk):
    return read_technology(pdk.tech_lef), read_macros(pdk.lef)


def _build(pdk, lef, edit):
    data = copy.deepcopy(pdk.data)
    edit(data)
    return build_rules(Pdk(pdk.name, pdk.root, data), pdk.descriptor, *lef)


def test_a_missing_key_names_the_file_and_the_key(pdk, lef):
    with pytest.raises(PdkError) as error:
        _build(pdk, lef, lambda d: d["routing"].pop("via_suffix"))
    assert str(error.value) == f"{pdk.descriptor}: routing.via_suffix: missing; expected a string"


def test_a_wrong_layer_names_the_value_and_the_valid_layers(pdk, lef):
    with pytest.raises(PdkError) as error:
        _build(pdk, lef, lambda d: d["routing"].update(layers=["met1", "metal2"]))
    assert str(error.value) == (f"{pdk.descriptor}: routing.layers: 'metal2' is not valid; valid: "
                                "li1, met1, met2, met3, met4, met5")


@pytest.mark.parametrize("key, value, expected", [
    ("stdcell.buffer_output_pin", "Y", "'Y' is not a pin of sky130_fd_sc_hd__clkbuf_16; valid: A, VGND, VPWR, X"),
    ("signoff.corner", "typ", "'typ' is not valid; valid: ff, ss, tt"),
    ("stdcell.site", "unit", "'unit' is not valid; valid: unithd, unithddbl"),
    ("routing.via_suffix", "_XX", "'_XX': no via of that name joins li1 and met1"),
    ("routing.strap_layer", "met3", "'met3' is not valid; valid: met2, met4"),
    ("stdcell.tap_max_distance_um", "14", "'14' is not a number"),
])
def test_a_wrong_value_is_named_with_what_is_valid(pdk, lef, key, value, expected):
    section, name = key.split(".")
    with pytest.raises(PdkError) as error:
        _build(pdk, lef, lambda d: d[section].update({name: value}))
    assert str(error.value).startswith(f"{pdk.descriptor}: {key}: {expected}")


def test_routing_layers_must_be_consecutive_above_the_pin_layer(pdk, lef):
    with pytest.raises(PdkError, match=r"routing.layers: \['met1', 'met3'\] must be the routing layers right above"):
        _build(pdk, lef, lambda d: d["routing"].update(layers=["met1", "met3"]))


def test_the_ihp_rules_load_from_its_own_lef_files(pdk):
    """IHP SG13G2's LEF files differ from SKY130's: ``Via`` in mixed case, vias in every orientation
    and size, spacing tables with ``WIDTH 0.00``, the site in the cell LEF, and a property definition
    ``MACRO CatenaDesignType STRING ;`` before the macros. Expected values are those of the LEF text."""
    from kchip.pdk import load_pdk

    if not (pdk.root / "ihp-sg13g2").is_dir():
        pytest.skip("no ihp-sg13g2 in the PDK root")
    ihp = load_pdk("ihp-sg13g2", pdk.root)
    rules = load_rules(ihp)
    assert rules.site_name == "CoreSite" and rules.site == (480, 3780)
    assert [rules.via(a, b).name for a, b in zip(("Metal1", *rules.routing_layers), rules.routing_layers)] == [
        "Via1_XY", "Via2_YX", "Via3_XY", "Via4_YX"], "each via's metal must run along its layer"
    assert [rules.layers[name].spacing for name in ("Metal1", "Metal2", "Metal5")] == [180, 210, 210]
    macros = read_macros(ihp.lef)
    text = ihp.lef.read_text()
    assert set(macros) == set(re.findall(r"^MACRO (sg13g2_\w+)", text, re.M))
    assert macros["sg13g2_tielo"].pins.keys() == {"VDD", "VSS", "L_LO"}


def test_a_site_statement_in_a_macro_is_not_a_site_definition(tmp_path):
    """A macro's ``SITE core ;`` names the site it sits on; only a ``SITE core`` ... ``END core``
    block defines one. Read as a block, the statement would run on to the next ``END core`` (here a
    later macro's pin of that name) and take that macro's size as the site's."""
    text = """VERSION 5.7 ;
SITE core
  CLASS CORE ;
  SIZE 0.46 BY 2.72 ;
END core
MACRO inv
  CLASS CORE ;
  SIZE 1.38 BY 2.72 ;
  SITE core ;
  PIN A
    DIRECTION INPUT ;
    PORT
      LAYER li1 ;
        RECT 0.1 0.2 0.3 0.4 ;
    END
  END A
END inv
MACRO big
  CLASS CORE ;
  SIZE 5.06 BY 2.72 ;
  SITE core ;
  PIN core
    DIRECTION OUTPUT ;
    PORT
      LAYER li1 ;
        RECT 0.5 0.2 0.7 0.4 ;
    END
  END core
END big
END LIBRARY
"""
    path = tmp_path / "cells.lef"
    path.write_text(text)
    assert read_sites(path) == {"core": (460, 2720)}
    macros = read_macros(path)
    assert sorted(macros) == ["big", "inv"]
    assert macros["big"].pins["core"].shapes == [("li1", (500, 200, 700, 400))]
