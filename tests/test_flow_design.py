"""Design TOML files: what is accepted and how every kind of bad input is reported."""

from __future__ import annotations

import pytest

from kchip.design import DesignError, builtin_designs, load_design, resolve_design

GOOD = """
[design]
name = "demo"
top = "demo"

[source]
amaranth = "kchip.rtl.examples.counter:Counter"
parameters = { width = 4 }

[clock]
port = "clk"
period_ns = 8

[floorplan]
utilization = 0.4
"""


def write(tmp_path, text):
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


def test_a_valid_design_is_read_with_defaults(tmp_path):
    design = load_design(write(tmp_path, GOOD))
    assert (design.name, design.top, design.clock_port) == ("demo", "demo", "clk")
    assert design.clock_period_ns == 8.0 and design.parameters == {"width": 4}
    assert design.aspect_ratio == 1.0 and design.pins["left"] == []


@pytest.mark.parametrize("edit, expected", [
    (("utilization = 0.4", "utilisation = 0.4"), "unknown key 'floorplan.utilisation'"),
    (("period_ns = 8", 'period_ns = "8"'), "key 'clock.period_ns' = '8' has the wrong type"),
    (("period_ns = 8", "period_ns = -1"), "key 'clock.period_ns' = -1 is not valid"),
    (("utilization = 0.4", "utilization = 0.99"), "expected a fraction from 0.05 to 0.85"),
    (("[clock]", "[clocks]"), "unknown section [clocks]"),
    (('port = "clk"\n', ""), "missing required key 'clock.port'"),
    (("utilization = 0.4", "die_size_um = [100, 100]\nutilization = 0.4"), "exactly one of 'utilization' or 'die_size_um'"),
    (('amaranth = "kchip.rtl.examples.counter:Counter"', 'verilog = ["nowhere.v"]'), "nowhere.v"),
])
def test_bad_values_name_the_file_key_value_and_what_is_allowed(tmp_path, edit, expected):
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(DesignError) as error:
        load_design(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_a_pin_on_two_sides_is_rejected(tmp_path):
    path = write(tmp_path, GOOD + '\n[pins]\nleft = ["en"]\ntop = ["en"]\n')
    with pytest.raises(DesignError, match="'en' is placed on both 'left' and 'top'"):
        load_design(path)


def test_unreadable_toml_and_missing_file(tmp_path):
    with pytest.raises(DesignError, match="not valid TOML"):
        load_design(write(tmp_path, "[design\n"))
    with pytest.raises(DesignError, match="design file not found"):
        load_design(tmp_path / "absent.toml")


def test_builtin_designs_resolve_by_name_and_unknown_names_list_the_choices():
    assert {"counter", "mac4"} <= set(builtin_designs())
    assert resolve_design("mac4").parameters == {"lanes": 4, "acc_width": 20}
    with pytest.raises(DesignError, match="built-in designs: .*counter"):
        resolve_design("no_such_design")
